"""TLS: a handshake to the peer, its protocol, cipher and certificate chain, judged
against the planned name, the site's expected issuer and CA."""

from __future__ import annotations

from netcheck.model import Flow, Observation, PortRange, Reason
from netcheck.probes import ProbeContext, register
from netcheck.probes._tls import (
    TLS_OPTIONS,
    TlsSession,
    certificate_observation,
    default_server_name,
    expectation_for,
    judge_certificate,
    negotiate,
)
from netcheck.probes._wire import Deadline, connect


@register(
    "tls",
    transports=("tcp",),
    imports=("cryptography.x509", "netcheck.certs.facts"),
    summary="TLS handshake: protocol, cipher, certificate chain; warns on self-signed, expired, "
    "wrong-name or unexpected-issuer certificates",
    options=TLS_OPTIONS,
    judge=judge_certificate,
)
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
