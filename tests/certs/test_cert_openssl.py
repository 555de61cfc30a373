"""A second, independent source: a PKI made with the `openssl` command line (root,
intermediate, encrypted leaf key, `openssl ca` revocation and CRLs, SHA-1, RSA 1024,
PKCS#12 and its Bag Attributes PEM), and `openssl verify` agreeing with netcheck's verdicts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from netcheck.certs.chain import analyse_chain, chains_to_anchor
from netcheck.certs.crl import judge_download
from netcheck.certs.load import load_material
from tests.certs.conftest import codes, crl_ok, material, run_analysis
from tests.certs.daemons import free_port, nginx
from tests.certs.pkifactory import DAY, NOW, PASSPHRASE, pem, rsa_key

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command line not installed")
Cli = Callable[..., CompletedProcess[str]]
SUBJECT = "/C=US/O=Contoso Inc./OU=OT Labs/CN="
CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"


@dataclass(frozen=True)
class OpenSslPki:
    dir: Path
    crl_url: str

    def path(self, name: str) -> str:
        return str(self.dir / name)


def osl(directory: Path, *args: str) -> str:
    env = {**os.environ, "P": PASSPHRASE}
    done = subprocess.run(["openssl", *args], cwd=directory, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {done.stderr}")
    return done.stdout + done.stderr


def leaf_ext(crl_url: str, cn: str) -> str:
    return (
        f"basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
        f"subjectAltName=DNS:{cn},IP:198.51.100.23\ncrlDistributionPoints=URI:{crl_url}\n"
    )


def sign_leaf(
    d: Path,
    name: str,
    crl_url: str,
    *,
    key_args: tuple[str, ...] = ("2048",),
    digest: str = "-sha256",
    encrypt: bool = False,
    ca: str = "int",
) -> None:
    cn = f"{name}.plant.example"
    if encrypt:
        osl(d, "genrsa", "-aes256", "-passout", "env:P", "-out", f"{name}.key", *key_args)
        osl(d, "req", "-new", "-key", f"{name}.key", "-passin", "env:P", "-subj", SUBJECT + cn, "-out", f"{name}.csr")
    else:
        osl(d, "genrsa", "-out", f"{name}.key", *key_args)
        osl(d, "req", "-new", "-key", f"{name}.key", "-subj", SUBJECT + cn, "-out", f"{name}.csr")
    (d / f"{name}.ext").write_text(leaf_ext(crl_url, cn))
    osl(
        d,
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        f"{ca}.crt",
        "-CAkey",
        f"{ca}.key",
        "-CAcreateserial",
        "-days",
        "200",
        digest,
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
    )


def ca_config(d: Path) -> Path:
    (d / "index.txt").write_text("")
    (d / "crlnumber").write_text("1000\n")
    (d / "ca.cnf").write_text(f"""
[ ca ]
default_ca = int
[ int ]
dir = {d}
database = $dir/index.txt
new_certs_dir = $dir
certificate = $dir/int.crt
private_key = $dir/int.key
serial = $dir/int.srl
crlnumber = $dir/crlnumber
default_md = sha256
default_crl_days = 7
policy = anything
unique_subject = no
[ anything ]
commonName = supplied
""")
    return d / "ca.cnf"


@pytest.fixture(scope="module")
def ospki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSslPki]:
    d = tmp_path_factory.mktemp("openssl")
    www = d / "www"
    www.mkdir()
    port = free_port()
    crl_url = f"http://127.0.0.1:{port}/openssl.crl"
    (d / "ca.ext").write_text(CA_EXT)
    osl(
        d,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "root.key",
        "-out",
        "root.crt",
        "-days",
        "3650",
        "-subj",
        SUBJECT + "OpenSSL Root CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    osl(
        d,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "other.key",
        "-out",
        "other.crt",
        "-days",
        "3650",
        "-subj",
        SUBJECT + "OpenSSL Other Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
    )
    osl(d, "genrsa", "-out", "int.key", "2048")
    osl(d, "req", "-new", "-key", "int.key", "-subj", SUBJECT + "OpenSSL Issuing CA", "-out", "int.csr")
    osl(
        d,
        "x509",
        "-req",
        "-in",
        "int.csr",
        "-CA",
        "root.crt",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-days",
        "1000",
        "-sha256",
        "-extfile",
        "ca.ext",
        "-out",
        "int.crt",
    )
    for name, kwargs in {
        "good": {"encrypt": True},
        "revoked": {},
        "sha1": {"digest": "-sha1"},
        "small": {"key_args": ("1024",)},
    }.items():
        sign_leaf(d, name, crl_url, **kwargs)  # type: ignore[arg-type]
    (d / "chain.pem").write_text((d / "int.crt").read_text() + (d / "root.crt").read_text())
    (d / "chain-reversed.pem").write_text((d / "root.crt").read_text() + (d / "int.crt").read_text())
    (d / "chain-other.pem").write_text((d / "int.crt").read_text() + (d / "other.crt").read_text())
    config = ca_config(d)
    osl(d, "ca", "-batch", "-config", str(config), "-revoke", "revoked.crt", "-crl_reason", "keyCompromise")
    osl(d, "ca", "-batch", "-config", str(config), "-gencrl", "-out", "int.crl")
    osl(d, "crl", "-in", "int.crl", "-outform", "DER", "-out", str(www / "openssl.crl"))
    osl(
        d,
        "pkcs12",
        "-export",
        "-inkey",
        "good.key",
        "-passin",
        "env:P",
        "-in",
        "good.crt",
        "-certfile",
        "chain.pem",
        "-passout",
        "env:P",
        "-out",
        "good.p12",
    )
    osl(
        d,
        "pkcs12",
        "-export",
        "-legacy",
        "-inkey",
        "good.key",
        "-passin",
        "env:P",
        "-in",
        "good.crt",
        "-certfile",
        "chain.pem",
        "-passout",
        "env:P",
        "-out",
        "legacy.pfx",
    )
    osl(d, "pkcs12", "-in", "good.p12", "-passin", "env:P", "-nodes", "-out", "bag.pem")
    osl(d, "pkcs12", "-in", "good.p12", "-passin", "env:P", "-nokeys", "-cacerts", "-out", "bag-chain.pem")
    osl(d, "x509", "-in", "good.crt", "-outform", "DER", "-out", "good.der")
    with nginx(www, d / "nginx", port=port):
        yield OpenSslPki(d, crl_url)


def verify(p: OpenSslPki, leaf: str, untrusted: str | None = "int.crt", *extra: str) -> tuple[bool, str]:
    args = ["openssl", "verify", "-CAfile", p.path("root.crt"), *extra]
    if untrusted:
        args += ["-untrusted", p.path(untrusted)]
    done = subprocess.run([*args, p.path(leaf)], capture_output=True, text=True, check=False)
    return done.returncode == 0, done.stdout + done.stderr


def codes_of(result: CompletedProcess[str]) -> list[str]:
    return [f["code"] for f in json.loads(result.stdout)["findings"]]


def check(cli: Cli, p: OpenSslPki, *args: str) -> CompletedProcess[str]:
    return cli(*args, "--format", "json", "--host", "good.plant.example")


def test_openssl_made_encrypted_key_right_and_wrong(cli: Cli, ospki: OpenSslPki) -> None:
    base = ("--crt", ospki.path("good.crt"), "--key", ospki.path("good.key"), "--chain", ospki.path("chain.pem"))
    right = check(cli, ospki, *base, "--pass-env", "CERT_PASS")
    assert right.returncode == 0, right.stdout
    assert codes_of(right) == ["crl.custom-port"]
    wrong = check(cli, ospki, *base, "--pass", "wrong")
    assert wrong.returncode == 1 and codes_of(wrong)[0] == "key.passphrase-wrong"
    assert verify(ospki, "good.crt")[0]  # openssl agrees the chain is good


def test_openssl_ca_revocation_agrees(cli: Cli, ospki: OpenSslPki) -> None:
    ok, text = verify(ospki, "revoked.crt", "int.crt", "-crl_check", "-CRLfile", ospki.path("int.crl"))
    assert not ok and "certificate revoked" in text
    result = cli(
        "--crt",
        ospki.path("revoked.crt"),
        "--key",
        ospki.path("revoked.key"),
        "--chain",
        ospki.path("chain.pem"),
        "--format",
        "json",
    )
    assert result.returncode == 1 and "crl.revoked" in codes_of(result)
    good_ok, _ = verify(ospki, "good.crt", "int.crt", "-crl_check", "-CRLfile", ospki.path("int.crl"))
    assert good_ok


def test_stale_openssl_crl_agrees(ospki: OpenSslPki) -> None:
    d = ospki.dir
    osl(d, "ca", "-batch", "-config", str(d / "ca.cnf"), "-gencrl", "-crlsec", "1", "-out", "stale.crl")
    time.sleep(2.1)
    ok, text = verify(ospki, "good.crt", "int.crt", "-crl_check", "-CRLfile", ospki.path("stale.crl"))
    assert not ok and "CRL has expired" in text
    leaf = x509.load_pem_x509_certificate((d / "good.crt").read_bytes())
    issuer = x509.load_pem_x509_certificate((d / "int.crt").read_bytes())
    verdict = judge_download(
        ospki.crl_url, crl_ok(ospki.crl_url, (d / "stale.crl").read_bytes()), leaf, issuer, datetime.now(UTC)
    )
    assert [f.code for f in verdict.findings if f.code.startswith("crl.")] == ["crl.custom-port", "crl.stale"]


@pytest.mark.parametrize(
    ("chain", "openssl_ok", "code"),
    [
        ("chain.pem", True, None),
        ("chain-reversed.pem", True, "chain.order"),  # openssl does not care about order; the documentation does
        ("root.crt", False, "chain.missing-issuer"),
        ("chain-other.pem", False, "chain.root-mismatch"),
    ],
)
def test_chain_verdicts_agree_with_openssl_verify(
    ospki: OpenSslPki, chain: str, openssl_ok: bool, code: str | None
) -> None:
    anchor = "other.crt" if chain == "chain-other.pem" else "root.crt"
    args = ["openssl", "verify", "-CAfile", ospki.path(anchor), "-untrusted", ospki.path(chain), ospki.path("good.crt")]
    assert (subprocess.run(args, capture_output=True, check=False).returncode == 0) is openssl_ok
    material = load_material(ospki.dir / "good.crt", ospki.dir / "good.key", ospki.dir / chain, PASSPHRASE)
    result = analyse_chain(material.leaf, material.chain, datetime.now(UTC))  # openssl dates are "now"
    assert result.complete is openssl_ok
    assert [f.code for f in result.findings] == ([code] if code else [])


def test_sha1_and_rsa_1024_from_openssl(cli: Cli, ospki: OpenSslPki) -> None:
    sha1 = cli(
        "--crt",
        ospki.path("sha1.crt"),
        "--key",
        ospki.path("sha1.key"),
        "--chain",
        ospki.path("chain.pem"),
        "--format",
        "json",
    )
    assert sha1.returncode == 1 and "cert.weak-signature" in codes_of(sha1)
    small = cli(
        "--crt",
        ospki.path("small.crt"),
        "--key",
        ospki.path("small.key"),
        "--chain",
        ospki.path("chain.pem"),
        "--format",
        "json",
    )
    assert small.returncode == 1 and "key.rsa-too-small" in codes_of(small)
    text = osl(ospki.dir, "x509", "-in", "sha1.crt", "-noout", "-text")
    assert "Signature Algorithm: sha1WithRSAEncryption" in text


def test_openssl_pkcs12_modern_and_legacy(cli: Cli, ospki: OpenSslPki) -> None:
    for bundle in ("good.p12", "legacy.pfx"):
        result = cli("--crt", ospki.path(bundle), "--pass-env", "CERT_PASS", "--format", "json")
        assert result.returncode == 0, result.stdout + result.stderr
        assert codes_of(result) == ["cert.pkcs12-input", "name.not-checked", "crl.custom-port"]
        assert PASSPHRASE not in result.stdout + result.stderr


def test_openssl_bag_attributes_output(cli: Cli, ospki: OpenSslPki) -> None:
    assert "Bag Attributes" in (ospki.dir / "bag.pem").read_text()
    combined = cli("--crt", ospki.path("bag.pem"), "--format", "json")  # leaf, CA certs and key in one file
    assert combined.returncode == 0, combined.stdout
    assert {"chain.bag-attributes", "cert.extra-certificates", "cert.key-in-crt"} <= set(codes_of(combined))
    split = cli(
        "--crt",
        ospki.path("good.crt"),
        "--key",
        ospki.path("good.key"),
        "--pass-env",
        "CERT_PASS",
        "--chain",
        ospki.path("bag-chain.pem"),
        "--format",
        "json",
    )
    assert split.returncode == 0 and "chain.bag-attributes" in codes_of(split)


def test_der_from_openssl(cli: Cli, ospki: OpenSslPki) -> None:
    result = cli(
        "--crt",
        ospki.path("good.der"),
        "--key",
        ospki.path("good.key"),
        "--pass-env",
        "CERT_PASS",
        "--chain",
        ospki.path("chain.pem"),
        "--format",
        "json",
    )
    assert result.returncode == 0 and json.loads(result.stdout)["certificate"]["subject_cn"] == "good.plant.example"


def test_key_match_agrees_with_openssl_public_keys(ospki: OpenSslPki) -> None:
    d = ospki.dir
    cert_pub = osl(d, "x509", "-in", "good.crt", "-noout", "-pubkey")
    good_pub = osl(d, "pkey", "-in", "good.key", "-passin", "env:P", "-pubout")
    other_pub = osl(d, "pkey", "-in", "revoked.key", "-pubout")
    assert cert_pub == good_pub and cert_pub != other_pub
    now = datetime.now(UTC)
    matched = load_material(d / "good.crt", d / "good.key", d / "chain.pem", PASSPHRASE)
    mismatched = load_material(d / "good.crt", d / "revoked.key", d / "chain.pem", None)
    assert "key.mismatch" not in codes(run_analysis(material(matched.leaf, matched.key, matched.chain), now=now))
    assert "key.mismatch" in codes(run_analysis(material(mismatched.leaf, mismatched.key, mismatched.chain), now=now))


# -- RFC 5280 path validation: netcheck's verdict agrees with `openssl verify` ----------

PRINTABLE, UTF8 = x509.name._ASN1Type.PrintableString, x509.name._ASN1Type.UTF8String
UNKNOWN_CRITICAL = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.7"), b"\x05\x00")


def _name(cn: str, string_type: x509.name._ASN1Type = UTF8) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US", PRINTABLE),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso Inc.", string_type),
            x509.NameAttribute(NameOID.COMMON_NAME, cn, string_type),
        ]
    )


def _cert(
    subject: x509.Name,
    issuer: x509.Name,
    key: rsa.RSAPrivateKey,
    signer: rsa.RSAPrivateKey,
    *,
    ca: bool | None,
    path_length: int | None = None,
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    san: str | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 90 * DAY)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca, path_length if ca else None), critical=True)
    if ca and not any(isinstance(extension, x509.KeyUsage) for extension, _ in extensions):
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(signer, hashes.SHA256())


def _path_case(case: str) -> tuple[list[x509.Certificate], x509.Certificate]:
    """(leaf first, then the CAs up to and including the root) for one named case."""
    root_key, int_key, sub_key, leaf_key = (rsa_key(n) for n in ("root", "intermediate", "plant-ca", "leaf"))
    root_name, int_name, sub_name = _name("Contoso Root CA"), _name("Contoso Issuing CA"), _name("Contoso Plant CA")
    root = _cert(root_name, root_name, root_key, root_key, ca=True)
    leaf_name = _name("sensor-1.plant.example")

    def directory(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.NameConstraints:
        base = x509.Name([x509.NameAttribute(oid, value, PRINTABLE if oid == NameOID.COUNTRY_NAME else UTF8)
                          for oid, value in attributes])
        return x509.NameConstraints(permitted_subtrees=[x509.DirectoryName(base)], excluded_subtrees=None)

    in_contoso = directory((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Contoso Inc."))
    in_germany = directory((NameOID.COUNTRY_NAME, "DE"))

    def two_level(
        int_extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
        leaf_extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
        leaf_issuer: x509.Name = int_name,
        san: str = "sensor-1.plant.example",
        int_ca: bool | None = True,
        leaf_cn: str = "sensor-1.plant.example",
    ) -> list[x509.Certificate]:
        inter = _cert(int_name, root_name, int_key, root_key, ca=int_ca, path_length=0, extensions=int_extensions)
        subject = _name(leaf_cn)
        leaf = _cert(subject, leaf_issuer, leaf_key, int_key, ca=False, extensions=leaf_extensions, san=san)
        return [leaf, inter, root]

    def three_level(path_length: int | None) -> list[x509.Certificate]:
        inter = _cert(int_name, root_name, int_key, root_key, ca=True, path_length=path_length)
        sub = _cert(sub_name, int_name, sub_key, int_key, ca=True, path_length=None)
        leaf = _cert(leaf_name, sub_name, leaf_key, sub_key, ca=False, san="sensor-1.plant.example")
        return [leaf, sub, inter, root]

    leaf_usage = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
    ca_usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    bare_root = _cert(root_name, root_name, root_key, root_key, ca=None)
    usage_root = _cert(root_name, root_name, root_key, root_key, ca=None, extensions=((ca_usage, True),))
    if case == "root-without-basic-constraints":
        root = bare_root
    if case == "root-with-keycertsign-only":
        root = usage_root
    odd_root = _cert(root_name, root_name, root_key, root_key, ca=True, extensions=((UNKNOWN_CRITICAL, True),))
    if case == "unknown-critical-root":
        root = odd_root
    leaf_aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(int_key.public_key())
    uri = x509.UniformResourceIdentifier("http://127.0.0.1/issuing.crl")
    crl_point = x509.CRLDistributionPoints([x509.DistributionPoint([uri], None, None, None)])
    policies = x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.2"), None)])
    permitted = x509.NameConstraints(permitted_subtrees=[x509.DNSName("plant.example")], excluded_subtrees=None)
    excluded = x509.NameConstraints(permitted_subtrees=None, excluded_subtrees=[x509.DNSName("dmz.plant.example")])
    cases = {
        "valid": lambda: two_level(),
        "valid-three-levels": lambda: three_level(1),
        "path-length-exceeded": lambda: three_level(0),
        "unknown-critical-leaf": lambda: two_level(leaf_extensions=((UNKNOWN_CRITICAL, True),)),
        "unknown-critical-ca": lambda: two_level(int_extensions=((UNKNOWN_CRITICAL, True),)),
        "unknown-critical-root": lambda: [*two_level()[:2], odd_root],
        "critical-aki": lambda: two_level(leaf_extensions=((leaf_aki, True),)),
        "critical-crl-point": lambda: two_level(leaf_extensions=((crl_point, True),)),
        "critical-policies": lambda: two_level(leaf_extensions=((policies, True),)),
        "unknown-noncritical": lambda: two_level(leaf_extensions=((UNKNOWN_CRITICAL, False),)),
        "name-constraints-ok": lambda: two_level(int_extensions=((permitted, True),)),
        "name-constraints-permitted": lambda: two_level(int_extensions=((permitted, True),), san="evil.example"),
        "name-constraints-excluded": lambda: two_level(int_extensions=((excluded, True),), san="x.dmz.plant.example"),
        # cryptography's validator checks subjectAltName only; OpenSSL also the subject
        "name-constraints-cn-only": lambda: two_level(int_extensions=((permitted, True),), san="",
                                                      leaf_cn="evil.example"),
        "name-constraints-cn-only-ok": lambda: two_level(int_extensions=((permitted, True),), san=""),
        "name-constraints-directory": lambda: two_level(int_extensions=((in_germany, True),)),
        "name-constraints-directory-ok": lambda: two_level(int_extensions=((in_contoso, True),)),
        "issuer-upper-case": lambda: two_level(leaf_issuer=_name("CONTOSO ISSUING CA")),
        "issuer-whitespace": lambda: two_level(leaf_issuer=_name("  Contoso   Issuing CA ")),
        "issuer-printable": lambda: two_level(leaf_issuer=_name("Contoso Issuing CA", PRINTABLE)),
        "issuer-other-name": lambda: two_level(leaf_issuer=_name("Contoso Issuing CA 2")),
        "ca-false": lambda: two_level(int_ca=False),
        "ca-without-basic-constraints": lambda: two_level(int_ca=None),
        "ca-without-keycertsign": lambda: two_level(int_extensions=((leaf_usage, True),)),
        "root-without-basic-constraints": lambda: [*two_level()[:2], bare_root],
        "root-with-keycertsign-only": lambda: [*two_level()[:2], usage_root],
    }
    if case.startswith("self-signed"):
        odd = ((UNKNOWN_CRITICAL, True),) if case == "self-signed-unknown-critical" else ()
        lone = _cert(leaf_name, leaf_name, leaf_key, leaf_key, ca=False, san="sensor-1.plant.example", extensions=odd)
        return [lone], lone
    path = cases[case]()
    return path, root


PATH_CASES = {
    # case: (openssl verify accepts, netcheck's finding code when refused)
    "valid": (True, None),
    "valid-three-levels": (True, None),
    "self-signed": (True, None),
    "self-signed-unknown-critical": (False, "chain.unknown-critical-extension"),
    "path-length-exceeded": (False, "chain.path-length"),
    "unknown-critical-leaf": (False, "chain.unknown-critical-extension"),
    "unknown-critical-ca": (False, "chain.unknown-critical-extension"),
    "unknown-critical-root": (False, "chain.unknown-critical-extension"),
    # critical extensions cryptography knows but OpenSSL does not process, and the reverse
    "critical-aki": (False, "chain.unknown-critical-extension"),
    "critical-crl-point": (True, None),
    "critical-policies": (True, None),
    "unknown-noncritical": (True, None),
    "name-constraints-ok": (True, None),
    "name-constraints-permitted": (False, "chain.name-constraints"),
    "name-constraints-excluded": (False, "chain.name-constraints"),
    "name-constraints-cn-only": (False, "chain.name-constraints"),
    "name-constraints-cn-only-ok": (True, None),
    "name-constraints-directory": (False, "chain.name-constraints"),
    "name-constraints-directory-ok": (True, None),
    "issuer-upper-case": (True, None),
    "issuer-whitespace": (True, None),
    "issuer-printable": (True, None),
    "issuer-other-name": (False, "chain.missing-issuer"),
    "ca-false": (False, "chain.not-ca"),
    "ca-without-basic-constraints": (False, "chain.not-ca"),
    "ca-without-keycertsign": (False, "chain.not-ca"),
    "root-without-basic-constraints": (False, "chain.not-ca"),
    "root-with-keycertsign-only": (True, None),  # OpenSSL takes keyCertSign as CA-ness of the trust anchor
}


@pytest.mark.parametrize("case", sorted(PATH_CASES))
def test_path_validation_agrees_with_openssl_verify(tmp_path: Path, case: str) -> None:
    # Given a chain built for one RFC 5280 rule
    path, root = _path_case(case)
    leaf, cas = path[0], path[1:]
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    (tmp_path / "root.pem").write_bytes(pem(root))
    (tmp_path / "untrusted.pem").write_bytes(pem(*cas[:-1]) if cas[:-1] else b"")
    untrusted = ["-untrusted", str(tmp_path / "untrusted.pem")] if cas[:-1] else []
    # When openssl verify and netcheck judge it
    command = ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), *untrusted, str(tmp_path / "leaf.pem")]
    verdict = subprocess.run(command, capture_output=True, text=True, check=False)
    result = analyse_chain(leaf, tuple(cas), NOW)
    errors = [f.code for f in result.findings if f.severity.value == "error"]
    # Then they agree, and netcheck names the rule
    openssl_ok, code = PATH_CASES[case]
    assert (verdict.returncode == 0) is openssl_ok, verdict.stdout + verdict.stderr
    assert (not errors) is openssl_ok, result.findings
    assert errors[:1] == ([code] if code else [])
    # and the TLS probe's ca_file check (the same walker) agrees too
    assert chains_to_anchor(leaf, cas[:-1], [root]) is openssl_ok


def test_different_key_is_said_only_after_a_failed_signature_check(tmp_path: Path) -> None:
    # Given an intermediate whose name differs from the leaf's issuer only in case
    path, root = _path_case("issuer-upper-case")
    result = analyse_chain(path[0], tuple(path[1:]), NOW)
    assert all("different key" not in f.message for f in result.findings)
    # and an impostor: same name, another key
    impostor_key = rsa_key("impostor-root")
    impostor = _cert(_name("Contoso Root CA"), _name("Contoso Root CA"), impostor_key, impostor_key, ca=True)
    refused = analyse_chain(path[0], (path[1], impostor), NOW)
    assert [f.code for f in refused.findings] == ["chain.root-mismatch"]
    assert "different key" in refused.findings[0].message
