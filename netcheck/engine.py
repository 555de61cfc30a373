"""Run every flow's probe concurrently: the only place with concurrency, timeouts and limits."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import socket
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence
from urllib.parse import urlsplit

from netcheck.egress import current as current_egress
from netcheck.model import Direction, Flow, Observation, Reason, Result, Status
from netcheck.probes import ProbeContext, ProbeKind, default_judge, load_all
from netcheck.probes.local import observe_local_listener

# The engine lets a probe run this much past its own deadline before cancelling it, so
# the probe can report what it saw (e.g. "connected, then silence") instead of a bare timeout.
GRACE_S = 0.5


@dataclass(frozen=True)
class Limits:
    """timeout: per-probe deadline (s); concurrency: probes in flight at once;
    per_host: probes in flight to one address; deadline: the whole run (s)."""

    timeout: float = 3.0
    concurrency: int = 256
    per_host: int = 64
    deadline: float = 120.0


class Observer(Protocol):
    """Receives progress; the CLI shows it on a TTY."""

    def start(self, total: int) -> None: ...

    def advance(self, result: Result) -> None: ...


class ScanHook(Protocol):
    """An extension's part in a scan (the far-side listener, raw diagnosis).

    choose  the registered probe kind that tests an outbound flow instead of the profile's, or None
    after   refines the results once every probe has finished (e.g. diagnoses the failed flows);
            it bounds its own time and must not raise
    """

    def choose(self, flow: Flow) -> str | None: ...

    async def after(self, results: list[Result], ctx: ProbeContext) -> list[Result]: ...


def target_host(flow: Flow) -> str:
    """The host to connect to: the host itself, or the host part of a URL peer."""
    if "://" in flow.host:
        return urlsplit(flow.host).hostname or ""
    return flow.host


def resolvers() -> list[str]:
    """The name servers this host asks, for dns-failure details."""
    try:
        lines = Path("/etc/resolv.conf").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1]


class Resolver:
    """Resolves each distinct name once per run, concurrently, with a deadline."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pending: dict[str, asyncio.Task[str | Observation]] = {}

    async def resolve(self, host: str) -> str | Observation:
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            pass
        else:  # -4 / -6 / --source: a literal of the other family is out of this scan's scope
            refused = current_egress().refuses(address)
            return Observation(Reason.NOT_APPLICABLE, refused) if refused else address
        if host not in self._pending:
            self._pending[host] = asyncio.ensure_future(self._lookup(host))
        return await asyncio.shield(self._pending[host])

    async def _lookup(self, host: str) -> str | Observation:
        loop = asyncio.get_running_loop()
        servers = ", ".join(resolvers()) or "none configured in /etc/resolv.conf"
        evidence = {"name": host, "resolvers": resolvers()}
        try:
            async with asyncio.timeout(self.timeout):
                infos = await loop.getaddrinfo(host, None, family=current_egress().resolve_family,
                                               type=socket.SOCK_STREAM)
        except TimeoutError:
            return Observation(Reason.DNS_FAILURE,
                               f"'{host}' did not resolve within {self.timeout:g} s (resolver {servers})",
                               evidence)
        except (socket.gaierror, UnicodeError) as exc:
            text = getattr(exc, "strerror", None) or str(exc)
            return Observation(Reason.DNS_FAILURE, f"'{host}' does not resolve: {text} (resolver {servers})",
                               {**evidence, "error": text})
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        # Prefer IPv4: appliances and their firewall rules are overwhelmingly IPv4.
        addresses.sort(key=lambda a: ":" in a)
        refused = current_egress().refuses(addresses[0])
        return Observation(Reason.NOT_APPLICABLE, f"'{host}': {refused}", evidence) if refused else addresses[0]


class Engine:
    def __init__(self, ctx: ProbeContext, limits: Limits, observer: Observer | None = None,
                 hooks: Sequence[ScanHook] = ()) -> None:
        self.ctx = ctx
        self.limits = limits
        self.observer = observer
        self.hooks = hooks
        self.registry = load_all()
        self.resolver = Resolver(limits.timeout)
        self._global = asyncio.Semaphore(limits.concurrency)
        self._per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(limits.per_host))

    async def run(self, flows: list[Flow]) -> list[Result]:
        self._preload(flows)
        if self.observer:
            self.observer.start(len(flows))
        tasks = {asyncio.ensure_future(self._one(flow)): flow for flow in flows}
        done, pending = await asyncio.wait(tasks, timeout=self.limits.deadline)
        for task in pending:
            task.cancel()
        results = [task.result() for task in done]
        for task in pending:
            flow = tasks[task]
            results.append(self._result(flow, None, Observation(
                Reason.RUN_DEADLINE,
                f"not finished within the run deadline of {self.limits.deadline:g} s (raise --deadline)",
            ), Status.ERROR))
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for hook in self.hooks:
            results = await hook.after(results, self.ctx)
        return results

    def _preload(self, flows: list[Flow]) -> None:
        """Import the heavy libraries the planned probes need before any probe's clock starts:
        an import inside a running probe (pysnmp takes ~0.4 s) would stall every other probe."""
        modules = {name for flow in flows if flow.direction is Direction.OUT and flow.host
                   for name in self._kind(flow).imports}
        for name in sorted(modules):
            with contextlib.suppress(ImportError):  # the probe reports a missing library when it runs
                importlib.import_module(name)

    async def _one(self, flow: Flow) -> Result:
        result = await self._probe(flow)
        if self.observer:
            self.observer.advance(result)
        return result

    def _kind(self, flow: Flow) -> ProbeKind:
        """The profile's probe kind, unless a hook tests this outbound flow another way."""
        if flow.direction is Direction.OUT:
            for hook in self.hooks:
                chosen = hook.choose(flow)
                if chosen:
                    return self.registry[chosen]
        return self.registry[flow.probe]

    async def _probe(self, flow: Flow) -> Result:
        kind = self._kind(flow)
        if flow.direction is Direction.IN:
            observation = await self._guarded(flow, None, kind, inbound=True)
            return self._result(flow, None, observation, default_judge(flow, observation))
        if not flow.host:
            observation = Observation(Reason.NOT_CONFIGURED, f"the site file names no host for peer '{flow.peer}'")
            return self._result(flow, None, observation, Status.SKIP)
        address: str | None = None
        if kind.resolve:
            resolved = await self.resolver.resolve(target_host(flow))
            if isinstance(resolved, Observation):
                return self._result(flow, None, resolved, kind.judge(flow, resolved))
            address = resolved
        observation = await self._guarded(flow, address, kind)
        return self._result(flow, address, observation, kind.judge(flow, observation))

    async def _guarded(self, flow: Flow, address: str | None, kind: ProbeKind, inbound: bool = False) -> Observation:
        """Run one probe under the limits and its deadline; never let it raise."""
        host_key = address or flow.host or "local"
        async with self._global, self._per_host[host_key]:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.ctx.timeout + GRACE_S):
                    if inbound:
                        return await observe_local_listener(flow, self.ctx)
                    return await kind.observe(flow, address, self.ctx)
            except TimeoutError:
                waited = time.monotonic() - started
                return Observation(kind.on_timeout, f"no answer within {waited:.1f} s", {"timeout_s": self.ctx.timeout})
            except Exception as exc:  # a probe bug must not end the run
                return Observation(
                    Reason.INTERNAL_ERROR,
                    f"netcheck's {kind.name} probe failed: {type(exc).__name__}: {exc}",
                    {"traceback": traceback.format_exc()},
                )

    @staticmethod
    def _result(flow: Flow, address: str | None, observation: Observation, status: Status) -> Result:
        return Result(
            flow=flow,
            status=status,
            reason=observation.reason,
            detail=observation.detail,
            address=address,
            latency_ms=observation.latency_ms,
            evidence=dict(observation.evidence),
            category=observation.category,
        )


async def scan(flows: list[Flow], ctx: ProbeContext, limits: Limits, observer: Observer | None = None,
               hooks: Sequence[ScanHook] = ()) -> list[Result]:
    return await Engine(ctx, limits, observer, hooks).run(flows)
