"""The engine's scheduling rule, proved by counting, never by timing: silence does not queue
behind --per-host or --concurrency, a host that answers stays within --per-host, a probe that
never reports keeps its place, and the open-file budget bounds everything in flight.

The probes here are in-process fakes that report to the pacing signal the way the network
layer does (net/sockets.py: sent() when the SYN leaves, answered() when anything comes back).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from netcheck import engine, pacing
from netcheck.engine import Limits, Window, scan
from netcheck.model import Flow, Observation, Reason, Result, Status
from netcheck.probes import ProbeContext, ProbeKind, register
from tests.conftest import make_flow

REPO = Path(__file__).resolve().parents[1]


class Gauge:
    """How many fake probes are in flight now, and the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def __enter__(self) -> Gauge:
        self.now += 1
        self.peak = max(self.peak, self.now)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.now -= 1


GAUGES: dict[str, Gauge] = {}  # per host, and "*" for every flow


class gauge:
    """Counts a fake probe in its host's gauge and in the total."""

    def __init__(self, flow: Flow) -> None:
        self.gauges = [GAUGES.setdefault(flow.host, Gauge()), GAUGES.setdefault("*", Gauge())]

    def __enter__(self) -> None:
        for one in self.gauges:
            one.__enter__()

    def __exit__(self, *_exc: object) -> None:
        for one in self.gauges:
            one.__exit__()


async def _dropped(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    with gauge(flow):
        pacing.sent()
        await asyncio.sleep(3600)  # the engine's deadline ends it
    raise AssertionError("unreachable")


async def _answered(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    with gauge(flow):
        pacing.sent()
        await asyncio.sleep(0)
        pacing.answered()
        await asyncio.sleep(0.4)  # an established session: longer than the silence threshold
    return Observation(Reason.OPEN, "answered")


async def _mute(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    with gauge(flow):
        await asyncio.sleep(0.4)
    return Observation(Reason.OPEN, "done")


@pytest.fixture(autouse=True)
def test_kinds(probe_registry: dict[str, ProbeKind]) -> None:
    """This module's probe kinds, in the test's own registry (tests/conftest.py: probe_registry)."""
    register("test-dropped", transports=("tcp",), summary="test: a SYN nobody answers",
             on_timeout=Reason.FILTERED)(_dropped)
    register("test-answered", transports=("tcp",), summary="test: answered at once, then a 0.4 s session")(_answered)
    register("test-mute", transports=("tcp",), summary="test: a library probe that never reports, 0.4 s")(_mute)


def run(flows: list[Flow], limits: Limits, timeout: float = 0.8, **kw: object) -> list[Result]:
    GAUGES.clear()
    ctx = ProbeContext(timeout=timeout, run_id="t")
    return asyncio.run(scan(flows, ctx, limits, **kw))  # type: ignore[arg-type]


def many(probe: str, count: int, hosts: int = 1) -> list[Flow]:
    return [make_flow(probe=probe, host=f"127.0.0.{i % hosts + 1}", port=1000 + i, flow_id=f"f{i}")
            for i in range(count)]


def test_silent_flows_to_one_host_do_not_wait_for_the_per_host_limit() -> None:
    # Given 60 flows to one host that drops every SYN, and a per-host limit of 4
    results = run(many("test-dropped", 60), Limits(per_host=4, concurrency=256))
    # Then all 60 were in flight together: each gave its place back once silent, and the window widened
    assert GAUGES["127.0.0.1"].peak == 60
    assert {(r.status, r.reason) for r in results} == {(Status.FAIL, Reason.FILTERED)}


def test_silent_flows_do_not_wait_for_the_global_limit() -> None:
    run(many("test-dropped", 60, hosts=20), Limits(per_host=64, concurrency=4))
    assert GAUGES["*"].peak == 60


def test_a_host_that_answers_stays_within_the_per_host_limit() -> None:
    results = run(many("test-answered", 12), Limits(per_host=4, concurrency=256))
    assert GAUGES["127.0.0.1"].peak == 4
    assert all(r.reason is Reason.OPEN for r in results)


def test_answering_flows_stay_within_the_global_limit() -> None:
    run(many("test-answered", 15, hosts=15), Limits(per_host=64, concurrency=5))
    assert GAUGES["*"].peak == 5


def test_a_probe_that_never_reports_keeps_its_place() -> None:
    run(many("test-mute", 12), Limits(per_host=3, concurrency=256))
    assert GAUGES["127.0.0.1"].peak == 3


def test_the_open_file_budget_bounds_every_flow_in_flight_and_is_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "open_file_budget", lambda: (7, 64))
    said: list[str] = []
    run(many("test-dropped", 14), Limits(per_host=64, concurrency=256), timeout=0.4, notice=said.append)
    assert GAUGES["127.0.0.1"].peak == 7
    assert len(said) == 1 and "open-file limit (64)" in said[0] and "7 of 14 flows" in said[0]


def test_no_notice_when_the_budget_suffices() -> None:
    said: list[str] = []
    run(many("test-answered", 3), Limits(), notice=said.append)
    assert said == []


def test_the_soft_open_file_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        budget, reported_hard = engine.open_file_budget()
        raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert reported_hard == hard
    assert raised == (hard if hard != resource.RLIM_INFINITY else raised) and raised >= min(256, hard)
    assert budget == max(16, raised - engine.RESERVED_FILES)


def test_window_widens_on_silence_and_narrows_to_its_floor() -> None:
    window = Window(2)
    window.widen()
    window.widen()
    assert window.size == 4
    for _ in range(5):
        window.narrow()
    assert window.size == 2


def test_a_cancelled_waiter_leaves_no_place_taken() -> None:
    async def scenario() -> int:
        window = Window(1)
        await window.enter()
        waiter = asyncio.ensure_future(window.enter())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        window.leave()
        await window.enter()  # would hang if the cancelled waiter had kept a place
        return window.held

    assert asyncio.run(asyncio.wait_for(scenario(), 5)) == 1


def test_a_scan_under_a_low_hard_open_file_limit_says_so_once_and_finishes(tmp_path: Path) -> None:
    # Given 400 flows to closed loopback ports and a hard limit of 300 open files
    lines = ["name: p", "role: sensor", "flows:"]
    lines += [f"  - {{id: f{port}, purpose: t, protocol: T, transport: tcp, port: {port}, direction: out, "
              f"peer: console, probe: tcp}}" for port in range(1, 401)]
    (tmp_path / "p.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "s.yaml").write_text("name: s\npeers:\n  console: 127.0.0.1\n")

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))

    run = subprocess.run([sys.executable, "-m", "netcheck", "scan", "-p", "p.yaml", "-s", "s.yaml", "--no-raw",
                          "-f", "json", "-o", "-", "--timeout", "1"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, preexec_fn=low_limit, env={**os.environ, "PYTHONPATH": str(REPO)})
    # Then every flow has its verdict, and one line on stderr says the limit paces the run
    assert run.returncode == 1, run.stderr
    assert len(json.loads(run.stdout)["results"]) == 400
    notices = [line for line in run.stderr.splitlines() if "open-file limit" in line]
    assert notices == ["netcheck: the open-file limit (300) lets 172 of 400 flows be in flight at once: the others "
                       "wait their turn, so silent hosts take longer (raise it: ulimit -Hn)"]


class SilenceLog:
    """A scan hook that records which flows the engine reports as silent."""

    def __init__(self) -> None:
        self.flows: list[str] = []

    def choose(self, flow: Flow) -> str | None:
        return None

    def silent(self, flow: Flow, address: str | None) -> None:
        self.flows.append(flow.id)

    async def after(self, results: list[Result], ctx: ProbeContext) -> list[Result]:
        return results


def test_hooks_hear_of_each_silent_flow_and_of_no_answering_one() -> None:
    log = SilenceLog()
    run(many("test-dropped", 5), Limits(), hooks=[log])
    assert sorted(log.flows) == [f"f{i}" for i in range(5)]
    quiet = SilenceLog()
    run(many("test-answered", 3), Limits(), hooks=[quiet])
    assert quiet.flows == []
