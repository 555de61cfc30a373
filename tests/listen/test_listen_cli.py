"""`netcheck listen` as a process: prints probes, stops at --duration, writes the receipt, says
which ports it could not bind, keeps its memory under a junk flood, and rejects bad input in one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netcheck import tokens
from tests.listen.helpers import REPO, free_port, unprivileged_python

RUN = "0a0b0c0d0e0f1011"


def profile_yaml(flows: list[tuple[str, str, int]]) -> str:
    lines = ["name: far", "role: console", "flows:"]
    for flow_id, transport, port in flows:
        lines += [f"  - id: {flow_id}", "    purpose: listener test", "    protocol: TEST",
                  f"    transport: {transport}", f"    port: {port}", "    direction: in",
                  "    peer: sensors", "    probe: local-listener"]
    return "\n".join(lines) + "\n"


def start(args: list[str], cwd: Path, python: str = sys.executable, env: dict[str, str] | None = None,
          prefix: list[str] | None = None) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen([*(prefix or []), python, "-m", "netcheck", "listen", *args], cwd=cwd, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_listening(proc: subprocess.Popen[str]) -> str:
    """Read stderr until the listener says it listens (or ends)."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        if "listening for" in line or "could not bind" in line and "listening on 0" in seen:
            break
    return seen


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_prints_probes_stops_at_duration_and_writes_a_receipt(tmp_path: Path) -> None:
    udp, tcp = free_port("udp"), free_port("tcp")
    (tmp_path / "far.yaml").write_text(profile_yaml([("ntp-serve", "udp", udp), ("tunnel", "tcp", tcp)]))
    started = time.monotonic()
    proc = start(["--profile", "far.yaml", "--bind", "127.0.0.1", "--duration", "2s", "--receipt", "r.json"],
                 tmp_path)
    try:
        banner = wait_listening(proc)
        assert "listening on 2 of 2 sockets" in banner
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            probe = tokens.make_probe(RUN, "udp", udp, None)
            sock.sendto(probe, ("127.0.0.1", udp))
            reply, _ = sock.recvfrom(100)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err
    assert 2 <= elapsed < 6  # it stopped by itself
    assert len(reply) == len(probe)
    token = tokens.parse(probe, None)
    assert isinstance(token, tokens.Token)
    line = out.strip().splitlines()[0]
    assert "127.0.0.1:" in line and f"udp/{udp}" in line and token.text in line and "(ntp-serve)" in line
    receipt = json.loads((tmp_path / "r.json").read_text())
    assert receipt["schema"] == "netcheck.receipt/1"
    assert [(p["transport"], p["port"], p["token"]) for p in receipt["probes"]] == [("udp", udp, token.text)]
    assert {e["state"] for e in receipt["endpoints"]} == {"listening"}
    assert receipt["listener"]["finished"]


def test_junk_flood_does_not_grow_the_process(tmp_path: Path) -> None:
    udp = free_port("udp")
    (tmp_path / "far.yaml").write_text(profile_yaml([("syslog-in", "udp", udp)]))
    proc = start(["--profile", "far.yaml", "--bind", "127.0.0.1", "--duration", "60s", "--quiet",
                  "--receipt", "r.json"], tmp_path)
    try:
        wait_listening(proc)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            def burst(count: int) -> None:
                for index in range(count):
                    sock.sendto(bytes([index % 256]) * (1 + index % 1200), ("127.0.0.1", udp))
                    if index % 200 == 0:
                        time.sleep(0.002)  # a little slack so most datagrams are read, not dropped
            burst(2000)
            time.sleep(0.3)
            before = rss_kib(proc.pid)
            started = time.monotonic()
            burst(20_000)
            elapsed = time.monotonic() - started
            time.sleep(0.5)
            after = rss_kib(proc.pid)
            # still answering a real token afterwards
            sock.settimeout(2)
            sock.sendto(tokens.make_probe(RUN, "udp", udp, None), ("127.0.0.1", udp))
            reply, _ = sock.recvfrom(100)
        proc.terminate()  # SIGTERM: stops early and still writes the receipt
        _out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert len(reply) == tokens.TOKEN_LEN
    assert after - before < 2048, f"RSS grew from {before} to {after} KiB"
    assert elapsed < 20
    receipt = json.loads((tmp_path / "r.json").read_text())
    assert sum(receipt["ignored"]["rejected"].values()) > 5000
    assert "wrote receipt" in err


def test_port_in_use_is_fine_and_said_clearly(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        (tmp_path / "far.yaml").write_text(profile_yaml([("web", "tcp", port), ("web-udp", "udp", port)]))
        proc = start(["--profile", "far.yaml", "--bind", "127.0.0.1", "--duration", "1s", "--receipt", "r.json"],
                     tmp_path)
        _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert f"could not bind 127.0.0.1 TCP {port}: already in use - the real service listens there" in err
    states = {(e["transport"], e["state"]) for e in json.loads((tmp_path / "r.json").read_text())["endpoints"]}
    assert states == {("tcp", "in-use"), ("udp", "listening")}


def test_privileged_ports_without_root_are_named(tmp_path: Path) -> None:
    found = unprivileged_python()
    if found is None:
        pytest.skip("needs root (to drop to uid 65534 with setpriv) and a Python that uid can run")
    if int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()) <= 80:
        pytest.skip("this kernel lets everyone bind port 80")
    python, prefix = found
    high = free_port("udp")
    tmp_path.chmod(0o777)
    (tmp_path / "far.yaml").write_text(profile_yaml([("web", "tcp", 80), ("ntp", "udp", high)]))
    proc = start(["--profile", "far.yaml", "--bind", "127.0.0.1", "--duration", "1s", "--receipt", "r.json"],
                 tmp_path, python=python, prefix=prefix, env={"HOME": str(tmp_path)})
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "could not bind 127.0.0.1 TCP 80: permission denied - ports below 1024 need root" in err
    assert f"127.0.0.1 udp/{high}" in err.splitlines()[0]


@pytest.mark.parametrize("args, env, message", [
    (["--profile", "console"], {}, "no --bind address: no --site given"),
    (["--profile", "console", "--bind", "localhost"], {}, "--bind 'localhost' is not an IP address"),
    (["--profile", "console", "--bind", "127.0.0.1", "--duration", "2d"], {}, "is not a duration"),
    (["--profile", "console", "--bind", "127.0.0.1", "--duration", "25h"], {}, "between 1 s and 24 h"),
    (["--profile", "console", "--bind", "127.0.0.1"], {tokens.KEY_ENV: "short"}, "NETCHECK_LISTENER_KEY is too short"),
    (["--profile", "sensor-nope"], {}, "unknown profile"),
])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], env: dict[str, str], message: str) -> None:
    proc = start(args, tmp_path, env=env)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_probe_line_brackets_ipv6_sources() -> None:
    from netcheck.listen.run import probe_line
    from netcheck.listen.server import ProbeRecord

    record = ProbeRecord(source="2001:db8::7", source_port=40000, transport="udp", address="2001:db8::1", port=123,
                         token="aa-bb", run_id="aa", sent_port=123, keyed=False, first_seen="t", last_seen="t",
                         answered=1)
    assert "[2001:db8::7]:40000 -> 2001:db8::1 udp/123  token aa-bb (ntp-serve)  echoed" in probe_line(
        record, ("ntp-serve",))
