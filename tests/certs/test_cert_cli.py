"""`netcheck cert` end to end, as a user runs it, with the CRL served by a real nginx on
loopback (a custom port, so the port note shows too)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, pkcs12

from netcheck.certs.findings import Severity
from tests.certs.daemons import free_port, nginx
from tests.certs.pkifactory import DAY, NOW, PASSPHRASE, Pki, key_pem, make_crl, make_leaf, pem, standard, write

Cli = Callable[..., CompletedProcess[str]]
REVOKED_SERIAL = 0x5EED


@dataclass(frozen=True)
class Lab:
    dir: Path
    port: int
    crl_url: str

    def leaf(self, name: str, **kw: Any) -> tuple[Path, Path]:
        leaf, key = make_leaf(standard().intermediate, crl_urls=(self.crl_url,), **kw)
        return write(self.dir / f"{name}.crt", pem(leaf)), write(self.dir / f"{name}.key", key_pem(key))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    pki: Pki = standard()
    base = tmp_path_factory.mktemp("certlab")
    (base / "www").mkdir()
    write(base / "www" / "issuing.crl", make_crl(pki.intermediate, (REVOKED_SERIAL,)).public_bytes(Encoding.DER))
    write(base / "chain.pem", pem(pki.intermediate.cert, pki.root.cert))
    port = free_port()
    with nginx(base / "www", base / "nginx", port=port):
        yield Lab(base, port, f"http://127.0.0.1:{port}/issuing.crl")


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert PASSPHRASE not in text


def one_line_error(result: CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netcheck: error:"), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for needle in needles:
        assert needle in lines[0]


def test_valid_certificate_with_reachable_crl(cli: Cli, lab: Lab) -> None:
    crt, key = lab.leaf("valid")
    started = time.monotonic()
    result = cli(
        "--crt",
        str(crt),
        "--key",
        str(key),
        "--chain",
        str(lab.dir / "chain.pem"),
        "--host",
        "sensor-1.plant.example",
        "198.51.100.23",
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERDICT: the appliance would accept this certificate" in result.stdout
    assert f"CRL          {lab.crl_url}: HTTP/1.1 200 OK" in result.stdout
    assert "crl.custom-port" in result.stdout  # nginx is not on port 80
    assert elapsed < 2.0  # interpreter start-up included; the in-process budget is tested in test_cert_timing


def test_json_report(cli: Cli, lab: Lab, tmp_path: Path) -> None:
    crt, key = lab.leaf("json")
    out = tmp_path / "report.json"
    result = cli(
        "--crt",
        str(crt),
        "--key",
        str(key),
        "--chain",
        str(lab.dir / "chain.pem"),
        "--host",
        "sensor-1.plant.example",
        "--format",
        "json",
        "--output",
        str(out),
    )
    assert result.returncode == 0 and result.stdout == ""
    assert "would accept" in result.stderr and str(out) in result.stderr
    data = json.loads(out.read_text())
    assert data["schema"] == "netcheck.cert/1" and data["mode"] == "single" and data["ok"] is True
    assert data["certificate"]["subject_cn"] == "sensor-1.plant.example"
    assert [c["subject_cn"] for c in data["chain"]] == ["Contoso Issuing CA", "Contoso Root CA"]
    assert data["crl"][0]["usable"] and data["crl"][0]["download"]["status_line"] == "HTTP/1.1 200 OK"
    assert data["inputs"]["passphrase_given"] is False
    for item in data["findings"]:
        assert set(item) == {"code", "severity", "message", "appliance_message", "fix", "subject", "downgraded"}
        assert item["severity"] in {s.value for s in Severity}


def test_revoked(cli: Cli, lab: Lab) -> None:
    crt, key = lab.leaf("revoked", serial=REVOKED_SERIAL)
    result = cli("--crt", str(crt), "--key", str(key), "--chain", str(lab.dir / "chain.pem"))
    assert result.returncode == 1
    assert (
        'appliance says: "This certificate has been revoked by the CRL and cannot be trusted for a secure connection."'
    ) in result.stdout
    assert "VERDICT: the appliance would REFUSE" in result.stdout


def test_encrypted_key_passphrases_never_leak(cli: Cli, lab: Lab, tmp_path: Path) -> None:
    leaf, key = make_leaf(standard().intermediate, crl_urls=(lab.crl_url,))
    crt = write(tmp_path / "enc.crt", pem(leaf))
    enc = write(tmp_path / "enc.key", key_pem(key, PASSPHRASE))
    chain = str(lab.dir / "chain.pem")
    runs = {
        "env-right": cli("--crt", str(crt), "--key", str(enc), "--chain", chain, "--pass-env", "CERT_PASS"),
        "json-right": cli(
            "--crt", str(crt), "--key", str(enc), "--chain", chain, "--pass", PASSPHRASE, "--format", "json"
        ),
        "missing": cli("--crt", str(crt), "--key", str(enc), "--chain", chain),
        "wrong": cli("--crt", str(crt), "--key", str(enc), "--chain", chain, "--pass", PASSPHRASE + "x"),
        "plain-key": cli(
            "--crt",
            str(crt),
            "--key",
            str(write(tmp_path / "p.key", key_pem(key))),
            "--chain",
            chain,
            "--pass",
            PASSPHRASE,
            "--format",
            "json",
        ),
        "unset-env": cli("--crt", str(crt), "--key", str(enc), "--pass-env", "NO_SUCH_VARIABLE"),
    }
    assert runs["env-right"].returncode == 0 and runs["json-right"].returncode == 0
    assert json.loads(runs["json-right"].stdout)["inputs"]["passphrase_given"] is True
    for name in ("missing", "wrong"):
        assert runs[name].returncode == 1
        assert 'appliance says: "Passphrase does not match to the key"' in runs[name].stdout
    assert runs["plain-key"].returncode == 0 and "key.passphrase-unused" in runs["plain-key"].stdout
    one_line_error(runs["unset-env"], "NO_SUCH_VARIABLE")
    for result in runs.values():
        assert_no_secret(result.stdout, result.stderr)


def test_expired_with_and_without_validation(cli: Cli, lab: Lab) -> None:
    crt, key = lab.leaf("expired", not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    chain = str(lab.dir / "chain.pem")
    refused = cli("--crt", str(crt), "--key", str(key), "--chain", chain)
    assert refused.returncode == 1
    assert "This SSL certificate has expired and is not considered valid." in refused.stdout
    accepted = cli("--crt", str(crt), "--key", str(key), "--chain", chain, "--no-validate", "--format", "json")
    assert accepted.returncode == 0
    data = json.loads(accepted.stdout)
    assert data["validation"] is False
    assert [f["code"] for f in data["findings"] if f["downgraded"]] == ["cert.expired"]


def test_crl_unreachable(cli: Cli, lab: Lab, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/issuing.crl"
    leaf, key = make_leaf(standard().intermediate, crl_urls=(dead,))
    result = cli(
        "--crt",
        str(write(tmp_path / "d.crt", pem(leaf))),
        "--key",
        str(write(tmp_path / "d.key", key_pem(key))),
        "--chain",
        str(lab.dir / "chain.pem"),
        "--format",
        "json",
    )
    assert result.returncode == 1
    finding = next(f for f in json.loads(result.stdout)["findings"] if f["code"] == "crl.unreachable")
    assert finding["appliance_message"] == (
        "The CRL (Certificate Revocation List) location is not reachable. "
        "Verify the URL can be accessed from this appliance"
    )
    assert "refused" in finding["message"]


def test_name_mismatch_and_check_alias(cli: Cli, lab: Lab) -> None:
    crt, key = lab.leaf("names")
    result = cli(
        "--format",
        "json",
        "check",
        "--crt",
        str(crt),
        "--key",
        str(key),
        "--chain",
        str(lab.dir / "chain.pem"),
        "--host",
        "console.plant.example",
    )
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert [f["subject"] for f in data["findings"] if f["code"] == "name.mismatch"] == ["console.plant.example"]


def test_pkcs12_and_der_inputs(cli: Cli, lab: Lab, tmp_path: Path) -> None:
    pki = standard()
    leaf, key = make_leaf(pki.intermediate, crl_urls=(lab.crl_url,))
    bundle = pkcs12.serialize_key_and_certificates(
        b"s",
        key,
        leaf,
        [pki.intermediate.cert, pki.root.cert],
        BestAvailableEncryption(PASSPHRASE.encode()),
    )
    p12 = write(tmp_path / "sensor.pfx", bundle)
    right = cli("--crt", str(p12), "--pass-env", "CERT_PASS")
    assert right.returncode == 0 and "cert.pkcs12-input" in right.stdout
    wrong = cli("--crt", str(p12), "--pass", "nope")
    one_line_error(wrong, str(p12), "passphrase does not open this PKCS#12 bundle")
    der = write(tmp_path / "sensor.cer", leaf.public_bytes(Encoding.DER))
    result = cli(
        "--crt", str(der), "--key", str(write(tmp_path / "k.pem", key_pem(key))), "--chain", str(lab.dir / "chain.pem")
    )
    assert result.returncode == 0
    assert_no_secret(right.stdout, right.stderr, wrong.stdout, wrong.stderr)


@pytest.mark.parametrize("case", ["missing", "empty", "garbage", "directory", "key-for-crt"])
def test_unusable_input_is_one_line_exit_2(cli: Cli, lab: Lab, tmp_path: Path, case: str) -> None:
    _, key = lab.leaf("unusable")
    crt = {
        "missing": tmp_path / "nope.crt",
        "empty": write(tmp_path / "empty.crt", b""),
        "garbage": write(tmp_path / "garbage.crt", b"\x00\x01garbage" * 50),
        "directory": tmp_path,
        "key-for-crt": key,
    }[case]
    one_line_error(cli("--crt", str(crt), "--key", str(key)), str(crt))


def test_usage_errors(cli: Cli, lab: Lab) -> None:
    one_line_error(cli(), "nothing to check")
    crt, key = lab.leaf("usage")
    one_line_error(cli("--crt", str(crt), "--key", str(key), "--proxy", "https://proxy:3128"), "--proxy")
    one_line_error(cli("--crt", str(crt), "--site", "site.yaml"), "not both")
    one_line_error(cli("--crt", str(crt), "--pass", "a", "--pass-env", "B"), "not allowed with")


def test_passphrase_sweep_over_every_output(cli: Cli, lab: Lab, tmp_path: Path) -> None:
    """Right, wrong and misplaced passphrases through table, JSON, --output and error paths."""
    leaf, key = make_leaf(standard().intermediate, crl_urls=(lab.crl_url,))
    crt = write(tmp_path / "s.crt", pem(leaf))
    enc = write(tmp_path / "s.key", key_pem(key, PASSPHRASE))
    garbage = write(tmp_path / "g.crt", b"not a certificate")
    outputs = [tmp_path / f"out{i}.txt" for i in range(4)]
    runs = [
        cli("--crt", str(crt), "--key", str(enc), "--pass", PASSPHRASE, "-o", str(outputs[0])),
        cli("--crt", str(crt), "--key", str(enc), "--pass", PASSPHRASE[::-1], "--format", "json", "-o",
            str(outputs[1])),
        cli("--crt", str(crt), "--key", str(enc), "--pass-env", "CERT_PASS", "--format", "json", "-o",
            str(outputs[2])),
        cli("--crt", str(garbage), "--key", str(enc), "--pass", PASSPHRASE),
        cli("--crt", str(crt), "--key", str(crt), "--pass", PASSPHRASE),
        cli("--crt", str(crt), "--key", str(enc), "--pass", PASSPHRASE, "--proxy",
            f"http://u:{PASSPHRASE}@127.0.0.1:{free_port()}", "-o", str(outputs[3])),
        cli("convert", str(enc), "--to", "der", "-o", str(tmp_path / "k.der"), "--pass", PASSPHRASE),
        cli("csr", "--key", str(enc), "--pass", PASSPHRASE[::-1], "--cn", "a.example", "--o", "O", "--ou", "U",
            "--c", "US"),
    ]  # fmt: skip
    texts = [r.stdout + r.stderr for r in runs] + [p.read_text() for p in outputs if p.exists()]
    assert len(texts) == len(runs) + 4
    for text in texts:
        assert PASSPHRASE not in text and PASSPHRASE[::-1] not in text
        assert "Traceback" not in text
