"""net.sockets: TCP and UDP that keep the reason and the facts of a failure. Refusals on
loopback; routes that are unreachable or prohibited inside a namespace this test creates
(tests/net/routes.py). The ICMP error with a router's address is proven against the lab's
real router (tests/lab/test_failure_paths_lab.py, tests/lab/test_router_rejects_http_lab.py)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from netcheck.model import Observation, Reason
from netcheck.net.sockets import connect_tcp_timed, connect_udp
from tests.certs.daemons import free_port
from tests.net.routes import PROHIBITED, SILENT, UNREACHABLE, run_in

IN_NAMESPACE = """
import asyncio, json, sys
from netcheck.model import Observation
from netcheck.net.sockets import connect_tcp_timed, connect_udp

async def main():
    address = sys.argv[1]
    tcp = await connect_tcp_timed(address, 80, 0.5, "TCP to the CRL host")
    udp = connect_udp(address, 123, "NTP 123")
    facts = {}
    for name, outcome in (("tcp", tcp), ("udp", udp)):
        if isinstance(outcome, Observation):
            facts[name] = {"reason": outcome.reason.value, "detail": outcome.detail, **outcome.evidence}
        else:
            facts[name] = {"reason": "connected"}
            (outcome[0] if isinstance(outcome, tuple) else outcome).close()
    print(json.dumps(facts))

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("address", "tcp", "udp"),
    [(UNREACHABLE, ("unreachable", "EHOSTUNREACH"), ("unreachable", "EHOSTUNREACH")),
     (PROHIBITED, ("prohibited", "EACCES"), ("prohibited", "EACCES")),
     (SILENT, ("filtered", None), ("connected", None))],
)
def test_route_failures_keep_reason_and_errno(routes_ns: str, address: str, tcp: tuple[str, str | None],
                                             udp: tuple[str, str | None]) -> None:
    facts = run_in(routes_ns, IN_NAMESPACE, address)
    assert (facts["tcp"]["reason"], facts["tcp"].get("errno")) == tcp
    assert (facts["udp"]["reason"], facts["udp"].get("errno")) == udp
    assert facts["tcp"]["detail"].startswith("TCP to the CRL host: ")  # the caller's name for the connection
    if udp[0] != "connected":  # UDP's connect() fails only on the route; a silent host is found by sending
        assert facts["udp"]["detail"].startswith("NTP 123: ")


def test_tcp_refusal_and_success_on_loopback() -> None:
    async def both() -> tuple[object, object]:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            opened = await connect_tcp_timed("127.0.0.1", port, 1.0)
            refused = await connect_tcp_timed("127.0.0.1", free_port(), 1.0)
        finally:
            server.close()
        return opened, refused

    opened, refused = asyncio.run(both())
    assert isinstance(opened, tuple) and opened[1] >= 0
    opened[0].close()
    assert isinstance(refused, Observation) and refused.reason is Reason.REFUSED
    assert refused.evidence == {"errno": "ECONNREFUSED"} and "refused (TCP reset)" in refused.detail


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_udp_socket_reads_the_port_unreachable_and_its_sender() -> None:
    async def exchange() -> Observation:
        from netcheck.net.sockets import failure_from_oserror

        sock = connect_udp("127.0.0.1", free_udp_port(), "UDP test")
        assert isinstance(sock, socket.socket)
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendall(sock, b"")
            async with asyncio.timeout(2):
                await loop.sock_recv(sock, 512)
        except OSError as exc:
            return failure_from_oserror(exc, sock, "UDP test")
        finally:
            sock.close()
        raise AssertionError("a closed loopback port answered")

    failed = asyncio.run(exchange())
    assert failed.reason is Reason.REFUSED
    assert failed.evidence["icmp"]["sender"] == "127.0.0.1" and failed.evidence["icmp"]["code"] == 3
