#!/usr/bin/env python3
"""netcheck speed and memory benchmark: every case at the defaults, as root and as non-root, with
`nmap -sT` on the same targets in the same run.

Cases and goals (issue 10):
  help      `netcheck --help`                                                 < 0.3 s
  loopback  2,000 TCP flows to 127.0.0.1, 1 in 10 open                        <= 3 x nmap -sT
  one-host  500 TCP flows to one host, every SYN dropped by a router          <= 1.5 timeouts + 1 s
  console   the console profile with 250 sensor addresses that never answer   (reported)
  fleet     20 TCP flows x 250 hosts that never answer (5,000 flows)          <= 2 timeouts + 3 s, <= 200 MiB
  reports   benchmarks/bench_reports.py's rows, when that module is present

"As root" is the default run, raw-packet diagnosis included. "Non-root" drops to uid 65534
with setpriv, using an interpreter that uid can run (sys.executable, else /usr/bin/python3).
Each run is the command a user types (`netcheck scan -p PROFILE -s SITE --timeout 2`: the table
on stdout, here into a file); its last line, the summary, is checked. Like an installed netcheck
(pip compiles the package when it installs it), the tree's bytecode is compiled first: an
environment with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every module on every run.
Silent hosts sit behind a router namespace whose nftables ruleset drops everything to
203.0.113.0/24 (tests/lab/topology.py); netcheck and nmap run inside the client namespace,
never in the host namespace. Loopback cases run on 127.0.0.1 in the host namespace.

Usage: sudo python3 benchmarks/bench.py [--rounds 3] [--timeout 2] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DROP_ALL = "table inet bench {\n chain forward {\n  type filter hook forward priority 0;\n" \
           "  ip daddr 203.0.113.0/24 drop\n }\n}\n"
SILENT_HOST = "203.0.113.10"
FLEET = [f"203.0.113.{i}" for i in range(2, 252)]  # 250 addresses behind the drop
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
NMAP_CAP_S = 240.0  # an nmap run on silent hosts may take minutes: give up (and say so) after this


@dataclass
class Row:
    """One line of the table: figures (s) of every round, the goal, and the peer's figures."""

    case: str
    user: str
    walls: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)  # user + system CPU seconds (steadier than wall on a busy machine)
    goal_s: float | None = None
    goal_text: str = ""
    goal_rss_mib: float | None = None
    nmap: list[float] = field(default_factory=list)
    nmap_note: str = ""
    notes: list[str] = field(default_factory=list)
    max_ratio: float | None = None  # goal as a ratio to nmap

    def met(self) -> str:
        """Judged on the median run (the machine is shared: the range shows the noise)."""
        if not self.walls:
            return "-"
        ok = True
        if self.goal_s is not None:
            ok &= statistics.median(self.walls) <= self.goal_s
        if self.goal_rss_mib is not None and self.rss_mib:
            ok &= max(self.rss_mib) <= self.goal_rss_mib
        if self.max_ratio is not None and self.nmap:
            ok &= statistics.median(self.walls) <= self.max_ratio * statistics.median(self.nmap)
        return "yes" if ok else "NO"


def span(values: list[float], unit: str = "s", digits: int = 2) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return f"{low:.{digits}f} {unit}" if f"{low:.{digits}f}" == f"{high:.{digits}f}" \
        else f"{low:.{digits}f}-{high:.{digits}f} {unit}"


def measured(argv: list[str], stdout: Path | None = None,
             timeout: float | None = None) -> tuple[float, float, int, str, float]:
    """Wall time (s), peak RSS (MiB) and exit code of one child, with its stderr and its CPU time (user +
    system, s) (wait4: this child only)."""
    out = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115 - closed below
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, start_new_session=True)
        deadline = None if timeout is None else started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                os.killpg(proc.pid, 9)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    if stdout:
        out.close()  # type: ignore[union-attr]
    return wall, usage.ru_maxrss / 1024, proc.returncode, text, usage.ru_utime + usage.ru_stime


def unprivileged_python() -> str | None:
    """An interpreter uid 65534 can run netcheck with (the tests' rule: PyYAML importable)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    for python in (sys.executable, "/usr/bin/python3"):
        check = subprocess.run([*NOBODY, "env", f"PYTHONPATH={ROOT}", "PATH=/usr/bin:/bin", python, "-c",
                                "import yaml, netcheck.cli"], capture_output=True, check=False)
        if check.returncode == 0:
            return python
    return None


class Runner:
    """Runs netcheck as root and as non-root, in the host namespace or a lab namespace."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.nobody_python = unprivileged_python()

    def users(self) -> list[str]:
        return ["root", "non-root"] if self.nobody_python else ["root"]

    def argv(self, user: str, args: list[str], netns: str | None = None) -> list[str]:
        prefix = ["ip", "netns", "exec", netns] if netns else []
        if user == "root":
            return [*prefix, "env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "netcheck", *args]
        assert self.nobody_python
        return [*prefix, *NOBODY, "env", f"PYTHONPATH={ROOT}", "PATH=/usr/bin:/bin", f"HOME={self.folder}",
                self.nobody_python, "-m", "netcheck", *args]

    def scan(self, row: Row, args: list[str], netns: str | None = None,
             check: Callable[[Summary], str | None] | None = None) -> None:
        """One run of the command as typed: the table goes to stdout (a file here), nothing else is written."""
        out = self.folder / "out.txt"
        wall, rss, code, err, cpu = measured(self.argv(row.user, args, netns), out)
        if code not in (0, 1):
            row.notes.append(f"exit {code}: {err.strip().splitlines()[-1] if err.strip() else ''}")
            return
        row.walls.append(wall)
        row.rss_mib.append(rss)
        row.cpus.append(cpu)
        if check is not None:
            summary = summary_of(out.read_text(errors="replace"))
            problem = "no summary line in the table" if summary is None else check(summary)
            if problem and problem not in row.notes:
                row.notes.append(problem)
        for line in err.splitlines():
            if "open-file limit" in line and line not in row.notes:
                row.notes.append(line)


# The table's last line: "2000 flows: 200 pass, 1800 fail -> FAIL (a required flow failed)"
SUMMARY_LINE = re.compile(r"^(\d+) flows: (.*) -> [A-Z]+ \(")


@dataclass(frozen=True)
class Summary:
    """The counts of a run's summary line: flows in all, and flows by status."""

    total: int
    counts: dict[str, int]


def summary_of(table: str) -> Summary | None:
    lines = table.rstrip("\n").splitlines()
    found = SUMMARY_LINE.match(lines[-1]) if lines else None
    if found is None:
        return None
    counts = {status: int(number) for number, status in (part.split(" ", 1) for part in found[2].split(", "))}
    return Summary(int(found[1]), counts)


def compile_bytecode(pythons: list[str]) -> None:
    """What `pip install` does for an installed netcheck: every module compiled once, before the runs."""
    for python in dict.fromkeys(pythons):
        subprocess.run([python, "-m", "compileall", "-q", str(ROOT / "netcheck")], check=True,
                       stdout=subprocess.DEVNULL)


def profile_text(ports: list[int], peer: str = "console") -> str:
    lines = ["name: bench", "role: sensor", "flows:"]
    lines += [f"  - {{id: p{port}, purpose: bench, protocol: TCP, transport: tcp, port: {port}, direction: out,"
              f" peer: {peer}, probe: tcp}}" for port in ports]
    return "\n".join(lines) + "\n"


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    path.chmod(0o644)
    return str(path)


def counts(expected_pass: int, total: int) -> Callable[[Summary], str | None]:
    def check(summary: Summary) -> str | None:
        if summary.total != total or summary.counts.get("pass", 0) != expected_pass:
            return f"unexpected: {summary.counts} of {summary.total} flows"
        return None
    return check


def nmap_open(stdout: Path) -> int:
    return stdout.read_text(errors="replace").count("/open/")


# ---------------------------------------------------------------- cases

def bench_help(rounds: int) -> Row:
    row = Row("`netcheck --help`", "root", goal_s=0.3, goal_text="< 0.3 s")
    for _ in range(max(5, rounds)):
        wall, rss, _code, _err, cpu = measured([sys.executable, "-m", "netcheck", "--help"])
        row.walls.append(wall)
        row.rss_mib.append(rss)
        row.cpus.append(cpu)
    return row


def bench_loopback(runner: Runner, rounds: int, count: int) -> list[Row]:
    folder = runner.folder
    rows = [Row(f"{count:,} TCP flows to loopback (1 in 10 open)", user, max_ratio=3.0,
                goal_text="<= 3 x nmap -sT") for user in runner.users()]
    with ExitStack() as stack:
        ports: list[int] = []
        for index in range(count):
            if index % 10 == 0:  # open: the kernel completes the handshake for a listening socket
                server = stack.enter_context(socket.create_server(("127.0.0.1", 0), backlog=128))
                ports.append(server.getsockname()[1])
            else:  # refused: bound, never listening
                sock = stack.enter_context(socket.socket())
                sock.bind(("127.0.0.1", 0))
                ports.append(sock.getsockname()[1])
        profile = write(folder, "loopback.yaml", profile_text(ports))
        site = write(folder, "loopback-site.yaml", "name: bench\npeers:\n  console: 127.0.0.1\n")
        port_list = ",".join(str(p) for p in sorted(ports))
        nmap = shutil.which("nmap")
        for _ in range(rounds):
            for row in rows:
                runner.scan(row, ["scan", "-p", profile, "-s", site, "--timeout", "2"],
                            check=counts(count // 10, count))
            if nmap:
                wall, _rss, _code, _err, _cpu = measured([nmap, "-sT", "-Pn", "-n", "-p", port_list, "127.0.0.1",
                                                   "-oG", "-"], folder / "nmap.txt")
                for row in rows:
                    row.nmap.append(wall)
                seen = nmap_open(folder / "nmap.txt")
                if seen != count // 10:
                    rows[0].nmap_note = f"nmap saw {seen} open"
    return rows


def bench_silent(runner: Runner, rounds: int, timeout: float, nmap_rounds: int) -> list[Row]:
    from tests.lab.topology import Topology

    folder = runner.folder
    rows: list[Row] = []
    one_host = write(folder, "one-host.yaml", profile_text(list(range(20000, 20500))))
    one_site = write(folder, "one-host-site.yaml", f"name: one-host\npeers:\n  console: {SILENT_HOST}\n")
    console_site = write(folder, "console-site.yaml", "name: sensors\npeers:\n  sensors:\n"
                         + "".join(f"    - {address}\n" for address in FLEET))
    fleet = write(folder, "fleet.yaml", profile_text(list(range(21000, 21020))))
    fleet_site = write(folder, "fleet-site.yaml", "name: fleet\npeers:\n  console:\n"
                       + "".join(f"    - {address}\n" for address in FLEET))
    base = ["--timeout", f"{timeout:g}"]
    cases = [
        ("500 TCP flows to one host, all dropped by a router", ["scan", "-p", one_host, "-s", one_site, *base],
         1.5 * timeout + 1, "<= 1.5 timeouts + 1 s", None, counts(0, 500),
         ["-p", "20000-20499", SILENT_HOST]),
        ("console profile, 250 sensor addresses that never answer",
         ["scan", "-p", "console", "-s", console_site, *base], None, "(reported)", None, None, None),
        ("20 TCP flows x 250 hosts that never answer (5,000 flows)",
         ["scan", "-p", fleet, "-s", fleet_site, *base], 2 * timeout + 3, "<= 2 timeouts + 3 s, <= 200 MiB",
         200.0, counts(0, 5000), ["-p", "21000-21019", f"{FLEET[0]}-{FLEET[-1].rsplit('.', 1)[1]}"]),
    ]
    with Topology.create() as topo:
        topo.nft(DROP_ALL)
        netns = topo.client.name
        for name, args, goal, goal_text, goal_rss, check, nmap_args in cases:
            case_rows = [Row(name, user, goal_s=goal, goal_text=goal_text, goal_rss_mib=goal_rss)
                         for user in runner.users()]
            rows += case_rows
            for _ in range(rounds):
                for row in case_rows:
                    runner.scan(row, args, netns, check)
            nmap = shutil.which("nmap")
            if nmap and nmap_args:
                for _ in range(nmap_rounds):
                    wall, _rss, code, _err, _cpu = measured(
                        ["ip", "netns", "exec", netns, nmap, "-sT", "-Pn", "-n", "-T4", *nmap_args, "-oG", "-"],
                        folder / "nmap.txt", timeout=NMAP_CAP_S)
                    for row in case_rows:
                        if code < 0 or wall >= NMAP_CAP_S:
                            row.nmap_note = f"nmap -sT -T4 > {NMAP_CAP_S:.0f} s (stopped)"
                        else:
                            row.nmap.append(wall)
                            row.nmap_note = "nmap -sT -T4"
    return rows


def bench_reports() -> list[tuple[str, str, str, str, str]]:
    """The report-rendering rows of benchmarks/bench_reports.py (another module's cases), if present."""
    if not (ROOT / "benchmarks" / "bench_reports.py").exists():
        return []
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_reports  # type: ignore[import-not-found]

    rows: list[tuple[str, str, str, str, str]] = bench_reports.run()
    return rows


# ---------------------------------------------------------------- output

def table(rows: list[Row], extra: list[tuple[str, str, str, str, str]], markdown: bool) -> str:
    head = ["case (defaults)", "user", "netcheck", "CPU", "peak RSS", "goal", "met (median)", "nmap -sT",
            "ratio to nmap"]
    lines = []
    for row in rows:
        ratio = "-"
        if row.nmap and row.walls:
            ratio = f"{statistics.median(row.walls) / statistics.median(row.nmap):.1f} x"
        nmap = span(row.nmap) if row.nmap else (row.nmap_note or "-")
        if row.nmap and row.nmap_note and "nmap saw" in row.nmap_note:
            nmap += f" ({row.nmap_note})"
        case = row.case + (f" [{'; '.join(row.notes)}]" if row.notes else "")
        lines.append([case, row.user, span(row.walls), span(row.cpus), span(row.rss_mib, "MiB", 0), row.goal_text,
                      row.met(), nmap, ratio])
    for case, figure, rss, goal, met in extra:  # the figure names its CPU time itself
        lines.append([case, "-", figure, "-", rss, goal, met, "-", "-"])
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(str(cells[i])) for cells in [head, *lines]) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))
                     for cells in [head, *lines])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each case (figures are ranges)")
    parser.add_argument("--flows", type=int, default=2000, help="loopback flows (default 2000)")
    parser.add_argument("--timeout", type=float, default=2.0, help="probe timeout of the silent cases (s)")
    parser.add_argument("--nmap-rounds", type=int, default=1, help="nmap runs on the silent cases (slow)")
    parser.add_argument("--only", choices=["help", "loopback", "silent", "reports"], action="append")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown (README)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.flows * 2 + 256)), hard))
    only = set(args.only or ["help", "loopback", "silent", "reports"])

    print(f"netcheck benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{args.rounds} round(s), load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    rows: list[Row] = []
    extra: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)
        runner = Runner(folder)
        compile_bytecode([sys.executable, *([runner.nobody_python] if runner.nobody_python else [])])
        if "non-root" not in runner.users():
            print("non-root runs skipped: needs root, setpriv and an interpreter uid 65534 can run",
                  file=sys.stderr)
        if "help" in only:
            rows.append(bench_help(args.rounds))
        if "loopback" in only:
            rows += bench_loopback(runner, args.rounds, args.flows)
        if "silent" in only:
            if os.geteuid() == 0 and shutil.which("nft"):
                rows += bench_silent(runner, args.rounds, args.timeout, args.nmap_rounds)
            else:
                print("silent-host cases skipped: they need root and nft for their namespaces", file=sys.stderr)
        if "reports" in only:
            extra = bench_reports()
    print(table(rows, extra, markdown=False))
    if args.markdown:
        print()
        print(table(rows, extra, markdown=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
