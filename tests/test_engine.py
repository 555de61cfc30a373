"""The engine: concurrency limits, deadlines, skips and error containment (in-process probes)."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from netcheck import probes
from netcheck.engine import Limits, scan
from netcheck.model import Direction, Flow, Observation, Reason, Result, Status
from netcheck.probes import ProbeContext, ProbeKind, register
from tests.conftest import make_flow


class InFlight:
    """Counts how many probes run at the same time."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0


GAUGE = InFlight()


async def _sleepy(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    GAUGE.now += 1
    GAUGE.peak = max(GAUGE.peak, GAUGE.now)
    try:
        await asyncio.sleep(0.2)
    finally:
        GAUGE.now -= 1
    return Observation(Reason.OPEN, "slept")


async def _hang(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def _crash(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    raise ValueError("boom")


HEAVY = "netcheck_engine_test_heavy_module"


async def _heavy(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    loaded = HEAVY in sys.modules
    return Observation(Reason.OPEN if loaded else Reason.INTERNAL_ERROR, f"preloaded: {loaded}")


@pytest.fixture(autouse=True)
def test_kinds(probe_registry: dict[str, ProbeKind]) -> None:
    """This module's probe kinds, in the test's own registry (tests/conftest.py: probe_registry)."""
    register("test-sleep", transports=("tcp",), summary="test: sleep 0.2 s, count concurrency")(_sleepy)
    register("test-hang", transports=("tcp",), summary="test: never returns", on_timeout=Reason.FILTERED)(_hang)
    register("test-crash", transports=("tcp",), summary="test: raises")(_crash)
    register("test-heavy", transports=("tcp",), summary="test: needs a lazily imported module",
             imports=(HEAVY,))(_heavy)


GLOBAL_REGISTRY = probes.REGISTRY  # taken at import, before any test's fixture replaces it


def test_registered_kinds_stay_in_the_tests_registry(probe_registry: dict[str, ProbeKind]) -> None:
    assert "test-sleep" in probe_registry and probe_registry is not GLOBAL_REGISTRY
    assert "tcp" in GLOBAL_REGISTRY and not [name for name in GLOBAL_REGISTRY if name.startswith("test-")]


def run(flows: list[Flow], limits: Limits, timeout: float = 1.0) -> list[Result]:
    ctx = ProbeContext(timeout=timeout, run_id="t")
    return asyncio.run(scan(flows, ctx, limits))


def test_all_flows_run_concurrently() -> None:
    GAUGE.peak = 0
    flows = [make_flow(probe="test-sleep", host=f"127.0.0.{i + 1}", flow_id=f"f{i}") for i in range(40)]
    results = run(flows, Limits(concurrency=256, per_host=64))
    assert len(results) == 40 and all(r.status is Status.PASS for r in results)
    assert GAUGE.peak == 40


def test_global_and_per_host_limits() -> None:
    GAUGE.peak = 0
    run([make_flow(probe="test-sleep", host=f"127.0.0.{i + 1}", flow_id=f"f{i}") for i in range(20)],
        Limits(concurrency=5, per_host=64))
    assert GAUGE.peak == 5
    GAUGE.peak = 0
    run([make_flow(probe="test-sleep", flow_id=f"f{i}") for i in range(20)], Limits(concurrency=256, per_host=3))
    assert GAUGE.peak == 3


def test_probe_overrunning_its_deadline_gets_its_kinds_timeout_reason() -> None:
    [result] = run([make_flow(probe="test-hang")], Limits(), timeout=0.2)
    assert result.status is Status.FAIL
    assert result.reason is Reason.FILTERED


def test_run_deadline_ends_everything_at_once() -> None:
    flows = [make_flow(probe="test-hang", flow_id=f"f{i}") for i in range(5)]
    results = run(flows, Limits(deadline=0.3), timeout=30)
    assert {r.reason for r in results} == {Reason.RUN_DEADLINE}
    assert {r.status for r in results} == {Status.ERROR}


def test_a_crashing_probe_is_an_error_with_traceback_and_others_still_report() -> None:
    flows = [make_flow(probe="test-crash", flow_id="bad"), make_flow(probe="test-sleep", flow_id="good")]
    results = {r.flow.id: r for r in run(flows, Limits())}
    assert results["bad"].status is Status.ERROR
    assert results["bad"].reason is Reason.INTERNAL_ERROR
    assert "ValueError: boom" in results["bad"].evidence["traceback"]
    assert results["good"].status is Status.PASS


def test_unconfigured_peer_is_skipped_not_failed() -> None:
    [result] = run([make_flow(host="")], Limits())
    assert (result.status, result.reason) == (Status.SKIP, Reason.NOT_CONFIGURED)


def test_inbound_flow_checks_the_local_listener() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        [listening] = run([make_flow(port=port, direction=Direction.IN, host="", probe="local-listener")], Limits())
    [closed] = run([make_flow(port=port, direction=Direction.IN, host="", probe="local-listener")], Limits())
    assert listening.reason is Reason.LISTENING, listening.detail
    assert closed.reason is Reason.NOT_LISTENING, closed.detail


def test_declared_imports_are_loaded_before_probes_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / f"{HEAVY}.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, HEAVY, raising=False)
    [result] = run([make_flow(probe="test-heavy")], Limits())
    assert result.reason is Reason.OPEN, result.detail
    monkeypatch.delitem(sys.modules, HEAVY)


async def _stuck(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    await asyncio.get_running_loop().create_future()  # never resolved, and no timer of its own
    raise AssertionError("unreachable")


async def _own_timeout(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    raise TimeoutError  # a probe's own deadline that it did not turn into an observation


def test_probes_started_together_share_one_deadline_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    register("test-stuck", transports=("tcp",), summary="test: waits forever", on_timeout=Reason.FILTERED)(_stuck)
    scheduled: list[float] = []
    call_at = asyncio.BaseEventLoop.call_at

    def counted(loop: asyncio.BaseEventLoop, when: float, *args: object, **kwargs: object) -> asyncio.TimerHandle:
        scheduled.append(when)
        return call_at(loop, when, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio.BaseEventLoop, "call_at", counted)
    # Given 100 probes to 100 hosts that never end, started at once
    flows = [make_flow(probe="test-stuck", host=f"127.0.0.{i + 1}", flow_id=f"f{i}") for i in range(100)]
    results = run(flows, Limits(), timeout=0.2)
    # Then each ends at its deadline with its kind's timeout reason, under a handful of loop timers, not 100
    assert len(results) == 100 and {(r.status, r.reason) for r in results} == {(Status.FAIL, Reason.FILTERED)}
    assert len(scheduled) <= 5, scheduled


def test_a_timeout_error_the_probe_raises_is_its_kinds_timeout() -> None:
    register("test-own-timeout", transports=("tcp",), summary="test: raises TimeoutError",
             on_timeout=Reason.FILTERED)(_own_timeout)
    [result] = run([make_flow(probe="test-own-timeout")], Limits())
    assert (result.status, result.reason) == (Status.FAIL, Reason.FILTERED)
    assert result.detail.startswith("no answer within")


def test_results_come_back_in_the_plan_order() -> None:
    flows = [make_flow(probe="test-sleep", host=f"127.0.0.{i % 7 + 1}", flow_id=f"f{i}") for i in range(30)]
    assert [r.flow.id for r in run(flows, Limits(concurrency=4))] == [f"f{i}" for i in range(30)]
