"""Unusual but real certificates never crash `netcheck cert` (issue 9): every error
cryptography raises while a field is read becomes a finding with a stable code, or
exit 2 for an unusable file; warnings become findings and are never printed."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from netcheck.certs.facts import certificate_facts, signature_algorithm_name, signature_hash_name
from netcheck.cli import main
from tests.certs import hostile
from tests.certs.pkifactory import NOW, Pki, key_pem, make_leaf, pem, rsa_key, write

NOW_TEXT = NOW.isoformat()


def run_cert(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["cert", *args, "--now", NOW_TEXT, "--crl-timeout", "2"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], crt: bytes, pki: Pki) -> tuple[int, dict[str, Any], str]:
    """`netcheck cert --format json` on a DER certificate with the factory's leaf key and chain."""
    crt_path = write(tmp_path / "odd.crt", crt)
    key_path = write(tmp_path / "odd.key", key_pem(rsa_key("leaf")))
    chain_path = write(tmp_path / "chain.pem", pem(pki.intermediate.cert, pki.root.cert))
    code, out, err = run_cert(
        capsys, "--crt", str(crt_path), "--key", str(key_path), "--chain", str(chain_path), "--format", "json"
    )
    assert code in (0, 1), err
    assert err == "", err  # no warnings, no traceback
    return code, json.loads(out), err


def codes_of(report: dict[str, Any]) -> set[str]:
    return {f["code"] for f in report["findings"]}


def field_messages(report: dict[str, Any], code: str) -> list[str]:
    return [f["message"] for f in report["findings"] if f["code"] == code]


def test_the_base_certificate_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki) -> None:
    code, report, _ = check(tmp_path, capsys, hostile.base_der(), pki)
    assert code == 0 and "cert.unparsable" not in codes_of(report)


@pytest.mark.parametrize(
    ("name", "crt", "field"),
    [
        ("not UTF-8", lambda: hostile.cn_tagged(b"\x0c", b"\xff\xfe sensor"), "subject name"),
        ("INTEGER tag", lambda: hostile.cn_tagged(b"\x02", b"\x01"), "subject name"),
        ("BIT STRING tag", lambda: hostile.cn_tagged(b"\x03", b"\x00ab"), "subject name"),
        ("PSS without parameters", lambda: hostile.signature_oid("1.2.840.113549.1.1.10", parameters=False),
         "RSA-PSS signature parameters"),
    ],
)
def test_unreadable_fields_are_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki, name: str, crt: Any, field: str
) -> None:
    code, report, _ = check(tmp_path, capsys, crt(), pki)
    assert code == 1, name
    messages = field_messages(report, "cert.unparsable")
    assert any(f"the {field} cannot be read" in m for m in messages), messages


def test_pss_without_parameters_is_named_as_pss(tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki) -> None:
    _, report, _ = check(tmp_path, capsys, hostile.signature_oid("1.2.840.113549.1.1.10", parameters=False), pki)
    assert report["certificate"]["signature_algorithm"] == "RSASSA-PSS (parameters missing or invalid)"


def test_long_form_tag_in_a_name_is_unusable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki
) -> None:
    crt = write(tmp_path / "long.crt", hostile.cn_tagged(b"\x1f\x0c", b"sensor"))
    code, out, err = run_cert(capsys, "--crt", str(crt), "--key", str(write(tmp_path / "k", key_pem(rsa_key("leaf")))))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "long.crt: --crt: not a certificate" in err


@pytest.mark.parametrize("number", [3, 7, 127, 255])
def test_version_field_out_of_range_is_unusable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], number: int
) -> None:
    crt = write(tmp_path / "v.crt", hostile.version(number))
    code, _, err = run_cert(capsys, "--crt", str(crt), "--key", str(write(tmp_path / "k", key_pem(rsa_key("leaf")))))
    assert code == 2 and err.count("\n") == 1
    # 255 is the INTEGER -1 in DER, which cryptography refuses as no version at all
    expected = "not a certificate" if number > 127 else f"X.509 version field {number} (only 1, 2 and 3 exist)"
    assert expected in err


def test_duplicate_basic_constraints(tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki) -> None:
    code, report, _ = check(tmp_path, capsys, hostile.duplicate_extension("2.5.29.19"), pki)
    assert code == 1 and "cert.duplicate-extension" in codes_of(report)
    assert "2.5.29.19" in field_messages(report, "cert.duplicate-extension")[0]


def test_unknown_public_key_algorithm(tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki) -> None:
    code, report, _ = check(tmp_path, capsys, hostile.gost_key(), pki)
    assert code == 1
    assert report["certificate"]["key_type"] == "unknown (1.2.643.7.1.1.1.1)"
    assert "key.unsupported-type" in codes_of(report)


def test_x400_and_edi_party_names(tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki) -> None:
    for entries in ((hostile.X400_ADDRESS,), (hostile.EDI_PARTY,)):
        _, report, _ = check(tmp_path, capsys, hostile.san_entries(*entries), pki)
        assert "cert.unsupported-name-form" in codes_of(report)


def test_negative_serial_is_a_finding_not_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki
) -> None:
    _, report, _ = check(tmp_path, capsys, hostile.serial(b"\xff\x01"), pki)
    assert "cert.serial-not-positive" in codes_of(report)
    assert report["certificate"]["serial"] == "-ff"


def test_three_letter_country_is_a_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki) -> None:
    _, report, _ = check(tmp_path, capsys, hostile.country(b"USA"), pki)
    assert "subject.attribute-length" in codes_of(report)


def test_no_warning_reaches_stderr_in_a_subprocess(tmp_path: Path, pki: Pki) -> None:
    # Python prints warnings itself (not through netcheck), so look at a real process's stderr.
    crt = write(tmp_path / "neg.crt", hostile.serial(b"\xff\x01"))
    key = write(tmp_path / "k.key", key_pem(rsa_key("leaf")))
    chain = write(tmp_path / "chain.p7b", hostile.pkcs7_ber(pki.intermediate.cert, pki.root.cert))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PYTHONWARNINGS": "always"}
    done = subprocess.run(
        [sys.executable, "-m", "netcheck", "cert", "--crt", str(crt), "--key", str(key), "--chain", str(chain),
         "--now", NOW_TEXT, "--format", "json"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    assert done.returncode in (0, 1) and done.stderr == ""
    assert {"chain.ber-encoded", "cert.serial-not-positive"} <= codes_of(json.loads(done.stdout))


@pytest.mark.parametrize(
    ("oid", "hash_name"),
    [
        ("1.2.840.113549.1.1.2", "md2"),  # md2WithRSAEncryption
        ("1.2.840.113549.2.2", "md2"),  # the bare MD2 hash OID
        ("1.2.840.113549.1.1.4", "md5"),  # md5WithRSAEncryption
        ("1.2.840.113549.2.5", "md5"),  # the bare MD5 hash OID
        ("1.3.14.3.2.3", "md5"),  # OIW md5WithRSA
        ("1.3.14.3.2.29", "sha1"),  # OIW sha1WithRSA
    ],
)
def test_md2_and_md5_are_weak_under_every_oid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki, oid: str, hash_name: str
) -> None:
    crt = hostile.signature_oid(oid)
    cert = x509.load_der_x509_certificate(crt)
    assert signature_hash_name(cert) == hash_name
    assert "Unknown OID" not in signature_algorithm_name(cert)
    code, report, _ = check(tmp_path, capsys, crt, pki)
    assert code == 1 and "cert.weak-signature" in codes_of(report)


def test_pss_signature_is_reported_as_such(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate, crl_urls=())
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(leaf.public_key())
        .serial_number(7)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
    )
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    cert = builder.sign(pki.intermediate.key, hashes.SHA256(), rsa_padding=pss)
    assert certificate_facts(cert)["signature_algorithm"] == "RSASSA-PSS with sha256"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command line not installed")
def test_pss_key_is_reported_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048", "-sha256", "-nodes",
         "-keyout", "pss.key", "-out", "pss.crt", "-subj", "/C=US/O=Contoso Inc./OU=OT Labs/CN=pss.plant.example",
         "-days", "30"],
        cwd=tmp_path, capture_output=True, check=True,
    )
    code, out, err = run_cert(
        capsys, "--crt", str(tmp_path / "pss.crt"), "--key", str(tmp_path / "pss.key"), "--format", "json"
    )
    report = json.loads(out)
    assert code == 1 and err == ""
    assert report["certificate"]["key_type"] == "RSA-PSS"
    assert report["certificate"]["signature_algorithm"].startswith("RSASSA-PSS with sha256")
    assert "key.rsa-pss" in codes_of(report)
    assert "key.mismatch" not in codes_of(report)


def test_crl_point_without_url_has_its_own_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki
) -> None:
    _, report, _ = check(tmp_path, capsys, hostile.crl_point_directory_only(), pki)
    assert "crl.no-url" in codes_of(report) and "crl.no-cdp" not in codes_of(report)
    assert "the directory name CN=CRL1" in field_messages(report, "crl.no-url")[0]


@pytest.mark.parametrize("where", ["--crt", "--chain"])
def test_enveloped_pkcs7_is_unusable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki, where: str
) -> None:
    enveloped = write(tmp_path / "enveloped.p7m", hostile.pkcs7_enveloped())
    crt = write(tmp_path / "ok.crt", hostile.base_der())
    key = write(tmp_path / "k.key", key_pem(rsa_key("leaf")))
    args = ["--crt", str(enveloped)] if where == "--crt" else ["--crt", str(crt), "--chain", str(enveloped)]
    code, _, err = run_cert(capsys, *args, "--key", str(key))
    assert code == 2 and err.count("\n") == 1
    assert "a PKCS#7 structure that is not a certificate bundle (signedData)" in err


def test_enveloped_pkcs7_from_openssl_is_unusable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki
) -> None:
    recipient = write(tmp_path / "recipient.pem", pem(pki.root.cert))
    secret = write(tmp_path / "secret.txt", b"not a certificate\n")
    for form in ("DER", "PEM"):
        out = tmp_path / f"enveloped.{form.lower()}"
        subprocess.run(
            ["openssl", "cms", "-encrypt", "-in", str(secret), "-outform", form, "-out", str(out), str(recipient)],
            capture_output=True, check=True,
        )
        key = write(tmp_path / "k", key_pem(rsa_key("leaf")))
        code, _, err = run_cert(capsys, "--crt", str(out), "--key", str(key))
        assert code == 2 and err.count("\n") == 1, err


def test_a_fifo_as_crt_does_not_hang(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "cert.fifo"
    os.mkfifo(fifo)
    result: dict[str, Any] = {}

    def run() -> None:
        result["answer"] = run_cert(capsys, "--crt", str(fifo), "--key", str(fifo))

    worker = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the reader so the thread can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("netcheck cert blocked on a FIFO")
    code, _, err = result["answer"]
    assert code == 2 and "is not a regular file (a FIFO)" in err
    assert time.monotonic() - started < 5


def test_odd_certificates_in_the_chain_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: Pki) -> None:
    # Given a chain file that holds the odd certificates next to the real CAs
    odd = [hostile.gost_key(), hostile.duplicate_extension(), hostile.cn_tagged(b"\x0c", b"\xff"),
           hostile.serial(b"\x00"), hostile.signature_oid("1.2.840.113549.2.5")]
    wrapped = [b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(d) + b"-----END CERTIFICATE-----\n" for d in odd]
    chain = b"".join(wrapped) + pem(pki.intermediate.cert, pki.root.cert)
    leaf, _ = make_leaf(pki.intermediate, crl_urls=())
    crt, key = write(tmp_path / "leaf.crt", pem(leaf)), write(tmp_path / "leaf.key", key_pem(rsa_key("leaf")))
    chain_path = write(tmp_path / "chain.pem", chain)
    code, out, err = run_cert(capsys, "--crt", str(crt), "--key", str(key), "--chain", str(chain_path),
                              "--format", "json")
    # Then the path is still found, and each odd certificate is named in a finding
    report = json.loads(out)
    assert code == 1 and err == ""
    assert report["path"][1:] == [c.subject.rfc4514_string() for c in (pki.intermediate.cert, pki.root.cert)]
    messages = " ".join(f["message"] for f in report["findings"])
    assert "chain certificate 2" in messages and "chain certificate 3" in messages
    assert "cert.serial-not-positive" in codes_of(report)


def test_csr_from_a_certificate_with_an_unreadable_subject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crt = write(tmp_path / "bad.crt", hostile.cn_tagged(b"\x0c", b"\xff"))
    code = main(["cert", "csr", "--from-crt", str(crt), "--key-out", str(tmp_path / "n.key"),
                 "--csr-out", str(tmp_path / "n.csr")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "subject name cannot be read" in err
    assert not (tmp_path / "n.key").exists()
