"""Two-sided probe: send this run's token over the flow's transport and port to a
`netcheck listen` on the far side. An echo proves the flow end to end (UDP too); with a
listener running there, silence is a definite `blocked` rather than `no-response`.

The engine uses this kind instead of the profile's for flows to peers that run a listener
(`netcheck scan --listener`, or `listener: true` in the site's settings for the peer).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from netcheck.errors import UsageError
from netcheck.model import Flow, Observation, PortRange, Reason
from netcheck.net.sockets import close_stream, elapsed_ms, open_stream
from netcheck.probes import ProbeContext, register

# Stop reading this long before ctx.timeout so the probe reports its facts before the engine cancels it.
MARGIN_S = 0.05


@register("listener")
async def observe_listener(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    from netcheck import tokens
    from netcheck.probes.tcp import DEFAULT_SAMPLE, sample_ports

    assert address is not None
    try:
        key = tokens.key_from_env(ctx.env)
    except UsageError as exc:
        return Observation(Reason.INTERNAL_ERROR, f"cannot make a listener token: {exc.one_line()}")
    if not isinstance(flow.port, PortRange):
        return await exchange_token(address, flow.transport, flow.port, ctx, key)
    picks = sample_ports(flow.port, flow.int_option("sample", DEFAULT_SAMPLE))
    observations = await asyncio.gather(*(exchange_token(address, flow.transport, p, ctx, key) for p in picks))
    return _combine_range(flow.port, list(zip(picks, observations, strict=True)))


async def exchange_token(address: str, transport: str, port: int, ctx: ProbeContext,
                         key: bytes | None) -> Observation:
    """Send one fresh token to address:port and judge the answer."""
    from netcheck import tokens

    probe = tokens.make_probe(ctx.run_id, transport, port, key)
    token = tokens.parse(probe, key)
    assert not isinstance(token, str)
    facts: dict[str, Any] = {"token": token.text, "sent_port": port, "keyed": key is not None}
    if transport == "udp":
        return await _udp(address, port, probe, ctx, key, facts)
    return await _tcp(address, port, probe, ctx, key, facts)


async def _udp(address: str, port: int, probe: bytes, ctx: ProbeContext, key: bytes | None,
               facts: dict[str, Any]) -> Observation:
    from netcheck import tokens
    from netcheck.probes.udp import exchange

    seen = await exchange(address, port, probe, ctx, max_reply=2048)
    evidence = {**seen.evidence, "listener": facts}
    if seen.reason is Reason.NO_RESPONSE:
        evidence["one_sided"] = Reason.NO_RESPONSE.value
        return Observation(
            Reason.BLOCKED,
            f"UDP {port}: no echo to {ctx.udp_tries} tokens in {ctx.timeout:g} s: dropped on the way "
            "(or no listener there, or another NETCHECK_LISTENER_KEY)", evidence)
    if seen.reason is not Reason.ANSWERED:
        return Observation(seen.reason, seen.detail, evidence, seen.latency_ms)
    echo = tokens.check_echo(bytes.fromhex(str(seen.evidence.get("reply", ""))), probe, key)
    if isinstance(echo, str):
        return Observation(Reason.ANSWERED,
                           f"UDP {port}: a reply that is not the listener's echo ({echo}): another service "
                           "answers there, so the path is open both ways", evidence, seen.latency_ms)
    facts["echo_port"] = echo.port
    return Observation(Reason.CONFIRMED, f"UDP {port}: the listener echoed this run's token in "
                       f"{seen.latency_ms or 0:.1f} ms{_nat_note(port, echo.port)}", evidence, seen.latency_ms)


async def _tcp(address: str, port: int, probe: bytes, ctx: ProbeContext, key: bytes | None,
               facts: dict[str, Any]) -> Observation:
    from netcheck import tokens

    started = time.monotonic()
    deadline = started + ctx.timeout - MARGIN_S
    opened = await open_stream(address, port, ctx.timeout - MARGIN_S)
    if isinstance(opened, Observation):
        evidence = {**opened.evidence, "listener": facts}
        if opened.reason is Reason.FILTERED:
            evidence["one_sided"] = Reason.FILTERED.value
            return Observation(Reason.BLOCKED, f"TCP {port}: no answer to SYN within {ctx.timeout:g} s although "
                               "a listener runs there: a firewall drops it", evidence)
        return Observation(opened.reason, opened.detail, evidence, opened.latency_ms)
    reader, writer, handshake_ms = opened
    facts["handshake_ms"] = handshake_ms
    answer = b""
    try:
        writer.write(probe)
        async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
            await writer.drain()
            while len(answer) < tokens.TOKEN_LEN:
                chunk = await reader.read(tokens.TOKEN_LEN - len(answer))
                if not chunk:
                    break
                answer += chunk
    except (TimeoutError, OSError):
        pass
    finally:
        await close_stream(writer)
    latency = elapsed_ms(started)
    evidence = {"handshake_ms": handshake_ms, "listener": facts}
    echo = tokens.check_echo(answer, probe, key) if answer else "nothing"
    if isinstance(echo, str):
        if answer:
            evidence["answer"] = answer.hex()
        what = "no echo" if not answer else f"an answer that is not the listener's echo ({echo})"
        return Observation(
            Reason.UNCONFIRMED,
            f"TCP {port}: handshake completed in {handshake_ms:.1f} ms, then {what}: another service holds "
            "the port there, or a middlebox completed the handshake", evidence, handshake_ms)
    facts["echo_port"] = echo.port
    return Observation(Reason.CONFIRMED, f"TCP {port}: the listener echoed this run's token in {latency:.1f} ms "
                       f"(handshake {handshake_ms:.1f} ms){_nat_note(port, echo.port)}", evidence, latency)


def _nat_note(sent: int, arrived: int) -> str:
    return "" if sent == arrived else f"; it arrived on port {arrived}: a NAT translates the port"


def _combine_range(ports: PortRange, pairs: list[tuple[int, Observation]]) -> Observation:
    """A range is confirmed when every sampled port echoed; otherwise the first failure speaks."""
    per_port = {str(port): seen.reason.value for port, seen in pairs}
    tokens = {str(port): listener["token"] for port, seen in pairs
              if isinstance(listener := seen.evidence.get("listener"), dict)}
    evidence: dict[str, Any] = {"sampled": per_port, "listener": {"tokens": tokens}}
    failed = [(port, seen) for port, seen in pairs if seen.reason is not Reason.CONFIRMED]
    if not failed:
        return Observation(Reason.CONFIRMED, f"all {len(pairs)} sampled ports of {ports} echoed this run's token",
                           evidence)
    port, first = failed[0]
    confirmed = [str(p) for p, seen in pairs if seen.reason is Reason.CONFIRMED]
    return Observation(
        first.reason,
        f"{len(failed)} of {len(pairs)} sampled ports of {ports} not confirmed "
        f"({', '.join(str(p) for p, _ in failed)}); e.g. {first.detail}; confirmed: {', '.join(confirmed) or 'none'}",
        {**{k: v for k, v in first.evidence.items() if k != "listener"}, **evidence})
