"""TCP and UDP reachability against the real Linux kernel on loopback.

Filtered and prohibited need a firewall between two hosts: see tests/lab/test_reachability_lab.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from netcheck.model import PortRange, Reason
from netcheck.probes import ProbeContext
from netcheck.probes.tcp import observe_tcp, sample_ports
from netcheck.probes.udp import observe_udp
from tests.conftest import make_flow


@pytest.fixture
def tcp_listener() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


def free_port(kind: socket.SocketKind) -> int:
    """A port nothing listens on: bind, note, close."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_tcp_open(tcp_listener: int, ctx: ProbeContext) -> None:
    observation = asyncio.run(observe_tcp(make_flow(tcp_listener), "127.0.0.1", ctx))
    assert observation.reason is Reason.OPEN
    assert observation.latency_ms is not None and observation.latency_ms < 1000


def test_tcp_refused(ctx: ProbeContext) -> None:
    port = free_port(socket.SOCK_STREAM)
    observation = asyncio.run(observe_tcp(make_flow(port), "127.0.0.1", ctx))
    assert observation.reason is Reason.REFUSED
    assert "reset" in observation.detail


def test_tcp_ipv6_refused(ctx: ProbeContext) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    observation = asyncio.run(observe_tcp(make_flow(9, host="::1"), "::1", ctx))
    assert observation.reason in (Reason.REFUSED, Reason.UNREACHABLE)


def test_tcp_range_sample_counts_resets_as_reached(tcp_listener: int, ctx: ProbeContext) -> None:
    # A range around the listener: one port open, the rest reset by the host.
    flow = make_flow(PortRange(tcp_listener - 3, tcp_listener + 3), options={"sample": 7})
    observation = asyncio.run(observe_tcp(flow, "127.0.0.1", ctx))
    assert observation.reason is Reason.REACHABLE
    assert observation.evidence["sampled"][str(tcp_listener)] == "open"
    assert "1 open" in observation.detail


def test_sample_ports_spread() -> None:
    picks = sample_ports(PortRange(1025, 65535), 8)
    assert picks[0] == 1025 and picks[-1] == 65535
    assert 49152 in picks
    assert len(picks) == 9
    assert sample_ports(PortRange(80, 80), 8) == [80]


def test_udp_refused_names_icmp_sender(ctx: ProbeContext) -> None:
    port = free_port(socket.SOCK_DGRAM)
    observation = asyncio.run(observe_udp(make_flow(port, transport="udp", probe="udp"), "127.0.0.1", ctx))
    assert observation.reason is Reason.REFUSED
    assert observation.evidence["icmp"]["type"] == 3 and observation.evidence["icmp"]["code"] == 3
    assert observation.evidence["icmp"]["sender"] == "127.0.0.1"


def test_udp_silence_is_no_response_not_pass(ctx: ProbeContext) -> None:
    # A bound socket that never answers: the kernel sends no ICMP, the probe hears nothing.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        observation = asyncio.run(observe_udp(make_flow(port, transport="udp", probe="udp"), "127.0.0.1", ctx))
        received = 0
        silent.setblocking(False)
        try:
            while True:
                silent.recv(10)
                received += 1
        except BlockingIOError:
            pass
    assert observation.reason is Reason.NO_RESPONSE
    assert observation.evidence["tries"] == ctx.udp_tries
    assert received == ctx.udp_tries  # every retry really went out


def test_udp_reply_answers(ctx: ProbeContext) -> None:
    async def scenario() -> tuple[Reason, int]:
        loop = asyncio.get_running_loop()

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                self.transport.sendto(b"pong", addr)  # type: ignore[attr-defined]

        transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        try:
            observation = await observe_udp(make_flow(port, transport="udp", probe="udp"), "127.0.0.1", ctx)
        finally:
            transport.close()
        return observation.reason, observation.evidence["reply_len"]

    reason, length = asyncio.run(scenario())
    assert reason is Reason.ANSWERED
    assert length == 4
