"""The CLI end to end on loopback: exit codes, outputs, the built-in default, fast start-up."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcheck.cli import main
from netcheck.serialize import dumps, loads

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def write_profile(folder: Path, port: int, extra: str = "") -> Path:
    path = folder / "profile.yaml"
    path.write_text(
        "name: mini\nrole: sensor\nflows:\n"
        f"  - {{id: web, purpose: Web, protocol: HTTPS, transport: tcp, port: {port}, direction: out,"
        " peer: console, probe: tcp}\n"
        "  - {id: mail, purpose: Mail, protocol: SMTP, transport: tcp, port: 25, direction: out,"
        " peer: smtp, probe: tcp}\n" + extra
    )
    return path


def write_site(folder: Path) -> Path:
    path = folder / "site.yaml"
    path.write_text("name: lo\npeers:\n  console: 127.0.0.1\n")
    return path


def test_all_required_flows_pass_exit_0(listener: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", "-p", str(write_profile(tmp_path, listener)), "-s", str(write_site(tmp_path))])
    out = capsys.readouterr().out
    assert code == 0
    assert "PASS" in out and "SKIP" in out and "not-configured" in out
    assert "-> PASS" in out


def test_failed_required_flow_exit_1_and_optional_does_not_count(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    profile = write_profile(tmp_path, closed)
    assert main(["scan", "-p", str(profile), "-s", str(write_site(tmp_path))]) == 1
    capsys.readouterr()
    profile.write_text(profile.read_text().replace("probe: tcp}\n  - {id: mail", "probe: tcp, required: false}\n"
                                                   "  - {id: mail", 1))
    assert main(["scan", "-p", str(profile), "-s", str(write_site(tmp_path))]) == 0


def test_strict_turns_warnings_into_failure(listener: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # An inbound flow on a port nothing listens on is a warning (not-listening).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        idle = sock.getsockname()[1]
    extra = (f"  - {{id: cli, purpose: CLI, protocol: SSH, transport: tcp, port: {idle}, direction: in,"
             " peer: clients, probe: local-listener}\n")
    profile = write_profile(tmp_path, listener, extra)
    site = write_site(tmp_path)
    assert main(["scan", "-p", str(profile), "-s", str(site)]) == 0
    assert main(["scan", "-p", str(profile), "-s", str(site), "--strict"]) == 1
    capsys.readouterr()


def test_json_report_to_file_and_round_trip(listener: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    code = main(["scan", "-p", str(write_profile(tmp_path, listener)), "-s", str(write_site(tmp_path)),
                 "--format", "json", "--output", str(out)])
    assert code == 0
    assert "wrote json report" in capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["schema"] == "netcheck.report/1"
    web = next(r for r in data["results"] if r["flow"] == "web")
    for key in ("flow", "purpose", "protocol", "transport", "port", "direction", "peer", "destination", "address",
                "status", "reason", "latency_ms", "detail", "evidence"):
        assert key in web
    assert (web["status"], web["reason"], web["port"], web["address"]) == ("pass", "open", listener, "127.0.0.1")
    assert data["summary"]["verdict"] == "pass"
    report = loads(out.read_text(), str(out))
    assert dumps(report) == out.read_text()


def test_reports_folder_default_name(listener: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    main(["scan", "-p", str(write_profile(tmp_path, listener)), "-s", str(write_site(tmp_path)), "-f", "json"])
    [written] = list((tmp_path / "reports").glob("netcheck-lo-*-mini-*.json"))
    assert json.loads(written.read_text())["run"]["site"] == "lo"
    capsys.readouterr()


def test_builtin_default_scan_needs_no_arguments(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "netcheck", "scan", "--timeout", "0.5", "-f", "json", "-o", "-"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert run.returncode in (0, 1), run.stderr
    assert "built-in loopback sample site" in run.stderr
    report = json.loads(run.stdout)
    addresses = {r["address"] for r in report["results"] if r["address"]}
    assert addresses == {"127.0.0.1"}  # never anything but loopback


def test_profiles_and_validate_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert "sensor" in out and "console" in out and "client" in out
    assert main(["profiles", "sensor"]) == 0
    assert "wmi-dynamic" in capsys.readouterr().out
    assert main(["validate", str(ROOT / "profiles" / "sensor.yaml")]) == 0


def test_startup_imports_nothing_heavy() -> None:
    probe = ("import sys, netcheck.cli as c; c.build_parser(); "
             "heavy = [m for m in ('scapy', 'pysnmp', 'ldap3', 'dns', 'cryptography', 'rich', 'jinja2', 'ntplib')"
             " if m in sys.modules]; print(','.join(heavy))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert run.stdout.strip() == ""


def test_help_is_one_screen_of_text() -> None:
    run = subprocess.run([sys.executable, "-m", "netcheck", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0
    assert "scan" in run.stdout and "Exit codes" in run.stdout


def test_unwritable_output_is_a_one_line_usage_error(listener: int, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["scan", "-p", str(write_profile(tmp_path, listener)), "-s", str(write_site(tmp_path)),
                 "-f", "json", "-o", str(blocker / "out.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot write the json report" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
