"""examples/systemd: systemd accepts the units, and the service's own commands write a textfile
that prometheus_client parses (run for real against loopback, paths moved into a temp folder)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.render.loopback_site import closed_port, listening_port, write_scenario

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "examples" / "systemd"
SERVICE, TIMER = UNITS / "netcheck-recheck.service", UNITS / "netcheck-recheck.timer"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
NETCHECK = "/usr/local/bin/netcheck"


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, value = line.split("=", 1)
        current.setdefault(key, []).append(value)
    return sections


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt: systemd)")
    # verify checks that ExecStart's program exists: stand one in for the installed netcheck
    stand_in = tmp_path / "netcheck"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    for source in (SERVICE, TIMER):
        (tmp_path / source.name).write_text(source.read_text().replace(NETCHECK, str(stand_in)))
    done = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / SERVICE.name), str(tmp_path / TIMER.name)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    timer = unit(TIMER)["Timer"]
    calendar = subprocess.run([analyze, "calendar", timer["OnCalendar"][0]], capture_output=True, text=True,
                              timeout=30)
    assert calendar.returncode == 0 and "00/15:00" in calendar.stdout


def test_the_service_commands_write_a_parseable_textfile(tmp_path: Path) -> None:
    service = unit(SERVICE)["Service"]
    [start], [post] = service["ExecStart"], service["ExecStartPost"]
    assert start.startswith(NETCHECK + " scan ") and TEXTFILE_DIR in start
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()

    def local(command: str, profile: Path, site: Path) -> list[str]:
        argv = shlex.split(command.replace(TEXTFILE_DIR, str(textfiles)).replace("/etc/netcheck/site.yaml", str(site)))
        if "--profile" in argv:
            argv[argv.index("--profile") + 1] = str(profile)
        return [sys.executable, "-m", "netcheck", *argv[1:]] if argv[0] == NETCHECK else argv

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with listening_port() as port:
        profile, site = write_scenario(tmp_path, port, closed_port())
        scan = subprocess.run(local(start, profile, site), capture_output=True, text=True, timeout=300, env=env,
                              cwd=tmp_path)
    # a failed required flow is a result to export: the unit counts exit 1 as success, so the rename runs
    assert scan.returncode == 1, scan.stderr
    assert "1" in service["SuccessExitStatus"][0].split()
    assert [p.name for p in textfiles.iterdir()] == ["netcheck-sensor.prom.tmp"]  # not yet visible to node_exporter
    subprocess.run(local(post, profile, site), check=True, timeout=30)
    assert [p.name for p in textfiles.iterdir()] == ["netcheck-sensor.prom"]

    families = {f.name: f for f in text_string_to_metric_families((textfiles / "netcheck-sensor.prom").read_text())}
    flows = {s.labels["status"]: s.value for s in families["netcheck_run_flows"].samples}
    assert (flows["pass"], flows["fail"]) == (1.0, 1.0)
    failed = [s.labels["flow"] for s in families["netcheck_flow_status"].samples
              if s.labels["status"] == "fail" and s.value == 1.0]
    assert failed == ["tunnel"]
