"""Plain UDP reachability: a harmless datagram on a connected socket, reading ICMP errors.

Silence is `no-response`, never a pass: a UDP port that answers nothing cannot be
told apart from a firewall that drops the datagram.
"""

from __future__ import annotations

import asyncio
import time

from netcheck import pacing
from netcheck.model import Flow, Observation, PortRange, Reason
from netcheck.net.sockets import connect_udp, elapsed_ms, failure_from_oserror
from netcheck.probes import ProbeContext, register


@register("udp")
async def observe_udp(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "UDP port ranges cannot be tested without a listener")
    # An empty datagram: no real service acts on it, but a closed port still answers ICMP.
    return await exchange(address, flow.port, b"", ctx)


async def exchange(address: str, port: int, payload: bytes, ctx: ProbeContext,
                   max_reply: int = 65535) -> Observation:
    """Send `payload` up to ctx.udp_tries times within ctx.timeout; report the reply or the ICMP error.

    On success the reply bytes are in evidence["reply"] (hex, capped) and evidence["reply_len"].
    """
    loop = asyncio.get_running_loop()
    tries = max(1, ctx.udp_tries)
    wait = ctx.timeout / tries
    started = time.monotonic()
    sock = connect_udp(address, port, f"UDP {port}")
    if isinstance(sock, Observation):
        return sock
    try:
        pacing.sent()
        for attempt in range(1, tries + 1):
            try:
                await loop.sock_sendall(sock, payload)
                async with asyncio.timeout(wait):
                    reply = await loop.sock_recv(sock, max_reply)
            except TimeoutError:
                continue
            except OSError as exc:
                pacing.answered()
                failed = failure_from_oserror(exc, sock, f"UDP {port}")
                return Observation(failed.reason, failed.detail, {**failed.evidence, "tries": attempt},
                                   elapsed_ms(started))
            pacing.answered()
            latency = elapsed_ms(started)
            return Observation(
                Reason.ANSWERED, f"UDP {port}: {len(reply)}-byte reply in {latency:.1f} ms",
                {"reply_len": len(reply), "reply": reply[:512].hex(), "tries": attempt}, latency)
        return Observation(
            Reason.NO_RESPONSE,
            f"UDP {port}: no reply and no ICMP error to {tries} datagrams in {ctx.timeout:g} s "
            "(dropped by a firewall, or the service ignores them)",
            {"tries": tries, "timeout_s": ctx.timeout},
        )
    finally:
        sock.close()
