"""NTP probe: a real chronyd on loopback, and hostile or lying NTP servers in-process."""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netcheck.judges import as_verdict
from netcheck.model import Observation, Reason, Status
from netcheck.probes import ProbeContext, get
from netcheck.probes.ntp import reference_id_text
from tests.conftest import make_flow

from .hostile_udp import HostileUdp
from .loopback_daemons import daemon, free_port, need

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 to 1970


def observe(port: int, timeout: float = 1.0, tries: int = 2, **options: object) -> tuple[Observation, Status, float]:
    flow = make_flow(port, transport="udp", probe="ntp", peer="ntp", options=dict(options))
    kind = get("ntp")
    ctx = ProbeContext(timeout=timeout, run_id="ntptest", udp_tries=tries)
    started = time.monotonic()
    observation = asyncio.run(kind.observe(flow, "127.0.0.1", ctx))
    return observation, as_verdict(kind.judge(flow, observation)).status, time.monotonic() - started


def chrony(tmp_path: Path, *extra: str) -> Iterator[int]:
    if os.geteuid() != 0:
        pytest.skip("chronyd needs root to start (it drops privileges itself)")
    binary = need("chronyd")
    port = free_port()
    conf = tmp_path / "chrony.conf"
    conf.write_text("\n".join([f"port {port}", "bindaddress 127.0.0.1", "allow 127.0.0.1", "cmdport 0",
                               f"pidfile {tmp_path}/chronyd.pid", *extra]) + "\n")
    # -x: never touch this host's clock; -d: stay in the foreground.
    with daemon([binary, "-x", "-d", "-f", str(conf)], [("udp", port)], tmp_path / "chronyd.log"):
        yield port


@pytest.fixture
def chrony_synced(tmp_path: Path) -> Iterator[int]:
    yield from chrony(tmp_path, "local stratum 8")


@pytest.fixture
def chrony_unsynced(tmp_path: Path) -> Iterator[int]:
    yield from chrony(tmp_path)


def test_real_chronyd_reports_stratum_reference_and_offset(chrony_synced: int) -> None:
    observation, status, _ = observe(chrony_synced)
    assert (status, observation.reason) == (Status.PASS, Reason.ANSWERED)
    facts = observation.evidence
    assert facts["stratum"] == 8 and facts["leap"] == 0
    # chrony's local clock reference is 127.127.1.1
    assert facts["reference_id"] == "127.127.1.1"
    # same machine, same clock: the offset is tiny
    assert abs(facts["offset_s"]) < 0.05 and 0 <= facts["delay_s"] < 0.5
    assert "stratum 8" in observation.detail
    # the judge names the rule and the measured offset, from the typed facts
    verdict = as_verdict(get("ntp").judge(make_flow(chrony_synced, transport="udp", probe="ntp", peer="ntp"),
                                          observation))
    assert verdict.expected == "offset <= 1 s"
    assert verdict.found == f"offset {observation.evidence['offset_s']:+.3f} s"


def test_unsynchronised_chronyd_is_a_warning(chrony_unsynced: int) -> None:
    observation, status, _ = observe(chrony_unsynced)
    assert (status, observation.reason) == (Status.WARN, Reason.UNSYNCHRONISED)
    assert observation.evidence["leap"] == 3


def test_closed_port_is_refused_with_the_icmp_sender() -> None:
    observation, status, elapsed = observe(free_port())
    assert (status, observation.reason) == (Status.FAIL, Reason.REFUSED)
    assert observation.evidence["icmp"]["sender"] == "127.0.0.1"
    assert elapsed < 0.5


def ntp_reply(request: bytes, *, offset: float = 0.0, stratum: int = 2, leap: int = 0, mode: int = 4,
              ref: bytes = b"\xc0\x00\x02\x01", echo: bool = True) -> bytes:
    now = time.time() + offset + NTP_EPOCH_OFFSET
    stamp = struct.pack("!II", int(now), int((now % 1) * 2**32))
    origin = request[40:48] if echo else b"\x00" * 8
    head = struct.pack("!BBbb", leap << 6 | 4 << 3 | mode, stratum, 6, -20) + b"\x00" * 8 + ref
    return head + stamp + origin + stamp + stamp


@pytest.mark.parametrize(("reply", "reason", "status", "words"), [
    (lambda r: ntp_reply(r, offset=120.0), Reason.CLOCK_OFFSET, Status.WARN, "threshold 1 s"),
    (lambda r: ntp_reply(r, stratum=16), Reason.UNSYNCHRONISED, Status.WARN, "stratum 16"),
    (lambda r: ntp_reply(r, stratum=0, leap=3, ref=b"DENY"), Reason.UNSYNCHRONISED, Status.FAIL, "refuses"),
    (lambda r: ntp_reply(r, stratum=1, ref=b"GPS\x00"), Reason.ANSWERED, Status.PASS, "reference GPS"),
    (lambda r: ntp_reply(r, mode=3), Reason.PROTOCOL_ERROR, Status.FAIL, "mode 3"),
    (lambda r: ntp_reply(r, echo=False), Reason.PROTOCOL_ERROR, Status.FAIL, "not an answer"),
    (lambda r: b"\x1c\x02garbage", Reason.PROTOCOL_ERROR, Status.FAIL, "9-byte"),
    (lambda r: os.urandom(48), Reason.PROTOCOL_ERROR, Status.FAIL, "reply"),
    (lambda r: b"\xff" * 9000, Reason.PROTOCOL_ERROR, Status.FAIL, "reply"),
])
def test_lying_and_garbage_servers_end_with_a_reason(
    reply: Callable[[bytes], bytes], reason: Reason, status: Status, words: str
) -> None:
    with HostileUdp(lambda request: [reply(request)]) as server:
        observation, judged, elapsed = observe(server.port)
    assert (judged, observation.reason) == (status, reason), observation.detail
    assert words in observation.detail
    assert elapsed < 1.0


def test_offset_threshold_is_an_option() -> None:
    with HostileUdp(lambda request: [ntp_reply(request, offset=5.0)]) as server:
        relaxed, status, _ = observe(server.port, max_offset_s=10)
    assert (status, relaxed.reason) == (Status.PASS, Reason.ANSWERED)
    assert 4.5 < relaxed.evidence["offset_s"] < 5.5


def test_a_silent_server_is_no_response_within_the_deadline() -> None:
    with HostileUdp(lambda request: []) as server:
        observation, status, elapsed = observe(server.port, timeout=0.6, tries=3)
        sent = len(server.received)
    assert (status, observation.reason) == (Status.FAIL, Reason.NO_RESPONSE)
    assert sent == 3 and observation.evidence["tries"] == 3
    assert elapsed < 0.6 + 0.3


def test_a_retry_reply_counts_its_own_try() -> None:
    answered: list[bytes] = []

    def second_only(request: bytes) -> list[bytes]:
        answered.append(request)
        return [ntp_reply(request)] if len(answered) == 2 else []

    with HostileUdp(second_only) as server:
        observation, status, _ = observe(server.port, timeout=1.0, tries=3)
    assert status is Status.PASS and observation.evidence["tries"] == 2
    # each try carries a fresh transmit timestamp, so the delay is that try's alone
    assert answered[0][40:48] != answered[1][40:48]
    assert observation.evidence["delay_s"] < 0.3


def test_reference_id_text() -> None:
    assert reference_id_text(0xC6336401, 2) == "198.51.100.1"
    assert reference_id_text(int.from_bytes(b"LOCL"), 1) == "LOCL"
    assert reference_id_text(int.from_bytes(b"RATE"), 0) == "RATE"


def test_a_busy_event_loop_does_not_skew_the_offset() -> None:
    # Given a server that answers after 50 ms, while another task blocks the loop for 0.6 s
    def late(request: bytes) -> list[bytes]:
        time.sleep(0.05)
        return [ntp_reply(request)]

    async def scan(port: int) -> Observation:
        async def hog() -> None:
            await asyncio.sleep(0.01)
            time.sleep(0.6)  # e.g. another probe importing a heavy library

        flow = make_flow(port, transport="udp", probe="ntp", peer="ntp")
        observation, _ = await asyncio.gather(get("ntp").observe(flow, "127.0.0.1", ProbeContext(timeout=2.0,
                                                                                               run_id="t")), hog())
        return observation

    with HostileUdp(late) as server:
        observation = asyncio.run(scan(server.port))
    # Then the kernel's arrival stamp keeps delay and offset true to the wire
    assert observation.reason is Reason.ANSWERED
    assert observation.evidence["delay_s"] < 0.2
    assert abs(observation.evidence["offset_s"]) < 0.1
