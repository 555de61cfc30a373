#!/usr/bin/env python3
"""Report rendering speed: a 50,000-result report as `report -f table` and `report -f html`.

Generates a deterministic fleet-sized report (250 hosts x 200 flows, mostly passing, with the
failures, evidence and reasons a real scan records), then runs what a user types, as
subprocesses: `netcheck report r.json -f table` (stdout to a pipe) and `netcheck report r.json
-f html -o FILE`, and loading alone (read, parse, schema check, Report objects: serialize.load).
Each is run --rounds times (3), in turn, timed (wall and CPU, since other work on the machine
stretches the wall time; figures are ranges, the goal is judged on the median wall time), and its
peak RSS measured (the highest ru_maxrss of the child, via wait4).
Goal (issue 10, goal 5): <= 5 s each, memory proportional to the output.

Usage: python3 benchmarks/bench_reports.py [--results 50000] [--rounds 3]
`run()` returns (case, figure, goal) rows for benchmarks/bench.py.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
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


def measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, int, int]:
    """Wall seconds, CPU seconds, peak RSS in MiB, exit code and stdout bytes of one child.

    The peak RSS is the child's own ru_maxrss (wait4): Linux carries a parent's high-water mark
    into a forked child across exec, so this process keeps its own memory small (the report is
    generated by a separate process)."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
    assert child.stdout is not None
    size = 0
    while chunk := child.stdout.read(1 << 16):
        size += len(chunk)
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, cpu, usage.ru_maxrss / 1024, child.returncode, size


def _span(values: list[float], unit: str) -> str:
    low, high = min(values), max(values)
    return f"{low:.2f} {unit}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}-{high:.2f} {unit}"


def run(count: int = 50_000, rounds: int = 3) -> list[tuple[str, str, str, str, str]]:
    """(case, time, peak RSS, goal, met) rows for bench.py's table: each case run `rounds` times, in turn
    (one round of every case, then the next), figures as ranges, the goal judged on the median wall time."""
    rows: list[tuple[str, str, str, str, str]] = []
    # What a pipe gets: no COLUMNS, so the fixed 160-column width.
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory(prefix="netcheck-bench-") as folder:
        path = Path(folder) / "r.json"
        subprocess.run([sys.executable, __file__, "--generate", str(path), "--results", str(count)], check=True,
                       cwd=ROOT, env=env)
        mib = path.stat().st_size / 2**20
        html = Path(folder) / "r.html"
        cases = [
            (f"load alone (serialize.load), {count:,} results",
             [sys.executable, "-c", "import sys; from netcheck.serialize import load; load(sys.argv[1])", str(path)]),
            (f"report -f table, {count:,} results ({mib:.0f} MiB JSON)",
             [*NETCHECK, "report", str(path), "-f", "table"]),
            (f"report -f table --all, {count:,} results", [*NETCHECK, "report", str(path), "-f", "table", "--all"]),
            (f"report -f html, {count:,} results", [*NETCHECK, "report", str(path), "-f", "html", "-o", str(html)]),
        ]
        runs: dict[str, list[tuple[float, float, float, int, int]]] = {case: [] for case, _argv in cases}
        for _ in range(max(rounds, 1)):
            for case, argv in cases:
                wall, cpu, rss, code, size = measured(argv, env)
                if not size and "html" in case and html.exists():
                    size = html.stat().st_size
                runs[case].append((wall, cpu, rss, code, size))
        for case, _argv in cases:
            walls = [wall for wall, *_rest in runs[case]]
            codes = {code for *_rest, code, _size in runs[case]}
            figure = f"{_span(walls, 's')} ({_span([cpu for _wall, cpu, *_rest in runs[case]], 's CPU')})"
            if codes != {0}:
                figure += f" (exit {','.join(map(str, sorted(codes)))})"
            output = max(size for *_rest, size in runs[case])
            met = "yes" if codes == {0} and statistics.median(walls) <= GOAL_SECONDS else "NO"
            rows.append((case, figure, f"{max(rss for _w, _c, rss, *_r in runs[case]):.0f} MiB "
                                       f"({output / 2**20:.1f} MiB output)", f"<= {GOAL_SECONDS:.0f} s, RSS ~ output",
                         met))
    load = os.getloadavg()[0]
    rows.append(("machine load during the report cases", f"load average {load:.1f} on {os.cpu_count()} cores", "",
                 "wall ~ CPU when idle", ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--results", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each case (figures are ranges)")
    parser.add_argument("--generate", metavar="FILE", help="only write the generated report to FILE")
    args = parser.parse_args()
    if args.generate:
        Path(args.generate).write_text(make_report(args.results), encoding="utf-8")
        return 0
    for case, figure, rss, goal, met in run(args.results, args.rounds):
        print(f"  {case:<50} {figure:<24} {rss:<26} goal {goal}: {met or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
