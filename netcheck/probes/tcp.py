"""Plain TCP reachability: does the handshake complete, and if not, what stopped it."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from netcheck.model import Flow, Observation, PortRange, Reason
from netcheck.net.sockets import connect_tcp_timed
from netcheck.probes import ProbeContext, register

DEFAULT_SAMPLE = 8
# Windows' own dynamic RPC range starts here; worth sampling whenever a range covers it.
WINDOWS_DYNAMIC_START = 49152


@register("tcp")
async def observe_tcp(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return await _observe_range(flow.port, address, ctx, flow.int_option("sample", DEFAULT_SAMPLE))
    return _handshake_observation(flow.port, await connect_tcp_timed(address, flow.port, ctx.timeout))


async def handshake(address: str, port: int, timeout: float) -> Observation:
    return _handshake_observation(port, await connect_tcp_timed(address, port, timeout))


def _handshake_observation(port: int, connected: tuple[socket.socket, float] | Observation) -> Observation:
    if isinstance(connected, Observation):
        return connected
    sock, latency = connected
    sock.close()
    return Observation(Reason.OPEN, f"TCP {port}: handshake completed in {latency:.1f} ms",
                       {"handshake_ms": latency}, latency)


def sample_ports(ports: PortRange, count: int) -> list[int]:
    """A deterministic spread over the range: both ends, evenly spaced points, and 49152."""
    span = ports.last - ports.first
    count = max(1, min(count, span + 1))
    picks = {ports.first + round(span * i / max(1, count - 1)) for i in range(count)}
    if ports.first <= WINDOWS_DYNAMIC_START <= ports.last and len(picks) < span + 1:
        picks.add(WINDOWS_DYNAMIC_START)
    return sorted(picks)


async def _observe_range(ports: PortRange, address: str, ctx: ProbeContext, sample: int) -> Observation:
    """A range passes when every sampled port reaches the host: a reset proves the path is open."""
    picks = sample_ports(ports, sample)
    observations = await asyncio.gather(*(handshake(address, port, ctx.timeout) for port in picks))
    pairs = list(zip(picks, observations, strict=True))
    per_port: dict[str, Any] = {str(p): o.reason.value for p, o in pairs}
    reached = [p for p, o in pairs if o.reason in (Reason.OPEN, Reason.REFUSED)]
    blocked = [(p, o) for p, o in pairs if o.reason not in (Reason.OPEN, Reason.REFUSED)]
    evidence = {"sampled": per_port}
    if not blocked:
        opened = sum(1 for o in observations if o.reason is Reason.OPEN)
        return Observation(
            Reason.REACHABLE,
            f"all {len(picks)} sampled ports of {ports} reached the host ({opened} open, "
            f"{len(picks) - opened} reset by the host: no service, but the path is open)",
            evidence,
        )
    port, first = blocked[0]
    return Observation(
        first.reason,
        f"{len(blocked)} of {len(picks)} sampled ports of {ports} blocked "
        f"({', '.join(str(p) for p, _ in blocked)}); e.g. {first.detail}; reached: "
        f"{', '.join(str(p) for p in reached) or 'none'}",
        {**evidence, **first.evidence},
    )
