"""-4 / -6 / --source / --interface: real TCP and UDP servers on 127.0.0.1 and ::1 record
which address each probe came from and which family it used."""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netcheck.cli import main
from netcheck.egress import Egress, choose

V4, V6 = "127.0.0.1", "::1"


class Seen:
    def __init__(self) -> None:
        self.clients: list[tuple[str, str]] = []  # (transport, client address)
        self.lock = threading.Lock()

    def add(self, transport: str, address: str) -> None:
        with self.lock:
            self.clients.append((transport, address))


def _servers(seen: Seen) -> Iterator[tuple[int, int]]:
    class TCP(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            seen.add("tcp", self.client_address[0])

    class UDP(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            seen.add("udp", self.client_address[0])
            sock.sendto(b"pong", self.client_address)

    class TCP6(socketserver.ThreadingTCPServer):
        address_family = socket.AF_INET6

    class UDP6(socketserver.ThreadingUDPServer):
        address_family = socket.AF_INET6

    tcp4 = socketserver.ThreadingTCPServer((V4, 0), TCP)
    tcp_port = tcp4.server_address[1]
    udp4 = socketserver.ThreadingUDPServer((V4, 0), UDP)
    udp_port = udp4.server_address[1]
    servers = [tcp4, udp4, TCP6((V6, tcp_port), TCP), UDP6((V6, udp_port), UDP)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield tcp_port, udp_port
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[tuple[Seen, Path, Path]]:
    seen = Seen()
    for tcp_port, udp_port in _servers(seen):
        profile = tmp_path / "profile.yaml"
        profile.write_text(json.dumps({"name": "egress", "role": "sensor", "flows": [
            {"id": "t", "purpose": "tcp", "protocol": "TCP", "transport": "tcp", "port": tcp_port,
             "direction": "out", "peer": "console", "probe": "tcp"},
            {"id": "u", "purpose": "udp", "protocol": "UDP", "transport": "udp", "port": udp_port,
             "direction": "out", "peer": "console", "probe": "udp"}]}))
        site = tmp_path / "site.yaml"
        site.write_text(json.dumps({"name": "lo", "peers": {"console": [V4, V6]}}))
        yield seen, profile, site


def scan(profile: Path, site: Path, tmp_path: Path, *flags: str) -> dict[tuple[str, str], Any]:
    out = tmp_path / "out.json"
    code = main(["scan", "--profile", str(profile), "--site", str(site), "--timeout", "1", "--format", "json",
                 "--output", str(out), "--no-progress", "--no-raw", *flags])
    assert code in (0, 1)
    report = json.loads(out.read_text())
    return {(r["flow"], r["destination"]): r for r in report["results"]}


def verdicts(results: dict[tuple[str, str], Any]) -> dict[tuple[str, str], tuple[str, str]]:
    return {key: (r["status"], r["reason"]) for key, r in results.items()}


def test_default_keeps_both_families(loopback: tuple[Seen, Path, Path], tmp_path: Path) -> None:
    seen, profile, site = loopback
    assert verdicts(scan(profile, site, tmp_path)) == {
        ("t", V4): ("pass", "open"), ("t", V6): ("pass", "open"),
        ("u", V4): ("pass", "answered"), ("u", V6): ("pass", "answered")}
    assert sorted(set(seen.clients)) == [("tcp", V4), ("tcp", V6), ("udp", V4), ("udp", V6)]


@pytest.mark.parametrize(("flag", "kept", "other"), [("-4", V4, V6), ("-6", V6, V4)])
def test_one_family_only(loopback: tuple[Seen, Path, Path], tmp_path: Path, flag: str, kept: str,
                         other: str) -> None:
    seen, profile, site = loopback
    results = scan(profile, site, tmp_path, flag)
    assert verdicts(results)[("t", kept)] == ("pass", "open")
    assert verdicts(results)[("u", kept)] == ("pass", "answered")
    for flow in ("t", "u"):
        assert verdicts(results)[(flow, other)] == ("skip", "not-applicable")
        assert f"this scan runs with {flag}" in results[(flow, other)]["detail"]
    assert {address for _, address in seen.clients} == {kept}
    assert json.loads((tmp_path / "out.json").read_text())["run"]["options"]["family"] == f"ipv{flag[1]}"


def test_source_and_interface(loopback: tuple[Seen, Path, Path], tmp_path: Path) -> None:
    seen, profile, site = loopback
    results = scan(profile, site, tmp_path, "--source", V6)
    assert verdicts(results)[("t", V6)] == ("pass", "open")
    assert verdicts(results)[("t", V4)] == ("skip", "not-applicable")
    assert {address for _, address in seen.clients} == {V6}
    if os.geteuid() == 0:  # SO_BINDTODEVICE needs root; CI runs as root
        results = scan(profile, site, tmp_path, "--interface", "lo")
        assert {r["status"] for r in results.values()} == {"pass"}


@pytest.mark.parametrize(("flags", "problem"), [
    (["--source", "203.0.113.77"], "not an address of this host"),
    (["--source", "not-an-ip"], "is not an IP address"),
    (["-4", "--source", V6], "is not IPv4"),
    (["--interface", "nc-no-such0"], "no such interface"),
    (["-4", "-6"], "not allowed with argument"),
])
def test_bad_choices_are_one_line(loopback: tuple[Seen, Path, Path], tmp_path: Path, flags: list[str],
                                  problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    seen, profile, site = loopback
    assert main(["scan", "--profile", str(profile), "--site", str(site), "--no-progress", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and problem in err[0]
    assert seen.clients == []  # refused before any packet


def test_egress_rules() -> None:
    assert Egress(family=4).refuses(V6) and not Egress(family=4).refuses(V4)
    assert Egress(source=V4).refuses(V6) and Egress(source=V4).source_for(V4) == V4
    assert Egress(interface="eth0", interface_addresses=("198.51.100.10", V6)).source_for(V6) == V6
    assert Egress().source_for(V4) is None and Egress().as_dict() == {}
    assert choose(None, None, None, (V4,)) == Egress()


def test_listener_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["listen", "--profile", "console", "-6", "--bind", V4, "--duration", "1s"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "-6: none of the addresses to listen on (127.0.0.1) is IPv6" in err[0]
