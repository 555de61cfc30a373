"""Sockets for every part of netcheck that connects: TCP connect and UDP sockets with a precise
failure reason, and reading the ICMP error the kernel attached to a socket, with the router or
host that sent it (IP_RECVERR, no root needed). No other module maps connect errors."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from netcheck import pacing
from netcheck.egress import current as current_egress
from netcheck.model import Observation, Reason

# <linux/in.h>, <linux/in6.h>, <linux/errqueue.h>: not all exported by the socket module.
IP_RECVERR = 11
IPV6_RECVERR = 25
SO_EE_ORIGIN_LOCAL = 1
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
_EE = struct.Struct("=IBBBBII")  # ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data

ICMP4_UNREACH_TEXT = {
    0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable", 3: "port unreachable",
    4: "fragmentation needed", 6: "destination network unknown", 7: "destination host unknown",
    9: "network administratively prohibited", 10: "host administratively prohibited",
    13: "communication administratively prohibited",
}
ICMP6_UNREACH_TEXT = {
    0: "no route to destination", 1: "communication administratively prohibited",
    2: "beyond scope of source address", 3: "address unreachable", 4: "port unreachable",
    5: "source address failed ingress/egress policy", 6: "reject route to destination",
}


@dataclass(frozen=True)
class IcmpError:
    """An error the kernel queued for a socket: an ICMP message or a local error."""

    origin: str  # "icmp", "icmp6" or "local"
    type: int
    code: int
    sender: str | None  # the router or host that sent the ICMP message
    errno: int

    @property
    def text(self) -> str:
        if self.origin == "icmp" and self.type == 3:
            return ICMP4_UNREACH_TEXT.get(self.code, f"destination unreachable code {self.code}")
        if self.origin == "icmp6" and self.type == 1:
            return ICMP6_UNREACH_TEXT.get(self.code, f"destination unreachable code {self.code}")
        if self.origin == "icmp" and self.type == 11 or self.origin == "icmp6" and self.type == 3:
            return "time exceeded (TTL expired in transit)"
        if self.origin == "local":
            return f"local error: {errno.errorcode.get(self.errno, self.errno)}"
        return f"ICMP type {self.type} code {self.code}"

    @property
    def reason(self) -> Reason:
        if self.origin == "icmp" and self.type == 3:
            if self.code == 3:
                return Reason.REFUSED
            if self.code in (9, 10, 13):
                return Reason.PROHIBITED
        if self.origin == "icmp6" and self.type == 1:
            if self.code == 4:
                return Reason.REFUSED
            if self.code in (1, 5, 6):
                return Reason.PROHIBITED
        return Reason.UNREACHABLE

    def evidence(self) -> dict[str, Any]:
        return {"icmp": {"origin": self.origin, "type": self.type, "code": self.code,
                         "sender": self.sender, "text": self.text}}

    def describe(self) -> str:
        return f"{self.text} from {self.sender}" if self.sender else self.text


def enable_recverr(sock: socket.socket, family: int | None = None) -> None:
    """Ask the kernel to queue ICMP errors with their sender on this socket (`family`: the socket's,
    when the caller knows it: sock.family builds an enum member on every read)."""
    if (sock.family if family is None else family) == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)


def read_icmp_error(sock: socket.socket) -> IcmpError | None:
    """Pop the newest queued error of `sock` (MSG_ERRQUEUE), or None if there is none."""
    found: IcmpError | None = None
    for _ in range(8):  # drain: several retries may each have drawn an ICMP answer
        try:
            _data, ancillary, _flags, _addr = sock.recvmsg(1, 1024, socket.MSG_ERRQUEUE)
        except OSError:
            return found
        for level, kind, cdata in ancillary:
            if (level, kind) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
                found = _parse_extended_error(cdata)
    return found


def _parse_extended_error(cdata: bytes) -> IcmpError:
    ee_errno, origin, icmp_type, icmp_code, _pad, _info, _data = _EE.unpack_from(cdata)
    origin_name = {SO_EE_ORIGIN_ICMP: "icmp", SO_EE_ORIGIN_ICMP6: "icmp6"}.get(origin, "local")
    sender = None
    offender = cdata[_EE.size:]
    if len(offender) >= 8:
        family = struct.unpack_from("=H", offender)[0]
        if family == socket.AF_INET:
            sender = socket.inet_ntop(socket.AF_INET, offender[4:8])
        elif family == socket.AF_INET6 and len(offender) >= 24:
            sender = socket.inet_ntop(socket.AF_INET6, offender[8:24])
    return IcmpError(origin_name, icmp_type, icmp_code, sender, ee_errno)


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)


def failure_from_oserror(exc: OSError, sock: socket.socket, what: str) -> Observation:
    """Turn a failed connect/send into a reason, using the ICMP error when the kernel kept one."""
    return failure_from_errno(exc.errno or 0, sock, what, strerror=exc.strerror or "")


def failure_from_errno(code: int, sock: socket.socket, what: str, *, strerror: str | None = None,
                       stream: bool | None = None, latency_ms: float | None = None) -> Observation:
    """failure_from_oserror for an errno (SO_ERROR after a non-blocking connect): `strerror` defaults to
    os.strerror(code) (empty: the errno's name), `stream` (a TCP socket) to the socket's type;
    `latency_ms` goes on the Observation."""
    icmp = read_icmp_error(sock)
    name = errno.errorcode.get(code) or str(code)
    evidence: dict[str, Any] = {"errno": name}
    if icmp and icmp.origin != "local":
        evidence.update(icmp.evidence())
        return Observation(icmp.reason, f"{what}: {icmp.describe()}", evidence, latency_ms)
    if code == errno.ECONNREFUSED:
        if stream is None:
            stream = sock.type == socket.SOCK_STREAM
        detail = "refused (TCP reset)" if stream else "refused (ICMP port unreachable)"
        return Observation(Reason.REFUSED, f"{what}: {detail}", evidence, latency_ms)
    if code in (errno.EPERM, errno.EACCES):
        return Observation(Reason.PROHIBITED, f"{what}: blocked by this host's own firewall ({name})", evidence,
                           latency_ms)
    if code == errno.ETIMEDOUT:
        return Observation(Reason.FILTERED, f"{what}: no answer (the kernel gave up)", evidence, latency_ms)
    # EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENONET, EADDRNOTAVAIL and anything else
    text = (os.strerror(code) if strerror is None else strerror) or name
    return Observation(Reason.UNREACHABLE, f"{what}: {text}", evidence, latency_ms)


async def connect_tcp(address: str, port: int, timeout: float) -> socket.socket | Observation:
    """A connected non-blocking TCP socket, or an Observation saying precisely why not.

    Silence until `timeout` is `filtered`; a reset is `refused`; an ICMP error names its
    type, code and sender. See connect_tcp_timed for the handshake's duration.
    """
    connected = await connect_tcp_timed(address, port, timeout)
    return connected if isinstance(connected, Observation) else connected[0]


async def connect_tcp_timed(address: str, port: int, timeout: float,
                            what: str | None = None) -> tuple[socket.socket, float] | Observation:
    """connect_tcp, with the handshake's duration in ms on success (on failure, on the Observation).
    `what` names the connection in a failure's detail (default "TCP <port>").

    The clock runs from connect() to the moment the kernel reports the outcome (the loop's
    writability callback), not to when this coroutine resumes: with thousands of flows in
    flight, resuming waits its turn, and that wait is netcheck's, not the network's.
    """
    loop = asyncio.get_running_loop()
    what = what or f"TCP {port}"
    family = family_of(address)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        enable_recverr(sock, family)
        current_egress().prepare(sock, address)  # --interface / --source
        started = time.monotonic()
        code = sock.connect_ex((address, port))
        finished = time.monotonic()
        if code in (errno.EINPROGRESS, errno.EAGAIN):
            code, finished = _settled(sock, code)
        if code in (errno.EINPROGRESS, errno.EAGAIN):
            pacing.sent()  # the SYN is out and unanswered (an outcome within connect() needs no silence clock)
            outcome = await _outcome(loop, sock, timeout)
            if outcome is None:
                sock.close()
                return Observation(Reason.FILTERED, f"{what}: no answer to SYN within {timeout:g} s",
                                   {"timeout_s": timeout})
            code, finished = outcome
        pacing.answered()
        latency = round((finished - started) * 1000, 2)
        if code:
            observation = failure_from_errno(code, sock, what, stream=True, latency_ms=latency)
            sock.close()
            return observation
    except BaseException:
        sock.close()
        raise
    return sock, latency


def _settled(sock: socket.socket, code: int) -> tuple[int, float]:
    """The outcome if the kernel already has it (loopback and local networks answer within connect()),
    else `code` unchanged: two cheap system calls that keep the loop's own delays out of the latency."""
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        return error, time.monotonic()
    try:
        sock.getpeername()
    except OSError:
        return code, time.monotonic()
    return 0, time.monotonic()


async def _outcome(loop: asyncio.AbstractEventLoop, sock: socket.socket, timeout: float) -> tuple[int, float] | None:
    """Wait until a non-blocking connect ends: (SO_ERROR, when the kernel said so), or None after `timeout`
    (a timer on the future itself: cheaper than asyncio.timeout's cancel and uncancel of the task)."""
    fd = sock.fileno()
    future: asyncio.Future[tuple[int, float] | None] = loop.create_future()

    def ready() -> None:
        if not future.done():
            future.set_result((sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), time.monotonic()))

    def expired() -> None:
        if not future.done():
            future.set_result(None)

    loop.add_writer(fd, ready)
    timer = loop.call_later(timeout, expired)
    try:
        return await future
    finally:
        timer.cancel()
        loop.remove_writer(fd)


def connect_udp(address: str, port: int, what: str) -> socket.socket | Observation:
    """A non-blocking UDP socket connected to address:port, bound to the run's interface and
    source, that queues ICMP errors with their sender (failure_from_oserror reads them after a
    failed send or receive); or the Observation saying why it could not connect (no route)."""
    sock = socket.socket(family_of(address), socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        enable_recverr(sock)
        current_egress().prepare(sock, address)  # --interface / --source
        try:
            sock.connect((address, port))
        except OSError as exc:
            failed = failure_from_oserror(exc, sock, what)
            sock.close()
            return failed
    except BaseException:
        sock.close()
        raise
    return sock


async def open_stream(
    address: str, port: int, timeout: float, what: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float] | Observation:
    """connect_tcp wrapped in asyncio streams: (reader, writer, handshake ms) or the failure."""
    connected = await connect_tcp_timed(address, port, timeout, what)
    if isinstance(connected, Observation):
        return connected
    sock, latency = connected
    reader, writer = await asyncio.open_connection(sock=sock)
    return reader, writer, latency


async def close_stream(writer: asyncio.StreamWriter) -> None:
    """Close without waiting on a peer that never acknowledges."""
    writer.close()
    try:
        async with asyncio.timeout(0.5):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        pass
