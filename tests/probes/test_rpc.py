"""RPC probe: the hand-written DCE/RPC PDUs byte for byte, hostile servers, and a real
Samba endpoint mapper on loopback (the lab's Samba: tests/lab/test_protocol_probes_lab.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcheck.model import PortRange, Reason
from netcheck.probes import ProbeContext
from netcheck.probes._dcerpc import (
    EPM_UUID,
    NDR_UUID,
    BindAck,
    BindNak,
    PduError,
    bind_pdu,
    ept_lookup_request,
    parse_bind_answer,
    parse_ept_lookup,
    parse_header,
    parse_tower,
)
from netcheck.probes.rpc import observe_rpc
from tests.conftest import make_flow
from tests.probes.hostile import ENGINE_GRACE_S, close_at_once, drip, flood, run_probe, script, silent

CTX = ProbeContext(timeout=1.2, run_id="rpc-test")
FLOW = make_flow(135, probe="rpc", peer="wmi")
SAMBA = Path("/usr/libexec/samba/samba-dcerpcd")


def bind_ack(*, address: bytes = b"135\x00", result: int = 0, reason: int = 0, big_endian: bool = False,
             call_id: int = 1) -> bytes:
    order = ">" if big_endian else "<"
    body = struct.pack(order + "HHIH", 4280, 4280, 0x1234, len(address)) + address
    pad = (-(16 + len(body))) % 4
    body += b"\x00" * pad + struct.pack(order + "BBH", 1, 0, 0)
    body += struct.pack(order + "HH", result, reason)
    body += (NDR_UUID.bytes if big_endian else NDR_UUID.bytes_le) + struct.pack(order + "I", 2)
    drep = b"\x00\x00\x00\x00" if big_endian else b"\x10\x00\x00\x00"
    header = struct.pack("<BBBB", 5, 0, 12, 3) + drep + struct.pack(order + "HHI", 16 + len(body), 0, call_id)
    return header + body


def bind_nak(reason: int) -> bytes:
    body = struct.pack("<HB", reason, 1) + b"\x05\x00"
    return struct.pack("<BBBB4sHHI", 5, 0, 13, 3, b"\x10\x00\x00\x00", 16 + len(body), 0, 1) + body


def tcp_tower(interface: uuid.UUID, port: int, address: str) -> bytes:
    floors = [
        (b"\x0d" + interface.bytes_le + struct.pack("<H", 1), struct.pack("<H", 0)),
        (b"\x0d" + NDR_UUID.bytes_le + struct.pack("<H", 2), struct.pack("<H", 0)),
        (b"\x0b", struct.pack("<H", 0)),
        (b"\x07", struct.pack(">H", port)),
        (b"\x09", socket.inet_aton(address)),
    ]
    out = struct.pack("<H", len(floors))
    for lhs, rhs in floors:
        out += struct.pack("<H", len(lhs)) + lhs + struct.pack("<H", len(rhs)) + rhs
    return out


def lookup_stub(entries: list[tuple[str, bytes | None]], status: int = 0) -> bytes:
    """An ept_lookup response stub as NDR lays it out: inline entries, then deferred towers."""
    out = b"\x00" * 20 + struct.pack("<IIII", len(entries), len(entries), 0, len(entries))
    for index, (annotation, tower) in enumerate(entries):
        text = annotation.encode() + b"\x00"
        out += uuid.uuid4().bytes_le + struct.pack("<I", 0x20000 + index if tower else 0)
        out += struct.pack("<II", 0, len(text)) + text + b"\x00" * ((-len(text)) % 4)
    for _, tower in entries:
        if tower:
            out += struct.pack("<II", len(tower), len(tower)) + tower + b"\x00" * ((-len(tower)) % 4)
    return out + struct.pack("<I", status)


# --- PDUs (pure) --------------------------------------------------------------------------------

def test_bind_pdu_layout() -> None:
    pdu = bind_pdu(call_id=7)
    assert len(pdu) == 72
    header = parse_header(pdu)
    assert (header.version, header.ptype, header.frag_length, header.call_id) == (5, 11, 72, 7)
    assert pdu[4:8] == b"\x10\x00\x00\x00"  # little-endian NDR
    assert pdu[16:24] == struct.pack("<HHI", 5840, 5840, 0)
    assert pdu[24:28] == b"\x01\x00\x00\x00" and pdu[28:32] == b"\x00\x00\x01\x00"
    assert pdu[32:48] == EPM_UUID.bytes_le and pdu[48:52] == struct.pack("<HH", 3, 0)
    assert pdu[52:68] == NDR_UUID.bytes_le and pdu[68:72] == struct.pack("<I", 2)


@pytest.mark.parametrize("big_endian", [False, True])
def test_parse_bind_ack(big_endian: bool) -> None:
    answer = parse_bind_answer(bind_ack(big_endian=big_endian))
    assert isinstance(answer, BindAck)
    assert (answer.max_xmit_frag, answer.max_recv_frag, answer.assoc_group) == (4280, 4280, 0x1234)
    assert answer.secondary_address == "135"
    assert answer.results[0].accepted and answer.results[0].transfer_syntax == f"{NDR_UUID} v2"


def test_parse_bind_nak() -> None:
    answer = parse_bind_answer(bind_nak(4))
    assert isinstance(answer, BindNak)
    assert answer.describe() == "protocol version not supported" and answer.versions == ("5.0",)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\x05\x00\x0c", "shorter than a DCE/RPC header"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not DCE/RPC"),
        (bind_ack()[:40], "truncated"),
        (struct.pack("<BBBB4sHHI", 5, 0, 12, 3, b"\x10\x00\x00\x00", 8, 0, 1), "shorter than the header"),
        (struct.pack("<BBBB4sHHI", 5, 0, 2, 3, b"\x10\x00\x00\x00", 16, 0, 1), "expected bind_ack or bind_nak"),
    ],
)
def test_malformed_answers_raise_pdu_error(data: bytes, words: str) -> None:
    with pytest.raises(PduError, match=words):
        parse_bind_answer(data)


def test_ept_lookup_request_and_response() -> None:
    request = ept_lookup_request(call_id=2, max_entries=64)
    assert parse_header(request).ptype == 0 and struct.unpack_from("<H", request, 22)[0] == 2  # opnum
    assert len(request) == 16 + 8 + 40
    interface = uuid.UUID("338cd001-2244-31f1-aaaa-900038001003")
    answer = parse_ept_lookup(lookup_stub([("winreg", tcp_tower(interface, 49152, "127.0.0.1")),
                                           ("no tower", None)], status=0x16C9A0D6))
    assert answer.status == 0x16C9A0D6
    (endpoint,) = answer.endpoints
    assert endpoint.protocol == "ncacn_ip_tcp" and endpoint.port == 49152 and endpoint.address == "127.0.0.1"
    assert endpoint.interface == f"{interface} v1.0" and endpoint.annotation == "winreg"


def test_tower_that_is_not_an_interface_is_ignored_and_garbage_raises() -> None:
    assert parse_tower(struct.pack("<HH", 1, 1) + b"\x07" + struct.pack("<H", 2) + b"\x00\x87") is None
    with pytest.raises(PduError):
        parse_tower(b"\x05\x00\x01")
    with pytest.raises(PduError):
        parse_ept_lookup(b"\x00" * 20 + struct.pack("<IIII", 5, 5, 0, 4))


# --- hostile servers ----------------------------------------------------------------------------

def _fault() -> bytes:
    body = struct.pack("<IHBBI", 0, 0, 0, 0, 0x1C010002) + b"\x00" * 4
    return struct.pack("<BBBB4sHHI", 5, 0, 3, 3, b"\x10\x00\x00\x00", 16 + len(body), 0, 2) + body


@pytest.mark.parametrize(
    "options, handler, reason, words",
    [
        ({}, script(None, bind_nak(2)), Reason.PROTOCOL_ERROR, "bind_nak: local limit exceeded"),
        ({}, script(None, bind_ack(result=2, reason=1)), Reason.PROTOCOL_ERROR, "abstract syntax not supported"),
        ({}, script(None, b"HTTP/1.1 400 Bad Request\r\n\r\n"), Reason.PROTOCOL_ERROR, "not DCE/RPC"),
        ({}, script(b"SSH-2.0-OpenSSH_9.2\r\n"), Reason.PROTOCOL_ERROR, "not DCE/RPC"),
        ({}, flood(after_request=True), Reason.PROTOCOL_ERROR, "no valid bind answer"),
        ({}, drip(bind_ack()), Reason.TIMEOUT, "no complete bind answer"),
        ({}, silent, Reason.TIMEOUT, "no complete bind answer"),
        ({}, script(None, bind_ack()[:20]), Reason.TIMEOUT, "no complete bind answer"),  # promises more, stalls
        ({}, close_at_once, Reason.PROTOCOL_ERROR, "no valid bind answer"),  # a close or a reset
        ({"lookup": True}, script(None, bind_ack(), None, _fault()), Reason.ANSWERED, "lookup: the server answered "
         "with a fault, status 0x1c010002"),
        ({"lookup": True}, script(None, bind_ack()), Reason.ANSWERED, "lookup: no complete answer before the deadline"),
    ],
)
def test_hostile_servers(options: dict[str, object], handler: object, reason: Reason, words: str) -> None:
    flow = make_flow(135, probe="rpc", peer="wmi", options=options)
    observation, took = run_probe(observe_rpc, flow, CTX, handler)  # type: ignore[arg-type]
    assert observation.reason is reason, observation.detail
    assert words in observation.detail
    assert took < CTX.timeout + ENGINE_GRACE_S


def test_port_range_flow_samples_the_range_on_loopback() -> None:
    # Nothing listens on most loopback ports: resets prove the path is open.
    flow = make_flow(PortRange(40000, 40100), probe="rpc", peer="wmi", options={"dynamic_sample": 4})
    observation = asyncio.run(observe_rpc(flow, "127.0.0.1", CTX))
    assert observation.reason is Reason.REACHABLE, observation.detail
    assert len(observation.evidence["sampled"]) == 4


# --- a real Samba endpoint mapper on 127.0.0.1:135 -------------------------------------------------

def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if os.geteuid() != 0 or not SAMBA.exists():
        pytest.skip("needs root and samba-dcerpcd (Debian package samba)")
    if not _port_free(135):
        pytest.skip("127.0.0.1:135 is in use")
    d = tmp_path_factory.mktemp("samba")
    dirs = {key: d / key for key in ("private", "lock", "state", "cache", "pid", "ncalrpc", "log", "bind-dns")}
    for path in dirs.values():
        path.mkdir()
    conf = d / "smb.conf"
    conf.write_text("[global]\n  server role = standalone server\n  interfaces = 127.0.0.1\n"
                    "  bind interfaces only = yes\n  rpc start on demand helpers = false\n  disable netbios = yes\n"
                    "  load printers = no\n  disable spoolss = yes\n"
                    + "".join(f"  {key} = {dirs[name]}\n" for key, name in (
                        ("private dir", "private"), ("lock directory", "lock"), ("state directory", "state"),
                        ("cache directory", "cache"), ("pid directory", "pid"), ("ncalrpc dir", "ncalrpc"),
                        ("binddns dir", "bind-dns")))
                    + f"  log file = {dirs['log']}/%m.log\n")
    log = d / "samba.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(SAMBA), "-F", "--libexec-rpcds", "-s", str(conf)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while _port_free(135) or _port_free(49152):  # the mapper and its first dynamic endpoint
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"samba-dcerpcd did not start: {log.read_text(errors='replace')[-1500:]}")
            time.sleep(0.1)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)


def test_real_samba_bind_lookup_and_dynamic_ports(samba: None) -> None:
    flow = make_flow(135, probe="rpc", peer="wmi", options={"lookup": True, "dynamic_sample": 3})
    observation = asyncio.run(observe_rpc(flow, "127.0.0.1", ProbeContext(timeout=3, run_id="samba")))
    assert observation.reason is Reason.ANSWERED, observation.detail
    evidence = observation.evidence
    assert evidence["pdu"] == "bind_ack" and evidence["secondary_address"] == "135"
    lookup = evidence["lookup"]
    assert lookup["count"] > 5 and lookup["by_protocol"].get("ncacn_ip_tcp", 0) >= 1
    tested = lookup["tested"]
    assert tested and set(tested.values()) == {"open"}
    assert all(int(port) >= 1024 for port in tested)
    assert "registered TCP port(s)" in observation.detail and "dynamic range: all" in observation.detail
