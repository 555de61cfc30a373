"""A test PKI built with `cryptography`: roots, intermediates, leaves and CRLs with every
knob the certificate checks care about. Keys are cached (RSA generation is the slow part).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
PASSPHRASE = "Corr3ct-Horse.Battery"  # allowed characters only; tests grep outputs for it


@cache
def rsa_key(label: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """A cached RSA key per label: the same label gives the same key within a run."""
    del label
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def ec_key(label: str) -> ec.EllipticCurvePrivateKey:
    del label
    return ec.generate_private_key(ec.SECP256R1())


def name(
    cn: str | None, *, c: str | None = "US", o: str | None = "Contoso Inc.", ou: str | None = "OT Labs"
) -> x509.Name:
    attrs = []
    if c:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, c))
    if o:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


@dataclass(frozen=True)
class CA:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @property
    def name(self) -> x509.Name:
        return self.cert.subject


def _ski(key: CertificateIssuerPrivateKeyTypes) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def make_root(cn: str = "Contoso Root CA", key_label: str = "root", *, days: int = 3650) -> CA:
    key = rsa_key(key_label)
    subject = name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 10 * DAY)
        .not_valid_after(NOW + days * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(_ski(key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CA(cert, key)


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def make_intermediate(
    parent: CA,
    cn: str = "Contoso Issuing CA",
    key_label: str = "intermediate",
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    hash_alg: Any = None,
    ca: bool = True,
    path_length: int | None = 0,
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    subject: x509.Name | None = None,
) -> CA:
    key = rsa_key(key_label)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject or name(cn))
        .issuer_name(parent.name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - 5 * DAY)
        .not_valid_after(not_after or NOW + 1000 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()),
            critical=False,
        )
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return CA(builder.sign(parent.key, hash_alg or hashes.SHA256()), key)


def make_leaf(
    issuer: CA | None,
    *,
    cn: str | None = "sensor-1.plant.example",
    dns: tuple[str, ...] | None = None,
    ips: tuple[str, ...] = ("198.51.100.23",),
    key: CertificateIssuerPrivateKeyTypes | None = None,
    crl_urls: tuple[str, ...] = ("http://crl.plant.example/issuing.crl",),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    hash_alg: Any = None,
    subject: x509.Name | None = None,
    serial: int | None = None,
    eku: tuple[x509.ObjectIdentifier, ...] | None = (ExtendedKeyUsageOID.SERVER_AUTH,),
    san: bool = True,
) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]:
    """A server certificate and its key. issuer None: self-signed."""
    key = key or rsa_key("leaf")
    subject = subject or name(cn)
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in (dns if dns is not None else ((cn,) if cn else ()))]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name if issuer else subject)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if san and names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if crl_urls:
        points = [x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None) for u in crl_urls]
        builder = builder.add_extension(x509.CRLDistributionPoints(points), critical=False)
    signer = issuer.key if issuer else key
    cert = builder.sign(signer, hash_alg or hashes.SHA256())
    return cert, key


def make_crl(
    ca: CA,
    revoked: tuple[int, ...] = (),
    *,
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
    signer: CA | None = None,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.name)
        .last_update(this_update or NOW - DAY)
        .next_update(next_update or NOW + 7 * DAY)
    )
    for serial in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - DAY)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    return builder.sign((signer or ca).key, hashes.SHA256())


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: PrivateKeyTypes, passphrase: str | None = None, *, traditional: bool = False) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@dataclass(frozen=True)
class Pki:
    """The standard hierarchy: root -> intermediate -> leaves, plus an unrelated PKI."""

    root: CA
    intermediate: CA
    other_root: CA
    other_intermediate: CA
    impostor_root: CA  # same name as root, different key


@cache
def standard() -> Pki:
    root = make_root()
    intermediate = make_intermediate(root)
    other_root = make_root("Fabrikam Root CA", "other-root")
    other_intermediate = make_intermediate(other_root, "Fabrikam Issuing CA", "other-intermediate")
    impostor = make_root("Contoso Root CA", "impostor-root")
    return Pki(root, intermediate, other_root, other_intermediate, impostor)
