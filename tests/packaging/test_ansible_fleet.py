"""examples/ansible/netcheck-fleet.yml run for real by ansible-playbook (ansible-core) against three sensors,
each a network namespace with its own sshd and host name, reached over SSH with a key made here. The
playbook copies the executable (nothing is installed on the sensors), scans with the site file, fetches
the JSON and merges the fleet matrix on the controller with the same executable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.listen.helpers import REPO
from tests.packaging.fleet import Fleet, start_fleet

PLAYBOOK = REPO / "examples" / "ansible" / "netcheck-fleet.yml"
SENSORS = ["sensor-a", "sensor-b", "sensor-c"]


def ansible_playbook() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if found is None:
        pytest.skip("ansible-playbook is missing (pip install -e '.[test]' installs ansible-core)")
    return found


def remote_python() -> str:
    """The sensors' own system Python for Ansible's modules (netcheck itself does not use it)."""
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def inventory(fleet: Fleet, host_vars: dict[str, str]) -> Path:
    lines = ["[sensors]"]
    for name, (_ns, address) in fleet.hosts.items():
        remote = fleet.dir / "remote" / name  # the namespaces share one file system: a folder each
        lines.append(f"{name} ansible_host={address} netcheck_remote_dir={remote} {host_vars.get(name, '')}")
    lines += ["", "[sensors:vars]", f"netcheck_site_file={REPO / 'examples' / 'loopback.yaml'}",
              "ansible_user=root", f"ansible_ssh_private_key_file={fleet.key}",
              f"ansible_python_interpreter={remote_python()}",
              "ansible_become=false", ""]  # connected as root already; the test sensors have no sudo
    path = fleet.dir / f"inventory-{len(list(fleet.dir.glob('inventory-*')))}.ini"
    path.write_text("\n".join(lines))
    return path


def run_playbook(fleet: Fleet, executable: Path, reports: Path,
                 host_vars: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(fleet.dir), "LC_ALL": "C.UTF-8",
        "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={fleet.known_hosts} -o StrictHostKeyChecking=yes "
                            "-o ControlMaster=auto -o ControlPersist=30s",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(fleet.dir / "cp"), "ANSIBLE_LOCAL_TEMP": str(fleet.dir / "tmp"),
        "ANSIBLE_REMOTE_TMP": str(fleet.dir / "remote-tmp"), "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
    }
    extra = {"netcheck_timeout": 1, "netcheck_executable": str(executable), "local_report_dir": str(reports)}
    argv = [ansible_playbook(), "-i", str(inventory(fleet, host_vars or {})), str(PLAYBOOK), "-e", json.dumps(extra)]
    return fleet.controller.run(argv, check=False, timeout=600, env=env, cwd=fleet.dir)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, executable: Path) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("fleet")
    with start_fleet(folder, SENSORS) as running:
        yield running


def fleet_json(reports: Path) -> dict[str, Any]:
    merged = sorted(reports.glob("netcheck-fleet-*.json"))
    assert len(merged) == 1, sorted(p.name for p in reports.iterdir())
    return json.loads(merged[0].read_text())


def test_the_playbook_scans_every_sensor_and_merges_the_fleet_matrix(fleet: Fleet, executable: Path) -> None:
    reports = fleet.dir / "reports-ok"
    # sensor-c runs a profile of its own, a file the playbook copies: one flow to a closed loopback port
    custom = fleet.dir / "own-role.yaml"
    custom.write_text("name: own-role\nrole: sensor\nflows:\n  - {id: own-tunnel, purpose: own tunnel, "
                      "protocol: TCP, transport: tcp, port: 9100, direction: out, peer: console, probe: tcp}\n")
    run = run_playbook(fleet, executable, reports, host_vars={"sensor-c": f"netcheck_profile={custom}"})
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]
    for name in SENSORS:  # exit 1 (failed flows on an empty loopback) is a result, not a failed play
        assert f"{name}" in log and "failed=0" in log.split(f"\n{name}", 1)[-1].split("\n", 1)[0], log[-3000:]
        remote = fleet.dir / "remote" / name
        assert (remote / "netcheck").read_bytes() == executable.read_bytes()  # copied, not installed
    fetched = {name: json.loads((reports / f"{name}.json").read_text()) for name in SENSORS}
    for name, report in fetched.items():  # each scan ran on its own sensor
        assert report["run"]["host"]["name"] == name
        assert fleet.hosts[name][1] in report["run"]["host"]["addresses"]
        assert report["summary"]["verdict"] == "fail"
        assert report["run"]["profile"] == ("own-role" if name == "sensor-c" else "sensor")
    assert [r["flow"] for r in fetched["sensor-c"]["results"]] == ["own-tunnel"]
    merged = fleet_json(reports)
    assert {host["label"] for host in merged["hosts"]} == set(SENSORS)
    for name, report in fetched.items():
        expected = {f"{r['peer']}/{r['flow']}": r["status"] for r in report["results"]}
        assert len(expected) == len(report["results"]) > 0
        assert {key: cell["status"] for key, cell in merged["matrix"][name].items()} == expected
        found = {(r["flow"], r["address"], r["status"]) for cell in merged["matrix"][name].values()
                 for r in cell["results"]}
        assert found == {(r["flow"], r["address"], r["status"]) for r in report["results"]}
    html = next(reports.glob("netcheck-fleet-*.html")).read_text()
    assert all(name in html for name in SENSORS)
    assert len(list(reports.glob("netcheck-fleet-*.csv"))) == 1


def test_a_scan_that_exits_2_fails_the_play_for_that_sensor_only(fleet: Fleet, executable: Path) -> None:
    reports = fleet.dir / "reports-bad-input"
    run = run_playbook(fleet, executable, reports, host_vars={"sensor-b": "netcheck_profile=no-such-profile"})
    log = run.stdout + run.stderr
    assert run.returncode == 2, log[-6000:]  # ansible-playbook: a host failed
    recap = {line.split()[0]: line for line in log.split("PLAY RECAP", 1)[1].splitlines() if ":" in line}
    assert "failed=1" in recap["sensor-b"] and "failed=0" in recap["sensor-a"] and "failed=0" in recap["sensor-c"]
    assert "unknown profile 'no-such-profile'" in log and '"rc": 2' in log
    assert not (reports / "sensor-b.json").exists()
    merged = fleet_json(reports)  # the others are still merged on the controller
    assert {host["label"] for host in merged["hosts"]} == {"sensor-a", "sensor-c"}


def test_a_scan_that_exits_3_fails_the_play_too(fleet: Fleet, executable: Path) -> None:
    """Exit 3 (netcheck could not finish its own job): here the whole-run deadline ends a probe that
    waits for an unassigned address on the sensor's own segment (its ARP fails only after seconds)."""
    reports = fleet.dir / "reports-deadline"
    profile = fleet.dir / "one-flow.yaml"
    profile.write_text("name: one-flow\nrole: sensor\nflows:\n  - {id: slow, purpose: waits for ARP, "
                       "protocol: TCP, transport: tcp, port: 9100, direction: out, peer: console, probe: tcp}\n")
    site = fleet.dir / "unassigned.yaml"
    site.write_text("name: unassigned\npeers:\n  console: 198.51.100.99\n")
    run = run_playbook(fleet, executable, reports, host_vars={
        "sensor-a": f"netcheck_profile={profile} netcheck_site_file={site} netcheck_deadline=0.5"})
    log = run.stdout + run.stderr
    assert run.returncode == 2, log[-6000:]
    recap = {line.split()[0]: line for line in log.split("PLAY RECAP", 1)[1].splitlines() if ":" in line}
    assert "failed=1" in recap["sensor-a"] and "failed=0" in recap["sensor-b"] and "failed=0" in recap["sensor-c"]
    fatal = next(line for line in log.splitlines() if line.startswith("fatal: [sensor-a]"))
    assert '"rc": 3' in fatal and "error" in fatal, fatal
    merged = fleet_json(reports)
    assert {host["label"] for host in merged["hosts"]} == {"sensor-b", "sensor-c"}
