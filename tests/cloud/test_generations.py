"""Profiles per documentation generation: the current one has no console rows, a sensor-cloud
role and rows a site switches on; --diff lists what changed; the 2021 default is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netcheck.cli import main
from netcheck.generations import diff
from netcheck.plan import plan
from netcheck.profiles import load_profile, load_site


def test_generation_switch_picks_the_profile() -> None:
    assert load_profile("sensor").generation == "2021"
    assert any(f.peer == "console" for f in load_profile("sensor").flows)
    current = load_profile("sensor", "current")
    assert current.generation == "current" and current.path.endswith("current/sensor.yaml")
    assert not any(f.peer in ("console", "ha_console") for f in current.flows)
    cloud = load_profile("sensor-cloud")
    assert cloud.role == "sensor" and cloud.generation == "current"
    assert {f.id for f in cloud.flows} - {f.id for f in current.flows} == {"cloud-https"}
    assert {f.id for f in current.flows if f.switch} == {"siem-tls", "smb-backup", "api-https-in"}
    assert {f.id for f in load_profile("current/client").flows if f.switch} == {"bmc-https"}


def test_switched_rows_are_planned_only_when_the_site_names_their_peer(tmp_path: Path) -> None:
    site_file = tmp_path / "site.yaml"
    profile = load_profile("sensor-cloud")
    site_file.write_text(json.dumps({"name": "s", "peers": {"dns": "198.51.100.53"},
                                     "endpoints": ["hub.example.net", "log.example.net:8443"]}))
    flows = plan(profile, load_site(site_file, profile))
    ids = {f.id for f in flows}
    assert not ids & {"siem-tls", "smb-backup", "api-https-in"}
    assert [(f.host, f.port) for f in flows if f.id == "cloud-https"] == [
        ("hub.example.net", 443), ("log.example.net", 8443)]
    site_file.write_text(json.dumps({"name": "s", "peers": {"siem": "198.51.100.60", "backup": "198.51.100.61",
                                                            "api_clients": "198.51.100.62"}}))
    ids = {f.id for f in plan(profile, load_site(site_file, profile))}
    assert {"siem-tls", "smb-backup", "api-https-in"} <= ids


def test_diff_lists_what_changed() -> None:
    lines = diff("2021", "current")
    text = "\n".join(lines)
    assert "- console the whole role" in text and "retired on 2025-01-01" in text
    assert any(line.startswith("+ sensor  out tcp/443") and "cloud-https" in line for line in lines)
    assert any(line.startswith("- sensor  out tcp/9000") for line in lines)  # the tunnel to the console
    assert any("smb-backup" in line and "(switch)" in line for line in lines)
    assert not any("dns-udp" in line for line in lines)  # unchanged rows are not listed
    assert diff("current", "current")[1:] == ["  no change"]


def test_profiles_command_shows_generations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert "generation 2021 (default):" in out and "current/sensor-cloud" in out
    assert main(["profiles", "sensor-cloud"]) == 0
    out = capsys.readouterr().out
    assert "generation current" in out and "doc current" in out and "doc 2021" in out
    assert main(["profiles", "--generation", "current", "sensor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sensor (role sensor, generation current)") and "console-https" not in out
    assert main(["profiles", "sensor"]) == 0
    assert "generation 2021" in capsys.readouterr().out
    assert main(["profiles", "--diff", "2021", "current"]) == 0
    assert main(["profiles", "--diff", "2021", "2030"]) == 2


@pytest.mark.parametrize(("endpoints", "problem"), [
    ("hub.example.net", "is a string"),
    (["*.azure-devices.net"], "wildcard"),
    (["hub.example.net:70000"], "invalid port"),
    ([42], "is a number"),
])
def test_bad_endpoints_in_a_site_file(tmp_path: Path, endpoints: object, problem: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(json.dumps({"name": "s", "peers": {}, "endpoints": endpoints}))
    assert main(["validate", str(site_file)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and problem in err[0] and "endpoints" in err[0]


def test_cloud_is_not_a_peer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(json.dumps({"name": "s", "peers": {"cloud": "hub.example.net"}}))
    assert main(["validate", str(site_file)]) == 2
    assert "top-level 'endpoints:'" in capsys.readouterr().err


def test_scan_generation_switch(tmp_path: Path) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(json.dumps({"name": "s", "peers": {}}))  # nothing outbound is probed
    out = tmp_path / "report.json"
    assert main(["scan", "--generation", "current", "--profile", "sensor", "--site", str(site_file), "--format",
                 "json", "--output", str(out), "--no-progress", "--no-raw", "--timeout", "1"]) in (0, 1)
    flows = {r["flow"] for r in json.loads(out.read_text())["results"]}
    assert "ntp-external" in flows and not flows & {"console-https", "tunnel", "ntp-console"}


def test_proxy_chain_urls_carry_no_credentials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(json.dumps({"name": "s", "peers": {}, "settings": {
        "cloud": {"proxy_chain": ["http://user:secret@198.51.100.3:3128"]}}}))
    assert main(["validate", str(site_file)]) == 2
    err = capsys.readouterr().err
    assert "proxy_chain" in err and "secret" not in err
