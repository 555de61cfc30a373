"""Inbound flows: something must listen on this host; name the process when visible."""

from __future__ import annotations

import asyncio
import os
import socket

from netcheck.model import Direction, PortRange, Reason
from netcheck.probes.local import listening_sockets, observe_local_listener
from tests.conftest import make_flow


def test_tcp_listener_is_found_with_its_process(ctx) -> None:  # type: ignore[no-untyped-def]
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        flow = make_flow(port, direction=Direction.IN, host="")
        observation = asyncio.run(observe_local_listener(flow, None, ctx))
    assert observation.reason is Reason.LISTENING
    listener = observation.evidence["listeners"][0]
    assert listener["address"] == "127.0.0.1" and listener["port"] == port
    assert f"pid {os.getpid()}" in listener["process"]


def test_udp_bound_socket_counts_as_listening(ctx) -> None:  # type: ignore[no-untyped-def]
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 0))
        port = sock.getsockname()[1]
        assert any(s.port == port and s.address == "::1" for s in listening_sockets("udp"))
        flow = make_flow(PortRange(port, port), transport="udp", probe="local-listener", direction=Direction.IN,
                         host="")
        observation = asyncio.run(observe_local_listener(flow, None, ctx))
    assert observation.reason is Reason.LISTENING


def test_nothing_listening(ctx) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening
        observation = asyncio.run(observe_local_listener(make_flow(port, direction=Direction.IN, host=""), None, ctx))
    assert observation.reason is Reason.NOT_LISTENING
    assert "nothing listens" in observation.detail
