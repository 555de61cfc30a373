"""`netcheck demo`: zero setup, no root, loopback only, a few seconds, reports with the two
deliberate failures - run as an unprivileged user in a fresh folder, as a newcomer would."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcheck.demo import OFFSETS, choose_plan, plan_demo
from netcheck.profiles import load_profile, site_from_doc
from netcheck.yamldoc import YamlDoc
from tests.listen.helpers import REPO, unprivileged_python


def test_the_demo_site_maps_every_documented_port_and_validates() -> None:
    plan = plan_demo(20000)
    profile = load_profile("sensor")
    site = site_from_doc(YamlDoc("demo-site.yaml", plan.site, {}), profile)  # the real validator
    assert set(site.ports) == {flow.id for flow in profile.flows}
    assert site.ports["syslog"] == 20514 and site.ports["tunnel"] == 29000
    assert all(host == "127.0.0.1" or "//127.0.0.1:" in host for hosts in site.peers.values() for host in hosts)
    assert all(settings == {"listener": True} for settings in site.settings.values())
    assert plan.silent == ("udp", 20514) and plan.refused == ("tcp", 29000)
    assert plan.silent not in plan.endpoints and plan.refused not in plan.endpoints
    assert max(port for _t, port in plan.endpoints) <= 65535


def test_a_taken_port_moves_the_demo_to_the_next_offset() -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):  # already taken by someone else: just as good for this test
        taken.bind(("127.0.0.1", OFFSETS[0] + 123))
    try:
        assert choose_plan().offset != OFFSETS[0]
    finally:
        taken.close()


def _demo_command(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """As uid 65534 when we are root (setpriv), else as ourselves: never as root."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    if os.geteuid() != 0:
        return [sys.executable, "-m", "netcheck", "demo"], {**os.environ, **env}
    found = unprivileged_python()
    if found is None:
        pytest.skip("no Python with PyYAML and rich that uid 65534 can run")
    python, prefix = found
    # Give that interpreter the HTML report's libraries when only ours has them (a copy, read-only).
    deps = tmp_path / "deps"
    for module in ("jinja2", "markupsafe"):
        probe = subprocess.run([*prefix, python, "-c", f"import {module}"], capture_output=True, env=env, check=False)
        if probe.returncode != 0:
            try:
                source = Path(__import__(module).__file__).parent  # type: ignore[arg-type]
            except ImportError:
                continue
            shutil.copytree(source, deps / module)
    if deps.exists():
        env["PYTHONPATH"] += f":{deps}"
        for path in [deps, *deps.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
    return [*prefix, python, "-m", "netcheck", "demo"], env


@pytest.fixture
def fresh_folder() -> Iterator[Path]:
    """A folder the unprivileged user can reach (pytest's own tmp root is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="netcheck-demo-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_demo_runs_unprivileged_in_a_fresh_folder(fresh_folder: Path) -> None:
    work = fresh_folder / "newcomer"
    work.mkdir()
    work.chmod(0o777)
    command, env = _demo_command(fresh_folder)
    started = time.monotonic()
    run = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=60)
    wall = time.monotonic() - started
    print(f"netcheck demo wall time: {wall:.2f} s ({'uid 65534' if os.geteuid() == 0 else 'this user'})")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    assert wall < 10
    reports = work / "reports"
    files = {path.suffix for path in reports.iterdir()}
    assert {".json", ".yaml"} <= files
    if "markupsafe" in run.stderr:
        pytest.fail(f"html skipped: {run.stderr}")
    assert ".html" in files
    for path in reports.iterdir():
        assert path.stat().st_uid != 0 or os.geteuid() != 0  # written by the unprivileged user
        assert path.stat().st_mode & stat.S_IRUSR
    report_file = next(p for p in reports.glob("netcheck-*.json"))
    results = {r["flow"]: r for r in json.loads(report_file.read_text())["results"]}
    failed = {flow: (r["status"], r["reason"]) for flow, r in results.items() if r["status"] != "pass"}
    assert failed == {"tunnel": ("fail", "refused"), "syslog": ("fail", "blocked")}
    assert results["ntp-console"]["reason"] == "confirmed"  # UDP proven end to end
    assert results["ntp-console"]["evidence"]["receipt"]["sources"] == ["127.0.0.1"]
    assert "never arrived" in results["syslog"]["detail"]
    assert "Demo behaved as designed." in run.stdout and "fix: allow UDP" in run.stdout
    receipt = json.loads((reports / "demo-receipt.json").read_text())
    assert receipt["schema"] == "netcheck.receipt/1" and receipt["probes"]
