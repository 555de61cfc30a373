"""TLS: a handshake to the peer, its protocol, cipher and certificate chain, judged
against the planned name, the site's expected issuer and CA."""

from __future__ import annotations

from netcheck.model import Flow, Observation, PortRange, Reason
from netcheck.net.streams import Deadline, connect
from netcheck.probes import ProbeContext, register
from netcheck.probes._tls import (
    TlsSession,
    certificate_observation,
    default_server_name,
    expectation_for,
    judge_certificate,
    negotiate,
)


@register("tls", judge=judge_certificate)
async def observe_tls(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "a TLS handshake needs one port, not a range")
    deadline = Deadline(ctx.timeout)
    channel = await connect(address, flow.port, deadline)
    if isinstance(channel, Observation):
        return channel
    try:
        session = await negotiate(channel, default_server_name(flow), flow.port)
    finally:
        channel.close()
    if not isinstance(session, TlsSession):
        return session
    return certificate_observation(session, expectation_for(flow), flow.port,
                                   extra={"connect_ms": channel.connect_ms})
