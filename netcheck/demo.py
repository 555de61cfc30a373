"""`netcheck demo`: a zero-setup tour on loopback - listeners, a two-sided scan, reports.

No root, no network: every documented sensor port p is mapped to OFFSET + p on 127.0.0.1
(through the site file's `ports:`), a `netcheck listen` answers on those ports, and the
sensor profile is scanned with the listener. Two flows are blocked on purpose so the
reports show failures and their remediation:
- tunnel (TCP 9000): nothing listens there -> refused (a TCP reset);
- syslog (UDP 514): a socket that swallows datagrams -> blocked (what a silent firewall does).
`netcheck demo` exits 0 when exactly those two fail, so it doubles as a self-test of an install.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netcheck.escape import terminal_text

if TYPE_CHECKING:
    from netcheck.model import Report

OFFSETS = (20000, 30000, 40000)  # the first one whose ports are all free is used
RANGE_WIDTH = 8  # a documented port range becomes this many ports (all sampled)
LOOPBACK = "127.0.0.1"
BLOCKED_REFUSED = "tunnel"  # no listener at all
BLOCKED_SILENT = "syslog"  # bound, never answers
DEMO_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class DemoPlan:
    offset: int
    site: dict[str, Any]
    endpoints: list[tuple[str, int]]  # (transport, port) the listener opens
    silent: tuple[str, int]  # the black-hole UDP port
    refused: tuple[str, int]  # the port left closed


def plan_demo(offset: int) -> DemoPlan:
    """The demo's site (every peer on loopback, ports mapped, listener on) and its sockets."""
    from netcheck.model import PortRange
    from netcheck.profiles import URL_PEERS, load_profile

    profile = load_profile("sensor")
    ports: dict[str, Any] = {}
    mapped: dict[str, tuple[str, int | PortRange]] = {}
    for spec in profile.flows:
        if isinstance(spec.port, PortRange):
            first = offset + 12000
            port: int | PortRange = PortRange(first, first + RANGE_WIDTH - 1)
            ports[spec.id] = f"{first}-{first + RANGE_WIDTH - 1}"
        else:
            port = offset + spec.port
            ports[spec.id] = port
        mapped[spec.id] = (spec.transport, port)
    peers: dict[str, Any] = {}
    for spec in profile.flows:
        if spec.peer == "crl":
            peers["crl"] = [f"http://{LOOPBACK}:{ports['crl']}/crl/root.crl"]
        elif spec.peer == "proxy":
            peers["proxy"] = f"http://{LOOPBACK}:{ports['proxy']}"
        elif spec.peer not in URL_PEERS:
            peers[spec.peer] = LOOPBACK
    settings = {spec.peer: {"listener": True} for spec in profile.flows if spec.direction.value == "out"}
    silent = _single(mapped[BLOCKED_SILENT])
    refused = _single(mapped[BLOCKED_REFUSED])
    endpoints: set[tuple[str, int]] = set()
    for transport, port in mapped.values():
        picks = range(port.first, port.last + 1) if isinstance(port, PortRange) else [port]
        endpoints.update((transport, p) for p in picks)
    endpoints -= {silent, refused}
    site = {"name": "netcheck-demo", "description": "netcheck demo: every peer on 127.0.0.1, ports mapped "
                                                    f"to {offset} + the documented port, listener answering",
            "peers": peers, "ports": ports, "settings": settings}
    return DemoPlan(offset, site, sorted(endpoints), silent, refused)


def _single(item: tuple[str, Any]) -> tuple[str, int]:
    transport, port = item
    assert isinstance(port, int)
    return transport, port


def _all_free(ports: list[tuple[str, int]]) -> bool:
    for transport, port in ports:
        kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as probe:
            if kind == socket.SOCK_STREAM:  # as the listener binds: TIME_WAIT leftovers do not count
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


def choose_plan() -> DemoPlan:
    from netcheck.errors import UsageError

    for offset in OFFSETS:
        plan = plan_demo(offset)
        if _all_free([*plan.endpoints, plan.silent, plan.refused]):
            return plan
    raise UsageError("the demo's loopback ports are taken at every offset "
                     f"({', '.join(str(o) for o in OFFSETS)} + the documented port)",
                     hint="stop other netcheck demos or listeners and retry")


class BackgroundListener:
    """A Listener served by its own event loop in a thread, while the scan runs in the main one."""

    def __init__(self, listener: Any) -> None:
        self.listener = listener
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="netcheck-demo-listener", daemon=True)

    def __enter__(self) -> BackgroundListener:
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced to the main thread by __enter__
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.listener.open()
        self._ready.set()
        try:
            await self.listener.serve(600, self._stop)
        finally:
            await self.listener.close()


@dataclass(frozen=True)
class DemoOutcome:
    """The demo's report (listener receipt joined), and whether exactly the two planned flows failed."""

    report: Report
    as_designed: bool


def run_demo(output: Path, show: Callable[[str], None], notice: Callable[[str], None]) -> DemoOutcome:
    """Run the demo, writing its files into `output`; the epilogue's lines go to `show`, one-line notes to
    `notice` (the command line prints both)."""
    import yaml

    from netcheck import tokens
    from netcheck.listen.receipt import join_receipt, receipt_dict, write_receipt
    from netcheck.listen.server import Endpoint, Listener
    from netcheck.outputs import ReportOutputs, check_folder, signals_deferred, write_text_file
    from netcheck.render import FORMATS
    from netcheck.scanner import interrupted_by

    started = time.monotonic()
    key = tokens.key_from_env(os.environ)
    plan = choose_plan()
    check_folder(output, "demo outputs")  # refused before any listener starts
    site_path = output / "demo-site.yaml"
    write_text_file(site_path, "# Written by `netcheck demo`: the loopback site it scanned.\n"
                    + yaml.safe_dump(plan.site, sort_keys=False), "demo site file")
    notice(f"listeners on {LOOPBACK}, documented port p mapped to {plan.offset} + p; "
           f"blocked on purpose: {BLOCKED_REFUSED} (nothing listens), {BLOCKED_SILENT} (datagrams swallowed)")
    listener = Listener([Endpoint(t, p) for t, p in plan.endpoints], [LOOPBACK], key=key)
    with ExitStack() as stack:
        black_hole = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        black_hole.bind((LOOPBACK, plan.silent[1]))
        stack.enter_context(BackgroundListener(listener))
        report = _scan(site_path, notice)
    with signals_deferred():  # the scan is done: a signal now waits until its reports are written
        receipt = receipt_dict(listener, listener_id=secrets.token_hex(8), host="demo", profile="sensor (demo)",
                               role="demo", site=plan.site["name"], duration_s=time.monotonic() - started, notes=[])
        write_receipt(output / "demo-receipt.json", receipt)
        report = join_receipt(report, receipt)
        ReportOutputs(tuple(available_formats(report, FORMATS, notice)), f"{output}/").write(report)
    if interrupted_by(report) is not None:
        notice(f"interrupted by {report.info.options['interrupted']}; the reports of what finished "
               f"are in {output}/")
        return DemoOutcome(report, False)
    ok = _epilogue(report, show)
    notice(f"finished in {time.monotonic() - started:.1f} s; reports, the site file and the "
           f"listener receipt are in {output}/")
    return DemoOutcome(report, ok)


def available_formats(report: Report, formats: dict[str, Any], notice: Callable[[str], None]) -> list[str]:
    """table and json, plus html and the firewall request when registered and their libraries
    (jinja2, ...) are installed: a trial render finds out, since renderers import lazily."""
    chosen = ["table", "json"]
    for name in ("html", "firewall-request"):
        if name not in formats:
            continue
        try:
            formats[name].renderer()(report)
        except ImportError as exc:
            notice(f"no {name} report: {exc}")
            continue
        chosen.append(name)
    return chosen


def _scan(site_path: Path, notice: Callable[[str], None]) -> Report:
    from netcheck.engine import Limits
    from netcheck.profiles import load_profile, load_site
    from netcheck.scanner import ScanOptions, run_scan, scan_hooks

    profile = load_profile("sensor")
    site = load_site(site_path, profile)
    options = ScanOptions(limits=Limits(timeout=DEMO_TIMEOUT_S, deadline=30))
    return run_scan(profile, site, str(site_path), options, env=dict(os.environ),
                    hooks=scan_hooks(site, raw=False, env=os.environ),  # the site's `listener: true` peers
                    notice=notice)


def _epilogue(report: Report, show: Callable[[str], None]) -> bool:
    """Explain the deliberate failures and their fix; True when the demo behaved as designed."""
    from netcheck.model import Status
    from netcheck.remediation import remediation

    failed = {r.flow.id: r for r in report.results if r.status in (Status.FAIL, Status.ERROR)}
    expected = {BLOCKED_REFUSED: "refused", BLOCKED_SILENT: "blocked"}
    show("\nWhat the demo shows:")
    show("  Every flow to a peer went through the listener: 'confirmed' means the token came back, so the "
         "flow works end to end, UDP included.")
    for flow_id, reason in expected.items():
        result = failed.get(flow_id)
        seen = f"{result.status.value}/{result.reason.value}" if result else "did not fail"
        fix = remediation(result, report.info) if result else None
        show(f"  {flow_id}: {seen} (blocked on purpose, expected {reason})")
        if fix:
            show(terminal_text(f"    fix: {fix}"))
    unexpected = sorted(set(failed) - set(expected))
    if unexpected:
        show(f"  unexpected failures: {', '.join(unexpected)} (see the table above)")
    as_designed = not unexpected and all(
        flow_id in failed and failed[flow_id].reason.value == reason for flow_id, reason in expected.items())
    show(f"  Demo {'behaved as designed' if as_designed else 'did NOT behave as designed'}.")
    return as_designed
