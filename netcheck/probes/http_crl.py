"""CRL over HTTP: download the site's CRL URL (directly or through the site's proxy) and
check it is a current certificate revocation list.

Only http:// is a valid CRL location for the appliance (source document: "The URL should
be defined as http:// rather than https://"). An https:// URL is reported without any
traffic as fail / protocol-error: the appliance would speak plain HTTP to a location
that is configured for TLS, so its CRL check cannot work there.

The name is resolved by net.http itself (resolve=False): through a proxy, the CRL host
need not resolve on this side at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from netcheck.addresses import is_ip
from netcheck.judges import Verdict
from netcheck.model import Facts, Flow, Observation, Reason, Status
from netcheck.probes import ProbeContext, default_judge, register
from netcheck.probes._tls import printable
from netcheck.probes.proxy import DEFAULT_MAX_BYTES, ProxySettings, site_proxy

if TYPE_CHECKING:
    from netcheck.net.http import Proxy

DEADLINE_MARGIN_S = 0.1  # finish inside ctx.timeout, so the engine never has to cancel


@dataclass(frozen=True)
class CrlFacts(Facts):
    """A downloaded CRL: its issuer, its nextUpdate (None: the CRL names none), whether it is
    current by certs.crl.crl_currency, and what is wrong when it is not."""

    issuer: str
    next_update: str | None
    current: bool
    problem: str = ""


def judge_http_crl(flow: Flow, observation: Observation) -> Status | Verdict:
    """The appliance needs a current CRL (nextUpdate ahead, thisUpdate not in the future).
    Other reasons decide alone."""
    status = default_judge(flow, observation)
    facts = observation.facts
    if not isinstance(facts, CrlFacts):
        return status
    found = f"nextUpdate {facts.next_update}" if facts.next_update else "no nextUpdate"
    found += f", issuer {facts.issuer}" + (f"; the CRL {facts.problem}" if facts.problem else "")
    return Verdict(status, "a current CRL (nextUpdate not passed, thisUpdate not in the future)", found)


@register("http-crl", judge=judge_http_crl)
async def observe_http_crl(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    from netcheck.certs.downloads import CrlDownloads

    url = flow.host
    scheme = urlsplit(url).scheme.lower()
    if scheme != "http":
        return Observation(Reason.PROTOCOL_ERROR,
                           f"CRL {url}: only http:// CRL locations are valid for the appliance "
                           f"({scheme or 'no scheme'} given; not fetched)",
                           {"url": url, "scheme": scheme, "valid_for_appliance": False})
    proxy: Proxy | None = None
    evidence: dict[str, Any] = {"url": url}
    if flow.options.get("via_proxy"):
        usable = crl_proxy(ctx)
        if isinstance(usable, Observation):
            return usable
        proxy = usable
        evidence["proxy"] = str(proxy)
    cap = flow.int_option("max_bytes", DEFAULT_MAX_BYTES)
    # The run's shared download: the certificate check of this URL (same path) reads the same GET.
    downloads = ctx.crl_downloads or CrlDownloads()
    result = await downloads.get(url, proxy=proxy, timeout=crl_fetch_timeout(ctx), max_bytes=cap)
    evidence["download"] = result.evidence()
    latency = result.first_byte_ms
    # The engine does not resolve URL peers: the address is the CRL server's, when this side
    # reached it directly or named it by address (through a proxy, the proxy's is not the CRL's).
    address = None if proxy is not None else result.address or _literal_host(url)
    if not result.ok:
        assert result.error is not None
        # errno and the ICMP error (with the router that sent it) where the tcp probe has them
        return Observation(result.error, f"CRL {url}: {result.detail}", {**evidence, **result.network}, latency,
                           address=address)
    return replace(judge_crl(url, result.body, result.header("content-type"), evidence, latency), address=address)


def _literal_host(url: str) -> str | None:
    host = urlsplit(url).hostname or ""
    return host if is_ip(host) else None


def crl_fetch_timeout(ctx: ProbeContext) -> float:
    """A CRL GET's time budget in a scan: inside the probe's deadline. The certificate check uses it
    too, so a shared download started by either ends before the flow's deadline."""
    return max(ctx.timeout - DEADLINE_MARGIN_S, 0.05)


def crl_proxy(ctx: ProbeContext) -> Proxy | Observation:
    """The proxy a CRL is fetched through: the site's (peers.proxy) with settings.proxy's credentials,
    or why it cannot be used. The certificate check with settings.crl.via_proxy uses the same one, so
    both share one download."""
    settings = site_proxy(ctx)
    if isinstance(settings, Observation):
        return settings
    return _as_proxy(settings)


def _as_proxy(settings: ProxySettings) -> Proxy | Observation:
    from netcheck.net.http import Proxy, parse_proxy

    try:
        parsed = parse_proxy(settings.url)
    except ValueError as exc:
        return Observation(Reason.NOT_CONFIGURED, f"the site's proxy {settings.url} cannot be used: {exc}")
    return Proxy(parsed.host, parsed.port, settings.authorization)


def judge_crl(url: str, body: bytes, content_type: str | None, evidence: dict[str, Any],
              latency: float | None, now: datetime | None = None) -> Observation:
    """Parse the download (DER or PEM) and judge its currency with certs.crl.crl_currency, the rule the
    certificate verdict uses: a nextUpdate in the past or a thisUpdate in the future (beyond the clock
    skew) is `stale` (warn) here and crl.stale / crl.not-yet-valid there. Pure."""
    from netcheck.certs.crl import crl_currency, crl_facts, parse_crl

    now = now or datetime.now(UTC)
    crl = parse_crl(body)
    if crl is None:
        kind = content_type or "no Content-Type"
        return Observation(Reason.NOT_A_CRL,
                           f"CRL {url}: {len(body)} bytes ({kind}) that are not a CRL (DER or PEM), starting "
                           f"'{printable(body, 32)}'", evidence, latency)
    facts = crl_facts(crl)
    oid = crl.signature_algorithm_oid
    facts["signature_algorithm"] = getattr(oid, "_name", None) or oid.dotted_string
    facts["bytes"] = len(body)
    evidence = {**evidence, "crl": facts}
    summary = (f"CRL {url}: issuer {facts['issuer']}, {facts['revoked_count']} entries, "
               f"thisUpdate {facts['this_update']}, nextUpdate {facts['next_update'] or 'none'}")
    currency = crl_currency(crl, now)
    next_update = crl.next_update_utc
    typed = CrlFacts(str(facts["issuer"]), f"{next_update:%Y-%m-%d %H:%M} UTC" if next_update else None,
                     currency.current, currency.problem)
    if not currency.current:  # stale, or dated in the future: the certificate verdict's own judgement
        facts["currency"] = currency.state.value
        return Observation(Reason.STALE, f"{summary}: the CRL {currency.problem}", evidence, latency, facts=typed)
    return Observation(Reason.ANSWERED, summary, evidence, latency, facts=typed)
