"""`netcheck cert convert` and `netcheck cert csr`, with openssl reading what they write."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, pkcs12

from tests.certs.pkifactory import PASSPHRASE, Pki, key_pem, make_leaf, pem, write

Cli = Callable[..., CompletedProcess[str]]
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command line not installed")


def openssl(*args: str) -> str:
    env = {**os.environ, "P": PASSPHRASE}
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def bundle(tmp_path: Path, pki: Pki) -> dict[str, Path]:
    leaf, key = make_leaf(pki.intermediate)
    p12 = pkcs12.serialize_key_and_certificates(
        b"sensor",
        key,
        leaf,
        [pki.root.cert, pki.intermediate.cert],
        BestAvailableEncryption(PASSPHRASE.encode()),
    )
    return {
        "p12": write(tmp_path / "sensor-1.pfx", p12),
        "crt": write(tmp_path / "sensor.crt", pem(leaf)),
        "der": write(tmp_path / "sensor.der", leaf.public_bytes(Encoding.DER)),
        "key": write(tmp_path / "sensor.key", key_pem(key, PASSPHRASE)),
        "chain": write(tmp_path / "chain.pem", pem(pki.intermediate.cert, pki.root.cert)),
    }


def test_der_to_pem_and_back(cli: Cli, bundle: dict[str, Path], tmp_path: Path) -> None:
    assert cli("convert", str(bundle["der"]), "--to", "pem", "-o", str(tmp_path / "a.pem")).returncode == 0
    assert (tmp_path / "a.pem").read_bytes() == bundle["crt"].read_bytes()
    assert cli("convert", str(tmp_path / "a.pem"), "--to", "der", "-o", str(tmp_path / "b.der")).returncode == 0
    assert (tmp_path / "b.der").read_bytes() == bundle["der"].read_bytes()
    multi = cli("convert", str(bundle["chain"]), "--to", "der", "-o", str(tmp_path / "c.der"))
    assert multi.returncode == 2 and "exactly one certificate" in multi.stderr


def test_pkcs12_to_pem_with_and_without_keys(cli: Cli, bundle: dict[str, Path], tmp_path: Path) -> None:
    full = cli("convert", str(bundle["p12"]), "--to", "pem", "-o", str(tmp_path / "all.pem"), "--pass-env", "CERT_PASS")
    assert full.returncode == 0 and "3 certificate(s), private key unencrypted" in full.stderr
    text = (tmp_path / "all.pem").read_text()
    assert text.count("BEGIN CERTIFICATE") == 3 and "BEGIN PRIVATE KEY" in text
    assert stat.S_IMODE((tmp_path / "all.pem").stat().st_mode) == 0o600
    certs = cli(
        "convert",
        str(bundle["p12"]),
        "--to",
        "pem",
        "--no-keys",
        "-o",
        str(tmp_path / "c.pem"),
        "--pass-env",
        "CERT_PASS",
    )
    assert certs.returncode == 0 and "PRIVATE KEY" not in (tmp_path / "c.pem").read_text()
    keys = cli(
        "convert",
        str(bundle["p12"]),
        "--to",
        "pem",
        "--no-certs",
        "-o",
        str(tmp_path / "k.pem"),
        "--pass-env",
        "CERT_PASS",
        "--out-pass-env",
        "CERT_PASS",
    )
    assert keys.returncode == 0 and "ENCRYPTED PRIVATE KEY" in (tmp_path / "k.pem").read_text()
    for result in (full, certs, keys):
        assert PASSPHRASE not in result.stdout + result.stderr


def test_split_writes_the_appliance_files_in_documented_order(cli: Cli, bundle: dict[str, Path],
                                                              tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "upload"
    result = cli("convert", str(bundle["p12"]), "--split", str(out), "--pass-env", "CERT_PASS")
    assert result.returncode == 0, result.stderr
    chain = x509.load_pem_x509_certificates((out / "sensor-1-chain.pem").read_bytes())
    assert [c.subject.rfc4514_string().split(",")[0] for c in chain] == ["CN=Contoso Issuing CA", "CN=Contoso Root CA"]
    check = cli(
        "--crt",
        str(out / "sensor-1.crt"),
        "--key",
        str(out / "sensor-1.key"),
        "--chain",
        str(out / "sensor-1-chain.pem"),
        "--host",
        "sensor-1.plant.example",
        "--crl-timeout",
        "0.5",
    )
    assert "chain.order" not in check.stdout and "key.mismatch" not in check.stdout
    again = cli("convert", str(bundle["p12"]), "--split", str(out), "--pass-env", "CERT_PASS")
    assert again.returncode == 2 and "already exists" in again.stderr


@needs_openssl
def test_pem_key_chain_to_pkcs12_read_by_openssl(cli: Cli, bundle: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.pfx"
    result = cli(
        "convert",
        str(bundle["crt"]),
        "--key",
        str(bundle["key"]),
        "--chain",
        str(bundle["chain"]),
        "--to",
        "p12",
        "-o",
        str(out),
        "--pass-env",
        "CERT_PASS",
        "--out-pass-env",
        "CERT_PASS",
    )
    assert result.returncode == 0, result.stderr
    listing = openssl("pkcs12", "-in", str(out), "-passin", "env:P", "-nokeys")
    assert listing.count("BEGIN CERTIFICATE") == 3
    no_password = cli(
        "convert",
        str(bundle["crt"]),
        "--key",
        str(bundle["key"]),
        "--to",
        "p12",
        "-o",
        str(tmp_path / "x.pfx"),
        "--pass-env",
        "CERT_PASS",
    )
    assert no_password.returncode == 2 and "--out-pass-env" in no_password.stderr


@needs_openssl
def test_remove_a_passphrase(cli: Cli, bundle: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "plain.key"
    assert cli("convert", str(bundle["key"]), "--to", "pem", "-o", str(out), "--pass-env", "CERT_PASS").returncode == 0
    assert "BEGIN PRIVATE KEY" in out.read_text()
    openssl("rsa", "-in", str(out), "-check", "-noout")
    wrong = cli("convert", str(bundle["key"]), "--to", "pem", "-o", str(tmp_path / "w.key"), "--pass", "nope")
    assert wrong.returncode == 2 and "does not open" in wrong.stderr


@needs_openssl
def test_csr_with_required_subject_and_sans(cli: Cli, tmp_path: Path) -> None:
    result = cli(
        "csr",
        "--cn",
        "sensor-1.plant.example",
        "--san",
        "198.51.100.23",
        "sensor-1",
        "--o",
        "Contoso Inc.",
        "--ou",
        "OT Labs",
        "--c",
        "us",
        "--pass-env",
        "CERT_PASS",
    )
    assert result.returncode == 0, result.stderr
    key, csr = tmp_path / "sensor-1.plant.example.key", tmp_path / "sensor-1.plant.example.csr"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and "ENCRYPTED PRIVATE KEY" in key.read_text()
    text = openssl("req", "-in", str(csr), "-noout", "-text", "-verify")
    assert "C = US, O = Contoso Inc., OU = OT Labs, CN = sensor-1.plant.example" in text
    assert "DNS:sensor-1.plant.example, IP Address:198.51.100.23, DNS:sensor-1" in text
    assert "sha256WithRSAEncryption" in text and "Public-Key: (2048 bit)" in text
    openssl("rsa", "-in", str(key), "-passin", "env:P", "-check", "-noout")
    assert PASSPHRASE not in result.stdout + result.stderr


@needs_openssl
def test_csr_for_existing_key_and_from_certificate(cli: Cli, bundle: dict[str, Path], tmp_path: Path) -> None:
    result = cli(
        "csr",
        "--from-crt",
        str(bundle["crt"]),
        "--key",
        str(bundle["key"]),
        "--pass-env",
        "CERT_PASS",
        "--csr-out",
        str(tmp_path / "renew.csr"),
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "sensor-1.plant.example.key").exists()  # the existing key is reused
    csr_pub = openssl("req", "-in", str(tmp_path / "renew.csr"), "-noout", "-pubkey")
    key_pub = openssl("pkey", "-in", str(bundle["key"]), "-passin", "env:P", "-pubout")
    assert csr_pub == key_pub
    assert "CN = sensor-1.plant.example" in openssl("req", "-in", str(tmp_path / "renew.csr"), "-noout", "-subject")


def test_csr_refuses_missing_fields_and_bad_country(cli: Cli) -> None:
    missing = cli("csr", "--cn", "sensor-1.plant.example")
    assert missing.returncode == 2 and "missing --c, --o, --ou" in missing.stderr
    bad = cli("csr", "--cn", "s.example", "--o", "O", "--ou", "U", "--c", "USA")
    assert bad.returncode == 2 and "two-letter" in bad.stderr


def test_csr_4096_and_wildcard_warning(cli: Cli, tmp_path: Path) -> None:
    result = cli("csr", "--cn", "*.plant.example", "--o", "O", "--ou", "U", "--c", "DE", "--bits", "4096")
    assert result.returncode == 0 and "wildcard CN" in result.stderr
    request = x509.load_pem_x509_csr((tmp_path / "wildcard.plant.example.csr").read_bytes())
    assert request.public_key().key_size == 4096  # type: ignore[union-attr]


def test_the_library_calls_take_typed_options_and_return_what_they_wrote(bundle: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    """convert() and create() as a script calls them: no argparse, nothing printed, UsageError on bad input."""
    from netcheck.certs.convert import ConvertOptions, convert
    from netcheck.certs.csr import CsrOptions, create
    from netcheck.errors import UsageError

    # Given the PKCS#12 bundle, When it is split through the library
    converted = convert(ConvertOptions(bundle["p12"], split=tmp_path / "up", name="s"), passphrase=PASSPHRASE)
    # Then the three files are written and reported, with the unencrypted key said
    up = tmp_path / "up"
    assert converted.written == (up / "s.crt", up / "s.key", up / "s-chain.pem")
    assert all(path.is_file() for path in converted.written)
    assert converted.notes[-1].startswith("private key unencrypted")
    # And a second run refuses to overwrite, as a typed error
    with pytest.raises(UsageError, match="already exists"):
        convert(ConvertOptions(bundle["p12"], split=up, name="s"), passphrase=PASSPHRASE)
    with pytest.raises(UsageError, match="one of --to"):
        convert(ConvertOptions(bundle["crt"]))

    # When a CSR is made for the existing key, copying the subject from the certificate
    written = create(CsrOptions(from_crt=bundle["crt"], key=bundle["key"], sans=("198.51.100.23",),
                                csr_out=tmp_path / "renew.csr"), passphrase=PASSPHRASE)
    # Then no key is written, and the CSR's subject and SANs are returned
    assert written.key is None and written.csr.is_file()
    assert "CN=sensor-1.plant.example" in written.subject
    assert written.sans[:2] == ("DNS:sensor-1.plant.example", "IP:198.51.100.23")
    assert written.warnings == () and written.summary().startswith(f"wrote {tmp_path / 'renew.csr'} (")
    with pytest.raises(UsageError, match="two-letter"):
        create(CsrOptions(cn="s.example", org="O", unit="U", country="USA", csr_out=tmp_path / "x.csr"))
