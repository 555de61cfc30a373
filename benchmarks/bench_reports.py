#!/usr/bin/env python3
"""Report rendering speed: a 50,000-result report as `report -f table` and `report -f html`.

Generates a deterministic fleet-sized report (250 hosts x 200 flows, mostly passing, with the
failures, evidence and reasons a real scan records), then runs what a user types, as
subprocesses: `netcheck report r.json -f table` (stdout to a pipe) and `netcheck report r.json
-f html -o FILE`. Each is timed and its peak RSS measured (ru_maxrss of the child, via wait4).
Goal (issue 10, goal 5): <= 5 s each, memory proportional to the output.

Usage: python3 benchmarks/bench_reports.py [--results 50000]
`run()` returns (case, figure, goal) rows for benchmarks/bench.py.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETCHECK = [sys.executable, "-m", "netcheck"]
GOAL_SECONDS = 5.0


def make_report(count: int) -> str:
    """A netcheck.report/1 JSON text with `count` results, serialised by netcheck's own serializer."""
    sys.path.insert(0, str(ROOT))
    from netcheck.model import Direction, Flow, Reason, Report, Result, RunInfo, Status
    from netcheck.serialize import dumps

    rng = random.Random(10)
    services = [("HTTPS", "tcp", 443, "tls"), ("SSH", "tcp", 22, "ssh"), ("NTP", "udp", 123, "ntp"),
                ("DNS", "udp", 53, "dns"), ("Syslog", "udp", 514, "syslog"), ("LDAP", "tcp", 389, "ldap"),
                ("SNMP", "udp", 161, "snmp"), ("WMI", "tcp", 135, "tcp"), ("Tunneling", "tcp", 9000, "tcp")]
    peers = ["console", "ntp", "dns", "syslog", "ldap", "snmp", "wmi", "sensors"]
    per_host = 200
    results = []
    for index in range(count):
        host = f"198.51.100.{index // per_host % 250 + 1}" if index // per_host < 250 else \
            f"203.0.113.{index // per_host % 250 + 1}"
        protocol, transport, base_port, probe = services[index % len(services)]
        port = base_port if index % per_host < len(services) else 20000 + index % per_host
        flow = Flow(id=f"{protocol.lower()}-{index % per_host}", purpose=f"{protocol} to the {peers[index % 8]} "
                    "server, as the documentation lists it", protocol=protocol, transport=transport, port=port,
                    direction=Direction.OUT, peer=peers[index % len(peers)], host=host, probe=probe,
                    required=index % 17 != 0, role="sensor", source="sensor", destination="server")
        roll = rng.random()
        if roll < 0.70:
            result = Result(flow, Status.PASS, Reason.OPEN, f"{transport.upper()} {port}: handshake completed",
                            host, round(rng.uniform(0.2, 40), 2), {"errno": None})
        elif roll < 0.85:
            result = Result(flow, Status.FAIL, Reason.FILTERED, f"{transport.upper()} {port}: no answer within 2.0 s",
                            host, None, {"raw": {"last_hop": "198.51.100.1",
                                                 "hops": [{"ttl": 1, "address": "198.51.100.1"}]}})
        elif roll < 0.93:
            result = Result(flow, Status.FAIL, Reason.REFUSED, f"{transport.upper()} {port}: refused (TCP reset)",
                            host, round(rng.uniform(0.1, 3), 2), {"errno": "ECONNREFUSED"})
        elif roll < 0.97:
            result = Result(flow, Status.WARN, Reason.UNCONFIRMED,
                            f"{transport.upper()} {port}: sent 3 datagrams, no ICMP error", host, None, {"tries": 3})
        elif roll < 0.99:
            result = Result(flow, Status.SKIP, Reason.NOT_APPLICABLE, "the flow does not apply to this host", host)
        else:
            result = Result(flow, Status.ERROR, Reason.INTERNAL_ERROR, "netcheck failed: OSError: too many open files",
                            host, None, {"traceback": "Traceback (most recent call last):\n  ...\nOSError: [Errno 24]"})
        results.append(result)
    info = RunInfo(version="0.1.0", run_id="bench0000000000", host_name="sensor-bench",
                   host_addresses=("198.51.100.200",), profile="fleet", role="sensor", site="bench",
                   site_file="bench.yaml", started="2026-11-29T12:00:00Z", finished="2026-11-29T12:00:30Z",
                   options={"timeout_s": 2.0, "concurrency": 256, "per_host": 64, "strict": False})
    return dumps(Report.build(info, results))


def measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, int]:
    """Wall seconds, peak RSS in MiB, exit code and stdout bytes of one child."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
    assert child.stdout is not None
    size = 0
    while chunk := child.stdout.read(1 << 16):
        size += len(chunk)
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, child.returncode, size


def run(count: int = 50_000) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    with tempfile.TemporaryDirectory(prefix="netcheck-bench-") as folder:
        path = Path(folder) / "r.json"
        path.write_text(make_report(count), encoding="utf-8")
        mib = path.stat().st_size / 2**20
        cases = [
            (f"report -f table, {count:,} results ({mib:.0f} MiB JSON)",
             [*NETCHECK, "report", str(path), "-f", "table"]),
            (f"report -f table --all, {count:,} results", [*NETCHECK, "report", str(path), "-f", "table", "--all"]),
            (f"report -f html, {count:,} results", [*NETCHECK, "report", str(path), "-f", "html", "-o",
                                                     str(Path(folder) / "r.html")]),
        ]
        for case, argv in cases:
            wall, rss, code, size = measured(argv, env)
            output = size if size else (Path(folder) / "r.html").stat().st_size if "html" in case else 0
            figure = f"{wall:.2f} s, {rss:.0f} MiB peak RSS, {output / 2**20:.1f} MiB output"
            if code != 0:
                figure += f" (exit {code})"
            rows.append((case, figure, f"<= {GOAL_SECONDS:.0f} s, RSS ~ output"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--results", type=int, default=50_000)
    args = parser.parse_args()
    for case, figure, goal in run(args.results):
        print(f"  {case:<58} {figure:<48} (goal {goal})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
