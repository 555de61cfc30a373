"""`netcheck cert csr`: an RSA key and a SHA-256 CSR with the subject the appliance
documentation requires (CN, O, OU, C) and SANs, replacing the `openssl req` recipes
(new key + CSR, CSR for an existing key, CSR from an existing certificate).

`create(CsrOptions(...), passphrase=...)` returns what it wrote (`CsrWritten`) and raises
UsageError; the command line (certs/cli.py) prints and exits.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from netcheck.certs.checks import PASSPHRASE_CHARACTERS
from netcheck.certs.convert import key_encryption, key_pem, write_file
from netcheck.certs.facts import is_wildcard, quietly, san_dns, san_ip
from netcheck.certs.load import KeyState, encode_secret, open_key, parse_file
from netcheck.errors import UsageError
from netcheck.outputs import check_target

_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class CsrOptions:
    """One key and CSR. cn, org, unit, country (required, unless copied from `from_crt`), state,
    locality: the subject; sans: further DNS names / IP addresses (the CN is always one); bits:
    the new key's size; key: use this existing key instead; key_out / csr_out: where to write
    (default CN.key / CN.csr); force: overwrite."""

    cn: str | None = None
    sans: tuple[str, ...] = ()
    org: str | None = None
    unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None
    bits: Literal[2048, 4096] = 2048
    key: Path | None = None
    from_crt: Path | None = None
    key_out: Path | None = None
    csr_out: Path | None = None
    force: bool = False


@dataclass(frozen=True)
class CsrWritten:
    """What `create` wrote: the CSR, the new key (None when an existing key was used), the
    subject, the SAN entries (DNS:... / IP:...), and warnings about choices later releases refuse."""

    csr: Path
    key: Path | None
    key_size: int
    key_encrypted: bool
    subject: str
    sans: tuple[str, ...]
    warnings: tuple[str, ...]

    def summary(self) -> str:
        written = []
        if self.key is not None:
            state = "encrypted" if self.key_encrypted else "unencrypted, mode 0600"
            written.append(f"{self.key} (RSA {self.key_size}, {state})")
        written.append(f"{self.csr} ({self.subject}; SAN {', '.join(self.sans)})")
        return "wrote " + " and ".join(written)


def create(options: CsrOptions, *, passphrase: str | None = None) -> CsrWritten:
    """Write a SHA-256 CSR (and a new RSA key, unless `options.key`; encrypted with `passphrase`,
    which also opens an existing key). UsageError on anything unusable; nothing is half written."""
    if options.bits not in (2048, 4096):
        raise UsageError(f"bits {options.bits}: the appliance supports RSA 2048 or 4096 only")
    template = _template(options.from_crt) if options.from_crt else None
    subject = _subject(options, template)
    cn = _first(subject, NameOID.COMMON_NAME)
    sans = _sans(cn, list(options.sans), template)
    key, new_key = _key(options, passphrase)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UsageError(f"{options.key}: not an RSA key; the appliance supports RSA 2048 or 4096 only")
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    stem = _safe_name(cn)
    csr_out = options.csr_out or Path(f"{stem}.csr")
    key_out = options.key_out or Path(f"{stem}.key")
    for target in [key_out] * new_key + [csr_out]:  # both files can be written, or none is
        check_target(target, "output", exclusive=not options.force)
    if new_key:
        write_file(key_out, key_pem(key, key_encryption(passphrase)), force=options.force, secret=True)
    write_file(csr_out, request.public_bytes(Encoding.PEM), force=options.force)
    return CsrWritten(csr=csr_out, key=key_out if new_key else None, key_size=key.key_size,
                      key_encrypted=bool(passphrase), subject=subject.rfc4514_string(),
                      sans=tuple(_san_text(s) for s in sans), warnings=_warnings(cn, passphrase, new_key))


def _warnings(cn: str, passphrase: str | None, new_key: bool) -> tuple[str, ...]:
    found = []
    if is_wildcard(cn):
        found.append("wildcard CN: allowed by the 2021 documentation, rejected by later releases")
    if new_key and passphrase and not set(passphrase) <= PASSPHRASE_CHARACTERS:
        allowed = "a-z A-Z 0-9 !#%()+,-./:=?@[\\]^_{}~"
        found.append(f"the passphrase has characters later releases reject (allowed: {allowed})")
    return tuple(found)


def _template(path: Path) -> x509.Certificate:
    parsed = parse_file(path, "--from-crt", "a PEM or DER certificate", None)
    if not parsed.certs:
        raise UsageError(f"{path}: --from-crt holds no certificate")
    if quietly(lambda: [a.value for a in parsed.certs[0].subject]) is None:
        raise UsageError(
            f"{path}: --from-crt: the certificate's subject name cannot be read",
            hint="leave out --from-crt and give --cn, --o, --ou and --c",
        )
    return parsed.certs[0]


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _subject(options: CsrOptions, template: x509.Certificate | None) -> x509.Name:
    base = template.subject if template else x509.Name([])
    fields = [
        (NameOID.COUNTRY_NAME, options.country, "--c"),
        (NameOID.STATE_OR_PROVINCE_NAME, options.state, None),
        (NameOID.LOCALITY_NAME, options.locality, None),
        (NameOID.ORGANIZATION_NAME, options.org, "--o"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, options.unit, "--ou"),
        (NameOID.COMMON_NAME, options.cn, "--cn"),
    ]
    attributes: list[x509.NameAttribute[str]] = []
    missing: list[str] = []
    for oid, given, flag in fields:
        value = (given or _first(base, oid)).strip()
        if not value:
            if flag:
                missing.append(flag)
            continue
        if oid == NameOID.COUNTRY_NAME:
            value = value.upper()
            if not _COUNTRY.match(value):
                raise UsageError(f"--c {given or value}: expected a two-letter country code such as US")
        attributes.append(x509.NameAttribute(oid, value))
    if missing:
        raise UsageError(
            f"missing {', '.join(missing)}",
            hint="the documentation requires subject CN, O, OU and C (or copy them with --from-crt)",
        )
    return x509.Name(attributes)


def _entry(text: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    if not re.fullmatch(r"(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9])?", text):
        raise UsageError(f"--san {text}: not a DNS name or IP address")
    return x509.DNSName(text.lower())


def _sans(cn: str, extra: list[str], template: x509.Certificate | None) -> list[x509.GeneralName]:
    texts = [cn, *extra]
    if template is not None:
        texts += san_dns(template) + san_ip(template)
    entries: list[x509.GeneralName] = []
    for text in texts:
        entry = _entry(text.strip())
        if entry not in entries:
            entries.append(entry)
    return entries


def _san_text(entry: x509.GeneralName) -> str:
    return f"IP:{entry.value}" if isinstance(entry, x509.IPAddress) else f"DNS:{entry.value}"


def _key(options: CsrOptions, passphrase: str | None) -> tuple[PrivateKeyTypes, bool]:
    if options.key is None:
        return rsa.generate_private_key(public_exponent=65537, key_size=options.bits), True
    parsed = parse_file(options.key, "--key", "a PEM or DER private key", encode_secret(passphrase))
    if parsed.opened_key is not None:
        return parsed.opened_key, False
    if not parsed.keys:
        raise UsageError(f"{options.key}: --key holds no private key")
    opened = open_key(parsed.keys[0], encode_secret(passphrase), str(options.key))
    if opened.state is KeyState.NEEDS_PASSPHRASE:
        raise UsageError(f"{options.key}: the key is encrypted", hint="give --pass-env VAR or --pass")
    if opened.state is KeyState.WRONG_PASSPHRASE or opened.key is None:
        raise UsageError(f"{options.key}: Passphrase does not match to the key")
    return opened.key, False


def _safe_name(cn: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", cn.replace("*", "wildcard")) or "appliance"
