"""Read every field of a certificate once, the way the checks will, and say which ones
cryptography cannot read, so no later check has to crash on them.

cryptography raises a zoo of exceptions on unusual but real certificates (ValueError for
a name that is not UTF-8, KeyError or TypeError for unexpected string tags,
DuplicateExtension, UnsupportedGeneralNameType for x400Address, UnsupportedAlgorithm...)
and warns (a negative serial number, a three-letter country). Each becomes a finding
with a stable code; warnings are recorded here, never printed.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from netcheck.certs.facts import RSA_PSS_OID, name_text
from netcheck.certs.findings import Finding, finding


@dataclass(frozen=True)
class FieldRead:
    """field: what was read; error: why it failed ("" when it worked); warnings: texts."""

    field: str
    error: str
    warnings: tuple[str, ...]


def _read(field: str, read: Callable[[], object]) -> FieldRead:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            read()
            error = ""
        except UnsupportedAlgorithm as exc:  # unknown key or signature algorithm: other checks name it
            error = "" if field in {"public key", "signature hash"} else _why(exc)
        except Exception as exc:  # every parse error becomes a finding, whatever its class
            error = _why(exc)
    return FieldRead(field, error, tuple(dict.fromkeys(str(w.message) for w in caught)))


def _why(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _name(name: x509.Name) -> None:
    name.rfc4514_string()
    for attribute in name:
        _ = attribute.value


def _extensions(cert: x509.Certificate) -> None:
    for extension in cert.extensions:
        _ = extension.value


def reads(cert: x509.Certificate) -> list[FieldRead]:
    """Each field the checks and renderers use, read once from a fresh parse (cryptography
    caches fields and warns only on the first read, which may have happened elsewhere)."""
    with warnings.catch_warnings(), contextlib.suppress(Exception):  # else read the object we have
        warnings.simplefilter("ignore")  # load-time warnings repeat when the field is read
        cert = x509.load_der_x509_certificate(cert.public_bytes(Encoding.DER))
    parameters: list[tuple[str, Callable[[], object]]] = [
        ("version", lambda: cert.version),
        ("serial number", lambda: cert.serial_number),
        ("subject name", lambda: _name(cert.subject)),
        ("issuer name", lambda: _name(cert.issuer)),
        ("validity", lambda: (cert.not_valid_before_utc, cert.not_valid_after_utc)),
        ("signature algorithm", lambda: cert.signature_algorithm_oid),
        ("signature hash", lambda: cert.signature_hash_algorithm),
        ("public key", cert.public_key),
        ("extensions", lambda: _extensions(cert)),
    ]
    found = [_read(field, read) for field, read in parameters]
    oid = next((f for f in found if f.field == "signature algorithm" and not f.error), None)
    if oid is not None and cert.signature_algorithm_oid.dotted_string == RSA_PSS_OID:
        found.append(_read("RSA-PSS signature parameters", lambda: cert.signature_algorithm_parameters))
    return found


def field_findings(cert: x509.Certificate, role: str) -> list[Finding]:
    """Findings about fields of `cert`; `role` says which certificate ("the certificate",
    "chain certificate 2")."""
    findings: list[Finding] = []
    who = f"{role} ({name_text(cert, 'subject')})" if role != "the certificate" else role
    for item in reads(cert):
        if item.error:
            findings.append(_error_finding(item, who))
        for text in item.warnings:
            findings.append(_warning_finding(item, text, who))
    return findings


def _error_finding(item: FieldRead, who: str) -> Finding:
    subject = f"{who}: {item.field}"
    if item.field == "extensions" and "Duplicate" in item.error:
        return finding(
            "cert.duplicate-extension",
            f"{who} has an extension twice ({item.error}); RFC 5280 forbids that and OpenSSL rejects it",
            "have the CA re-issue the certificate with each extension once",
            subject=subject,
        )
    if item.field == "extensions" and ("x400Address" in item.error or "EDIPartyName" in item.error):
        return finding(
            "cert.unsupported-name-form",
            f"{who} has x400Address or ediPartyName names; netcheck cannot read its extensions, "
            "so its names, key usage, basic constraints and CRL points were not checked",
            "issue the certificate with DNS and IP subject alternative names only",
            subject=subject,
        )
    return finding(
        "cert.unparsable",
        f"{who}: the {item.field} cannot be read ({item.error})",
        "have the CA re-issue the certificate; check it with `openssl x509 -text -noout`",
        subject=subject,
    )


def _warning_finding(item: FieldRead, text: str, who: str) -> Finding:
    lowered = text.lower()
    if "serial number" in lowered and "positive" in lowered:
        return finding(
            "cert.serial-not-positive",
            f"{who} has a negative or zero serial number; RFC 5280 requires a positive one "
            "and newer TLS libraries refuse to load it",
            "have the CA re-issue the certificate (a CA should never issue such serials)",
            subject=f"{who}: serial number",
        )
    if "attribute's length" in lowered:
        return finding(
            "subject.attribute-length",
            f"{who}: a {item.field.split()[0]} name attribute has the wrong length ({text}); "
            "the country (C) must be a two-letter ISO 3166 code such as US",
            "create a new CSR with a two-letter country code (--c US)",
            subject=f"{who}: {item.field}",
        )
    return finding("cert.parse-warning", f"{who}: {item.field}: {text}", subject=f"{who}: {item.field}")
