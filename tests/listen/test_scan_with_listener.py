"""The scanner's side: the listener probe against a real listener on loopback, the engine's
choice of probe kind, the site setting, and the whole two-sided run through the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from netcheck import tokens
from netcheck.cli import build_parser
from netcheck.engine import Limits, scan
from netcheck.errors import ConfigError, UsageError
from netcheck.listen.receipt import join_receipt, load_receipt
from netcheck.listen.scanning import ListenerChoice, listener_peers
from netcheck.listen.server import Endpoint
from netcheck.model import PortRange, Reason, Status
from netcheck.probes import ProbeContext
from netcheck.probes.listener import observe_listener
from netcheck.profiles import load_profile, load_site
from netcheck.serialize import loads
from tests.conftest import make_flow
from tests.listen.helpers import free_port, running

REPO = Path(__file__).resolve().parents[2]
KEY = "a listener key, 16+ chars"


def context(key: str | None = None, timeout: float = 1.0) -> ProbeContext:
    return ProbeContext(timeout=timeout, run_id="5a5a5a5a5a5a5a5a", udp_tries=2,
                        env={tokens.KEY_ENV: key} if key else {})


def observe(flow_port: int | PortRange, transport: str, endpoints: list[Endpoint], *, listener_key: str | None = None,
            scanner_key: str | None = None) -> tuple[Reason, str, dict]:  # type: ignore[type-arg]
    async def scenario() -> tuple[Reason, str, dict]:  # type: ignore[type-arg]
        key = listener_key.encode() if listener_key else None
        async with running(endpoints, key=key):
            seen = await observe_listener(make_flow(flow_port, transport=transport, probe=transport), "127.0.0.1",
                                          context(scanner_key))
        return seen.reason, seen.detail, dict(seen.evidence)

    return asyncio.run(scenario())


def test_tcp_and_udp_are_confirmed_end_to_end() -> None:
    tcp, udp = free_port("tcp"), free_port("udp")
    reason, detail, evidence = observe(tcp, "tcp", [Endpoint("tcp", tcp)])
    assert reason is Reason.CONFIRMED and "echoed this run's token" in detail
    assert evidence["listener"]["echo_port"] == tcp
    reason, detail, evidence = observe(udp, "udp", [Endpoint("udp", udp)])
    assert reason is Reason.CONFIRMED
    assert evidence["listener"]["token"].startswith("5a5a5a5a5a5a5a5a-")


def test_udp_silence_is_blocked_not_no_response() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        port = black_hole.getsockname()[1]
        reason, detail, evidence = observe(port, "udp", [])
    assert reason is Reason.BLOCKED and evidence["one_sided"] == "no-response"
    assert "no echo to 2 tokens" in detail


def test_closed_tcp_port_stays_refused() -> None:
    port = free_port("tcp")
    reason, _detail, evidence = observe(port, "tcp", [])
    assert reason is Reason.REFUSED and "token" in evidence["listener"]


def test_another_service_on_the_port_is_unconfirmed() -> None:
    async def scenario() -> tuple[Reason, str, dict]:  # type: ignore[type-arg]
        async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
            await writer.drain()
            await asyncio.sleep(2)
            writer.close()

        server = await asyncio.start_server(banner, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            seen = await observe_listener(make_flow(port), "127.0.0.1", context(timeout=0.6))
        return seen.reason, seen.detail, dict(seen.evidence)

    reason, detail, evidence = asyncio.run(scenario())
    assert reason is Reason.UNCONFIRMED and "another service holds the port" in detail
    assert bytes.fromhex(evidence["answer"]).startswith(b"SSH-2.0")


def test_a_key_mismatch_gets_no_confirmation() -> None:
    udp, tcp = free_port("udp"), free_port("tcp")
    reason, _d, _e = observe(udp, "udp", [Endpoint("udp", udp)], listener_key=KEY, scanner_key="another key, 16+ chars")
    assert reason is Reason.BLOCKED
    reason, _d, _e = observe(tcp, "tcp", [Endpoint("tcp", tcp)], listener_key=KEY, scanner_key=None)
    assert reason is Reason.UNCONFIRMED
    reason, _d, evidence = observe(udp, "udp", [Endpoint("udp", udp)], listener_key=KEY, scanner_key=KEY)
    assert reason is Reason.CONFIRMED and evidence["listener"]["keyed"] is True


def test_port_range_confirms_every_sampled_port() -> None:
    first = free_port("tcp")
    ports = PortRange(first, first + 2)
    endpoints = [Endpoint("tcp", p) for p in range(first, first + 3)]
    try:
        reason, detail, evidence = observe(ports, "tcp", endpoints)
    except OSError:
        pytest.skip("neighbouring ports are taken")
    assert reason is Reason.CONFIRMED and len(evidence["listener"]["tokens"]) == 3
    reason, detail, evidence = observe(ports, "tcp", endpoints[:2])
    assert reason is Reason.REFUSED and f"({first + 2})" in detail


def test_engine_uses_the_listener_only_for_the_chosen_peers() -> None:
    tcp, udp = free_port("tcp"), free_port("udp")
    flows = [make_flow(tcp, flow_id="to-console", peer="console"),
             make_flow(udp, transport="udp", probe="udp", flow_id="to-syslog", peer="syslog")]

    async def scenario() -> dict[str, Reason]:
        async with running([Endpoint("tcp", tcp), Endpoint("udp", udp)]):
            results = await scan(flows, context(), Limits(timeout=1.0), None, [ListenerChoice(frozenset({"console"}))])
        return {r.flow.id: r.reason for r in results}

    reasons = asyncio.run(scenario())
    # The syslog flow keeps its plain UDP probe: an empty datagram the listener ignores.
    assert reasons == {"to-console": Reason.CONFIRMED, "to-syslog": Reason.NO_RESPONSE}


def test_site_setting_and_option_name_the_listener_peers(tmp_path: Path) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text("name: s\npeers:\n  console: 127.0.0.1\nsettings:\n  console: {listener: true}\n")
    site = load_site(site_file, load_profile("sensor"))
    assert listener_peers((), site) == {"console"}
    assert listener_peers(("syslog", "ntp"), site) == {"console", "syslog", "ntp"}
    assert listener_peers(("*",), site) == {"*"}
    assert listener_peers("syslog", site) == {"console", "syslog"}
    scan_options = {args: build_parser().parse_args(["scan", *args]).listener
                    for args in [(), ("--listener",), ("--listener", "syslog, ntp")]}
    assert scan_options == {(): None, ("--listener",): ("*",), ("--listener", "syslog, ntp"): ("syslog", "ntp")}
    with pytest.raises(UsageError, match="unknown peer 'consle'"):
        listener_peers(("consle",), site)
    site_file.write_text("name: s\npeers:\n  console: 127.0.0.1\nsettings:\n  console: {listener: yes-please}\n")
    with pytest.raises(ConfigError, match="listener"):
        load_site(site_file, load_profile("sensor"))


def test_two_sided_run_through_the_cli(tmp_path: Path) -> None:
    """listen on the far side, scan with --listener, join the receipt: every piece as a user runs it."""
    tcp, udp = free_port("tcp"), free_port("udp")
    (tmp_path / "far.yaml").write_text(
        "name: far\nrole: console\nflows:\n"
        f"  - {{id: tunnel, purpose: t, protocol: T, transport: tcp, port: {tcp}, direction: in, peer: sensors, "
        "probe: local-listener}\n"
        f"  - {{id: ntp-serve, purpose: t, protocol: NTP, transport: udp, port: {udp}, direction: in, "
        "peer: sensors, probe: local-listener}\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        silent = black_hole.getsockname()[1]
        (tmp_path / "site.yaml").write_text(
            f"name: loop\npeers:\n  console: 127.0.0.1\n  syslog: 127.0.0.1\n"
            f"ports:\n  tunnel: {tcp}\n  ntp-console: {udp}\n  syslog: {silent}\n"
            "settings:\n  console: {listener: true}\n")
        env = {**os.environ, "PYTHONPATH": str(REPO), tokens.KEY_ENV: KEY}
        listen = subprocess.Popen(
            [sys.executable, "-m", "netcheck", "listen", "--profile", "far.yaml", "--bind", "127.0.0.1",
             "--duration", "20s", "--receipt", "receipt.json"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert listen.stderr is not None
            while "listening for" not in (line := listen.stderr.readline()):
                assert line, "the listener ended early"
            run = subprocess.run(
                [sys.executable, "-m", "netcheck", "scan", "--profile", "sensor", "--site", "site.yaml",
                 "--listener", "syslog", "--no-raw", "--timeout", "1", "--format", "json", "--output", "scan.json"],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        finally:
            listen.terminate()
            listen.communicate(timeout=10)
    assert run.returncode == 1, run.stderr
    results = {r["flow"]: r for r in json.loads((tmp_path / "scan.json").read_text())["results"]}
    assert (results["tunnel"]["status"], results["tunnel"]["reason"]) == ("pass", "confirmed")
    assert (results["ntp-console"]["status"], results["ntp-console"]["reason"]) == ("pass", "confirmed")
    assert (results["syslog"]["status"], results["syslog"]["reason"]) == ("fail", "blocked")
    assert listen.returncode == 0
    joined = join_receipt(loads((tmp_path / "scan.json").read_text(), "scan.json"),
                          load_receipt(tmp_path / "receipt.json"))
    by_id = {r.flow.id: r for r in joined.results}
    assert by_id["ntp-console"].evidence["receipt"]["sources"] == ["127.0.0.1"]
    assert by_id["syslog"].status is Status.FAIL and "never arrived" in by_id["syslog"].detail
    # The same join through `netcheck report --receipt`, as a user would ask for it.
    rendered = subprocess.run(
        [sys.executable, "-m", "netcheck", "report", "scan.json", "--receipt", "receipt.json", "-f", "json",
         "-o", "joined.json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    joined_cli = {r["flow"]: r for r in json.loads((tmp_path / "joined.json").read_text())["results"]}
    assert joined_cli["ntp-console"]["evidence"]["receipt"]["sources"] == ["127.0.0.1"]
    assert "never arrived" in joined_cli["syslog"]["detail"]
