"""WMI / DCE-RPC: bind to the endpoint mapper (135/tcp) and expect a bind_ack; optionally
ask the mapper for registered TCP endpoints and test those dynamic ports, and test a
sample of the dynamic range 1025-65535 with TCP handshakes.

The PDUs are in probes/_dcerpc.py (hand-written; see there why).
"""

from __future__ import annotations

import asyncio
from typing import Any

from netcheck.model import Flow, Observation, PortRange, Reason
from netcheck.net.streams import Channel, Deadline, DeadlineHit, StreamClosed, connect
from netcheck.probes import ProbeContext, register
from netcheck.probes._dcerpc import (
    HEADER_LEN,
    PFC_LAST_FRAG,
    BindAck,
    BindNak,
    Endpoint,
    LookupAnswer,
    PduError,
    bind_pdu,
    ept_lookup_request,
    parse_bind_answer,
    parse_ept_lookup,
    parse_header,
    response_stub,
)
from netcheck.probes._tls import printable
from netcheck.probes.tcp import handshake, sample_ports

DYNAMIC_RANGE = PortRange(1025, 65535)
DEFAULT_RANGE_SAMPLE = 8
MAX_LOOKUP_ENTRIES = 64
MAX_STUB_BYTES = 256 * 1024  # all fragments of one response together
MAX_ENDPOINT_PORTS = 4  # distinct registered TCP ports tested after a lookup
REACHED = (Reason.OPEN, Reason.REFUSED)  # a reset still proves the path is open


@register("rpc")
async def observe_rpc(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    deadline = Deadline(ctx.timeout)
    sample = flow.options.get("dynamic_sample")
    if isinstance(flow.port, PortRange):  # a dynamic-range flow: only the sample makes sense
        count = sample if isinstance(sample, int) and sample > 0 else DEFAULT_RANGE_SAMPLE
        return await _range_observation(address, flow.port, count, deadline)
    bound = await _bind(address, flow.port, deadline, bool(flow.options.get("lookup")))
    if not isinstance(sample, int) or sample <= 0 or bound.reason is not Reason.ANSWERED:
        return bound
    ranged = await _range_observation(address, DYNAMIC_RANGE, sample, deadline)
    evidence = {**bound.evidence, "dynamic_sample": ranged.evidence}
    if ranged.reason is Reason.REACHABLE:
        return Observation(bound.reason, f"{bound.detail}; dynamic range: {ranged.detail}", evidence,
                           bound.latency_ms)
    return Observation(ranged.reason, f"{bound.detail}; but the dynamic range is blocked: {ranged.detail}",
                       evidence, bound.latency_ms)


async def read_pdu(channel: Channel) -> bytes:
    """One PDU: the header says how long it is (PduError before reading on if it is not one)."""
    head = await channel.read_exact(HEADER_LEN)
    header = parse_header(head)
    return head + await channel.read_exact(header.frag_length - HEADER_LEN)


async def _bind(address: str, port: int, deadline: Deadline, lookup: bool) -> Observation:
    channel = await connect(address, port, deadline)
    if isinstance(channel, Observation):
        return channel
    stage = "bind"
    try:
        await channel.send(bind_pdu(call_id=1))
        answer = parse_bind_answer(await read_pdu(channel))
        latency = deadline.elapsed_ms()
        observation = _judge_bind(answer, port, latency)
        if not lookup or observation.reason is not Reason.ANSWERED:
            return observation
        found = await _lookup(channel)
    except DeadlineHit:
        return Observation(Reason.TIMEOUT, f"RPC {port}: connected, but no complete {stage} answer before the deadline",
                           {"stage": stage, "bytes_received": channel.received})
    except PduError as exc:
        return _not_rpc(port, stage, channel, str(exc))
    except StreamClosed:
        return _not_rpc(port, stage, channel, "the server closed the connection")
    except OSError as exc:
        return _not_rpc(port, stage, channel, f"the connection broke ({exc.strerror or exc})")
    finally:
        channel.close()
    return await _test_endpoints(address, port, observation, found, deadline)


def _not_rpc(port: int, stage: str, channel: Channel, why: str) -> Observation:
    seen = bytes(channel.buffer[:32])
    shown = f" (answer starts '{printable(seen, 32)}')" if seen else ""
    return Observation(Reason.PROTOCOL_ERROR, f"RPC {port}: no valid {stage} answer: {why}{shown}",
                       {"stage": stage, "bytes_received": channel.received})


def _judge_bind(answer: BindAck | BindNak, port: int, latency: float) -> Observation:
    if isinstance(answer, BindNak):
        return Observation(Reason.PROTOCOL_ERROR,
                           f"RPC {port}: the server refused the endpoint-mapper bind (bind_nak: {answer.describe()})",
                           {"pdu": "bind_nak", "reject_reason": answer.reason, "versions": list(answer.versions)},
                           latency)
    evidence: dict[str, Any] = {
        "pdu": "bind_ack", "max_xmit_frag": answer.max_xmit_frag, "max_recv_frag": answer.max_recv_frag,
        "assoc_group": f"0x{answer.assoc_group:08x}", "secondary_address": answer.secondary_address,
        "results": [r.describe() for r in answer.results],
    }
    if not answer.results or not answer.results[0].accepted:
        what = answer.results[0].describe() if answer.results else "no context result"
        return Observation(Reason.PROTOCOL_ERROR, f"RPC {port}: bind_ack, but the endpoint mapper context "
                           f"was not accepted ({what})", evidence, latency)
    return Observation(Reason.ANSWERED,
                       f"RPC {port}: endpoint mapper bind_ack (max frag {answer.max_xmit_frag}/{answer.max_recv_frag}, "
                       f"assoc group 0x{answer.assoc_group:08x}, secondary address '{answer.secondary_address}')",
                       evidence, latency)


async def _lookup(channel: Channel) -> LookupAnswer | str:
    """ept_lookup over the bound association; the answer, or why there is none (the bind
    already passed, so a failed lookup is a note, not the flow's verdict)."""
    try:
        return await _ept_lookup(channel)
    except DeadlineHit:
        return "no complete answer before the deadline"
    except PduError as exc:
        return str(exc)
    except StreamClosed:
        return "the server closed the connection"
    except OSError as exc:
        return f"the connection broke ({exc.strerror or exc})"


async def _ept_lookup(channel: Channel) -> LookupAnswer | str:
    await channel.send(ept_lookup_request(call_id=2, max_entries=MAX_LOOKUP_ENTRIES))
    stub = b""
    little = True
    while True:
        header, part = response_stub(await read_pdu(channel))
        little = header.little_endian
        stub += part
        if len(stub) > MAX_STUB_BYTES:
            return f"the lookup answer exceeds {MAX_STUB_BYTES} bytes"
        if header.flags & PFC_LAST_FRAG:
            break
    return parse_ept_lookup(stub, little)


async def _test_endpoints(address: str, mapper_port: int, bound: Observation, found: LookupAnswer | str,
                          deadline: Deadline) -> Observation:
    evidence: dict[str, Any] = dict(bound.evidence)
    if isinstance(found, str):
        evidence["lookup"] = {"error": found}
        return Observation(bound.reason, f"{bound.detail}; lookup: {found}", evidence, bound.latency_ms)
    endpoints = found.endpoints
    protocols: dict[str, int] = {}
    for endpoint in endpoints:
        protocols[endpoint.protocol] = protocols.get(endpoint.protocol, 0) + 1
    evidence["lookup"] = {"status": f"0x{found.status:08x}", "count": len(endpoints), "by_protocol": protocols,
                          "tcp_endpoints": [e.as_dict() for e in endpoints if e.protocol == "ncacn_ip_tcp"]}
    ports = _tcp_ports(endpoints, mapper_port)
    if not ports:
        return Observation(bound.reason, f"{bound.detail}; lookup: {len(endpoints)} endpoints, none on a "
                           "dynamic TCP port", evidence, bound.latency_ms)
    results = await asyncio.gather(*(handshake(address, p, max(deadline.remaining(), 0.05)) for p in ports))
    evidence["lookup"]["tested"] = {str(p): r.reason.value for p, r in zip(ports, results, strict=True)}
    blocked = [(p, r) for p, r in zip(ports, results, strict=True) if r.reason is not Reason.OPEN]
    listing = ", ".join(str(p) for p in ports)
    if not blocked:
        return Observation(bound.reason, f"{bound.detail}; lookup: {len(endpoints)} endpoints, "
                           f"registered TCP port(s) {listing} open", evidence, bound.latency_ms)
    port, first = blocked[0]
    return Observation(first.reason, f"{bound.detail}; but registered endpoint port {port} is "
                       f"{first.reason.value}: {first.detail}", {**evidence, **first.evidence}, bound.latency_ms)


def _tcp_ports(endpoints: tuple[Endpoint, ...], mapper_port: int) -> list[int]:
    """Distinct registered TCP ports other than the mapper's own, in the mapper's order."""
    ports: list[int] = []
    for endpoint in endpoints:
        port = endpoint.port
        if endpoint.protocol == "ncacn_ip_tcp" and port and port != mapper_port and port not in ports:
            ports.append(port)
    return ports[:MAX_ENDPOINT_PORTS]


async def _range_observation(address: str, ports: PortRange, count: int, deadline: Deadline) -> Observation:
    """Handshakes to a sample of `ports`: reachable when every one is open or reset by the host."""
    picks = sample_ports(ports, count)
    timeout = max(deadline.remaining(), 0.05)
    results = await asyncio.gather(*(handshake(address, port, timeout) for port in picks))
    per_port = {str(p): r.reason.value for p, r in zip(picks, results, strict=True)}
    blocked = [(p, r) for p, r in zip(picks, results, strict=True) if r.reason not in REACHED]
    if not blocked:
        opened = sum(1 for r in results if r.reason is Reason.OPEN)
        return Observation(Reason.REACHABLE, f"all {len(picks)} sampled ports of {ports} reached the host "
                           f"({opened} open, {len(picks) - opened} reset)", {"sampled": per_port})
    port, first = blocked[0]
    return Observation(first.reason, f"{len(blocked)} of {len(picks)} sampled ports of {ports} blocked "
                       f"(e.g. {port}: {first.detail})", {"sampled": per_port, **first.evidence})
