"""NTP 123/udp: one client-mode request, judged on the server's stratum, leap and offset.

ntplib packs and parses the packet, but not its socket: this one reads ICMP errors
(refused and administratively prohibited keep their reason and sender, as in
udp.exchange) and takes the kernel's arrival timestamp of the reply. The offset must
not depend on when the event loop gets round to the reply: in a full scan other
probes import heavy libraries on the same loop, and a 0.6 s stall once showed up as
a 0.3 s clock offset.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from netcheck import pacing
from netcheck.judges import Verdict
from netcheck.model import Facts, Flow, JsonValue, Observation, PortRange, Reason, Status
from netcheck.net.sockets import connect_udp, elapsed_ms, failure_from_oserror
from netcheck.probes import ProbeContext, default_judge, register

DEFAULT_MAX_OFFSET_S = 1.0
NTP_VERSION = 4
MODE_SERVER = 4
PACKET_LEN = 48
# <asm-generic/socket.h>; the socket module does not export it everywhere.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
UNSYNCHRONISED_STRATUM = 16
LEAP_ALARM = 3
# Kiss-o'-death codes (stratum 0) that mean "this server will not serve you" (RFC 5905 7.4).
REFUSING_KISS_CODES = frozenset({"DENY", "RSTR"})


def reference_id_text(ref_id: int, stratum: int) -> str:
    """Stratum 0/1 carry a 4-character code (kiss code or clock source); higher strata an IPv4
    address (or, for IPv6 upstreams, the first 4 bytes of an MD5 hash, shown the same way)."""
    raw = struct.pack("!I", ref_id)
    if stratum <= 1:
        return "".join(chr(b) for b in raw if 32 <= b < 127).strip()
    return socket.inet_ntoa(raw)


@dataclass(frozen=True)
class NtpFacts(Facts):
    """One NTP server reply, typed for the judge (the same values are in the evidence).

    offset_s   the server's clock minus this host's, in seconds
    kiss_code  the stratum-0 kiss-o'-death code ("" when there is none)
    """

    stratum: int
    leap: int
    offset_s: float
    delay_s: float
    reference_id: str
    kiss_code: str = ""

    @property
    def synchronised(self) -> bool:
        return 0 < self.stratum < UNSYNCHRONISED_STRATUM and self.leap != LEAP_ALARM


def max_offset_of(flow: Flow) -> float:
    return flow.float_option("max_offset_s", DEFAULT_MAX_OFFSET_S)


def judge_ntp(flow: Flow, observation: Observation) -> Status | Verdict:
    """The site's NTP expectations against the reply: served (no DENY/RSTR), synchronised, and
    |offset| <= max_offset_s. Without a reply there is nothing to compare: the reason decides."""
    facts = observation.facts
    if not isinstance(facts, NtpFacts):
        return default_judge(flow, observation)
    if facts.kiss_code in REFUSING_KISS_CODES:
        # A server that sends DENY/RSTR will never set the appliance's clock: that is a failure.
        return Verdict(Status.FAIL, "the server serves this client", f"kiss-o'-death {facts.kiss_code}")
    if not facts.synchronised:
        return Verdict(Status.WARN, f"synchronised: stratum 1-{UNSYNCHRONISED_STRATUM - 1}, leap not {LEAP_ALARM}",
                       f"stratum {facts.stratum}, leap {facts.leap}")
    limit = max_offset_of(flow)
    status = Status.WARN if abs(facts.offset_s) > limit else Status.PASS
    return Verdict(status, f"offset <= {limit:g} s", f"offset {facts.offset_s:+.3f} s")


@register("ntp", judge=judge_ntp)
async def observe_ntp(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "NTP is tested on a single port, not a range")
    max_offset = max_offset_of(flow)
    # Each try gets its own request and timestamp, so a late answer cannot inflate the delay.
    tries = max(1, ctx.udp_tries)
    for attempt in range(1, tries + 1):
        observation = await request_once(address, flow.port, ctx.timeout / tries, max_offset)
        if observation.reason is not Reason.NO_RESPONSE:
            return _with_tries(observation, attempt)
    return Observation(
        Reason.NO_RESPONSE,
        f"NTP {flow.port}: no reply and no ICMP error to {tries} requests in {ctx.timeout:g} s "
        "(dropped by a firewall, or no NTP server there)",
        {"tries": tries, "timeout_s": ctx.timeout},
    )


def _with_tries(observation: Observation, attempt: int) -> Observation:
    return dataclasses.replace(observation, evidence={**observation.evidence, "tries": attempt})


async def request_once(address: str, port: int, timeout: float, max_offset: float) -> Observation:
    """One NTP client request and its reply (stamped by the kernel), or the ICMP error or silence."""
    import ntplib

    started = time.monotonic()
    sock = connect_udp(address, port, f"NTP {port}")
    if isinstance(sock, Observation):
        return dataclasses.replace(sock, latency_ms=elapsed_ms(started))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sent_wall = time.time()
        request = ntplib.NTPPacket(version=NTP_VERSION, mode=3,
                                   tx_timestamp=ntplib.system_to_ntp_time(sent_wall)).to_data()
        pacing.sent()
        sock.send(request)  # no await between stamping and sending
        async with asyncio.timeout(timeout):
            reply, arrived_wall = await _receive(sock)
        pacing.answered()
    except TimeoutError:
        return Observation(Reason.NO_RESPONSE, f"NTP {port}: no reply within {timeout:.2f} s", {})
    except OSError as exc:
        pacing.answered()
        failed = failure_from_oserror(exc, sock, f"NTP {port}")
        return Observation(failed.reason, failed.detail, failed.evidence, elapsed_ms(started))
    finally:
        sock.close()
    latency = round(max(0.0, arrived_wall - sent_wall) * 1000, 2)
    return read_reply(reply, request, ntplib.system_to_ntp_time(arrived_wall), max_offset, latency)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _receive(sock: socket.socket) -> tuple[bytes, float]:
    """The next datagram and its arrival time (the kernel's stamp; now, if it gave none)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data, ancillary, _flags, _addr = sock.recvmsg(65535, 256)
        except BlockingIOError:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(sock.fileno(), _resolve, readable)
            try:
                await readable
            finally:
                loop.remove_reader(sock.fileno())
            continue
        for level, kind, cdata in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                seconds, nanoseconds = struct.unpack("=qq", cdata[:16])
                return data, seconds + nanoseconds / 1e9
        return data, time.time()


def read_reply(reply: bytes, request: bytes, received_at: float, max_offset: float,
               latency_ms: float | None) -> Observation:
    """Judge one reply to the packet `request`, received at NTP time `received_at`."""
    import ntplib

    raw: dict[str, JsonValue] = {"reply_len": len(reply), "reply": reply[:64].hex()}
    if len(reply) < PACKET_LEN:
        return Observation(Reason.PROTOCOL_ERROR,
                           f"a {len(reply)}-byte reply is not an NTP packet ({PACKET_LEN} bytes or more)",
                           raw, latency_ms)
    stats = ntplib.NTPStats()
    stats.from_data(reply)
    stats.dest_timestamp = received_at
    if stats.mode != MODE_SERVER:
        return Observation(Reason.PROTOCOL_ERROR,
                           f"the reply is not from an NTP server (mode {stats.mode}, expected {MODE_SERVER})",
                           raw, latency_ms)
    # The server must echo our transmit time: anything else is not an answer to this request.
    # (origin timestamp: bytes 24-31 of the reply; transmit timestamp: bytes 40-47 of the request)
    if reply[24:32] != request[40:48]:
        return Observation(Reason.PROTOCOL_ERROR,
                           "the reply does not echo this request's timestamp (not an answer to it)",
                           raw, latency_ms)
    facts = _facts(stats)
    typed = NtpFacts(stats.stratum, stats.leap, stats.offset, stats.delay, facts["reference_id"],
                     facts["reference_id"] if stats.stratum == 0 else "")
    summary = (f"stratum {facts['stratum']}, reference {facts['reference_id'] or '-'}, "
               f"offset {facts['offset_s']:+.3f} s, delay {facts['delay_s'] * 1000:.1f} ms")
    if stats.stratum == 0:
        # Stratum 0 is a kiss-o'-death: the reference id is an ASCII code (RFC 5905 7.4).
        code = facts["reference_id"]
        facts["kiss_code"] = code
        if code in REFUSING_KISS_CODES:
            return Observation(Reason.UNSYNCHRONISED, f"kiss-o'-death {code}: the server refuses to serve this "
                                                      f"client: {summary}", facts, latency_ms,
                               facts=typed)
        kiss = f"kiss code '{code}', " if code else ""
        return Observation(Reason.UNSYNCHRONISED, f"the server is not synchronised ({kiss}stratum 0, "
                                                  f"leap {stats.leap}): {summary}", facts, latency_ms,
                           facts=typed)
    if stats.stratum >= UNSYNCHRONISED_STRATUM or stats.leap == LEAP_ALARM:
        return Observation(Reason.UNSYNCHRONISED,
                           f"the server is not synchronised (stratum {stats.stratum}, leap {stats.leap}): {summary}",
                           facts, latency_ms, facts=typed)
    if abs(stats.offset) > max_offset:
        return Observation(Reason.CLOCK_OFFSET,
                           f"this host's clock is {stats.offset:+.3f} s off the server's "
                           f"(threshold {max_offset:g} s): {summary}", facts, latency_ms,
                           facts=typed)
    return Observation(Reason.ANSWERED, summary, facts, latency_ms, facts=typed)


def _facts(stats: Any) -> dict[str, Any]:
    return {
        "stratum": stats.stratum,
        "leap": stats.leap,
        "version": stats.version,
        "offset_s": round(stats.offset, 6),
        "delay_s": round(stats.delay, 6),
        "reference_id": reference_id_text(stats.ref_id, stats.stratum),
        "root_delay_s": round(stats.root_delay, 6),
        "root_dispersion_s": round(stats.root_dispersion, 6),
        "poll": stats.poll,
        "precision": stats.precision,
    }
