"""SIGINT and SIGTERM during a scan keep what finished: a real scan of a loopback peer that accepts
and never speaks (its SSH probe waits for a banner) plus quick flows to a closed port, stopped from
the test once the quick flows are done. Every requested format is written; exit 130 / 143."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcheck.cli import main
from netcheck.model import Direction, Flow, Reason, Result, Status
from netcheck.scan import interrupted_results

ROOT = Path(__file__).resolve().parents[1]
SLOW_TIMEOUT_S = 30  # the silent flow would take this long; the signal comes long before


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """Accepts TCP connections and never sends a byte."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(20)
        yield server


def write_scan_files(folder: Path, slow: int, closed: int, probe: str = "ssh") -> tuple[Path, Path]:
    profile = folder / "profile.yaml"
    profile.write_text(
        "name: stoppable\nrole: sensor\nflows:\n"
        f"  - {{id: slow-ssh, purpose: waits for an answer, protocol: SSH, transport: tcp, port: {slow},"
        f" direction: out, peer: console, probe: {probe}}}\n"
        f"  - {{id: quick-a, purpose: closed port, protocol: TCP, transport: tcp, port: {closed},"
        " direction: out, peer: console, probe: tcp}\n"
        f"  - {{id: quick-b, purpose: closed port, protocol: TCP, transport: tcp, port: {closed},"
        " direction: out, peer: ntp, probe: tcp}\n")
    site = folder / "site.yaml"
    site.write_text("name: lo\npeers:\n  console: 127.0.0.1\n  ntp: 127.0.0.1\n")
    return profile, site


def start(command: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "netcheck", *command], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_scan_writes_every_format_with_the_finished_flows(
        silent_server: socket.socket, tmp_path: Path, signum: signal.Signals, code: int) -> None:
    # Given a scan whose SSH flow hangs on a silent peer while two quick flows are refused at once
    profile, site = write_scan_files(tmp_path, silent_server.getsockname()[1], closed_port())
    proc = start(["scan", "-p", str(profile), "-s", str(site), "--timeout", str(SLOW_TIMEOUT_S), "--no-raw",
                  "-f", "table,json,html,csv", "-o", "out/"], tmp_path)
    try:
        # When the slow probe is connected (so the quick ones are done) and the signal arrives
        connection, _ = silent_server.accept()
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
        connection.close()
    finally:
        proc.kill()
    # Then it exits promptly with 128 + the signal, and every format holds what finished
    assert time.monotonic() - started < 10
    assert proc.returncode == code, err
    [report_file] = list((tmp_path / "out").glob("*.json"))
    assert list((tmp_path / "out").glob("*.html")) and list((tmp_path / "out").glob("*.csv"))
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left
    report = json.loads(report_file.read_text())
    by_flow = {r["flow"]: r for r in report["results"]}
    assert {by_flow["quick-a"]["reason"], by_flow["quick-b"]["reason"]} == {"refused"}
    assert (by_flow["slow-ssh"]["status"], by_flow["slow-ssh"]["reason"]) == ("error", "interrupted")
    assert signum.name in by_flow["slow-ssh"]["detail"]
    assert report["run"]["options"]["interrupted"] == signum.name
    assert "interrupted" in out and "quick-a" in out  # the table went to stdout too
    assert f"interrupted by {signum.name}" in err and "Traceback" not in err


def test_a_blocking_probe_thread_does_not_hold_up_a_stopped_scan(silent_server: socket.socket,
                                                                 tmp_path: Path) -> None:
    # The LDAP probe talks through ldap3 in a thread: a stop must abort it, not wait out its 30 s.
    profile, site = write_scan_files(tmp_path, silent_server.getsockname()[1], closed_port(), probe="ldap")
    proc = start(["scan", "-p", str(profile), "-s", str(site), "--timeout", str(SLOW_TIMEOUT_S), "--no-raw",
                  "-f", "json", "-o", "r.json"], tmp_path)
    try:
        connection, _ = silent_server.accept()
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
        connection.close()
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 8
    by_flow = {r["flow"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert by_flow["slow-ssh"]["reason"] == "interrupted" and by_flow["quick-a"]["reason"] == "refused"


def test_sigterm_outside_a_scan_is_exit_143_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # A SIGTERM while netcheck does something else (here: loading a profile) ends it as a SIGTERM,
    # with one line, instead of Python's default silent death; the old handler comes back afterwards.
    import netcheck.profiles

    def load_and_get_killed(*args: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(netcheck.profiles, "builtin_profiles", load_and_get_killed)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["profiles"]) == 143
    assert capsys.readouterr().err == "netcheck: terminated (SIGTERM)\n"
    assert signal.getsignal(signal.SIGTERM) is before


def flow(flow_id: str, port: int) -> Flow:
    return Flow(id=flow_id, purpose="p", protocol="TCP", transport="tcp", port=port, direction=Direction.OUT,
                peer="console", host="127.0.0.1", probe="tcp")


def test_interrupted_results_keep_finished_flows_and_mark_each_missing_one() -> None:
    done, missing, twin = flow("a", 1), flow("b", 2), flow("b", 2)
    finished = [Result(done, Status.PASS, Reason.OPEN, "open")]
    results = interrupted_results([done, missing, twin], finished, "SIGINT", 1.25)
    assert results[0] == finished[0]
    assert [(r.flow.id, r.status, r.reason) for r in results[1:]] == [("b", Status.ERROR, Reason.INTERRUPTED)] * 2
    assert "SIGINT" in results[1].detail and "1.2 s" in results[1].detail


def test_a_stopped_demo_exits_143_and_leaves_only_whole_files(tmp_path: Path) -> None:
    proc = start(["demo", "-o", "out"], tmp_path)
    try:
        assert proc.stderr is not None
        assert "listeners on" in proc.stderr.readline()
        time.sleep(0.6)  # the demo's scan takes at least its 1 s probe timeout (the silent syslog port)
        proc.send_signal(signal.SIGTERM)
        _out, rest = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143, rest
    assert "Traceback" not in rest
    files = list((tmp_path / "out").iterdir())
    assert not [p for p in files if p.name.startswith(".")]  # no temp file left behind
    for path in files:
        if path.suffix == ".json":
            json.loads(path.read_text())  # whole, never half written
    if "interrupted by SIGTERM" in rest:  # the signal came during the scan (the usual case)
        [report] = [p for p in files if p.name.startswith("netcheck-") and p.suffix == ".json"]
        data = json.loads(report.read_text())
        assert data["run"]["options"]["interrupted"] == "SIGTERM"
        assert len(data["results"]) > 20  # every planned flow is there: finished, or error/interrupted
