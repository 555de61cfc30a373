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


def test_inbound_flows_run_the_kind_they_name_and_only_an_inbound_kind() -> None:
    from netcheck.engine import Limits, scan
    from netcheck.model import Status
    from netcheck.probes import ProbeContext

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        flows = [make_flow(port, direction=Direction.IN, host="", probe="local-listener", flow_id="in-ok"),
                 make_flow(port, direction=Direction.IN, host="", probe="tcp", flow_id="in-tcp"),
                 make_flow(port, host="127.0.0.1", probe="local-listener", flow_id="out-local")]
        results = {r.flow.id: r for r in asyncio.run(scan(flows, ProbeContext(timeout=1, run_id="t"), Limits()))}
    assert results["in-ok"].reason is Reason.LISTENING and results["in-ok"].status is Status.PASS
    assert results["in-tcp"].status is Status.ERROR and "cannot test inbound flows" in results["in-tcp"].detail
    assert results["out-local"].status is Status.ERROR and "cannot test outbound flows" in results["out-local"].detail
