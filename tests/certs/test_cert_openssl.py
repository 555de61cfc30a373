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

from netcheck.certs.chain import analyse_chain
from netcheck.certs.crl import judge_download
from netcheck.certs.load import load_material
from tests.certs.conftest import codes, crl_ok, material, run_analysis
from tests.certs.daemons import free_port, nginx
from tests.certs.pkifactory import PASSPHRASE

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
