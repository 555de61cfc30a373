"""Syslog probe: the RFC 5424 message, exactly one UDP datagram, TCP octet counting and
TLS, against a real rsyslogd on loopback (UDP, TCP and TLS inputs; the lab has UDP/TCP
too) and against hostile TCP servers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from netcheck.model import Reason
from netcheck.probes import ProbeContext, get
from netcheck.probes.syslog import message, observe_syslog, octet_counted
from tests.conftest import make_flow
from tests.probes.hostile import (
    ENGINE_GRACE_S,
    close_at_once,
    key_pem,
    make_cert,
    pem,
    run_probe,
    send_then_hold,
    silent,
    tls_garbage,
)

CTX = ProbeContext(timeout=1.2, run_id="run-5f2e9c", udp_tries=3)
UDP_FLOW = make_flow(514, transport="udp", probe="syslog", peer="syslog", flow_id="syslog")
TCP_FLOW = replace(UDP_FLOW, transport="tcp")
RFC5424 = re.compile(
    r"^<13>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ netcheck \d+ netcheck-probe "
    r'\[netcheck@32473 run="(?P<run>[^"]+)" flow="(?P<flow>[^"]+)" version="[^"]+"\] (?P<text>.+)$'
)


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_message_is_rfc5424_with_the_run_id_in_sd_and_text() -> None:
    text = message(CTX, UDP_FLOW, now=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), hostname="host a]b").decode()
    match = RFC5424.match(text)
    assert match, text
    assert match["run"] == "run-5f2e9c" and match["flow"] == "syslog"
    assert "run run-5f2e9c, flow syslog" in match["text"] and "no action needed" in match["text"]
    assert " 2026-01-02T03:04:05.678Z hosta]b netcheck " in text  # header fields lose spaces, never invent them


def test_structured_data_values_are_escaped() -> None:
    ctx = replace(CTX, run_id='a"b]c\\d')
    assert '[netcheck@32473 run="a\\"b\\]c\\\\d"' in message(ctx, UDP_FLOW).decode()


def test_octet_counting_frame() -> None:
    assert octet_counted(b"<13>1 - - - - - - hi") == b"20 <13>1 - - - - - - hi"


def test_udp_sends_exactly_one_datagram_and_is_unconfirmed() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.2)
    try:
        port = receiver.getsockname()[1]
        flow = replace(UDP_FLOW, port=port)
        observation = asyncio.run(observe_syslog(flow, "127.0.0.1", replace(CTX, timeout=0.5)))
        datagrams = []
        with contextlib.suppress(TimeoutError):
            while True:
                datagrams.append(receiver.recv(65535))
    finally:
        receiver.close()
    assert observation.reason is Reason.UNCONFIRMED
    assert get("syslog").judge(flow, observation).value == "warn"
    assert len(datagrams) == 1, datagrams  # udp_tries=3 must not repeat a log message
    assert RFC5424.match(datagrams[0].decode())
    assert observation.evidence["message"] == datagrams[0].decode()


def test_udp_to_a_closed_port_fails_refused() -> None:
    port = free_port(socket.SOCK_DGRAM)
    observation = asyncio.run(observe_syslog(replace(UDP_FLOW, port=port), "127.0.0.1", CTX))
    assert observation.reason is Reason.REFUSED, observation.detail


def test_tcp_refused() -> None:
    port = free_port(socket.SOCK_STREAM)
    observation = asyncio.run(observe_syslog(replace(TCP_FLOW, port=port), "127.0.0.1", CTX))
    assert observation.reason is Reason.REFUSED


@pytest.mark.parametrize(
    "flow, handler, reason, words",
    [
        (TCP_FLOW, send_then_hold(b"SSH-2.0-OpenSSH_9.2\r\n"), Reason.PROTOCOL_ERROR, "answered 'SSH-2.0-"),
        (TCP_FLOW, close_at_once, Reason.PROTOCOL_ERROR, "closed the connection"),
        (TCP_FLOW, silent, Reason.OPEN, "syslog acknowledges nothing"),  # what a real receiver does
        (replace(TCP_FLOW, options={"tls": True}), tls_garbage(), Reason.TLS_ERROR, "syslog TLS"),
        (replace(TCP_FLOW, options={"tls": True}), silent, Reason.TIMEOUT, "handshake did not finish"),
        (replace(UDP_FLOW, options={"transport": "tcp"}), silent, Reason.OPEN, "octet-counted"),
    ],
)
def test_tcp_and_tls_against_hostile_servers(flow: object, handler: object, reason: Reason, words: str) -> None:
    observation, took = run_probe(observe_syslog, flow, CTX, handler)  # type: ignore[arg-type]
    assert observation.reason is reason, observation.detail
    assert words in observation.detail
    assert took < CTX.timeout + ENGINE_GRACE_S


# --- a real rsyslogd on loopback ---------------------------------------------------------------

GTLS = Path("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so")


@dataclass(frozen=True)
class Rsyslog:
    udp: int
    tcp: int
    tls: int
    received: Path
    ca_file: Path


def _wait_tcp(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"rsyslogd exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    pytest.fail("rsyslogd did not listen")


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    binary = shutil.which("rsyslogd")
    if binary is None or os.geteuid() != 0:
        pytest.skip("needs root and rsyslogd (Debian package rsyslog)")
    if not GTLS.exists():
        pytest.skip("needs rsyslog's GnuTLS driver (Debian package rsyslog-gnutls)")
    d = tmp_path_factory.mktemp("rsyslog")
    ca = make_cert("syslog test CA", ca=True, days=(-1, 365))
    leaf, key = make_cert("localhost", issuer=ca, dns=("localhost",), ips=("127.0.0.1",))
    (d / "ca.pem").write_bytes(pem(ca[0]))
    (d / "cert.pem").write_bytes(pem(leaf))
    (d / "key.pem").write_bytes(key_pem(key))
    ports = Rsyslog(free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM),
                    d / "received.log", d / "ca.pem")
    (d / "rsyslog.conf").write_text(f"""global(workDirectory="{d}"
  DefaultNetstreamDriverCAFile="{d}/ca.pem" DefaultNetstreamDriverCertFile="{d}/cert.pem"
  DefaultNetstreamDriverKeyFile="{d}/key.pem")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{ports.udp}")
input(type="imtcp" address="127.0.0.1" port="{ports.tcp}")
input(type="imtcp" address="127.0.0.1" port="{ports.tls}"
      StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
*.* action(type="omfile" file="{ports.received}" template="RSYSLOG_SyslogProtocol23Format")
""")
    log = d / "rsyslogd.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, "-n", "-f", str(d / "rsyslog.conf"), "-i", str(d / "rsyslogd.pid")],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_tcp(ports.tls, proc, log)
        yield ports
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _arrived(rsyslog: Rsyslog, needle: str) -> list[str]:
    deadline = time.monotonic() + 3
    while True:
        text = rsyslog.received.read_text(errors="replace") if rsyslog.received.exists() else ""
        lines = [line for line in text.splitlines() if needle in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_real_rsyslogd_receives_the_message(rsyslog: Rsyslog, transport: str) -> None:
    port = {"udp": rsyslog.udp, "tcp": rsyslog.tcp, "tls": rsyslog.tls}[transport]
    options = {"tls": True, "ca_file": str(rsyslog.ca_file)} if transport == "tls" else {}
    flow = make_flow(port, transport="tcp" if transport != "udp" else "udp", probe="syslog", peer="syslog",
                     host="localhost", flow_id=f"syslog-{transport}", options=options)
    ctx = replace(CTX, run_id=f"run-{transport}-{os.getpid()}", timeout=1.0)
    observation = asyncio.run(observe_syslog(flow, "127.0.0.1", ctx))
    expected = {"udp": Reason.UNCONFIRMED, "tcp": Reason.OPEN, "tls": Reason.ANSWERED}[transport]
    assert observation.reason is expected, observation.detail
    lines = _arrived(rsyslog, f'run="{ctx.run_id}"')
    assert len(lines) == 1, rsyslog.received.read_text(errors="replace")[-2000:]
    # RSYSLOG_SyslogProtocol23Format writes RFC 5424 back out: app, msgid and SD survive the trip.
    assert f' netcheck {os.getpid()} netcheck-probe [netcheck@32473 run="{ctx.run_id}" flow="syslog-{transport}"' \
        in lines[0]
    if transport == "tls":
        assert observation.evidence["chain_verified"] is True
        assert observation.evidence["certificates"][0]["subject"] == "CN=localhost"
