#!/usr/bin/env python3
"""netcheck speed and memory benchmark, with nmap as a peer in the same run.

Prints, in one run:
  1. wall time of `netcheck --help` (target < 0.3 s; no heavy import at start-up)
  2. wall time of a scan of the built-in default (loopback sample site)
  3. a scan of 2,000 TCP flows to loopback (half open, half refused): wall time, flows/s, peak memory
  4. the same 2,000 ports scanned by `nmap -sT` for a side-by-side ratio
  5. a scan where every flow is silently dropped (inside a private network namespace with an
     nftables drop rule; needs root): wall time must be close to one timeout, not the sum

Traffic goes only to 127.0.0.1 (or to loopback inside a namespace this script creates and deletes).
Usage: python3 benchmarks/bench.py [--flows 2000] [--timeout 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETCHECK = [sys.executable, "-m", "netcheck"]


def timed(argv: list[str], **kw: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    run = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - started, run


def peak_rss_mib_of(argv: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall time and peak RSS of one child (RUSAGE_CHILDREN's maxrss is the largest child so far)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    wall, run = timed(argv)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(after, before) / 1024, run


def profile_for(ports: list[int], transport: str = "tcp") -> str:
    lines = ["name: bench", "role: sensor", "flows:"]
    for port in ports:
        lines.append(f"  - {{id: p{port}, purpose: bench, protocol: TCP, transport: {transport}, port: {port},"
                     f" direction: out, peer: console, probe: {transport}}}")
    return "\n".join(lines) + "\n"


def bench_help(rounds: int = 7) -> float:
    walls = [timed([*NETCHECK, "--help"])[0] for _ in range(rounds)]
    return statistics.median(walls)


def bench_default(timeout: float) -> float:
    wall, _run = timed([*NETCHECK, "scan", "--timeout", str(timeout), "-f", "json", "-o", "-"])
    return wall


def bench_loopback(count: int, folder: Path) -> dict[str, float]:
    with ExitStack() as stack:
        ports: list[int] = []
        for index in range(count):
            if index % 2 == 0:  # an open port: a listening socket the kernel completes handshakes for
                server = stack.enter_context(socket.create_server(("127.0.0.1", 0), backlog=8))
                ports.append(server.getsockname()[1])
            else:  # a refused port: bound, never listening
                sock = stack.enter_context(socket.socket())
                sock.bind(("127.0.0.1", 0))
                ports.append(sock.getsockname()[1])
        (folder / "bench.yaml").write_text(profile_for(ports))
        (folder / "site.yaml").write_text("name: bench\npeers:\n  console: 127.0.0.1\n")
        # --no-raw: half the flows are refused, and diagnosing them is not what this measures.
        wall, rss, run = peak_rss_mib_of([
            *NETCHECK, "scan", "-p", str(folder / "bench.yaml"), "-s", str(folder / "site.yaml"),
            "--timeout", "3", "--per-host", "256", "--no-raw", "-f", "json", "-o", str(folder / "out.json")])
        if run.returncode not in (0, 1):
            raise SystemExit(f"netcheck failed: {run.stderr}")
        result: dict[str, float] = {"netcheck_s": wall, "flows_per_s": count / wall, "peak_rss_mib": rss}
        nmap = shutil.which("nmap")
        if nmap:
            port_list = ",".join(str(p) for p in sorted(ports))
            nmap_wall, nmap_run = timed([nmap, "-sT", "-Pn", "-n", "-T4", "--max-retries", "1",
                                         "-p", port_list, "127.0.0.1", "-oG", "-"])
            result["nmap_s"] = nmap_wall
            result["nmap_open"] = float(nmap_run.stdout.count("/open/"))
        return result


def bench_dropped(timeout: float, folder: Path) -> dict[str, float] | str:
    if os.geteuid() != 0 or not shutil.which("nft"):
        return "skipped: needs root and nft to build a private namespace with a drop rule"
    ns = f"ncbench{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        def in_ns(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                                  cwd=ROOT, **kw)  # type: ignore[call-overload]
        in_ns(["ip", "link", "set", "lo", "up"], check=True)
        in_ns(["nft", "-f", "-"], check=True, input=(
            "table inet bench {\n chain output {\n  type filter hook output priority 0;\n"
            "  ip daddr 127.0.0.2 drop\n }\n}\n"))
        # The built-in sensor profile with every peer behind the drop rule.
        peers = ["console", "ha_console", "sensors", "clients", "ntp", "dns", "smtp", "syslog", "ldap", "snmp",
                 "wmi"]
        site = "name: dropped\npeers:\n" + "".join(f"  {p}: 127.0.0.2\n" for p in peers)
        site += "  crl: [http://127.0.0.2/root.crl]\n  proxy: http://127.0.0.2:3128\n"
        (folder / "dropped.yaml").write_text(site)
        started = time.perf_counter()
        run = in_ns([*NETCHECK, "scan", "-p", "sensor", "-s", str(folder / "dropped.yaml"),
                     "--timeout", str(timeout), "--no-raw", "-f", "json", "-o", "-"])
        wall = time.perf_counter() - started
        if run.returncode not in (0, 1):
            return f"failed: {run.stderr.strip()}"
        # The same run with the default raw-packet diagnosis of every failed flow (root only).
        started = time.perf_counter()
        in_ns([*NETCHECK, "scan", "-p", "sensor", "-s", str(folder / "dropped.yaml"),
               "--timeout", str(timeout), "-f", "json", "-o", "-"])
        with_raw = time.perf_counter() - started
        # 200 more synthetic flows, all silent.
        (folder / "many.yaml").write_text(profile_for(list(range(20000, 20200))))
        (folder / "many-site.yaml").write_text("name: many\npeers:\n  console: 127.0.0.2\n")
        started = time.perf_counter()
        in_ns([*NETCHECK, "scan", "-p", str(folder / "many.yaml"), "-s", str(folder / "many-site.yaml"),
               "--timeout", str(timeout), "--per-host", "256", "--no-raw", "-f", "json", "-o", "-"])
        many = time.perf_counter() - started
        return {"sensor_profile_s": wall, "sensor_with_raw_s": with_raw, "flows_200_s": many, "timeout_s": timeout}
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.flows * 2 + 256)), hard))

    print(f"netcheck benchmark ({os.cpu_count()} cores, Python {sys.version.split()[0]})")
    help_s = bench_help()
    print(f"  netcheck --help               {help_s * 1000:7.0f} ms   (target < 300 ms)"
          f"  {'OK' if help_s < 0.3 else 'OVER TARGET'}")
    print(f"  built-in default scan         {bench_default(1.0) * 1000:7.0f} ms   (loopback sample, timeout 1 s)")
    with tempfile.TemporaryDirectory() as tmp:
        loop = bench_loopback(args.flows, Path(tmp))
        print(f"  {args.flows} TCP flows to loopback    {loop['netcheck_s'] * 1000:7.0f} ms   "
              f"{loop['flows_per_s']:.0f} flows/s, peak RSS {loop['peak_rss_mib']:.0f} MiB")
        if "nmap_s" in loop:
            print(f"  nmap -sT, same {args.flows} ports    {loop['nmap_s'] * 1000:7.0f} ms   "
                  f"netcheck/nmap time ratio {loop['netcheck_s'] / loop['nmap_s']:.2f} "
                  f"(nmap saw {loop['nmap_open']:.0f} open)")
        else:
            print("  nmap                          not installed (apt-get install nmap)")
        dropped = bench_dropped(args.timeout, Path(tmp))
        if isinstance(dropped, str):
            print(f"  all flows dropped             {dropped}")
        else:
            ratio = dropped["sensor_profile_s"] / args.timeout
            print(f"  all flows dropped (sensor)    {dropped['sensor_profile_s'] * 1000:7.0f} ms   "
                  f"= {ratio:.2f} x the {args.timeout:g} s timeout (target: close to 1x, not the sum)")
            print(f"  ... with raw diagnosis        {dropped['sensor_with_raw_s'] * 1000:7.0f} ms   "
                  "(root: SYN probe + traceroute of every failed flow)")
            print(f"  200 dropped flows             {dropped['flows_200_s'] * 1000:7.0f} ms   "
                  f"= {dropped['flows_200_s'] / args.timeout:.2f} x the timeout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
