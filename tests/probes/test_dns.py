"""DNS probe: a real dnsmasq on loopback over UDP and TCP, and hostile DNS servers in-process."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import dns.message
import dns.rcode
import pytest

from netcheck.judges import as_verdict
from netcheck.model import Observation, Reason, Status
from netcheck.probes import ProbeContext, get
from netcheck.probes.dns import default_names, default_reverse
from tests.conftest import make_flow

from .hostile_udp import HostileTcp, HostileUdp, drip, send_then_close, silent
from .loopback_daemons import daemon, free_port, need

HOSTS = {"console.lab.example": "203.0.113.10", "ldap.lab.example": "203.0.113.15"}
PEERS = {"console": ("203.0.113.10",), "ldap": ("ldap.lab.example",), "crl": ("http://crl.lab.example/lab.crl",)}


PTR_CONSOLE = ipaddress.ip_address("203.0.113.10").reverse_pointer + "."

def observe(port: int, transport: str = "udp", timeout: float = 1.0, tries: int = 2,
            peers: dict[str, tuple[str, ...]] | None = None, **options: Any) -> tuple[Observation, Status, float]:
    flow = make_flow(port, transport=transport, probe="dns", peer="dns", options=options)
    kind = get("dns")
    ctx = ProbeContext(timeout=timeout, run_id="dnstest", udp_tries=tries, settings={"peers": peers or {}})
    started = time.monotonic()
    observation = asyncio.run(kind.observe(flow, "127.0.0.1", ctx))
    return observation, as_verdict(kind.judge(flow, observation)).status, time.monotonic() - started


@pytest.fixture(scope="module")
def dnsmasq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if os.geteuid() != 0:
        pytest.skip("dnsmasq is started as root here (it changes user and binds raw)")
    binary = need("dnsmasq")
    folder = tmp_path_factory.mktemp("dnsmasq")
    hosts = folder / "hosts"
    hosts.write_text("".join(f"{ip} {name}\n" for name, ip in HOSTS.items()))
    port = free_port()
    argv = [binary, "-k", "--conf-file=/dev/null", f"--port={port}", "--listen-address=127.0.0.1",
            "--bind-interfaces", "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}", "--local=/lab.example/",
            f"--pid-file={folder}/dnsmasq.pid", "--user=root"]
    with daemon(argv, [("udp", port), ("tcp", port)], folder / "dnsmasq.log"):
        yield port


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_listed_names_and_ptrs_resolve_over_each_transport(dnsmasq: int, transport: str) -> None:
    observation, status, _ = observe(dnsmasq, transport, names=["console.lab.example", "ldap.lab.example"],
                                     reverse=["203.0.113.10"])
    assert (status, observation.reason) == (Status.PASS, Reason.ANSWERED), observation.detail
    rows = {(q["name"], q["type"]): q for q in observation.evidence["queries"]}
    assert rows[("console.lab.example.", "A")]["answers"] == ["203.0.113.10"]
    assert rows[("ldap.lab.example.", "A")]["answers"] == ["203.0.113.15"]
    assert rows[(PTR_CONSOLE, "PTR")]["answers"] == ["console.lab.example."]
    assert all(q["rcode"] == "NOERROR" and q["ms"] is not None for q in rows.values())
    assert observation.evidence["transport"] == transport


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_listed_name_that_does_not_exist_is_a_warning(dnsmasq: int, transport: str) -> None:
    observation, status, _ = observe(dnsmasq, transport, names=["console.lab.example", "gone.lab.example"],
                                     reverse=[])
    assert (status, observation.reason) == (Status.WARN, Reason.NXDOMAIN)
    assert "gone.lab.example" in observation.detail


def test_a_refused_query_fails_with_the_rcode(dnsmasq: int) -> None:
    # dnsmasq has no upstream here, so it refuses names outside its own domain.
    observation, status, _ = observe(dnsmasq, names=["www.example.com"], reverse=[])
    assert (status, observation.reason) == (Status.FAIL, Reason.DNS_ERROR)
    assert observation.evidence["rcode"] == "REFUSED"


def test_without_names_the_root_query_still_tests_the_transport(dnsmasq: int) -> None:
    observation, status, _ = observe(dnsmasq, "tcp", names=[], reverse=[])
    # dnsmasq refuses the root: the transport works, and the detail asks for names.
    assert (status, observation.reason) == (Status.WARN, Reason.DNS_ERROR)
    assert observation.evidence["transport_only"] is True
    assert "settings.dns.names" in observation.detail


def test_default_names_and_ptrs_come_from_the_site(dnsmasq: int) -> None:
    assert default_names(PEERS) == ["ldap.lab.example", "crl.lab.example"]
    assert default_reverse(PEERS) == ["203.0.113.10"]
    observation, status, _ = observe(dnsmasq, peers=PEERS)
    asked = [(q["name"], q["type"], q["rcode"]) for q in observation.evidence["queries"]]
    assert asked == [("ldap.lab.example.", "A", "NOERROR"), ("crl.lab.example.", "A", "NXDOMAIN"),
                     (PTR_CONSOLE, "PTR", "NOERROR")]
    assert (status, observation.reason) == (Status.WARN, Reason.NXDOMAIN)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_closed_port_is_refused(transport: str) -> None:
    observation, status, elapsed = observe(free_port(), transport, names=["console.lab.example"])
    assert (status, observation.reason) == (Status.FAIL, Reason.REFUSED)
    assert elapsed < 0.5


def answer_with(rcode: int) -> Callable[[bytes], list[bytes]]:
    def respond(request: bytes) -> list[bytes]:
        reply = dns.message.make_response(dns.message.from_wire(request))
        reply.set_rcode(rcode)
        return [reply.to_wire()]

    return respond


def wrong_id(request: bytes) -> list[bytes]:
    reply = dns.message.make_response(dns.message.from_wire(request))
    reply.id = (reply.id + 1) % 65536
    return [reply.to_wire()]


@pytest.mark.parametrize(("respond", "reason", "status"), [
    (answer_with(dns.rcode.SERVFAIL), Reason.DNS_ERROR, Status.FAIL),
    (wrong_id, Reason.PROTOCOL_ERROR, Status.FAIL),
    (lambda request: [b"\x00\x01garbage"], Reason.PROTOCOL_ERROR, Status.FAIL),
    (lambda request: [request[:2] + os.urandom(600)], Reason.PROTOCOL_ERROR, Status.FAIL),
    (lambda request: [], Reason.NO_RESPONSE, Status.FAIL),
])
def test_hostile_udp_servers_end_within_the_deadline(respond: Callable[[bytes], list[bytes]], reason: Reason,
                                                     status: Status) -> None:
    with HostileUdp(respond) as server:
        observation, judged, elapsed = observe(server.port, timeout=0.8, names=["console.lab.example"])
    assert (judged, observation.reason) == (status, reason), observation.detail
    assert elapsed < 0.8 + 0.3


@pytest.mark.parametrize(("behave", "reason"), [
    (silent(seconds=5), Reason.TIMEOUT),
    (drip(b"\x00\x30" + b"\x00" * 48, interval=0.3, seconds=5), Reason.TIMEOUT),
    (send_then_close(b"\x00\x05junk!"), Reason.PROTOCOL_ERROR),
    (send_then_close(b"", read_first=False), Reason.PROTOCOL_ERROR),
])
def test_hostile_tcp_servers_end_within_the_deadline(behave: Callable[..., None], reason: Reason) -> None:
    with HostileTcp(behave) as server:
        observation, status, elapsed = observe(server.port, "tcp", timeout=1.0, names=["console.lab.example"])
    assert (status, observation.reason) == (Status.FAIL, reason), observation.detail
    assert elapsed < 1.0 + 0.3
