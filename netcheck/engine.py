"""Run every flow's probe concurrently: the only place with concurrency, timeouts and limits.

The scheduling rule (README, "Speed"): a flow holds a place in the global limit (--concurrency)
and in its host's limit (--per-host) from its start for as long as its packets are answered or
may still be: the limits bound the work netcheck and a live host do at once. A flow whose first
packet (SYN, datagram) has drawn no answer for the host's *silence threshold* is silent: it gives
its places back and waits out its own deadline outside the limits, since a dropped packet puts
no load on anyone. Each silence widens the host's window and the global one by two places (so
waves of silence triple, a faster TCP slow start) and each answer narrows them by one, never
below the configured limits; a host that answers is therefore never probed beyond --per-host.
The silence threshold is three times the slowest answer seen from that host, at least 0.2 s and
at most half the probe timeout. Only the network layer can say a packet is unanswered (pacing.py):
a probe that never reports keeps its places until it ends. Every flow in flight, silent or not,
holds one open file: the soft RLIMIT_NOFILE is raised to the hard limit, and when that is too
low for the run, flows are paced within it and the engine says so once.

Each probe ends GRACE_S after its own timeout at the latest. Those deadlines are kept by one loop
timer per DEADLINE_WAVE_S slot, shared by every probe whose deadline falls in it (see _Deadlines),
and a free place is taken without an await: a flow that the kernel answers within connect()
(loopback, a local reset) costs one task and no timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence
from urllib.parse import urlsplit

from netcheck import pacing, probes
from netcheck.judges import Verdict, as_verdict, judge_run
from netcheck.messages import ignore
from netcheck.model import Direction, Flow, Observation, Reason, Result, Status
from netcheck.net.resolve import Resolver
from netcheck.probes import ProbeContext, ProbeKind

# The engine lets a probe run this much past its own deadline before cancelling it, so
# the probe can report what it saw (e.g. "connected, then silence") instead of a bare timeout.
GRACE_S = 0.5
# A first packet unanswered this long (or longer, for a slow host: see HostPace) counts as silent.
SILENCE_MIN_S = 0.2
# Probes whose deadlines fall within this slot share one loop timer (see _Deadlines).
DEADLINE_WAVE_S = 0.01
# Places a silence adds to its host's window and to the global one (an answer takes one back).
WIDEN_ON_SILENCE = 2
# Open files kept out of the probes' budget: reports, libraries, the event loop, raw sockets.
RESERVED_FILES = 128


@dataclass(frozen=True)
class Limits:
    """timeout: per-probe deadline (s); concurrency: probes in flight at once;
    per_host: probes in flight to one address; deadline: the whole run (s)."""

    timeout: float = 3.0
    concurrency: int = 256
    per_host: int = 64
    deadline: float = 120.0


class Window:
    """A limit whose size moves: at most `size` holders at once, `size` never below `floor`.
    Places are handed to waiters in arrival order."""

    def __init__(self, floor: int) -> None:
        self.floor = floor
        self.size = floor
        self.held = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_enter(self) -> bool:
        """Take a place if one is free and nobody waits (no await: the common case costs no coroutine)."""
        if self.held < self.size and not self._waiters:
            self.held += 1
            return True
        return False

    async def enter(self) -> None:
        if self.try_enter():
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # handed a place, cancelled before using it
                self.leave()
            raise

    def leave(self) -> None:
        self.held -= 1
        self._wake()

    def widen(self, places: int = 1) -> None:
        self.size += places
        self._wake()

    def narrow(self) -> None:
        self.size = max(self.floor, self.size - 1)

    def _wake(self) -> None:
        while self._waiters and self.held < self.size:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.held += 1
                waiter.set_result(None)


class HostPace:
    """One address's window (floor: --per-host) and the slowest answer seen from it."""

    def __init__(self, per_host: int) -> None:
        self.window = Window(per_host)
        self.slowest_s = 0.0

    def silence_after(self, timeout: float) -> float:
        return min(timeout / 2, max(SILENCE_MIN_S, 3 * self.slowest_s))


class _Place(pacing.FlowSignal):
    """One flow's places in its host's window and the global one, given back at the end or
    earlier, when the flow turns out to be silent. It is the flow's pacing signal itself: the
    network layer's sent() starts the silence clock, answered() stops it (pacing.py)."""

    __slots__ = ("host", "shared", "timeout", "on_silent", "held", "_timer")

    def __init__(self, host: HostPace, shared: Window, timeout: float,
                 on_silent: Callable[[], None] | None = None) -> None:
        self.sent_at: float | None = None  # FlowSignal's fields, set here (one call less per flow)
        self.answered_at: float | None = None
        self.on_sent = self.on_answer = None
        self.host = host
        self.shared = shared
        self.timeout = timeout
        self.on_silent = on_silent
        self.held = True
        self._timer: asyncio.TimerHandle | None = None

    def sent(self) -> None:
        if self.sent_at is None:
            self.sent_at = time.monotonic()
            delay = self.host.silence_after(self.timeout)
            self._timer = asyncio.get_running_loop().call_later(delay, self._silent)

    def answered(self) -> None:
        if self.answered_at is None:
            self.answered_at = now = time.monotonic()
            self._cancel_timer()
            host = self.host
            host.slowest_s = max(host.slowest_s, now - (self.sent_at or now))
            host.window.narrow()
            self.shared.narrow()

    def _silent(self) -> None:
        self._timer = None
        if self.held and self.answered_at is None:
            self.release()
            self.host.window.widen(WIDEN_ON_SILENCE)
            self.shared.widen(WIDEN_ON_SILENCE)
            if self.on_silent is not None:
                self.on_silent()

    def release(self) -> None:
        self._cancel_timer()
        if self.held:
            self.held = False
            self.host.window.leave()
            self.shared.leave()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Wave:
    """The probes whose deadlines fall in one DEADLINE_WAVE_S slot, and the one timer that ends them."""

    __slots__ = ("tasks", "handle", "fired")

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Result]] = set()
        self.handle: asyncio.TimerHandle | None = None
        self.fired = False


class _Deadlines:
    """Every probe's deadline with one loop timer per wave of probes, not one per probe: probes whose
    deadlines fall in the same DEADLINE_WAVE_S slot share a timer at the slot's end, so a probe is
    stopped at most DEADLINE_WAVE_S after its own deadline. Cancelling works as asyncio.timeout's does
    (cancel the task, then uncancel it once on the way out, so other cancellations still count)."""

    def __init__(self) -> None:
        self._waves: dict[int, _Wave] = {}

    def enter(self, task: asyncio.Task[Result], delay: float) -> _Wave:
        loop = task.get_loop()
        slot = math.ceil((loop.time() + delay) / DEADLINE_WAVE_S)
        wave = self._waves.get(slot)
        if wave is None:  # an emptied wave keeps its timer: probes that end at once come and go in it
            wave = self._waves[slot] = _Wave()
            wave.handle = loop.call_at(slot * DEADLINE_WAVE_S, self._fire, slot)
        wave.tasks.add(task)
        return wave

    @staticmethod
    def leave(wave: _Wave, task: asyncio.Task[Result], cancelling: int) -> bool:
        """Whether the deadline ended this task, which had `cancelling` cancellations pending when it
        entered: the deadline's own is taken back (as asyncio.timeout does); True unless another came."""
        wave.tasks.discard(task)
        return wave.fired and task.uncancel() <= cancelling

    def _fire(self, slot: int) -> None:
        wave = self._waves.pop(slot)
        wave.fired = True
        for task in wave.tasks:
            task.cancel()

    def close(self) -> None:
        for wave in self._waves.values():
            if wave.handle is not None:
                wave.handle.cancel()
        self._waves.clear()


def open_file_budget() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard one; return (flows that may be in flight, hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < wanted:
        for target in (wanted, 1 << 20, 1 << 16):  # an unlimited hard limit may still be capped by nr_open
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(target, wanted), hard))
                soft = min(target, wanted)
                break
            except (ValueError, OSError):
                continue
    usable = soft if soft != resource.RLIM_INFINITY else 1 << 20
    return max(16, usable - RESERVED_FILES), hard


class Observer(Protocol):
    """Receives progress; the CLI shows it on a TTY."""

    def start(self, total: int) -> None: ...

    def advance(self, result: Result) -> None: ...


class ScanHook(Protocol):
    """An extension's part in a scan (the far-side listener, raw diagnosis).

    choose  the registered probe kind that tests an outbound flow instead of the profile's, or None
    after   refines the results once every probe has finished (e.g. diagnoses the failed flows);
            it bounds its own time and must not raise
    Optional: prepare(flows) before the probes start; silent(flow, address) when a flow's first
    packet goes unanswered (see the scheduling rule above). Neither may block or raise.
    """

    def choose(self, flow: Flow) -> str | None: ...

    async def after(self, results: list[Result], ctx: ProbeContext) -> list[Result]: ...


def target_host(flow: Flow) -> str:
    """The host to connect to: the host itself, or the host part of a URL peer."""
    if "://" in flow.host:
        return urlsplit(flow.host).hostname or ""
    return flow.host


class Engine:
    def __init__(self, ctx: ProbeContext, limits: Limits, observer: Observer | None = None,
                 hooks: Sequence[ScanHook] = (), notice: Callable[[str], None] = ignore) -> None:
        self.ctx = ctx
        self.limits = limits
        self.observer = observer
        self.hooks = hooks
        self.notice = notice
        self.resolver = Resolver(limits.timeout)
        self._resolved: dict[str, str | Observation] = {}  # host -> the resolver's answer, asked once per run
        self._global = Window(limits.concurrency)
        self._hosts: dict[str, HostPace] = {}
        self._files: Window | None = None  # the open-file budget, when the run's flows could exceed it
        self._deadlines = _Deadlines()
        self._unfinished = 0  # probes not finished yet; the last one sets _all_finished
        self._all_finished: asyncio.Future[None] | None = None  # made by run(), in the running loop
        # Hooks with a `silent(flow, address)` method hear when a flow turns silent (raw diagnosis
        # traces its path while the scan waits out the timeout); they must not raise.
        self._silence_hooks: list[Callable[[Flow, str | None], None]] = [
            silent for silent in (getattr(hook, "silent", None) for hook in hooks) if silent is not None]

    async def run(self, flows: list[Flow]) -> list[Result]:
        kinds = [self._kind(flow) for flow in flows]
        self._preload(flows, kinds)
        self._budget_files(flows)
        for hook in self.hooks:
            prepare = getattr(hook, "prepare", None)
            if prepare is not None:  # optional: e.g. raw diagnosis imports scapy while the probes run
                prepare(flows)
        if self.observer:
            self.observer.start(len(flows))
        loop = asyncio.get_running_loop()
        self._unfinished = len(flows)
        self._all_finished = all_finished = loop.create_future()
        tasks = [loop.create_task(self._one(flow, kind)) for flow, kind in zip(flows, kinds, strict=True)]
        try:
            if tasks:  # the last probe to finish says so (cheaper than asyncio.wait's callback on every task)
                await asyncio.wait([all_finished], timeout=self.limits.deadline)
        finally:
            self._deadlines.close()
        pending = [(task, flow) for task, flow in zip(tasks, flows, strict=True) if not task.done()]
        for task, _flow in pending:
            task.cancel()
        results = [task.result() for task in tasks if task.done()]  # in the plan's order
        for _task, flow in pending:
            results.append(self._result(flow, None, Observation(
                Reason.RUN_DEADLINE,
                f"not finished within the run deadline of {self.limits.deadline:g} s (raise --deadline)",
            ), Status.ERROR))
        if pending:
            await asyncio.gather(*(task for task, _flow in pending), return_exceptions=True)
        for hook in self.hooks:
            results = await hook.after(results, self.ctx)
        return judge_run(results)  # verdicts that depend on other flows (netcheck.judges)

    def _budget_files(self, flows: list[Flow]) -> None:
        budget, hard = open_file_budget()
        self._files = Window(budget) if len(flows) > budget else None  # else it can never make a flow wait
        outbound = sum(1 for flow in flows if flow.direction is Direction.OUT and flow.host)
        if outbound > budget:
            self.notice(f"the open-file limit ({hard}) lets {budget} of {outbound} flows be in flight at once: "
                        "the others wait their turn, so silent hosts take longer (raise it: ulimit -Hn)")

    def _preload(self, flows: list[Flow], kinds: list[ProbeKind]) -> None:
        """Load the code of the kinds this run uses (probes.get imports a kind's module on first use)
        and the heavy libraries they need, before any probe's clock starts: an import inside a
        running probe (pysnmp takes ~0.4 s) would stall every other probe."""
        used = {kind.info for flow, kind in zip(flows, kinds, strict=True)
                if flow.direction is Direction.IN or flow.host}
        modules = {name for info in used for name in info.imports}
        for name in sorted(modules):
            with contextlib.suppress(ImportError):  # the probe reports a missing library when it runs
                importlib.import_module(name)

    async def _one(self, flow: Flow, kind: ProbeKind) -> Result:
        try:
            result = await self._probe(flow, kind)
            if self.observer:
                self.observer.advance(result)
            return result
        finally:
            self._unfinished -= 1
            finished = self._all_finished
            if not self._unfinished and finished is not None and not finished.done():
                finished.set_result(None)

    def _kind(self, flow: Flow) -> ProbeKind:
        """The profile's probe kind, unless a hook tests this outbound flow another way."""
        if flow.direction is Direction.OUT:
            for hook in self.hooks:
                chosen = hook.choose(flow)
                if chosen:
                    return probes.get(chosen)
        return probes.get(flow.probe)

    async def _probe(self, flow: Flow, kind: ProbeKind) -> Result:
        if (flow.direction is Direction.IN) is not kind.info.inbound:  # a flow built by hand, not from a profile
            observation = Observation(Reason.INTERNAL_ERROR, f"probe kind '{kind.name}' cannot test "
                                      f"{'inbound' if flow.direction is Direction.IN else 'outbound'} flows")
            return self._result(flow, None, observation, Status.ERROR)
        if flow.direction is Direction.OUT and not flow.host:
            observation = Observation(Reason.NOT_CONFIGURED, f"the site file names no host for peer '{flow.peer}'")
            return self._result(flow, None, observation, Status.SKIP)
        address: str | None = None
        if kind.resolve:
            host = target_host(flow)
            resolved = self._resolved.get(host)
            if resolved is None:  # the resolver answers each host the same all run long: ask it once
                resolved = self._resolved[host] = await self.resolver.resolve(host)
            if isinstance(resolved, Observation):
                return self._result(flow, None, resolved, kind.judge(flow, resolved))
            address = resolved
        observation = await self._guarded(flow, address, kind)
        return self._result(flow, address, observation, kind.judge(flow, observation))

    async def _guarded(self, flow: Flow, address: str | None, kind: ProbeKind) -> Observation:
        """Run one probe under the limits and its deadline; never let it raise. A free place is
        taken without an await (try_enter): most flows of a big run never wait for one."""
        host_key = address or flow.host or "local"
        host = self._hosts.get(host_key)
        if host is None:
            host = self._hosts[host_key] = HostPace(self.limits.per_host)
        files, window, shared = self._files, host.window, self._global
        if files is not None and not files.try_enter():
            await files.enter()
        try:
            if not window.try_enter():
                await window.enter()  # the host's place first: waiting for it must not hold a global one
            if not shared.try_enter():
                try:
                    await shared.enter()
                except BaseException:
                    window.leave()
                    raise
            on_silent = (lambda: self._tell_silent(flow, address)) if self._silence_hooks else None
            place = _Place(host, shared, self.ctx.timeout, on_silent)
            token = pacing.CURRENT.set(place)
            try:
                return await self._observe(flow, address, kind)
            finally:
                pacing.CURRENT.reset(token)
                place.release()
        finally:
            if files is not None:
                files.leave()

    def _tell_silent(self, flow: Flow, address: str | None) -> None:
        for silent in self._silence_hooks:
            silent(flow, address)

    async def _observe(self, flow: Flow, address: str | None, kind: ProbeKind) -> Observation:
        """The probe, ended GRACE_S after its own timeout (if it has not ended itself by then)."""
        started = time.monotonic()
        task = asyncio.current_task()
        assert task is not None  # the engine runs every probe in a task of its own
        cancelling = task.cancelling()
        wave = self._deadlines.enter(task, self.ctx.timeout + GRACE_S)
        expired = False
        try:
            try:
                return await kind.observe(flow, address, self.ctx)
            finally:
                expired = self._deadlines.leave(wave, task, cancelling)
        except asyncio.CancelledError:
            if not expired:  # the run is stopping (run deadline, signal, caller): not this probe's deadline
                raise
            return self._timed_out(kind, started)
        except TimeoutError:  # a probe's own deadline that it did not turn into an observation
            return self._timed_out(kind, started)
        except Exception as exc:  # a probe bug must not end the run
            return Observation(
                Reason.INTERNAL_ERROR,
                f"netcheck's {kind.name} probe failed: {type(exc).__name__}: {exc}",
                {"traceback": traceback.format_exc()},
            )

    def _timed_out(self, kind: ProbeKind, started: float) -> Observation:
        waited = time.monotonic() - started
        return Observation(kind.on_timeout, f"no answer within {waited:.1f} s", {"timeout_s": self.ctx.timeout})

    @staticmethod
    def _result(flow: Flow, address: str | None, observation: Observation, judged: Status | Verdict) -> Result:
        if isinstance(judged, Status):  # a bare status (the default judge): no rule to record
            status, expected, found = judged, None, None
        else:
            verdict = as_verdict(judged)
            status, expected, found = verdict.status, verdict.expected, verdict.found
        return Result(
            flow=flow,
            status=status,
            reason=observation.reason,
            detail=observation.detail,
            address=address or observation.address,
            latency_ms=observation.latency_ms,
            evidence=dict(observation.evidence),
            category=observation.category,
            expected=expected,
            found=found,
        )


async def scan(flows: list[Flow], ctx: ProbeContext, limits: Limits, observer: Observer | None = None,
               hooks: Sequence[ScanHook] = (), notice: Callable[[str], None] = ignore) -> list[Result]:
    return await Engine(ctx, limits, observer, hooks, notice).run(flows)
