"""Lab PKI: root CA -> intermediate CA -> leaf certificates, plus CRLs.

Everything is generated fresh per run with the ``cryptography`` package (EC
P-256 keys: fast to make, accepted by nginx, GnuTLS slapd and OpenSMTPD).
Besides the good leaves it makes the bad ones that certificate checks need:
an expired leaf, a revoked leaf (listed in the CRL), a self-signed leaf, and a
stale CRL whose nextUpdate has passed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .topology import SERVER_EXTRA_IPS, SERVER_IP

DOMAIN: Final = "lab.example"
CRL_IP: Final = SERVER_EXTRA_IPS["crl"]
CRL_URL: Final = f"http://{CRL_IP}/lab.crl"

# name -> address in the certificate's IP SAN (None: DNS SAN only).
GOOD_LEAVES: Final[dict[str, str | None]] = {
    "console": SERVER_IP,
    "ha-console": SERVER_EXTRA_IPS["ha_console"],
    "sensor": SERVER_EXTRA_IPS["sensor"],
    "ldap": SERVER_EXTRA_IPS["ldap"],
    "mail": SERVER_EXTRA_IPS["smtp"],
    "syslog": SERVER_EXTRA_IPS["syslog"],
}


@dataclass(frozen=True)
class LeafCert:
    """A server certificate and its key on disk.

    hostname: the DNS SAN (and CN), e.g. console.lab.example.
    ip: the IP SAN, if any.
    cert: the leaf alone (PEM). key: its private key (PEM, PKCS#8, mode 0600).
    chain: leaf + intermediate (PEM) -- what a server should send.
    serial: the certificate serial number.
    """

    name: str
    hostname: str
    ip: str | None
    cert: Path
    key: Path
    chain: Path
    serial: int


@dataclass(frozen=True)
class LabPKI:
    """Paths of the lab PKI.

    root_cert: the trust anchor (PEM) to give netcheck as CA file.
    intermediate_cert: the issuing CA of all leaves (PEM).
    ca_bundle: root + intermediate (PEM).
    crl_der / crl_pem: the intermediate's CRL (revokes `leaves["revoked"]`),
      served as /lab.crl; valid now.
    stale_crl_der: same issuer, nextUpdate in the past, served as /stale.crl.
    root_crl_der: the root's (empty) CRL, served as /root.crl.
    crl_url: the URL in every lab-CA leaf's CRL distribution point.
    leaves: console, ha-console, sensor, ldap, mail, syslog (good);
      expired, revoked (lab-CA issued, bad); selfsigned (not lab-CA issued).
    """

    dir: Path
    root_cert: Path
    intermediate_cert: Path
    ca_bundle: Path
    crl_der: Path
    crl_pem: Path
    stale_crl_der: Path
    root_crl_der: Path
    crl_url: str
    leaves: dict[str, LeafCert] = field(default_factory=dict)


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

# One RSA leaf so the lab serves both key types (the others are EC P-256).
RSA_LEAVES: Final = frozenset({"mail"})


def _key(use_rsa: bool = False) -> PrivateKey:
    if use_rsa:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "netcheck lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _write_key(path: Path, key: PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca_cert(
    subject: str,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    now: dt.datetime,
    path_length: int | None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _leaf_cert(
    hostname: str,
    ip: str | None,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    sans: list[x509.GeneralName] = [x509.DNSName(hostname)]
    if ip is not None:
        sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(hostname))
        .issuer_name(issuer.subject if issuer else _name(hostname))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(x509.SubjectAlternativeName(sans), False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            False,
        )
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            False,
        ).add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(CRL_URL)], None, None, None)]
            ),
            False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _crl(
    issuer: x509.Certificate,
    key: PrivateKey,
    this_update: dt.datetime,
    next_update: dt.datetime,
    revoked: list[int],
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(1), False)
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(this_update).build()
        )
    return builder.sign(key, hashes.SHA256())


def make_pki(directory: Path, now: dt.datetime | None = None) -> LabPKI:
    """Generate the whole lab PKI into `directory` (created if missing)."""
    now = now or dt.datetime.now(dt.UTC)
    directory.mkdir(parents=True, exist_ok=True)

    root_key: PrivateKey = _key()
    inter_key: PrivateKey = _key()
    root = _ca_cert("netcheck lab root CA", root_key, None, root_key, now, 1)
    inter = _ca_cert("netcheck lab issuing CA", inter_key, root, root_key, now, 0)
    root_path = directory / "root-ca.pem"
    inter_path = directory / "intermediate-ca.pem"
    bundle_path = directory / "ca-bundle.pem"
    root_path.write_bytes(_pem(root))
    inter_path.write_bytes(_pem(inter))
    bundle_path.write_bytes(_pem(root) + _pem(inter))

    valid = (now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    specs: dict[str, tuple[str | None, tuple[dt.datetime, dt.datetime], bool]] = {
        name: (ip, valid, True) for name, ip in GOOD_LEAVES.items()
    }
    specs["expired"] = (
        SERVER_IP,
        (now - dt.timedelta(days=60), now - dt.timedelta(days=30)),
        True,
    )
    specs["revoked"] = (SERVER_IP, valid, True)
    specs["selfsigned"] = (SERVER_IP, valid, False)

    leaves: dict[str, LeafCert] = {}
    for name, (ip, (nb, na), lab_issued) in specs.items():
        hostname = f"{name}.{DOMAIN}"
        key = _key(name in RSA_LEAVES)
        cert = (
            _leaf_cert(hostname, ip, key, inter, inter_key, nb, na)
            if lab_issued
            else _leaf_cert(hostname, ip, key, None, key, nb, na)
        )
        cert_path = directory / f"{name}.pem"
        key_path = directory / f"{name}.key"
        chain_path = directory / f"{name}-chain.pem"
        cert_path.write_bytes(_pem(cert))
        _write_key(key_path, key)
        chain_path.write_bytes(_pem(cert) + (_pem(inter) if lab_issued else b""))
        leaves[name] = LeafCert(name, hostname, ip, cert_path, key_path, chain_path, cert.serial_number)

    revoked = [leaves["revoked"].serial]
    crl = _crl(
        inter,
        inter_key,
        now - dt.timedelta(hours=1),
        now + dt.timedelta(days=7),
        revoked,
    )
    stale = _crl(
        inter,
        inter_key,
        now - dt.timedelta(days=14),
        now - dt.timedelta(days=7),
        revoked,
    )
    root_crl = _crl(root, root_key, now - dt.timedelta(hours=1), now + dt.timedelta(days=30), [])
    crl_der, crl_pem = directory / "lab.crl", directory / "lab-crl.pem"
    stale_der, root_crl_der = directory / "stale.crl", directory / "root.crl"
    crl_der.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    crl_pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    stale_der.write_bytes(stale.public_bytes(serialization.Encoding.DER))
    root_crl_der.write_bytes(root_crl.public_bytes(serialization.Encoding.DER))

    return LabPKI(
        dir=directory,
        root_cert=root_path,
        intermediate_cert=inter_path,
        ca_bundle=bundle_path,
        crl_der=crl_der,
        crl_pem=crl_pem,
        stale_crl_der=stale_der,
        root_crl_der=root_crl_der,
        crl_url=CRL_URL,
        leaves=leaves,
    )
