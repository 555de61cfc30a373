"""SSH: read the server's identification line (RFC 4253 section 4.2). Never authenticates.

The server speaks first, so nothing is sent until its identification arrived; then
netcheck sends its own identification (so the server's log names the client) and
closes before key exchange.
"""

from __future__ import annotations

import re
from typing import Any

from netcheck import __version__
from netcheck.model import Flow, JsonValue, Observation, PortRange, Reason
from netcheck.net.streams import Channel, Deadline, DeadlineHit, LineTooLong, StreamClosed, connect
from netcheck.probes import ProbeContext, register
from netcheck.probes._tls import printable

MAX_LINE = 255  # RFC 4253: the identification line is at most 255 bytes with CR LF
MAX_LINES_BEFORE = 8  # other lines a server may send first; more is not an SSH server
# Lenient on the software part: some servers put '-' in it (e.g. "SSH-2.0-Cisco-1.25").
IDENT = re.compile(r"^SSH-(?P<proto>[^-\s]+)-(?P<software>\S+)(?: (?P<comments>.*))?$")
SUPPORTED_PROTOCOLS = ("2.0", "1.99")  # 1.99: SSH-2 with SSH-1 fallback
CLIENT_IDENT = f"SSH-2.0-netcheck_{__version__}\r\n".encode("ascii")


@register("ssh")
async def observe_ssh(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "an SSH identification needs one port, not a range")
    deadline = Deadline(ctx.timeout)
    channel = await connect(address, flow.port, deadline)
    if isinstance(channel, Observation):
        return channel
    try:
        return await _read_identification(channel, flow.port)
    finally:
        channel.close()


async def _read_identification(channel: Channel, port: int) -> Observation:
    before: list[str] = []
    try:
        while True:
            line = await channel.read_line(MAX_LINE)
            if line.startswith(b"SSH-"):
                break
            before.append(printable(line, MAX_LINE))
            if len(before) > MAX_LINES_BEFORE:
                return _not_ssh(port, before, f"{len(before)} lines without an SSH identification")
    except DeadlineHit:
        partial = bytes(channel.buffer)
        evidence: dict[str, JsonValue] = {"stage": "identification", "bytes_received": channel.received}
        if not before and not partial:
            return Observation(Reason.TIMEOUT, f"SSH {port}: connected, but the server sent nothing before the "
                               "deadline (an SSH server speaks first)", evidence)
        if not before and b"SSH-".startswith(partial[:4]):  # slow, not wrong
            return Observation(Reason.TIMEOUT, f"SSH {port}: the identification line did not finish before the "
                               f"deadline (got '{printable(partial, 60)}')", evidence)
        return _not_ssh(port, before + _partial(channel), "no SSH identification before the deadline")
    except LineTooLong:
        return _not_ssh(port, before + _partial(channel), f"a line longer than {MAX_LINE} bytes")
    except StreamClosed:
        what = "closed the connection" + (" without sending anything" if not channel.received else "")
        return _not_ssh(port, before + _partial(channel), what)
    except OSError as exc:
        return _not_ssh(port, before + _partial(channel), f"the connection broke ({exc.strerror or exc})")
    latency = channel.deadline.elapsed_ms()
    return _judge_identification(line, before, port, latency, channel)


def _partial(channel: Channel) -> list[str]:
    return [printable(bytes(channel.buffer), MAX_LINE)] if channel.buffer else []


def _not_ssh(port: int, seen: list[str], why: str) -> Observation:
    shown = f": '{seen[0][:60]}'" if seen else ""
    return Observation(Reason.PROTOCOL_ERROR, f"SSH {port}: not an SSH server ({why}){shown}",
                       {"stage": "identification", "lines": seen})


def _judge_identification(line: bytes, before: list[str], port: int, latency: float,
                          channel: Channel) -> Observation:
    text = printable(line, MAX_LINE)
    match = IDENT.match(line.decode("ascii", "replace"))
    evidence: dict[str, Any] = {"identification": text, "lines_before": before}
    if match is None:
        return Observation(Reason.PROTOCOL_ERROR, f"SSH {port}: malformed identification line '{text}'",
                           evidence, latency)
    evidence.update(protocol=match["proto"], software=match["software"], comments=match["comments"])
    if match["proto"] not in SUPPORTED_PROTOCOLS:
        return Observation(Reason.PROTOCOL_ERROR,
                           f"SSH {port}: the server speaks only SSH protocol {match['proto']} ('{text}')",
                           evidence, latency)
    # Polite and harmless: our identification, then close before key exchange.
    channel.writer.write(CLIENT_IDENT)
    return Observation(Reason.ANSWERED, f"SSH {port}: {text}", evidence, latency)
