"""Syslog: send ONE clearly labelled RFC 5424 test message carrying the run's id.

UDP (RFC 5426) has no answer, so arrival is unconfirmed from this side (warn) unless
ICMP says the port is closed or prohibited (fail). TCP (RFC 6587 octet counting) and
TLS (RFC 5425, option tls) prove a server accepted the connection (and, for TLS, the
certificate is judged like the TLS probe's); syslog still acknowledges nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from netcheck import __version__, values
from netcheck.model import Flow, Observation, PortRange, Reason
from netcheck.net.streams import Channel, Deadline, DeadlineHit, StreamClosed, connect
from netcheck.probes import ProbeContext, register
from netcheck.probes._tls import (
    TlsSession,
    certificate_observation,
    default_server_name,
    expectation_for,
    judge_certificate,
    negotiate,
    printable,
)
from netcheck.probes.udp import exchange

APP_NAME = "netcheck"
MSGID = "netcheck-probe"
# 32473 is the enterprise number RFC 5612 reserves for documentation and examples.
SD_ID = "netcheck@32473"
PRI = 1 * 8 + 5  # facility user, severity notice: visible, never alarming
LISTEN_AFTER_S = 0.3  # after a TCP send: a syslog server stays silent, anything else talks or hangs up


def message(ctx: ProbeContext, flow: Flow, now: datetime | None = None, hostname: str | None = None) -> bytes:
    """The RFC 5424 test message; the run id is in the structured data and the text."""
    now = now or datetime.now(UTC)
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    host = _header_field(hostname or socket.gethostname(), 255)
    params = {"run": ctx.run_id, "flow": flow.id, "version": __version__}
    sd = "[" + SD_ID + "".join(f' {key}="{_sd_escape(value)}"' for key, value in params.items()) + "]"
    text = (f"netcheck connectivity test: run {ctx.run_id}, flow {flow.id}. "
            "Sent by a network readiness check; no action needed.")
    return values.wire_text(f"<{PRI}>1 {stamp} {host} {APP_NAME} {os.getpid()} {MSGID} {sd} {text}",
                            "the syslog test message (flow id or run id)")


def _header_field(value: str, limit: int) -> str:
    """RFC 5424 header fields are printable US-ASCII without spaces, or '-'."""
    cleaned = "".join(c for c in value if "!" <= c <= "~")[:limit]
    return cleaned or "-"


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def octet_counted(payload: bytes) -> bytes:
    """RFC 6587 3.4.1 framing: MSG-LEN SP SYSLOG-MSG."""
    return str(len(payload)).encode("ascii") + b" " + payload


@register("syslog", judge=judge_certificate)
async def observe_syslog(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "a syslog message goes to one port, not a range")
    payload = message(ctx, flow)
    use_tls = flow.options.get("tls") is True
    transport = "tcp" if use_tls else str(flow.options.get("transport") or flow.transport).lower()
    if transport == "udp":
        return await _send_udp(address, flow.port, payload, ctx)
    if transport != "tcp":
        return Observation(Reason.NOT_APPLICABLE, f"unknown syslog transport '{transport}' (udp or tcp)")
    return await _send_tcp(flow, address, flow.port, payload, ctx, use_tls)


async def _send_udp(address: str, port: int, payload: bytes, ctx: ProbeContext) -> Observation:
    # One datagram, then wait for an ICMP error: the message must not be repeated.
    sent = await exchange(address, port, payload, replace(ctx, udp_tries=1))
    evidence: dict[str, Any] = {"transport": "udp", "message": payload.decode("utf-8"), **sent.evidence}
    if sent.reason is Reason.NO_RESPONSE:
        return Observation(Reason.UNCONFIRMED,
                           f"syslog UDP {port}: sent one test message (run {ctx.run_id}); no ICMP error came back, "
                           "but syslog never answers: check the server's log for the run id", evidence)
    if sent.reason is Reason.ANSWERED:
        return Observation(Reason.UNCONFIRMED,
                           f"syslog UDP {port}: sent one test message (run {ctx.run_id}); something answered "
                           "(a syslog server never does): check the server's log for the run id", evidence)
    return Observation(sent.reason, f"syslog {sent.detail}", evidence, sent.latency_ms)


async def _send_tcp(flow: Flow, address: str, port: int, payload: bytes, ctx: ProbeContext,
                    use_tls: bool) -> Observation:
    deadline = Deadline(ctx.timeout)
    channel = await connect(address, port, deadline)
    if isinstance(channel, Observation):
        return channel
    label = "syslog TLS" if use_tls else "syslog TCP"
    evidence: dict[str, Any] = {"transport": "tls" if use_tls else "tcp", "framing": "octet-counting",
                                "message": payload.decode("utf-8"), "connect_ms": channel.connect_ms}
    try:
        session: TlsSession | None = None
        if use_tls:
            negotiated = await negotiate(channel, default_server_name(flow), port, label)
            if not isinstance(negotiated, TlsSession):
                return Observation(negotiated.reason, negotiated.detail, {**evidence, **negotiated.evidence})
            session = negotiated
        await channel.send(octet_counted(payload))
        heard = await _listen_briefly(channel)
    except DeadlineHit:
        return Observation(Reason.TIMEOUT, f"{label} {port}: connected, but sending did not finish before the deadline",
                           evidence)
    except OSError as exc:
        return Observation(Reason.PROTOCOL_ERROR, f"{label} {port}: the connection broke while sending "
                           f"({exc.strerror or exc})", evidence)
    finally:
        channel.close()
    if heard is not None:
        return Observation(Reason.PROTOCOL_ERROR, f"{label} {port}: {heard}: not a syslog receiver", evidence)
    sent = f"sent one octet-counted test message (run {ctx.run_id}); syslog acknowledges nothing"
    if session is not None:
        checked = certificate_observation(session, expectation_for(flow), port, label, evidence)
        return Observation(checked.reason, f"{checked.detail}; {sent}", checked.evidence, checked.latency_ms,
                           facts=checked.facts)
    return Observation(Reason.OPEN, f"{label} {port}: connected and {sent}", evidence, channel.connect_ms)


async def _listen_briefly(channel: Channel) -> str | None:
    """What the server did right after the message: None when it stayed silent (as syslog does)."""
    wait = min(LISTEN_AFTER_S, max(channel.deadline.remaining() - 0.05, 0.0))
    if wait <= 0:
        return None
    try:
        async with asyncio.timeout(wait):
            data = await channel.recv()
    except (TimeoutError, DeadlineHit):
        return None
    except (StreamClosed, OSError):
        return "the server closed the connection right after the message"
    if not data:
        return "the server closed the connection right after the message"
    return f"the server answered '{printable(data, 40)}'"
