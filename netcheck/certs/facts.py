"""JSON-safe facts about one X.509 certificate, and host-name matching.

Shared by `netcheck cert` and the TLS probe. Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes


def certificate_facts(cert: x509.Certificate) -> dict[str, object]:
    """What a person checking an appliance certificate wants to see, JSON-safe.

    Keys: subject, issuer (RFC 4514), subject_cn (str | None), san_dns, san_ip
    (lists), not_before, not_after (ISO 8601 UTC), serial (lower-case hex),
    key_type ("RSA", "EC", "Ed25519", "Ed448", "DSA", or the class name),
    key_size (bits, None for EdDSA), key_curve (EC only, else None),
    signature_algorithm (OpenSSL-style name, e.g. "sha256WithRSAEncryption"),
    signature_hash (e.g. "sha256", None when the algorithm has none),
    crl_urls (CRL distribution point URIs, any scheme), is_ca (basic constraints),
    self_signed (issuer == subject and the signature verifies with its own key),
    sha256 (fingerprint, colon-separated upper-case hex).
    Never raises on odd extensions: a malformed extension reads as absent.
    """
    key_type, key_size, key_curve = public_key_info(cert.public_key())
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "subject_cn": subject_cn(cert),
        "san_dns": san_dns(cert),
        "san_ip": san_ip(cert),
        "not_before": iso_utc(cert.not_valid_before_utc),
        "not_after": iso_utc(cert.not_valid_after_utc),
        "serial": format(cert.serial_number, "x"),
        "key_type": key_type,
        "key_size": key_size,
        "key_curve": key_curve,
        "signature_algorithm": signature_algorithm_name(cert),
        "signature_hash": signature_hash_name(cert),
        "crl_urls": crl_urls(cert),
        "is_ca": is_ca(cert),
        "self_signed": is_self_signed(cert),
        "sha256": fingerprint_sha256(cert),
    }


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def public_key_info(key: PublicKeyTypes) -> tuple[str, int | None, str | None]:
    """(key type, size in bits, EC curve name) of a public key."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", None, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", None, None
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    return type(key).__name__, None, None


def signature_algorithm_name(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    # cryptography keeps OpenSSL's short names on known OIDs; unknown ones show dotted.
    return getattr(oid, "_name", None) or oid.dotted_string


def signature_hash_name(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:  # e.g. an unknown OID: signature_algorithm says enough
        return None
    return algorithm.name if algorithm is not None else None


def subject_cn(cert: x509.Certificate) -> str | None:
    names = subject_cns(cert)
    return names[0] if names else None


def subject_cns(cert: x509.Certificate) -> list[str]:
    return [_text(attr.value) for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    except (
        ValueError,
        x509.DuplicateExtension,
    ):  # malformed: treat as absent, others flag it
        return None


def san_dns(cert: x509.Certificate) -> list[str]:
    san = _san(cert)
    return list(san.get_values_for_type(x509.DNSName)) if san else []


def san_ip(cert: x509.Certificate) -> list[str]:
    san = _san(cert)
    return [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] if san else []


def has_san(cert: x509.Certificate) -> bool:
    """Whether a SAN extension with at least one DNS or IP entry exists (RFC 6125 CN rule)."""
    return bool(san_dns(cert) or san_ip(cert))


def crl_urls(cert: x509.Certificate) -> list[str]:
    try:
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError, x509.DuplicateExtension):
        return []
    urls: list[str] = []
    for point in cdp:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and name.value not in urls:
                urls.append(name.value)
    return urls


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError, x509.DuplicateExtension):
        return False


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (
        InvalidSignature,
        ValueError,
        TypeError,
        UnsupportedAlgorithm,
    ):  # not provably
        return False
    return True


def fingerprint_sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def name_matches(cert: x509.Certificate, host: str) -> bool:
    """Whether `host` (DNS name or IP literal) is one the certificate is valid for.

    RFC 6125: SAN DNS names (a wildcard only as the whole left-most label, matching
    exactly one label, never for a public-suffix-like two-label name) and SAN IPs.
    The subject CN is consulted only when the certificate has no DNS/IP SAN.
    """
    address = _ip(host)
    if has_san(cert):
        if address is not None:
            return any(_ip(value) == address for value in san_ip(cert))
        return any(dns_name_matches(pattern, host) for pattern in san_dns(cert))
    for cn in subject_cns(cert):
        if address is not None:
            if _ip(cn) == address:
                return True
        elif dns_name_matches(cn, host):
            return True
    return False


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _normalise(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    try:  # compare U-labels and A-labels alike
        return name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return name


def dns_name_matches(pattern: str, host: str) -> bool:
    """One SAN/CN pattern against one host name (case-insensitive, trailing dot ignored)."""
    pattern, host = _normalise(pattern), _normalise(host)
    if not pattern or not host:
        return False
    if not pattern.startswith("*."):
        return "*" not in pattern and pattern == host
    suffix = pattern[2:]
    if "*" in suffix or suffix.count(".") < 1:  # "*.com" or nested wildcards never match
        return False
    label, _, rest = host.partition(".")
    return bool(label) and rest == suffix


def is_wildcard(name: str) -> bool:
    return "*" in name
