"""Judge appliance certificate material the way the upload does.

Pure analysis: inputs are the loaded Material, the planned host names/addresses, trust
anchors (Material.roots), the CRL downloads already made, and an injected `now`; the
output is findings. Every rule is therefore testable offline and deterministically.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from netcheck.certs import chain as chain_mod
from netcheck.certs import crl as crl_mod
from netcheck.certs.facts import (
    WEAK_HASHES,
    extension_value,
    has_san,
    is_ca,
    is_self_signed,
    is_wildcard,
    key_info,
    name_matches,
    quietly,
    san_dns,
    san_ip,
    signature_algorithm_name,
    signature_hash_name,
    subject_cns,
)
from netcheck.certs.fields import field_findings
from netcheck.certs.findings import Finding, Severity, disable_validation, finding
from netcheck.certs.load import BER_NOTE, KeyState, Material
from netcheck.net.http import FetchResult

REQUIRED_SIGNATURE = "sha256WithRSAEncryption"
# The passphrase characters later releases accept (2021 documentation: no restriction).
PASSPHRASE_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#%()+,-./:=?@[\\]^_{}~"
)
CSR_FIX = "create a new key and CSR with `netcheck cert csr` and have the CA issue a new certificate"


@dataclass(frozen=True)
class CheckOptions:
    """hosts: the planned names/IPs of the appliance; expiry_warn_days: warn this close to
    expiry; validate: False mirrors the console's "disable certificate validation";
    passphrase_ok_for_later: None when no passphrase was given, else whether every
    character is in PASSPHRASE_CHARACTERS (computed by the caller: the secret stays there)."""

    hosts: tuple[str, ...] = ()
    expiry_warn_days: int = 30
    validate: bool = True
    passphrase_ok_for_later: bool | None = None


@dataclass(frozen=True)
class Analysis:
    """findings: everything to report; passed: the checks with nothing to say;
    path: leaf -> issuers found; crl: per-URL evidence."""

    findings: list[Finding]
    passed: list[str]
    path: tuple[x509.Certificate, ...]
    crl: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def passphrase_ok_for_later(passphrase: str | None) -> bool | None:
    return None if passphrase is None else set(passphrase) <= PASSPHRASE_CHARACTERS


def analyse(
    material: Material,
    *,
    now: datetime,
    options: CheckOptions,
    downloads: Mapping[str, FetchResult],
) -> Analysis:
    """All checks. `downloads` maps each planned CRL URL to its fetch result (a URL absent
    from it was not fetched and is not judged)."""
    chain = _guarded_chain(material, now)
    crl_findings, crl_evidence = _guarded_crl(material.leaf, chain.issuer, now, downloads)
    checks: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("fields", lambda: _fields(material)),
        ("input", lambda: _input(material)),
        ("passphrase", lambda: _passphrase(material, options)),
        ("key-match", lambda: _key_match(material)),
        ("key-type", lambda: _key_type(material.leaf)),
        ("signature", lambda: _signature(material.leaf)),
        ("validity", lambda: _validity(material.leaf, now, options.expiry_warn_days)),
        ("usage", lambda: _usage(material.leaf)),
        ("subject", lambda: _subject(material.leaf)),
        ("names", lambda: _names(material.leaf, options.hosts)),
        ("chain", lambda: chain.findings),
        ("crl", lambda: crl_findings),
    ]
    findings: list[Finding] = []
    passed: list[str] = []
    for name, check in checks:
        found = _guarded(name, check)
        findings += found
        if not any(f.severity is not Severity.INFO for f in found):
            passed.append(name)
    if any(f.code == "cert.unparsable" and f.subject not in CHECK_NAMES for f in findings):
        # the field checks already named what cannot be read; "check X could not read it" is noise
        findings = [f for f in findings if not (f.code == "cert.unparsable" and f.subject in CHECK_NAMES)]
    if not options.validate:
        findings = disable_validation(findings)
    return Analysis(findings, passed, chain.path, crl_evidence)


CHECK_NAMES = frozenset(
    {"fields", "input", "passphrase", "key-match", "key-type", "signature", "validity", "usage", "subject", "names"}
    | {"chain", "crl"}
)


def _guarded(name: str, check: Callable[[], list[Finding]]) -> list[Finding]:
    """Run one check; a field cryptography cannot read becomes a finding, never a crash.
    The field checks name the field; this is the net under every other check."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the field checks record the warnings that mean something
        try:
            return check()
        except Exception as exc:  # any parse error in any field: one finding, the others still run
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
            return [
                finding(
                    "cert.unparsable",
                    f"the {name} check could not read the certificate ({type(exc).__name__}: {reason})",
                    "have the CA re-issue the certificate; check it with `openssl x509 -text -noout`",
                    subject=name,
                )
            ]


def _guarded_chain(material: Material, now: datetime) -> chain_mod.ChainResult:
    result: list[chain_mod.ChainResult] = []

    def run() -> list[Finding]:
        result.append(chain_mod.analyse_chain(material.leaf, material.chain, now, material.roots))
        return []

    problem = _guarded("chain", run)
    return result[0] if result else chain_mod.ChainResult((material.leaf,), False, problem)


def _guarded_crl(
    leaf: x509.Certificate,
    issuer: x509.Certificate | None,
    now: datetime,
    downloads: Mapping[str, FetchResult],
) -> tuple[list[Finding], list[dict[str, Any]]]:
    evidence: list[dict[str, Any]] = []

    def run() -> list[Finding]:
        found, facts = _crl(leaf, issuer, now, downloads)
        evidence.extend(facts)
        return found

    return _guarded("crl", run), evidence


def _fields(material: Material) -> list[Finding]:
    findings = field_findings(material.leaf, "the certificate")
    for index, cert in enumerate(material.chain, start=1):
        findings += field_findings(cert, f"chain certificate {index}")
    for note in material.notes:
        code = "chain.ber-encoded" if note == BER_NOTE else "cert.parse-warning"
        findings.append(finding(code, note))
    return _dedupe(findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    return list({(f.code, f.message): f for f in findings}.values())


def _crl(
    leaf: x509.Certificate,
    issuer: x509.Certificate | None,
    now: datetime,
    downloads: Mapping[str, FetchResult],
) -> tuple[list[Finding], list[dict[str, Any]]]:
    planned = crl_mod.plan(leaf)
    verdicts = [
        crl_mod.judge_download(url, downloads[url], leaf, issuer, now) for url in planned.fetch if url in downloads
    ]
    evidence = [{"url": v.url, "usable": v.usable, **v.evidence} for v in verdicts]
    return crl_mod.combine(planned.findings, verdicts), evidence


def _input(material: Material) -> list[Finding]:
    findings: list[Finding] = []
    if material.crt_format == "pkcs12":
        findings.append(
            finding(
                "cert.pkcs12-input",
                f"{material.crt_path} is a PKCS#12 bundle; the appliance takes PEM files (.crt, .key, chain)",
                f"split it with `netcheck cert convert {material.crt_path} --split DIR` and upload those files",
            )
        )
    if material.extra_in_crt:
        findings.append(
            finding(
                "cert.extra-certificates",
                f"{material.crt_path} holds {1 + len(material.extra_in_crt)} certificates; "
                "the appliance expects only the server certificate in the .crt file",
                "keep only the server certificate in the .crt file and put the CA certificates in the chain file",
            )
        )
    if material.key_in_crt and material.crt_format != "pkcs12":
        findings.append(
            finding(
                "cert.key-in-crt",
                f"{material.crt_path} also holds the private key; the appliance expects it in its own .key file",
                "move the private key into a separate .key file",
            )
        )
    if material.bag_attributes:
        findings.append(
            finding("chain.bag-attributes", "openssl `Bag Attributes` lines found; the appliance tolerates them")
        )
    return findings


def _passphrase(material: Material, options: CheckOptions) -> list[Finding]:
    findings: list[Finding] = []
    if material.key_state is KeyState.NEEDS_PASSPHRASE:
        findings.append(
            finding(
                "key.passphrase-missing",
                f"the private key ({material.key_source}) is encrypted and no passphrase was given",
                "give the key's passphrase with --pass-env VAR (or --pass), as you will at the console",
            )
        )
    elif material.key_state is KeyState.WRONG_PASSPHRASE:
        findings.append(
            finding(
                "key.passphrase-wrong",
                f"the passphrase does not open the private key ({material.key_source})",
                "use the passphrase the key was encrypted with; if it is lost, create a new key and CSR",
            )
        )
    elif material.passphrase_unused:
        findings.append(
            finding(
                "key.passphrase-unused",
                "a passphrase was given but the private key is not encrypted; leave the console's passphrase empty",
            )
        )
    if options.passphrase_ok_for_later is False and material.key_encrypted:
        findings.append(
            finding(
                "key.passphrase-characters",
                "the passphrase contains characters later releases do not accept "
                "(allowed: a-z A-Z 0-9 ! # % ( ) + , - . / : = ? @ [ \\ ] ^ _ { } ~)",
                "re-encrypt the key with a passphrase from the allowed characters "
                "(`netcheck cert convert KEY --to pem --out-pass-env VAR`)",
            )
        )
    return findings


def _public_der(key: Any) -> bytes:
    return bytes(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _key_match(material: Material) -> list[Finding]:
    if material.key is None:
        return []  # the passphrase findings already say why
    certificate_key = quietly(material.leaf.public_key)
    if certificate_key is None:
        return []  # an unknown key algorithm: key-type and the field checks say so
    if _public_der(material.key.public_key()) == _public_der(certificate_key):
        return []
    return [
        finding(
            "key.mismatch",
            f"the private key ({material.key_source}) does not belong to the certificate (their public keys differ)",
            "use the key file created together with this certificate's CSR",
        )
    ]


def _key_type(leaf: x509.Certificate) -> list[Finding]:
    key = quietly(leaf.public_key)
    kind, size, curve = key_info(leaf)
    if kind == "RSA-PSS":
        return [
            finding(
                "key.rsa-pss",
                f"the key is an RSA-PSS key ({size} bits), usable for PSS signatures only; "
                "the documented key is a plain RSA key (rsaEncryption)",
                CSR_FIX + " (RSA 2048 or 4096, not RSA-PSS)",
            )
        ]
    if not isinstance(key, rsa.RSAPublicKey):
        what = f"{kind} ({curve})" if curve else kind
        return [
            finding(
                "key.unsupported-type",
                f"the key is {what}; the appliance supports RSA keys (2048 or 4096 bits) only",
                CSR_FIX + " (RSA 2048 or 4096)",
            )
        ]
    assert size is not None
    if size < 2048:
        return [
            finding(
                "key.rsa-too-small",
                f"the RSA key has {size} bits; the minimum is 2048",
                CSR_FIX + " (RSA 2048 or 4096)",
            )
        ]
    if size == 4096:
        return [
            finding(
                "key.rsa-4096",
                "4096-bit RSA is supported; TLS handshakes are slower and use more CPU than with 2048 bits",
            )
        ]
    if size != 2048:
        return [finding("key.rsa-size-unusual", f"RSA {size} bits: the documented sizes are 2048 and 4096")]
    return []


def _signature(leaf: x509.Certificate) -> list[Finding]:
    name = signature_algorithm_name(leaf)
    if signature_hash_name(leaf) in WEAK_HASHES:
        return [
            finding(
                "cert.weak-signature",
                f"the certificate is signed with {name}; it must be {REQUIRED_SIGNATURE}",
                "have the CA re-issue it with SHA-256",
            )
        ]
    if name != REQUIRED_SIGNATURE:
        return [
            finding(
                "cert.signature-algorithm",
                f"the certificate is signed with {name}; the documented algorithm is {REQUIRED_SIGNATURE}",
                "have the CA issue it with SHA-256 and RSA",
            )
        ]
    return []


def _validity(leaf: x509.Certificate, now: datetime, warn_days: int) -> list[Finding]:
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc  # unreadable: _guarded
    if now < not_before:
        return [
            finding(
                "cert.not-yet-valid",
                f"the certificate is valid only from {not_before:%Y-%m-%d %H:%M} UTC",
                "wait until then, or check the clock of the CA (and of the appliance)",
            )
        ]
    if now > not_after:
        return [
            finding(
                "cert.expired",
                f"the certificate expired on {not_after:%Y-%m-%d %H:%M} UTC",
                "have the CA issue a new certificate",
            )
        ]
    left = not_after - now
    if left <= timedelta(days=warn_days):
        return [
            finding(
                "cert.expiring",
                f"the certificate expires in {left.days} days ({not_after:%Y-%m-%d})",
                "request the replacement now",
            )
        ]
    return []


def _usage(leaf: x509.Certificate) -> list[Finding]:
    findings: list[Finding] = []
    if is_self_signed(leaf):
        findings.append(
            finding(
                "cert.self-signed",
                "the certificate is self-signed: the documentation allows this for test environments only",
                "use a certificate issued by your CA for production",
            )
        )
    elif is_ca(leaf):
        findings.append(
            finding(
                "cert.is-ca",
                "the server certificate is a CA certificate (basic constraints CA:TRUE)",
                "issue a server (end-entity) certificate",
            )
        )
    problem = _tls_server_usage_problem(leaf)
    if problem:
        findings.append(finding("cert.key-usage", problem, "issue it from a web-server / TLS-server template"))
    return findings


def _tls_server_usage_problem(leaf: x509.Certificate) -> str | None:
    eku = extension_value(leaf, x509.ExtendedKeyUsage)
    if eku is not None and x509.oid.ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        return "extended key usage lacks serverAuth: TLS clients will refuse it as a server certificate"
    usage = extension_value(leaf, x509.KeyUsage)
    if usage is None:
        return None
    if not (usage.digital_signature or usage.key_encipherment):
        return "key usage has neither digitalSignature nor keyEncipherment: unusable for TLS"
    return None


def _subject(leaf: x509.Certificate) -> list[Finding]:
    findings: list[Finding] = []
    if not subject_cns(leaf):
        findings.append(
            finding(
                "subject.cn-missing",
                "the subject has no CN; the documentation requires CN = the appliance's name",
                CSR_FIX,
            )
        )
    oids = x509.oid.NameOID
    wanted = {"C": oids.COUNTRY_NAME, "O": oids.ORGANIZATION_NAME, "OU": oids.ORGANIZATIONAL_UNIT_NAME}
    missing = [short for short, oid in wanted.items() if not leaf.subject.get_attributes_for_oid(oid)]
    if missing:
        findings.append(
            finding(
                "subject.fields-missing",
                f"the subject lacks {', '.join(missing)}; the documentation requires C, O and OU",
                CSR_FIX + " (e.g. --c US --o 'Contoso Inc.' --ou 'Contoso Labs')",
            )
        )
    return findings


def _names(leaf: x509.Certificate, hosts: tuple[str, ...]) -> list[Finding]:
    findings: list[Finding] = []
    names = subject_cns(leaf) + san_dns(leaf)
    wildcards = sorted({n for n in names if is_wildcard(n)})
    if wildcards:
        findings.append(
            finding(
                "name.wildcard",
                f"wildcard name {', '.join(wildcards)}: allowed by the 2021 documentation, but later releases "
                "reject wildcards and require a unique CN per appliance",
                "issue each appliance its own certificate with its own CN",
            )
        )
    if not hosts:
        return findings + [
            finding("name.not-checked", "no --host given: the names in the certificate were not checked")
        ]
    shown = _names_text(leaf)
    for host in hosts:
        if not name_matches(leaf, host):
            findings.append(
                finding(
                    "name.mismatch",
                    f"{host} is not a name of this certificate ({shown})",
                    f"issue the certificate with {_san_entry(host)} in the subject alternative names",
                    subject=host,
                )
            )
        elif not has_san(leaf):
            findings.append(
                finding(
                    "name.cn-only",
                    f"{host} matches the CN only; the certificate has no subject alternative names, "
                    "which current TLS clients require",
                    f"re-issue it with {_san_entry(host)} in the subject alternative names",
                    subject=host,
                )
            )
    return findings


def _names_text(leaf: x509.Certificate) -> str:
    cns = subject_cns(leaf)
    parts = [f"CN={', '.join(cns)}" if cns else "no CN"]
    sans = [f"DNS:{n}" for n in san_dns(leaf)] + [f"IP:{ip}" for ip in san_ip(leaf)]
    parts.append(f"SAN={', '.join(sans)}" if sans else "no SAN")
    return "; ".join(parts)


def _san_entry(host: str) -> str:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return f"DNS:{host}"
    return f"IP:{host.strip('[]')}"
