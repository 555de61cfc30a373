"""Whether one certificate issued another, the way OpenSSL decides it: the names match
after RFC 5280 section 7.1 / OpenSSL canonicalisation (case of ASCII letters, leading,
trailing and repeated whitespace, and the string type do not matter), and the signature
verifies with the issuer's key.

The signature check is three-valued on purpose: only a check that ran and failed may be
reported as "signed with a different key"; an algorithm we cannot check is another fact.
"""

from __future__ import annotations

import enum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

_ASCII_SPACE = " \t\n\v\f\r"


class Signature(enum.Enum):
    VALID = "valid"
    INVALID = "invalid"  # checked with the issuer's key, and it does not verify
    UNCHECKED = "unchecked"  # unknown or unusable algorithm, key or parameters


def _canonical_value(value: str | bytes) -> str | bytes:
    if isinstance(value, bytes):  # BIT STRING (x500UniqueIdentifier): compared as is
        return value
    folded = "".join(ch.lower() if ch < "\x80" else ch for ch in value)
    return " ".join(part for part in _split_space(folded) if part)


def _split_space(text: str) -> list[str]:
    for space in _ASCII_SPACE[1:]:
        text = text.replace(space, " ")
    return text.split(" ")


def canonical_name(name: x509.Name) -> tuple[frozenset[tuple[str, str | bytes]], ...] | None:
    """The comparable form of a name, None when it cannot be read."""
    try:
        return tuple(
            frozenset((attr.oid.dotted_string, _canonical_value(attr.value)) for attr in rdn) for rdn in name.rdns
        )
    except Exception:  # a name cryptography cannot decode (bad UTF-8, odd tags): matches nothing
        return None


def read_name(cert: x509.Certificate, which: str) -> x509.Name | None:
    try:
        return cert.subject if which == "subject" else cert.issuer
    except Exception:  # an unreadable name is reported by the field checks
        return None


def same_name(first: x509.Name | None, second: x509.Name | None) -> bool:
    if first is None or second is None:
        return False
    one, other = canonical_name(first), canonical_name(second)
    return one is not None and one == other


def names_issuer(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """cert's issuer name is issuer's subject name (RFC 5280 matching)."""
    return same_name(read_name(cert, "issuer"), read_name(issuer, "subject"))


def signature_by(cert: x509.Certificate, issuer: x509.Certificate) -> Signature:
    """Whether issuer's public key verifies cert's signature (names are not looked at)."""
    try:
        key = issuer.public_key()
        signature, tbs = cert.signature, cert.tbs_certificate_bytes
        if isinstance(key, rsa.RSAPublicKey):
            params = cert.signature_algorithm_parameters
            hash_algorithm = cert.signature_hash_algorithm
            if not isinstance(params, padding.PSS | padding.PKCS1v15) or hash_algorithm is None:
                return Signature.UNCHECKED
            key.verify(signature, tbs, params, hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            params = cert.signature_algorithm_parameters
            if not isinstance(params, ec.ECDSA):
                return Signature.UNCHECKED
            key.verify(signature, tbs, params)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, tbs)
        elif isinstance(key, dsa.DSAPublicKey):
            hash_algorithm = cert.signature_hash_algorithm
            if hash_algorithm is None:
                return Signature.UNCHECKED
            key.verify(signature, tbs, hash_algorithm)
        else:
            return Signature.UNCHECKED
    except InvalidSignature:
        return Signature.INVALID
    except Exception:  # unsupported algorithm, mismatched key/algorithm, unreadable fields
        return Signature.UNCHECKED
    return Signature.VALID


def issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Names match and the signature verifies."""
    return names_issuer(cert, issuer) and signature_by(cert, issuer) is Signature.VALID
