"""JSON-safe facts about one X.509 certificate, and host-name matching.

Shared by `netcheck cert` and the TLS probe. Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from netcheck.certs import links

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

E = TypeVar("E", bound=x509.ExtensionType)


# Signature algorithms by OID, including the old OIW and bare-hash OIDs some CAs wrote,
# which cryptography does not name: (OpenSSL-style name, hash). All of these are weak.
WEAK_SIGNATURE_OIDS: dict[str, tuple[str, str]] = {
    "1.2.840.113549.1.1.2": ("md2WithRSAEncryption", "md2"),
    "1.2.840.113549.2.2": ("md2", "md2"),
    "1.3.14.3.2.24": ("md2WithRSASignature", "md2"),
    "1.2.840.113549.1.1.3": ("md4WithRSAEncryption", "md4"),
    "1.2.840.113549.2.4": ("md4", "md4"),
    "1.3.14.3.2.2": ("md4WithRSA", "md4"),
    "1.3.14.3.2.4": ("md4WithRSAEncryption", "md4"),
    "1.2.840.113549.1.1.4": ("md5WithRSAEncryption", "md5"),
    "1.2.840.113549.2.5": ("md5", "md5"),
    "1.3.14.3.2.3": ("md5WithRSA", "md5"),
    "1.3.14.3.2.25": ("md5WithRSASignature", "md5"),
    "1.3.14.3.2.15": ("shaWithRSASignature", "sha"),
    "1.2.840.113549.1.1.5": ("sha1WithRSAEncryption", "sha1"),
    "1.3.14.3.2.29": ("sha1WithRSA", "sha1"),
    "1.3.14.3.2.26": ("sha1", "sha1"),
    "1.2.840.10040.4.3": ("dsa_with_SHA1", "sha1"),
    "1.3.14.3.2.13": ("dsaWithSHA", "sha1"),
    "1.3.14.3.2.27": ("dsaWithSHA1", "sha1"),
    "1.2.840.10045.4.1": ("ecdsa-with-SHA1", "sha1"),
}
WEAK_HASHES = frozenset(hash_name for _, hash_name in WEAK_SIGNATURE_OIDS.values())
RSA_PSS_OID = "1.2.840.113549.1.1.10"


def certificate_facts(cert: x509.Certificate) -> dict[str, object]:
    """What a person checking an appliance certificate wants to see, JSON-safe.

    Keys: subject, issuer (RFC 4514), subject_cn (str | None), san_dns, san_ip
    (lists), not_before, not_after (ISO 8601 UTC), serial (lower-case hex, "-" first
    when negative), key_type ("RSA", "RSA-PSS", "EC", "Ed25519", "Ed448", "DSA", or
    "unknown (OID)"), key_size (bits, None for EdDSA), key_curve (EC only, else None),
    signature_algorithm (OpenSSL-style name, e.g. "sha256WithRSAEncryption"),
    signature_hash (e.g. "sha256", None when the algorithm has none),
    crl_urls (CRL distribution point URIs, any scheme), is_ca (basic constraints),
    self_signed (issuer == subject and the signature verifies with its own key),
    sha256 (fingerprint, colon-separated upper-case hex).
    Never raises: a field cryptography cannot read shows as None (or empty), and the
    certificate checks report it as cert.unparsable.
    """
    key_type, key_size, key_curve = key_info(cert)
    serial = quietly(lambda: cert.serial_number)
    return {
        "subject": name_text(cert, "subject"),
        "issuer": name_text(cert, "issuer"),
        "subject_cn": subject_cn(cert),
        "san_dns": san_dns(cert),
        "san_ip": san_ip(cert),
        "not_before": quietly(lambda: iso_utc(cert.not_valid_before_utc)),
        "not_after": quietly(lambda: iso_utc(cert.not_valid_after_utc)),
        "serial": format(serial, "x") if isinstance(serial, int) else None,
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


T = TypeVar("T")


def quietly(read: Callable[[], T]) -> T | None:
    """A field's value, or None when cryptography cannot read it; warnings are not printed
    (netcheck.certs.fields turns them into findings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read()
        except Exception:  # any parse error of one field: the field checks report it
            return None


def name_text(cert: x509.Certificate, which: str) -> str:
    """The subject or issuer as RFC 4514 text, or a placeholder when it cannot be decoded."""
    text = quietly(lambda: (cert.subject if which == "subject" else cert.issuer).rfc4514_string())
    return text if text is not None else f"(unreadable {which} name)"


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


def key_algorithm_oid(cert: x509.Certificate) -> str | None:
    oid = quietly(lambda: cert.public_key_algorithm_oid)
    return oid.dotted_string if oid is not None else None


def key_info(cert: x509.Certificate) -> tuple[str, int | None, str | None]:
    """public_key_info of the certificate's key; an RSA-PSS key says so; a key type
    cryptography does not know (GOST, for example) is "unknown (OID)"."""
    key = quietly(cert.public_key)
    if key is None:
        return f"unknown ({key_algorithm_oid(cert) or 'unreadable'})", None, None
    kind, size, curve = public_key_info(key)
    if kind == "RSA" and key_algorithm_oid(cert) == RSA_PSS_OID:
        kind = "RSA-PSS"
    return kind, size, curve


def signature_algorithm_name(cert: x509.Certificate) -> str:
    oid = quietly(lambda: cert.signature_algorithm_oid)
    if oid is None:
        return "unreadable"
    if oid.dotted_string in WEAK_SIGNATURE_OIDS:
        return WEAK_SIGNATURE_OIDS[oid.dotted_string][0]
    if oid.dotted_string == RSA_PSS_OID:
        hash_name = signature_hash_name(cert)
        return f"RSASSA-PSS with {hash_name}" if hash_name else "RSASSA-PSS (parameters missing or invalid)"
    # cryptography keeps OpenSSL's short names on known OIDs; unknown ones show dotted.
    name = getattr(oid, "_name", None)
    return name if name and name != "Unknown OID" else oid.dotted_string


def signature_hash_name(cert: x509.Certificate) -> str | None:
    oid = quietly(lambda: cert.signature_algorithm_oid)
    if oid is not None and oid.dotted_string in WEAK_SIGNATURE_OIDS:
        return WEAK_SIGNATURE_OIDS[oid.dotted_string][1]
    algorithm = quietly(lambda: cert.signature_hash_algorithm)  # None also for an unknown OID
    return algorithm.name if algorithm is not None else None


def subject_cn(cert: x509.Certificate) -> str | None:
    names = subject_cns(cert)
    return names[0] if names else None


def subject_cns(cert: x509.Certificate) -> list[str]:
    values = quietly(lambda: [_text(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)])
    return values or []


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def extension_value(cert: x509.Certificate, kind: type[E]) -> E | None:
    """An extension's value; None when absent, malformed, duplicated or of a form
    cryptography cannot read (the field checks report those)."""
    found = quietly(lambda: cert.extensions.get_extension_for_class(kind).value)
    return found if isinstance(found, kind) else None


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    return extension_value(cert, x509.SubjectAlternativeName)


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
    return crl_points(cert)[0]


def crl_points(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(the URIs of the CRL distribution points, descriptions of points without a URI:
    a directory name or a name relative to the issuer, which the appliance cannot fetch)."""
    cdp = extension_value(cert, x509.CRLDistributionPoints)
    urls: list[str] = []
    without_url: list[str] = []
    for point in cdp or ():
        uris = [n.value for n in point.full_name or () if isinstance(n, x509.UniformResourceIdentifier)]
        urls += [uri for uri in uris if uri not in urls]
        if not uris:
            without_url.append(_point_text(point))
    return urls, without_url


def _point_text(point: x509.DistributionPoint) -> str:
    if point.relative_name is not None:
        return "a name relative to the CRL issuer (" + (quietly(point.relative_name.rfc4514_string) or "?") + ")"
    names = [n for n in point.full_name or ()]
    directories = [n.value for n in names if isinstance(n, x509.DirectoryName)]
    if directories:
        return "the directory name " + (quietly(directories[0].rfc4514_string) or "?")
    if names:
        return "a " + type(names[0]).__name__
    return "no name at all (only the CRL issuer)"


def is_ca(cert: x509.Certificate) -> bool:
    constraints = extension_value(cert, x509.BasicConstraints)
    return bool(constraints and constraints.ca)


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issuer and subject name match (RFC 5280 matching) and its own key verifies it."""
    return links.issued(cert, cert)


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
