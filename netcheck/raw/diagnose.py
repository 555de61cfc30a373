"""Ask raw packets where the failed flows die: during the scan for silence, after it for the rest.

Failed outbound flows (filtered, no-response, blocked, prohibited, unreachable, refused) are
grouped by path: (address, transport, reason). Each group gets one trace - a full-TTL probe and
every TTL of a traceroute toward its first flow's port, all sent in one burst - and the group's
other flows borrow that answer and say so. So the cost is one burst and one wait, whatever the
number of failed flows - and for silence not even that: the engine says when a flow's first
packet goes unanswered (silent()), and its path is traced while the scan waits out the timeout.
The facts go to evidence["raw"] and a clause such as "dropped after 198.51.100.1" is appended
to the detail. Without root or CAP_NET_RAW the flows keep what
connect() and IP_RECVERR gave, with a note that root adds hop detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ipaddress
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from netcheck.model import Direction, Flow, PortRange, Reason, Result, Status
from netcheck.probes import ProbeContext
from netcheck.raw.packets import PathFacts, Target
from netcheck.raw.privilege import NO_PRIVILEGE_NOTE, raw_unavailable, scapy_missing

# Reasons that mean "the packets did not get through": where they died is worth finding.
PATH_FAILURES = frozenset({Reason.FILTERED, Reason.NO_RESPONSE, Reason.BLOCKED, Reason.PROHIBITED,
                           Reason.UNREACHABLE, Reason.REFUSED})
# The failures that are silence: their path can be traced as soon as the first packet goes unanswered.
SILENCE = frozenset({Reason.FILTERED, Reason.NO_RESPONSE, Reason.BLOCKED})
# Paths that go silent within this long of the first share one burst of early traces.
EARLY_GATHER_S = 0.1
# An early burst waits this long for its answers (time-exceeded comes within a round trip), so that
# the paths that went silent meanwhile get their burst before the scan ends.
EARLY_WAIT_S = 0.5


def needs_diagnosis(result: Result) -> bool:
    return (result.status is Status.FAIL and result.reason in PATH_FAILURES
            and result.flow.direction is Direction.OUT and result.address is not None)


@functools.lru_cache(maxsize=4096)
def _traceable(address: str) -> bool:
    """IPv4 only (packets.py); and on loopback there is no path: connect() said what the local stack did."""
    parsed = ipaddress.ip_address(address)
    return parsed.version == 4 and not parsed.is_loopback


@functools.lru_cache(maxsize=4096)
def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def target_of(result: Result) -> Target | None:
    """The (address, transport, port) to probe; for a port range, its first failed sampled port."""
    assert result.address is not None
    port = result.flow.port
    if isinstance(port, PortRange):
        sampled = result.evidence.get("sampled")
        failed = [int(p) for p, reason in sampled.items() if reason not in ("open", "refused", "confirmed")] \
            if isinstance(sampled, dict) else []
        if not failed:
            return None
        port = failed[0]
    return Target(result.address, result.flow.transport, port)


@dataclass
class RawDiagnosis:
    """The scan hook (engine.ScanHook). max_hops: traceroute depth; wait: seconds to wait for
    answers after the last packet; traceroutes: at most this many targets get one (ICMP rate
    limits make more pointless); say: where one-line notices go (stderr in the CLI)."""

    max_hops: int = 16
    wait: float = 1.0  # at most; a quarter of the probe timeout when that is shorter (at least 0.5 s)
    traceroutes: int = 6  # Linux routers answer a burst of 6 ICMP errors per source, then 1/s
    say: Callable[[str], None] | None = None
    # (address, transport) -> the trace started while the scan still waits out a silent flow
    _early: dict[tuple[str, str], asyncio.Future[PathFacts | str]] = field(default_factory=dict, repr=False)
    _batch: list[tuple[tuple[str, str], Target]] = field(default_factory=list, repr=False)
    _usable: bool | None = field(default=None, repr=False)
    _tracing: bool = field(default=False, repr=False)

    def choose(self, flow: object) -> str | None:
        return None

    def silent(self, flow: Flow, address: str | None) -> None:
        """A flow's first packet went unanswered (engine): trace its path now, while the scan waits out
        the timeout, instead of after it. Paths going silent within EARLY_GATHER_S share one burst."""
        if (address is None or flow.direction is not Direction.OUT or isinstance(flow.port, PortRange)
                or not _traceable(address) or (address, flow.transport) in self._early or not self._privileged()):
            return
        loop = asyncio.get_running_loop()
        key = (address, flow.transport)
        self._early[key] = loop.create_future()
        self._batch.append((key, Target(address, flow.transport, flow.port)))
        if len(self._batch) == 1 and not self._tracing:
            loop.call_later(EARLY_GATHER_S, self._start_batch)

    def _start_batch(self) -> None:
        """One burst at a time (each sniffs every packet): paths that go silent meanwhile wait for the next."""
        batch, self._batch = self._batch, []
        self._tracing = True
        task = asyncio.ensure_future(self._run_trace([target for _key, target in batch], min(self.wait, EARLY_WAIT_S)))

        def settle(done: asyncio.Future[list[PathFacts] | str]) -> None:
            self._tracing = False
            if done.cancelled():  # the run is ending
                return
            outcome = done.result()
            for index, (key, _target) in enumerate(batch):
                if not self._early[key].done():
                    self._early[key].set_result(outcome if isinstance(outcome, str) else outcome[index])
            if self._batch:
                self._start_batch()

        task.add_done_callback(settle)

    def _privileged(self) -> bool:
        if self._usable is None:
            self._usable = not (raw_unavailable() or scapy_missing())
        return self._usable

    def prepare(self, flows: list[Flow]) -> None:
        """While the probes run, import scapy (half a second) in a thread, if it will be needed."""
        remote = any(flow.direction is Direction.OUT and flow.host and not _is_loopback(flow.host) for flow in flows)
        if remote and not (raw_unavailable() or scapy_missing()):
            threading.Thread(target=_import_scapy, name="netcheck-scapy-import", daemon=True).start()

    async def after(self, results: list[Result], ctx: ProbeContext) -> list[Result]:
        chosen = [r for r in results if needs_diagnosis(r)]
        if not chosen:
            return results
        unavailable = raw_unavailable() or scapy_missing()
        if unavailable:
            self._say(f"{unavailable}: failed flows keep the facts connect() and ICMP gave "
                      f"({NO_PRIVILEGE_NOTE}; --no-raw skips this)")
            return [_fallback(r, unavailable) if needs_diagnosis(r) else r for r in results]
        # One trace per path: the flows to one address that failed the same way share it.
        groups: dict[tuple[str, str, Reason], list[Result]] = {}
        targets: dict[tuple[str, str, Reason], Target] = {}
        for result in chosen:
            target = target_of(result)
            if target is None or not _traceable(target.address):
                continue
            kind = (target.address, target.transport, result.reason)
            groups.setdefault(kind, []).append(result)
            targets.setdefault(kind, target)
        if not targets:
            return results
        flows = sum(len(members) for members in groups.values())
        self._say(f"raw diagnosis of {flows} failed flow(s): {len(targets)} path trace(s), "
                  "one per address and kind of failure")
        found: dict[tuple[str, str, Reason], PathFacts | str] = {}
        for kind in targets:
            early = await self._early_facts(kind, groups[kind])
            if early is not None:
                found[kind] = early
        late = [kind for kind in targets if kind not in found]
        if late:
            facts = await self._trace([targets[kind] for kind in late], ctx)
            found.update({kind: facts if isinstance(facts, str) else facts[index] for index, kind in enumerate(late)})
        traced: dict[int, tuple[PathFacts, dict[str, Any], Result, int] | str] = {}
        for kind, fact in found.items():
            members = groups[kind]
            if isinstance(fact, str):
                traced.update({id(member): fact for member in members})
                continue
            shared = _facts_evidence(fact)
            first = next(m for m in members if target_of(m) == fact.target)
            for member in members:
                traced[id(member)] = (fact, shared, first, len(members))
        merged = []
        for result in results:
            entry = traced.get(id(result))
            if entry is None:
                merged.append(result)
            elif isinstance(entry, str):
                merged.append(_with_error(result, entry))
            else:
                merged.append(_with_facts(result, *entry))
        return merged

    async def _early_facts(self, kind: tuple[str, str, Reason], members: list[Result]) -> PathFacts | str | None:
        """The trace started during the scan for this silent path, if one of `members` is its flow."""
        address, transport, reason = kind
        early = self._early.get((address, transport))
        if early is None or reason not in SILENCE:
            return None
        facts = await early
        if isinstance(facts, str) or any(target_of(m) == facts.target for m in members):
            return facts
        return None

    async def _trace(self, targets: list[Target], ctx: ProbeContext) -> list[PathFacts] | str:
        return await self._run_trace(targets, min(self.wait, max(0.5, ctx.timeout / 4)))

    async def _run_trace(self, targets: list[Target], wait: float) -> list[PathFacts] | str:
        from netcheck.raw.packets import trace

        try:
            # scapy blocks; sr() returns `wait` s after its last packet, so the thread ends on its own.
            return await asyncio.to_thread(trace, targets, self.max_hops, wait, self.traceroutes)
        except Exception as exc:  # scapy's errors are many and undocumented: keep the scan's results
            return f"raw diagnosis failed: {type(exc).__name__}: {exc}"

    def _say(self, text: str) -> None:
        if self.say is not None:
            self.say(text)


def describe(fact: PathFacts) -> str:
    """One clause for the detail column: where the packets died, or what answered."""
    target = fact.target
    what = "SYN" if target.transport == "tcp" else "datagram"
    if fact.answer == "icmp" and fact.responder:
        if fact.responder != target.address:
            return f"rejected by {fact.responder} ({fact.icmp_text()}, ICMP {fact.icmp_type}/{fact.icmp_code})"
        return f"the host itself answers {fact.icmp_text()} (ICMP {fact.icmp_type}/{fact.icmp_code})"
    if fact.answer == "syn-ack":
        return f"a raw SYN now gets SYN-ACK from {fact.responder}: the port is open to raw packets"
    if fact.answer == "rst":
        return f"{fact.responder} resets a raw SYN"
    if fact.answer == "udp-reply":
        return f"a raw datagram now gets a reply from {fact.responder}"
    stop = fact.stop
    if stop is not None and stop.answer == "unreachable":
        return f"rejected by {stop.address} at hop {stop.ttl} (ICMP 3/{stop.icmp_code})"
    if stop is not None:
        return f"raw {what} unanswered, but a TTL-limited one reached {stop.address} at hop {stop.ttl} ({stop.answer})"
    if fact.last_hop:
        ttl = max(hop.ttl for hop in fact.hops if hop.answer == "time-exceeded")
        borrowed = f", traced on port {fact.traced_on}" if fact.traced_on is not None else ""
        return f"dropped after {fact.last_hop} (hop {ttl} answered, nothing beyond it{borrowed})"
    if not fact.traceroute:
        return (f"raw {what} unanswered; no traceroute toward {target.address} (a few per run: routers "
                "rate-limit the ICMP answers)")
    return f"raw {what} unanswered and no hop answered: dropped at the first router, or ICMP is filtered"


def _import_scapy() -> None:
    with contextlib.suppress(Exception):  # the trace reports any failure when it runs
        import scapy.layers.inet  # noqa: F401
        import scapy.sendrecv  # noqa: F401


def _facts_evidence(fact: PathFacts) -> dict[str, Any]:
    """The trace's facts, built once and shared (not copied) by every flow of its group."""
    return {"privileged": True, "port": fact.target.port, **fact.to_dict(), "summary": describe(fact)}


def _with_facts(result: Result, fact: PathFacts, shared: dict[str, Any] | None = None,
                traced: Result | None = None, members: int = 1) -> Result:
    """The result with its path's facts; `traced` is the flow whose port the trace used (its group's first)."""
    clause = describe(fact)
    shared = shared if shared is not None else _facts_evidence(fact)
    if traced is None or traced is result:
        raw = shared
    else:  # a flow of the same path: it borrows the trace of the group's first flow, and says so
        others = members - 1
        clause += (f" [path traced once for {members} flows to {fact.target.address} failing the same way: "
                   f"this flow borrows the trace of {traced.flow.id} (port {fact.target.port})]")
        raw = {**shared, "borrowed_from": {"flow": traced.flow.id, "port": fact.target.port,
                                           "flows_sharing": others + 1}}
    return dataclasses.replace(result, detail=f"{result.detail}; {clause}",
                               evidence={**result.evidence, "raw": raw})


def _fallback(result: Result, why: str) -> Result:
    icmp = result.evidence.get("icmp")
    raw: dict[str, Any] = {"privileged": False, "note": f"{why}: {NO_PRIVILEGE_NOTE}"}
    if isinstance(icmp, dict) and icmp.get("sender"):
        raw["icmp_sender"] = icmp["sender"]
    return dataclasses.replace(result, evidence={**result.evidence, "raw": raw})


def _with_error(result: Result, error: str) -> Result:
    return dataclasses.replace(result, evidence={**result.evidence, "raw": {"privileged": True, "error": error}})
