"""Read certificate, key and chain files the way a person has them: PEM, DER, PKCS#7 or
PKCS#12, decided by content (extensions lie), with `Bag Attributes` and other text
between PEM blocks tolerated.

Unusable input raises ConfigError naming the file and what was expected. A key that
does not open is *not* an input error: it is the appliance's "Passphrase does not match
to the key", so it is recorded in KeyState and judged by the checks.
"""

from __future__ import annotations

import enum
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    load_der_private_key,
    load_pem_private_key,
    pkcs7,
    pkcs12,
)

from netcheck.errors import ConfigError, UsageError
from netcheck.inputs import CAP_CERTIFICATE, read_file

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

BER_NOTE = "the PKCS#7 bundle is BER-encoded, not DER; netcheck read it, stricter tools may not"
_PKCS7_OID_PREFIX = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"
EXPECTED_CERT = "a PEM or DER certificate, or a PKCS#12 (.pfx/.p12) bundle"
EXPECTED_KEY = "a PEM or DER private key, or a PKCS#12 bundle"
EXPECTED_CHAIN = "PEM certificates (issuing CA first, up to the root), DER, PKCS#7 or PKCS#12"

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_KEY_LABELS = {b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"DSA PRIVATE KEY"}
_PKCS7_LABELS = {b"PKCS7", b"CERTIFICATE CHAIN"}
# PKCS#12 PFX: SEQUENCE { INTEGER 3, ContentInfo { OID pkcs7-data | pkcs7-signedData ...
_PKCS12_VERSION = b"\x02\x01\x03\x30"
_PKCS7_DATA_OIDS = (b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01", b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02")


class KeyState(enum.StrEnum):
    """What opening the private key gave."""

    OK = "ok"  # opened (unencrypted, or the passphrase fits)
    NEEDS_PASSPHRASE = "needs-passphrase"  # encrypted and no passphrase was given
    WRONG_PASSPHRASE = "wrong-passphrase"


@dataclass(frozen=True)
class KeyBlob:
    """A private key as found in a file, not yet opened (it may need the passphrase)."""

    data: bytes
    pem: bool


@dataclass(frozen=True)
class Parsed:
    """The contents of one file. `format` is pem, der, pkcs7 or pkcs12."""

    path: str
    format: str
    certs: tuple[x509.Certificate, ...]
    keys: tuple[KeyBlob, ...] = ()
    opened_key: PrivateKeyTypes | None = None  # PKCS#12 keys come out already open
    bag_attributes: bool = False
    protected: bool = False  # a PKCS#12 bundle needed a (non-empty) password
    passphrase_unused: bool = False  # a passphrase was given but the bundle needs none
    notes: tuple[str, ...] = ()  # what the parser warned about (BER encoding ...)


@dataclass(frozen=True)
class OpenedKey:
    key: PrivateKeyTypes | None
    state: KeyState
    encrypted: bool
    passphrase_unused: bool = False


@dataclass(frozen=True)
class Material:
    """Everything needed to judge one appliance certificate.

    leaf              the server certificate (the first certificate of --crt)
    crt_format        pem / der / pkcs12
    extra_in_crt      further certificates found in the --crt file
    key               the opened private key, None if it did not open
    key_state         see KeyState
    key_encrypted     the key file is passphrase-protected
    key_source        where the key came from ("--key FILE", "--crt FILE (PKCS#12)", ...)
    key_in_crt        the --crt file itself holds a private key
    passphrase_unused a passphrase was given but the key is not encrypted
    chain             the chain certificates in file order (from --chain, else the extras
                      of --crt or the PKCS#12 bundle)
    chain_source      where the chain came from, None when there is none
    bag_attributes    some file had openssl's `Bag Attributes` lines
    roots             explicit trust anchors (--root), empty when none were given
    notes             what the parser warned about while reading the files (BER PKCS#7 ...)
    """

    crt_path: str
    leaf: x509.Certificate
    crt_format: str
    extra_in_crt: tuple[x509.Certificate, ...]
    key: PrivateKeyTypes | None
    key_state: KeyState
    key_encrypted: bool
    key_source: str
    key_in_crt: bool
    passphrase_unused: bool
    chain: tuple[x509.Certificate, ...]
    chain_source: str | None
    bag_attributes: bool
    roots: tuple[x509.Certificate, ...] = field(default=())
    notes: tuple[str, ...] = ()


def read_bytes(path: Path, role: str, expected: str) -> bytes:
    """The file's bytes through the one read gate (regular file, capped), or ConfigError
    saying in one line why it cannot be used."""
    try:
        data = read_file(path, expected, CAP_CERTIFICATE)
    except ConfigError as exc:
        raise ConfigError(path, f"{role}: {exc.problem}", expected=expected) from None
    if not data.strip():
        raise ConfigError(path, f"{role}: the file is empty", expected=expected)
    return data


def parse_file(path: Path, role: str, expected: str, passphrase: bytes | None) -> Parsed:
    """Read and parse one file. cryptography's warnings while parsing (a BER-encoded
    PKCS#7, for example) are recorded in Parsed.notes, never printed."""
    data = read_bytes(path, role, expected)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if b"-----BEGIN " in data:
            parsed = _parse_pem(data, str(path), role, expected)
        else:
            parsed = _parse_binary(data, str(path), role, expected, passphrase)
    notes = tuple(dict.fromkeys(_note(str(w.message)) for w in caught))
    return replace(parsed, notes=notes) if notes else parsed


def _note(text: str) -> str:
    if "as DER, falling back to parsing as BER" in text:
        return BER_NOTE
    return " ".join(text.split())[:200]


def _certificate_problem(exc: Exception) -> str:
    """cryptography's complaint about a certificate, in a few words."""
    if isinstance(exc, x509.InvalidVersion):
        return f"X.509 version field {exc.parsed_version} (only 1, 2 and 3 exist)"
    return "corrupt base64 or DER"


def _parse_pem(data: bytes, source: str, role: str, expected: str) -> Parsed:
    certs: list[x509.Certificate] = []
    keys: list[KeyBlob] = []
    for index, match in enumerate(_PEM_BLOCK.finditer(data), start=1):
        label, block = match.group(1), match.group(0)
        name = label.decode("ascii")
        if label in _CERT_LABELS:
            certs.append(_pem_certificate(block, label, source, role, f"PEM block {index} ({name})"))
        elif label in _KEY_LABELS:
            keys.append(KeyBlob(block, pem=True))
        elif label in _PKCS7_LABELS:
            try:
                certs.extend(pkcs7.load_pem_pkcs7_certificates(block))
            except Exception:  # ValueError, UnsupportedAlgorithm, InvalidVersion ...
                raise ConfigError(
                    source, f"{role}: PEM block {index} ({name}) is not a PKCS#7 certificate bundle (signedData)"
                ) from None
    if not certs and not keys:
        raise ConfigError(source, f"{role}: no certificate or private key in this PEM text", expected=expected)
    return Parsed(source, "pem", tuple(certs), tuple(keys), bag_attributes=b"Bag Attributes" in data)


def _pem_certificate(block: bytes, label: bytes, source: str, role: str, where: str) -> x509.Certificate:
    if label == b"TRUSTED CERTIFICATE":  # OpenSSL's X509_AUX: a plain certificate plus trust settings
        block = block.replace(b"TRUSTED CERTIFICATE", b"CERTIFICATE")
    try:
        return x509.load_pem_x509_certificate(block)
    except Exception as exc:  # cryptography raises ValueError, InvalidVersion and others
        raise ConfigError(source, f"{role}: {where} is not a valid certificate ({_certificate_problem(exc)})") from None


def _parse_binary(data: bytes, source: str, role: str, expected: str, passphrase: bytes | None) -> Parsed:
    if _looks_like_pkcs12(data):
        return _parse_pkcs12(data, source, role, passphrase)
    try:
        return Parsed(source, "der", (x509.load_der_x509_certificate(data),))
    except x509.InvalidVersion as exc:
        raise ConfigError(source, f"{role}: not a valid certificate ({_certificate_problem(exc)})") from None
    except Exception:  # not a DER certificate: try the other forms
        pass
    try:
        return Parsed(source, "pkcs7", tuple(pkcs7.load_der_pkcs7_certificates(data)))
    except Exception:  # enveloped or otherwise unusable PKCS#7 ends below as "not a certificate"
        pass
    if _der_key_kind(data, passphrase) is not None:
        return Parsed(source, "der", (), (KeyBlob(data, pem=False),))
    if data.startswith(b"\x30") and _PKCS7_OID_PREFIX in data[:32]:
        raise ConfigError(
            source, f"{role}: a PKCS#7 structure that is not a certificate bundle (signedData)", expected=expected
        )
    raise ConfigError(source, f"{role}: not a certificate, key or PKCS#12 bundle", expected=expected)


def _der_key_kind(data: bytes, passphrase: bytes | None) -> str | None:
    """Whether DER bytes are a private key, encrypted or not (the passphrase may be wrong)."""
    try:
        load_der_private_key(data, passphrase)
    except TypeError:  # encrypted without a passphrase, or a passphrase for a plain key
        return "key"
    except ValueError as exc:
        if _is_wrong_password(exc) or (passphrase is not None and _is_encrypted(data, pem=False)):
            return "key"
        return None
    except UnsupportedAlgorithm:
        return "key"
    except Exception:  # anything else cryptography raises: not a key we can use
        return None
    return "key"


def _is_encrypted(data: bytes, *, pem: bool) -> bool:
    """Whether the key needs a passphrase at all. A wrong passphrase on an AES-CBC key
    decrypts to garbage with valid padding about once in 256 tries; cryptography then
    reports a corrupt key, not a wrong password, so ask the key itself."""
    load = load_pem_private_key if pem else load_der_private_key
    try:
        load(data, None)
    except TypeError:  # "Password was not given but private key is encrypted"
        return True
    except Exception:  # ValueError, UnsupportedAlgorithm, ...: not an encrypted key
        return False
    return False


def _der_length(data: bytes, offset: int) -> tuple[int, int] | None:
    """(length, offset of the content) of the DER element whose length byte is at offset."""
    if offset >= len(data):
        return None
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if not 1 <= count <= 4 or offset + 1 + count > len(data):
        return None
    return int.from_bytes(data[offset + 1 : offset + 1 + count], "big"), offset + 1 + count


def _looks_like_pkcs12(data: bytes) -> bool:
    if not data.startswith(b"\x30"):
        return False
    outer = _der_length(data, 1)
    if outer is None or not data.startswith(_PKCS12_VERSION, outer[1]):
        return False
    inner = _der_length(data, outer[1] + len(_PKCS12_VERSION))
    return inner is not None and any(data.startswith(oid, inner[1]) for oid in _PKCS7_DATA_OIDS)


def _parse_pkcs12(data: bytes, source: str, role: str, passphrase: bytes | None) -> Parsed:
    attempts = ([passphrase] if passphrase is not None else []) + [None, b""]
    for attempt in attempts:
        try:
            bundle = pkcs12.load_pkcs12(data, attempt)
        except ValueError:
            continue
        except UnsupportedAlgorithm:
            raise ConfigError(source, f"{role}: the PKCS#12 bundle uses an unsupported algorithm") from None
        except Exception:  # InvalidVersion of a certificate inside, and other parse errors
            raise ConfigError(source, f"{role}: the PKCS#12 bundle holds an unreadable certificate or key") from None
        certs = [item.certificate for item in ([bundle.cert] if bundle.cert else [])]
        certs += [item.certificate for item in bundle.additional_certs]
        return Parsed(
            source,
            "pkcs12",
            tuple(certs),
            opened_key=bundle.key,
            protected=bool(attempt),
            passphrase_unused=passphrase is not None and not attempt,
        )
    if passphrase is None:
        raise ConfigError(
            source,
            f"{role}: a password-protected PKCS#12 bundle and no passphrase was given",
            expected="--pass-env VAR or --pass PASSPHRASE",
        )
    raise ConfigError(source, f"{role}: the passphrase does not open this PKCS#12 bundle", expected="its password")


def _is_wrong_password(exc: ValueError) -> bool:
    # cryptography says "Incorrect password, could not decrypt key"; its generic
    # "could not deserialize" text also mentions passwords, so match the exact phrase.
    return "incorrect password" in str(exc).lower()


def open_key(blob: KeyBlob, passphrase: bytes | None, source: str) -> OpenedKey:
    """Open a key. Wrong or missing passphrases are states, not errors."""
    load = load_pem_private_key if blob.pem else load_der_private_key
    try:
        return OpenedKey(load(blob.data, passphrase), KeyState.OK, encrypted=passphrase is not None)
    except TypeError as exc:
        if passphrase is None:  # "Password was not given but private key is encrypted"
            return OpenedKey(None, KeyState.NEEDS_PASSPHRASE, encrypted=True)
        del exc  # "Password was given but private key is not encrypted": open it plainly
        return OpenedKey(load(blob.data, None), KeyState.OK, encrypted=False, passphrase_unused=True)
    except ValueError as exc:
        if _is_wrong_password(exc) or (passphrase is not None and _is_encrypted(blob.data, pem=blob.pem)):
            return OpenedKey(None, KeyState.WRONG_PASSPHRASE, encrypted=True)
        raise ConfigError(source, "the private key is corrupt or not a supported key", expected=EXPECTED_KEY) from None
    except UnsupportedAlgorithm:
        raise ConfigError(source, "the private key uses an unsupported algorithm", expected="an RSA key") from None
    except Exception:  # any other parse error of the key
        raise ConfigError(source, "the private key is corrupt or not a supported key", expected=EXPECTED_KEY) from None


def encode_secret(passphrase: str | None) -> bytes | None:
    # surrogateescape gives back the exact bytes of a non-UTF-8 environment variable
    return passphrase.encode("utf-8", "surrogateescape") if passphrase is not None else None


def load_material(
    crt: Path,
    key: Path | None,
    chain: Path | None,
    passphrase: str | None,
    roots: Path | None = None,
) -> Material:
    """Read --crt/--key/--chain(/--root) into Material; ConfigError/UsageError for unusable input."""
    secret = encode_secret(passphrase)
    crt_parsed = parse_file(crt, "--crt", EXPECTED_CERT, secret)
    if not crt_parsed.certs:
        hint = " (it holds a private key: were --crt and --key swapped?)" if crt_parsed.keys else ""
        raise ConfigError(crt, f"--crt: no certificate in this file{hint}", expected=EXPECTED_CERT)
    leaf, *extras = crt_parsed.certs
    opened, key_source = _load_key(crt, crt_parsed, key, secret)
    chain_parsed = parse_file(chain, "--chain", EXPECTED_CHAIN, secret) if chain else None
    if chain_parsed is not None and not chain_parsed.certs:
        raise ConfigError(
            chain_parsed.path, "--chain: holds no certificate (a private key only?)", expected=EXPECTED_CHAIN
        )
    if chain_parsed is not None:
        chain_certs, chain_source = chain_parsed.certs, f"--chain {chain}"
    elif extras:
        kind = "PKCS#12 bundle" if crt_parsed.format == "pkcs12" else "certificate file"
        chain_certs, chain_source = tuple(extras), f"--crt {crt} ({kind})"
    else:
        chain_certs, chain_source = (), None
    root_certs: tuple[x509.Certificate, ...] = ()
    notes = crt_parsed.notes + (chain_parsed.notes if chain_parsed else ())
    if roots is not None:
        root_parsed = parse_file(roots, "--root", "PEM or DER CA certificates", None)
        root_certs, notes = root_parsed.certs, notes + root_parsed.notes
        if not root_certs:
            raise ConfigError(roots, "--root: holds no certificate", expected="PEM or DER CA certificates")
    return Material(
        crt_path=str(crt),
        leaf=leaf,
        crt_format=crt_parsed.format,
        extra_in_crt=tuple(extras) if crt_parsed.format != "pkcs12" else (),
        key=opened.key,
        key_state=opened.state,
        key_encrypted=opened.encrypted,
        key_source=key_source,
        key_in_crt=bool(crt_parsed.keys),
        passphrase_unused=opened.passphrase_unused,
        chain=chain_certs,
        chain_source=chain_source,
        bag_attributes=crt_parsed.bag_attributes or bool(chain_parsed and chain_parsed.bag_attributes),
        roots=root_certs,
        notes=tuple(dict.fromkeys(notes)),
    )


def _load_key(crt: Path, crt_parsed: Parsed, key: Path | None, secret: bytes | None) -> tuple[OpenedKey, str]:
    if key is not None:
        parsed = parse_file(key, "--key", EXPECTED_KEY, secret)
        if parsed.opened_key is not None:
            return _pkcs12_key(parsed), f"--key {key} (PKCS#12)"
        if not parsed.keys:
            raise ConfigError(key, "--key: holds a certificate, not a private key", expected=EXPECTED_KEY)
        return open_key(parsed.keys[0], secret, str(key)), f"--key {key}"
    if crt_parsed.opened_key is not None:
        return _pkcs12_key(crt_parsed), f"--crt {crt} (PKCS#12)"
    if crt_parsed.keys:
        return open_key(crt_parsed.keys[0], secret, str(crt)), f"--crt {crt}"
    raise UsageError(f"{crt}: no private key given", hint="add --key FILE, or give a PKCS#12 bundle as --crt")


def _pkcs12_key(parsed: Parsed) -> OpenedKey:
    return OpenedKey(parsed.opened_key, KeyState.OK, parsed.protected, parsed.passphrase_unused)
