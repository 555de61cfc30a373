"""`netcheck cert --site`: the certificates: section, per-appliance verdicts, shared
certificates and keys across appliances."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from netcheck.certs.site import load_site_certificates
from netcheck.errors import ConfigError
from tests.certs.pkifactory import PASSPHRASE, Pki, key_pem, make_leaf, pem, rsa_key, write

Cli = Callable[..., CompletedProcess[str]]


def make_site(tmp_path: Path, pki: Pki) -> Path:
    certs = tmp_path / "certs"
    certs.mkdir()
    write(certs / "chain.pem", pem(pki.intermediate.cert, pki.root.cert))
    for label, cn, ip in (("s1", "sensor-1.plant.example", "198.51.100.23"),
                          ("s2", "sensor-2.plant.example", "198.51.100.24")):
        leaf, key = make_leaf(pki.intermediate, cn=cn, ips=(ip,), key=rsa_key(f"site-{label}"), crl_urls=())
        write(certs / f"{label}.crt", pem(leaf))
        write(certs / f"{label}.key", key_pem(key, PASSPHRASE if label == "s2" else None))
    # the HA console got a certificate of its own, but for sensor-2's key
    ha, _ = make_leaf(pki.intermediate, cn="ha.plant.example", ips=("198.51.100.29",), key=rsa_key("site-s2"),
                      crl_urls=())
    write(certs / "ha.crt", pem(ha))
    site = tmp_path / "site.yaml"
    site.write_text("""
site: plant
certificates:
  sensor-1:
    crt: certs/s1.crt
    key: certs/s1.key
    chain: certs/chain.pem
    hosts: [sensor-1.plant.example, 198.51.100.23]
  sensor-2:
    crt: certs/s2.crt
    key: certs/s2.key
    chain: certs/chain.pem
    pass_env: S2_PASS
    hosts: sensor-2.plant.example
  console:
    crt: certs/s1.crt
    key: certs/s1.key
    chain: certs/chain.pem
    hosts: [sensor-1.plant.example]
  ha-console:
    crt: certs/ha.crt
    key: certs/s2.key
    chain: certs/chain.pem
    pass_env: S2_PASS
    hosts: [ha.plant.example, 198.51.100.29]
""")
    return site


def test_loader_resolves_paths_relative_to_the_site_file(tmp_path: Path, pki: Pki) -> None:
    entries = load_site_certificates(make_site(tmp_path, pki))
    assert [e.name for e in entries] == ["sensor-1", "sensor-2", "console", "ha-console"]
    assert entries[0].crt == tmp_path / "certs" / "s1.crt" and entries[0].root is None
    assert entries[1].hosts == ("sensor-2.plant.example",) and entries[1].pass_env == "S2_PASS"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("certificates: {s: {crt: a.crt, passphrase: x}}", "certificates.s: unknown key 'passphrase'"),
        ("certificates: {s: {key: a.key}}", "certificates.s: crt is missing"),
        ("certificates: {s: {crt: a.crt, pass_env: 'not a var'}}", "certificates.s.pass_env: must name"),
        ("certificates: {s: {crt: a.crt, hosts: {a: 1}}}", "certificates.s.hosts: must be a list"),
        ("certificates: []", "certificates: must map appliance names"),
        ("site: x\n", "no certificates: section"),
        ("certificates:\n  s: {crt: [unclosed\n", "YAML"),
    ],
)
def test_loader_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    site = write(tmp_path / "site.yaml", text.encode())
    with pytest.raises(ConfigError) as error:
        load_site_certificates(site)
    assert message in error.value.one_line() and str(site) in error.value.one_line()


def test_site_check_finds_shared_certificate_and_key(cli: Cli, tmp_path: Path, pki: Pki) -> None:
    site = make_site(tmp_path, pki)
    result = cli("--site", str(site), "--format", "json", env={"S2_PASS": PASSPHRASE})
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == "netcheck.cert/1" and data["mode"] == "site" and data["ok"] is False
    assert [a["name"] for a in data["appliances"]] == ["sensor-1", "sensor-2", "console", "ha-console"]
    assert all(a["ok"] for a in data["appliances"])  # each is fine on its own ...
    shared = {(f["code"], f["subject"]) for f in data["findings"]}
    assert shared == {("site.shared-certificate", "sensor-1, console"), ("site.shared-key", "sensor-2, ha-console")}
    assert PASSPHRASE not in result.stdout + result.stderr
    text = cli("--site", str(site), env={"S2_PASS": PASSPHRASE})
    assert "== console ==" in text.stdout and "Across the site" in text.stdout
    assert "VERDICT: would be REFUSED: the site (shared certificates or keys)" in text.stdout


def test_site_with_unique_certificates_passes(cli: Cli, tmp_path: Path, pki: Pki) -> None:
    site = make_site(tmp_path, pki)
    lines = site.read_text().split("\n  console:")[0]
    site.write_text(lines)
    result = cli("--site", str(site), env={"S2_PASS": PASSPHRASE})
    assert result.returncode == 0, result.stdout
    assert "VERDICT: all 2 certificates would be accepted" in result.stdout


def test_missing_pass_env_and_unusable_files(cli: Cli, tmp_path: Path, pki: Pki) -> None:
    site = make_site(tmp_path, pki)
    missing = cli("--site", str(site))
    assert missing.returncode == 2 and "S2_PASS is not set" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    (tmp_path / "certs" / "ha.crt").write_bytes(b"")
    result = cli("--site", str(site), "--format", "json", env={"S2_PASS": PASSPHRASE})
    assert result.returncode == 2  # unusable input wins over a refusal
    ha = json.loads(result.stdout)["appliances"][3]
    assert ha["ok"] is False and "ha.crt" in ha["error"] and "the file is empty" in ha["error"]


def test_site_crl_urls_for_the_scan(tmp_path: Path, pki: Pki) -> None:
    from netcheck.certs.site import site_crl_urls

    site = make_site(tmp_path, pki)
    for label, url in (("s1", "http://crl.plant.example/a.crl"), ("ha", "http://crl.plant.example/a.crl")):
        leaf, _ = make_leaf(pki.intermediate, key=rsa_key(f"site-{label}"), crl_urls=(url,))
        write(tmp_path / "certs" / f"{label}.crt", pem(leaf))
    (tmp_path / "certs" / "s2.crt").write_bytes(b"garbage")
    urls = site_crl_urls(load_site_certificates(site))
    assert urls == {"http://crl.plant.example/a.crl": ["sensor-1", "console", "ha-console"]}
