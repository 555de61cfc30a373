"""The CRL part of certificate validation: which distribution points the appliance can
use, and what each download says (parses, right issuer, signature, current, serial
listed). Pure: download results in, findings out; netcheck.httpfetch does the network.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from netcheck.certs import links
from netcheck.certs.facts import crl_points, iso_utc, name_text
from netcheck.certs.findings import Finding, Severity, finding, with_severity
from netcheck.httpfetch import FetchResult
from netcheck.model import Reason

CLOCK_SKEW = timedelta(minutes=5)  # tolerance for thisUpdate slightly ahead of our clock
NO_CDP_NOTE = (
    "the certificate names no CRL distribution point, so the appliance skips the CRL check; "
    "the source document advises removing the CRL URL only when port 80 to the CRL server cannot be opened"
)


@dataclass(frozen=True)
class CrlPlan:
    """fetch: the http:// URLs to download; findings: about URLs that cannot be used at all."""

    fetch: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    urls: tuple[str, ...] = ()


def plan(leaf: x509.Certificate) -> CrlPlan:
    urls, without_url = crl_points(leaf)
    findings: list[Finding] = [
        finding(
            "crl.no-url",
            f"a CRL distribution point names {where} but no URL; the appliance fetches CRLs over http:// "
            "only, so it cannot use this point to check revocation",
            "re-issue the certificate with an http:// URL in the CRL distribution point",
            subject=where,
        )
        for where in without_url
    ]
    if not urls and not findings:
        return CrlPlan((), [finding("crl.no-cdp", NO_CDP_NOTE)])
    fetch: list[str] = []
    for url in urls:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "http":
            fetch.append(url)
        elif scheme == "https":
            findings.append(
                finding(
                    "crl.https",
                    f"the CRL location {url} is https://; the appliance only fetches CRLs over http://",
                    "re-issue the certificate with an http:// CRL URL (another port is fine: http://host:8080/ca.crl)",
                    subject=url,
                )
            )
        else:
            findings.append(
                finding(
                    "crl.unsupported-scheme",
                    f"the CRL location {url} is not an http:// URL",
                    "re-issue the certificate with an http:// CRL distribution point",
                    subject=url,
                )
            )
    return CrlPlan(tuple(fetch), findings, tuple(urls))


def parse_crl(data: bytes) -> x509.CertificateRevocationList | None:
    """A CRL from DER or PEM bytes, None when it is neither."""
    try:
        if b"-----BEGIN X509 CRL-----" in data:
            return x509.load_pem_x509_crl(data[data.index(b"-----BEGIN X509 CRL-----") :])
        return x509.load_der_x509_crl(data)
    except Exception:  # ValueError, and whatever else a hostile download makes cryptography raise
        return None


@dataclass(frozen=True)
class CrlVerdict:
    """What one distribution point gave. `usable`: a current CRL from the right issuer."""

    url: str
    findings: list[Finding]
    usable: bool
    evidence: dict[str, Any]


def judge_download(
    url: str,
    download: FetchResult,
    leaf: x509.Certificate,
    issuer: x509.Certificate | None,
    now: datetime,
) -> CrlVerdict:
    evidence: dict[str, Any] = {"download": download.evidence()}
    findings = _port_and_proxy(url, download)
    if not download.ok:
        findings.append(_unreachable(url, download))
        return CrlVerdict(url, findings, False, evidence)
    crl = parse_crl(download.body)
    if crl is None:
        kind = download.header("content-type") or "no Content-Type"
        findings.append(
            finding(
                "crl.not-a-crl",
                f"{url} answered {len(download.body)} bytes ({kind}) that are not a CRL (DER or PEM)",
                "publish the CA's CRL file at that URL (check the web server's path and that it serves the file)",
                subject=url,
            )
        )
        return CrlVerdict(url, findings, False, evidence)
    try:
        evidence["crl"] = crl_facts(crl)
        content = _content(url, crl, leaf, issuer, now)
    except Exception as exc:  # a CRL that parses at first but has a field cryptography cannot read
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        content = [
            finding(
                "crl.not-a-crl",
                f"{url} answered a CRL netcheck cannot read ({type(exc).__name__}: {reason})",
                "publish the CA's CRL file as generated by the CA",
                subject=url,
            )
        ]
    findings += content
    usable = not any(f.severity is Severity.ERROR for f in content)
    return CrlVerdict(url, findings, usable, evidence)


def crl_facts(crl: x509.CertificateRevocationList) -> dict[str, Any]:
    next_update = crl.next_update_utc
    return {
        "issuer": crl.issuer.rfc4514_string(),
        "this_update": iso_utc(crl.last_update_utc),
        "next_update": iso_utc(next_update) if next_update else None,
        "revoked_count": len(crl),
    }


def _port_and_proxy(url: str, download: FetchResult) -> list[Finding]:
    findings: list[Finding] = []
    parts = urlsplit(url)
    port = _port(url)
    if port not in (None, 80):
        findings.append(
            finding(
                "crl.custom-port",
                f"the CRL location uses port {port}: the firewall must allow TCP {port} (not 80) "
                f"from the appliance to {parts.hostname}",
                f"open TCP {port} from each appliance to {parts.hostname}"
                + (" on the proxy" if download.proxy else ""),
                subject=url,
            )
        )
    if download.proxy and download.ok:
        findings.append(finding("crl.via-proxy", f"{url} was fetched through the proxy {download.proxy}", subject=url))
    return findings


def _port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None


_FIXES: Mapping[Reason, str] = {
    Reason.DNS_FAILURE: "make the CRL host name resolvable from the appliance's DNS server, or use the proxy",
    Reason.REFUSED: "nothing listens there: start the CRL web server, or fix the port in the certificate's URL",
    Reason.FILTERED: "a firewall drops the traffic: allow TCP {port} from the appliance to {host}, or use a proxy",
    Reason.TIMEOUT: "the server accepted the connection but did not answer in time: check the web server",
    Reason.UNREACHABLE: "no route to {host}: fix routing or the firewall, or use a proxy",
    Reason.PROHIBITED: "a firewall rejects the traffic: allow TCP {port} from the appliance to {host}",
    Reason.PROXY_DENIED: "allow this URL for the appliance on the proxy (or fix the proxy's credentials)",
    Reason.HTTP_ERROR: "the web server has no CRL at that path: publish it there",
    Reason.TOO_LARGE: "the answer is far larger than any CRL: check the URL",
    Reason.PROTOCOL_ERROR: "something that is not an HTTP server answers there: check the URL's host and port",
}


def _unreachable(url: str, download: FetchResult) -> Finding:
    assert download.error is not None
    parts = urlsplit(url)
    host = parts.hostname or "the CRL host"
    port = _port(url) or 80
    if download.proxy and download.hop == "proxy" and download.error is not Reason.PROXY_DENIED:
        fix = f"the proxy {download.proxy} itself is not reachable: check --proxy and the path to it"
    else:
        fix = _FIXES.get(download.error, "check the path to the CRL server").format(host=host, port=port)
    via = f" through the proxy {download.proxy}" if download.proxy else ""
    return finding(
        "crl.unreachable",
        f"{url}{via}: {download.error.value}: {download.detail}",
        fix,
        subject=url,
    )


def _content(
    url: str,
    crl: x509.CertificateRevocationList,
    leaf: x509.Certificate,
    issuer: x509.Certificate | None,
    now: datetime,
) -> list[Finding]:
    findings: list[Finding] = []
    same_issuer = links.same_name(crl.issuer, links.read_name(leaf, "issuer"))
    if not same_issuer:
        findings.append(
            finding(
                "crl.wrong-issuer",
                f"the CRL at {url} is issued by {crl.issuer.rfc4514_string()}, "
                f"not by the certificate's issuer {name_text(leaf, 'issuer')}",
                "point the certificate's CRL distribution point at its own CA's CRL",
                subject=url,
            )
        )
    elif issuer is None:
        findings.append(
            finding(
                "crl.unverified",
                f"the CRL's signature at {url} was not checked: the issuing CA certificate is not in the chain",
                "give --chain with the issuing CA so the CRL signature can be verified",
                subject=url,
            )
        )
    elif not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        findings.append(
            finding(
                "crl.bad-signature",
                f"the CRL at {url} names the right issuer but is not signed by its key",
                "publish the CRL generated by the CA that issued this certificate",
                subject=url,
            )
        )
    findings += _currency(url, crl, now)
    revoked = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    if revoked is not None and same_issuer:
        findings.append(
            finding(
                "crl.revoked",
                f"serial {leaf.serial_number:x} is listed as revoked on {revoked.revocation_date_utc:%Y-%m-%d}"
                f"{_reason(revoked)} in the CRL at {url}",
                "issue a new certificate (with a new key) and upload that",
                subject=url,
            )
        )
    return findings


class CrlState(enum.StrEnum):
    """Whether a CRL is in force at a given moment."""

    CURRENT = "current"
    NOT_YET_VALID = "not-yet-valid"  # thisUpdate beyond our clock plus CLOCK_SKEW
    STALE = "stale"  # nextUpdate has passed


@dataclass(frozen=True)
class CrlCurrency:
    """The one judgement of a CRL's dates, used by the http-crl flow and the certificate verdict alike,
    so a report never calls the same download current in one place and unusable in another.

    state    current, not-yet-valid or stale
    problem  what is wrong, to follow "the CRL (at URL)" ("" when current)
    fix      what to do about it ("" when current)
    """

    state: CrlState
    problem: str = ""
    fix: str = ""

    @property
    def current(self) -> bool:
        return self.state is CrlState.CURRENT


def crl_currency(crl: x509.CertificateRevocationList, now: datetime) -> CrlCurrency:
    """Judge thisUpdate / nextUpdate against `now`, allowing CLOCK_SKEW for a thisUpdate just ahead of us."""
    if crl.last_update_utc > now + CLOCK_SKEW:
        return CrlCurrency(CrlState.NOT_YET_VALID,
                           f"is dated {iso_utc(crl.last_update_utc)}, in the future",
                           "check the CA's clock (and this machine's)")
    next_update = crl.next_update_utc
    if next_update is not None and next_update < now:
        return CrlCurrency(CrlState.STALE, f"expired at {iso_utc(next_update)} (nextUpdate)",
                           "have the CA publish a fresh CRL at that URL (and check its publishing schedule)")
    return CrlCurrency(CrlState.CURRENT)


def _currency(url: str, crl: x509.CertificateRevocationList, now: datetime) -> list[Finding]:
    currency = crl_currency(crl, now)
    if currency.current:
        return []
    return [finding(f"crl.{currency.state.value}", f"the CRL at {url} {currency.problem}", currency.fix,
                    subject=url)]


def _reason(revoked: x509.RevokedCertificate) -> str:
    try:
        code = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except (x509.ExtensionNotFound, ValueError):
        return ""
    return f" (reason: {code.value})"


def combine(planned: list[Finding], verdicts: list[CrlVerdict]) -> list[Finding]:
    """Across distribution points: when one works, the others' errors (including unusable
    URL schemes) are warnings; revocation always stays an error."""
    findings = planned + [f for verdict in verdicts for f in verdict.findings]
    if not any(verdict.usable for verdict in verdicts):
        return findings
    return [
        with_severity(f, Severity.WARNING) if f.severity is Severity.ERROR and f.code != "crl.revoked" else f
        for f in findings
    ]
