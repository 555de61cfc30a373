"""The self-contained executable (`python3 packaging/build.py` -> dist/netcheck), built once per session
(conftest.py) from this checkout and run as on an air-gapped host without Python (see isolation.py): demo, scan,
cert, listen, the raw diagnosis as root, completion and man all work from what the file carries."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netcheck.profiles import builtin_profiles, load_profile
from tests.certs.pkifactory import PASSPHRASE, key_pem, make_leaf, pem, standard, write
from tests.listen.helpers import REPO, free_port
from tests.packaging.isolation import hidden_paths, isolated, isolated_script

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the isolation (unshare --net --mount) needs root")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    tmp_path.chmod(0o755)
    return tmp_path


def test_the_isolation_really_hides_the_host_python(work: Path) -> None:
    assert str(REPO) in hidden_paths()
    assert any(Path(sys.executable).resolve().is_relative_to(path) or Path(path).name.startswith("python3")
               for path in hidden_paths())
    run = isolated([sys.executable, "-c", "import netcheck"], work)
    assert run.returncode != 0  # the interpreter itself is gone
    run = isolated_script("find " + " ".join(hidden_paths()) + " -mindepth 1 | wc -l; ip -o -4 addr | wc -l\n",
                          work)
    assert run.stdout.split() == ["0", "1"], run.stdout + run.stderr  # empty folders; one address: 127.0.0.1


def test_demo_runs_from_the_executable_alone(executable: Path, work: Path) -> None:
    run = isolated([str(executable), "demo", "--output", "out"], work)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Demo behaved as designed." in run.stdout
    written = {path.suffix for path in (work / "out").iterdir()}
    assert {".json", ".html", ".csv"} <= written
    html = next((work / "out").glob("*.html")).read_text()
    assert "<html" in html and "tunnel" in html  # the bundled jinja2 templates rendered


def test_default_scan_finds_the_builtin_profile_and_sample_site(executable: Path, work: Path) -> None:
    run = isolated([str(executable), "scan", "--timeout", "1", "--no-raw", "-f", "json,html", "-o", "out/"], work)
    assert run.returncode == 1, run.stderr  # most loopback flows fail: nothing listens in a fresh namespace
    assert "built-in loopback sample site" in run.stderr
    report = json.loads(next((work / "out").glob("*.json")).read_text())
    assert report["schema"] == "netcheck.report/1"
    assert report["run"]["profile"] == "sensor"
    assert len(report["results"]) == len(load_profile("sensor").flows)
    assert report["run"]["site_file"].endswith("/examples/loopback.yaml")  # unpacked from the executable
    assert not report["run"]["site_file"].startswith(str(REPO))
    assert "refused" in {r["reason"] for r in report["results"]}
    listed = isolated([str(executable), "profiles"], work)
    assert listed.returncode == 0, listed.stderr
    for name in builtin_profiles():  # as the source tree has them
        assert re.search(rf"^\s*{name}\s", listed.stdout, re.M), (name, listed.stdout)
    schema = isolated([str(executable), "schema", "site"], work)
    assert schema.returncode == 0 and json.loads(schema.stdout) == json.loads((REPO / "schema" /
                                                                               "site.schema.json").read_text())


def test_raw_diagnosis_as_root_uses_the_bundled_scapy(executable: Path, work: Path) -> None:
    # Loopback has no path to trace (netcheck leaves it to connect()), so the peer is a documentation
    # address on the isolated namespace's own lo: a real path for scapy, and no route anywhere else.
    tcp, udp = free_port("tcp"), free_port("udp")
    peer = "198.51.100.7"
    (work / "p.yaml").write_text(
        "name: p\nrole: sensor\nflows:\n"
        f"  - {{id: closed-tcp, purpose: t, protocol: T, transport: tcp, port: {tcp}, direction: out, "
        "peer: console, probe: tcp}\n"
        f"  - {{id: closed-udp, purpose: t, protocol: T, transport: udp, port: {udp}, direction: out, "
        "peer: console, probe: udp}\n")
    (work / "s.yaml").write_text(f"name: s\npeers:\n  console: {peer}\n")
    run = isolated_script(f"ip addr add {peer}/32 dev lo\n"
                          + "bare " + shlex.join([str(executable), "scan", "-p", "p.yaml", "-s", "s.yaml", "-t", "1",
                                                  "-f", "json", "-o", "-"]) + "\n", work)
    assert run.returncode == 1, run.stderr
    results = {r["flow"]: r for r in json.loads(run.stdout)["results"]}
    tcp_raw, udp_raw = results["closed-tcp"]["evidence"]["raw"], results["closed-udp"]["evidence"]["raw"]
    assert tcp_raw["privileged"] is True and tcp_raw["syn"] == "rst" and tcp_raw["responder"] == peer
    assert udp_raw["udp"] == "icmp" and udp_raw["icmp"]["code"] == 3
    assert f"{peer} resets a raw SYN" in results["closed-tcp"]["detail"]


def test_listen_answers_a_scan_with_listener(executable: Path, work: Path) -> None:
    tcp, udp = free_port("tcp"), free_port("udp")
    flows = [("tunnel", "tcp", tcp), ("ntp", "udp", udp)]

    def profile(role: str, direction: str, peer: str) -> str:
        lines = [f"name: {role}", f"role: {role}", "flows:"]
        kind = {"in": "local-listener"}.get(direction)
        lines += [f"  - {{id: {fid}, purpose: t, protocol: T, transport: {transport}, port: {port}, "
                  f"direction: {direction}, peer: {peer}, probe: {kind or transport}}}"
                  for fid, transport, port in flows]
        return "\n".join(lines) + "\n"

    (work / "far.yaml").write_text(profile("console", "in", "sensors"))
    (work / "near.yaml").write_text(profile("sensor", "out", "console"))
    (work / "s.yaml").write_text("name: s\npeers:\n  console: 127.0.0.1\n  sensors: 127.0.0.1\n")
    netcheck = str(executable)
    run = isolated_script(
        f"bare {netcheck} listen -p far.yaml -s s.yaml --bind 127.0.0.1 --duration 4s --receipt r.json "
        "> listen.out 2> listen.err &\n"
        "sleep 1.5\n"
        f"bare {netcheck} scan -p near.yaml -s s.yaml --listener --no-raw -t 1 -f json -o scan.json\n"
        "echo scan-exit=$?\nwait $!\necho listen-exit=$?\n", work, env={"NETCHECK_LISTENER_KEY": "k" * 24})
    assert "scan-exit=0" in run.stdout and "listen-exit=0" in run.stdout, \
        run.stdout + run.stderr + (work / "listen.err").read_text()
    results = {r["flow"]: r for r in json.loads((work / "scan.json").read_text())["results"]}
    assert {flow: (r["status"], r["reason"]) for flow, r in results.items()} == \
        {"tunnel": ("pass", "confirmed"), "ntp": ("pass", "confirmed")}
    receipt = json.loads((work / "r.json").read_text())
    assert sorted((p["transport"], p["port"]) for p in receipt["probes"]) == sorted([("tcp", tcp), ("udp", udp)])


def test_cert_check_uses_the_bundled_cryptography(executable: Path, work: Path) -> None:
    closed = free_port("tcp")
    leaf, key = make_leaf(standard().intermediate, crl_urls=(f"http://127.0.0.1:{closed}/issuing.crl",))
    write(work / "c.crt", pem(leaf))
    write(work / "c.key", key_pem(key, PASSPHRASE))
    write(work / "chain.pem", pem(standard().intermediate.cert, standard().root.cert))
    argv = [str(executable), "cert", "--crt", "c.crt", "--key", "c.key", "--chain", "chain.pem", "--pass-env",
            "KEY_PASS", "--host", "sensor-1.plant.example"]
    refused = isolated([*argv, "--format", "json", "--output", "c.json"], work, env={"KEY_PASS": PASSPHRASE})
    assert refused.returncode == 1, refused.stderr  # no CRL server in the empty namespace
    data = json.loads((work / "c.json").read_text())
    codes = {f["code"] for f in data["findings"] if f["severity"] == "error"}
    assert codes == {"crl.unreachable"}, data["findings"]
    assert data["certificate"]["subject_cn"] == "sensor-1.plant.example"
    assert PASSPHRASE not in refused.stdout + refused.stderr
    relaxed = isolated([*argv, "--no-validate"], work, env={"KEY_PASS": PASSPHRASE})
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr
    wrong = isolated(argv, work, env={"KEY_PASS": "not-the-passphrase"})
    assert wrong.returncode == 1 and "Passphrase does not match to the key" in wrong.stdout


def test_completion_and_man_page_ship_inside(executable: Path, work: Path) -> None:
    for shell in ("bash", "zsh"):
        run = isolated([str(executable), "completion", shell], work)
        assert run.returncode == 0 and run.stderr == "", run.stderr
        (work / f"netcheck.{shell}").write_text(run.stdout)
        syntax = subprocess.run([shell, "-n", str(work / f"netcheck.{shell}")], capture_output=True, text=True,
                                timeout=30)
        assert syntax.returncode == 0, syntax.stderr
        assert "completion" in run.stdout and "scan" in run.stdout
    man = isolated([str(executable), "man"], work)
    assert man.returncode == 0 and man.stdout.startswith(".TH NETCHECK")
    (work / "netcheck.1").write_text(man.stdout)
    groff = subprocess.run(["groff", "-man", "-ww", "-z", str(work / "netcheck.1")], capture_output=True, text=True,
                           timeout=30)
    assert groff.returncode == 0 and groff.stderr == "", groff.stderr


def test_bad_input_is_still_one_line(executable: Path, work: Path) -> None:
    (work / "bad.yaml").write_text("name: s\npeers: [1, 2\n")
    run = isolated([str(executable), "validate", "bad.yaml"], work)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "bad.yaml" in run.stderr


def test_startup_beside_the_pip_install(executable: Path, work: Path) -> None:
    """Reported numbers (-s shows them); the bound only catches a regression by an order of magnitude."""

    def best(argv: list[str], env: dict[str, str], runs: int = 5) -> list[float]:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(argv, cwd=work, env=env, capture_output=True, timeout=60, check=True)
            times.append(time.perf_counter() - started)
        return times

    pip_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)}
    frozen = best([str(executable), "--help"], {"PATH": "/nonexistent"})
    source = best([sys.executable, "-m", "netcheck", "--help"], pip_env)
    print(f"\n--help: executable min {min(frozen) * 1000:.0f} ms median {statistics.median(frozen) * 1000:.0f} ms; "
          f"pip install min {min(source) * 1000:.0f} ms median {statistics.median(source) * 1000:.0f} ms")
    assert min(frozen) < 5.0


def _report_vendors() -> list[str]:
    """The --vendor choices of `netcheck report`, when this version has them (firewall rules in vendor syntax)."""
    from netcheck.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    vendor = next((a for a in commands.choices["report"]._actions if "--vendor" in a.option_strings), None)
    return list(vendor.choices or ()) if vendor else []


def test_every_report_format_renders_from_the_executable(executable: Path, work: Path) -> None:
    from netcheck.render import FORMATS

    scan = isolated([str(executable), "scan", "-t", "1", "--no-raw", "-f", "json", "-o", "scan.json"], work)
    assert scan.returncode == 1 and (work / "scan.json").is_file(), scan.stderr
    for name in FORMATS:  # each renderer is imported by name at run time
        run = isolated([str(executable), "report", "scan.json", "-f", name, "-o", f"out-{name}/"], work)
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr, (name, run.stderr)
        written = list((work / f"out-{name}").glob("*")) if (work / f"out-{name}").is_dir() else []
        assert run.stdout.strip() or (len(written) == 1 and written[0].stat().st_size > 0), (name, run.stderr)
    for vendor in _report_vendors():  # generated by libraries loaded by name at run time (aerleon)
        rules = isolated([str(executable), "report", "scan.json", "-f", "firewall-request", "--vendor", vendor,
                          "-o", f"rules-{vendor}"], work)
        assert "internal error" not in rules.stderr, (vendor, rules.stderr)
        assert (work / f"rules-{vendor}").stat().st_size > 0, (vendor, rules.stderr)
