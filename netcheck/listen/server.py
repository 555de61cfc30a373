"""The far-side listener: TCP and UDP sockets that echo well-formed netcheck tokens.

Safety properties (each tested in tests/listen/):
- it answers only a verified token (tokens.parse), nothing else, and only with an echo of the
  same size as the token (never an amplifier);
- replies are rate-limited per source address and in total; over the limit it stays silent;
- memory is bounded: the rate limiter tracks at most `max_sources` addresses (least recently
  seen evicted), the receipt keeps at most `max_records` distinct probes and otherwise counts;
  at most `max_tcp_connections` TCP connections are served at once, each for `tcp_read_s`;
- it binds only the addresses it is given and stops by itself after its duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from netcheck import tokens
from netcheck.timeutil import utc_now_iso


@dataclass(frozen=True)
class Endpoint:
    """One port to open: transport, port, and the profile flows it stands for."""

    transport: str
    port: int
    flows: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListenerLimits:
    """Rates are replies per second (token buckets); see the module docstring for the rest."""

    per_source_rate: float = 20.0
    per_source_burst: float = 40.0
    global_rate: float = 500.0
    global_burst: float = 1000.0
    max_sources: int = 4096
    max_records: int = 2000
    max_rejecting_sources: int = 256
    max_tcp_connections: int = 256
    tcp_read_s: float = 5.0
    udp_batch: int = 64  # datagrams read per wake-up, so a flood cannot starve the TCP side


@dataclass(frozen=True)
class BindOutcome:
    """Whether one (address, transport, port) could be opened, and what that means."""

    address: str
    transport: str
    port: int
    state: str  # listening, in-use, no-permission, not-local, error
    detail: str
    flows: tuple[str, ...] = ()


@dataclass
class ProbeRecord:
    """One distinct token seen from one source on one socket (repeats are counted)."""

    source: str
    source_port: int
    transport: str
    address: str
    port: int
    token: str
    run_id: str
    sent_port: int
    keyed: bool
    first_seen: str
    last_seen: str
    count: int = 1
    answered: int = 0
    rate_limited: int = 0


class RateLimiter:
    """Token buckets per source address (LRU-bounded) and one for all sources together."""

    def __init__(self, limits: ListenerLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._sources: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._global = (limits.global_burst, clock())

    @staticmethod
    def _refill(level: float, since: float, now: float, rate: float, burst: float) -> float:
        return min(burst, level + (now - since) * rate)

    def allow(self, source: str) -> bool:
        now = self.clock()
        limits = self.limits
        level, since = self._sources.pop(source, (limits.per_source_burst, now))
        level = self._refill(level, since, now, limits.per_source_rate, limits.per_source_burst)
        global_level = self._refill(*self._global, now, limits.global_rate, limits.global_burst)
        allowed = level >= 1 and global_level >= 1
        if allowed:
            level -= 1
            global_level -= 1
        self._sources[source] = (level, now)
        self._global = (global_level, now)
        while len(self._sources) > limits.max_sources:
            self._sources.popitem(last=False)
        return allowed

    @property
    def tracked(self) -> int:
        return len(self._sources)


@dataclass
class Ledger:
    """What the receipt reports: distinct probes (bounded) and counts of everything ignored."""

    limits: ListenerLimits
    records: dict[tuple[str, str, int, str], ProbeRecord] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_by_source: dict[str, int] = field(default_factory=dict)
    records_dropped: int = 0
    handshakes_without_token: int = 0
    busy_refusals: int = 0

    def reject(self, why: str, source: str) -> None:
        self.rejected[why] += 1
        if source in self.rejected_by_source or len(self.rejected_by_source) < self.limits.max_rejecting_sources:
            self.rejected_by_source[source] = self.rejected_by_source.get(source, 0) + 1

    def seen(self, token: tokens.Token, source: tuple[str, int], transport: str, local: tuple[str, int],
             answered: bool) -> tuple[ProbeRecord | None, bool]:
        """Record one valid probe; returns (its record or None when the ledger is full, first sighting?)."""
        key = (source[0], transport, local[1], token.text)
        now = utc_now_iso()
        record = self.records.get(key)
        first = record is None
        if record is None:
            if len(self.records) >= self.limits.max_records:
                self.records_dropped += 1
                return None, True
            record = ProbeRecord(
                source=source[0], source_port=source[1], transport=transport, address=local[0], port=local[1],
                token=token.text, run_id=token.run_id, sent_port=token.port, keyed=token.keyed,
                first_seen=now, last_seen=now, count=0)
            self.records[key] = record
        record.count += 1
        record.last_seen = now
        if answered:
            record.answered += 1
        else:
            record.rate_limited += 1
        return record, first


# Called for each valid probe: (record, first sighting of this token from this source?).
ProbeCallback = Callable[[ProbeRecord, bool], None]


class Listener:
    """Opens every endpoint on every address, answers tokens until closed.

    key        the shared key (NETCHECK_LISTENER_KEY) or None
    on_probe   called for each valid probe (printing lives in the CLI)
    """

    def __init__(self, endpoints: list[Endpoint], addresses: list[str], *, key: bytes | None = None,
                 limits: ListenerLimits | None = None, on_probe: ProbeCallback | None = None) -> None:
        self.endpoints = endpoints
        self.addresses = addresses
        self.key = key
        self.limits = limits or ListenerLimits()
        self.on_probe = on_probe
        self.limiter = RateLimiter(self.limits)
        self.ledger = Ledger(self.limits)
        self.outcomes: list[BindOutcome] = []
        self.started = ""
        self.finished = ""
        self._servers: list[asyncio.Server] = []
        self._udp: list[_UdpSocket] = []
        self._tcp_active = 0
        self._tcp_tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> list[BindOutcome]:
        """Bind every (address, endpoint); a port that cannot be bound is recorded, not fatal."""
        self.started = utc_now_iso()
        for address in self.addresses:
            for endpoint in self.endpoints:
                self.outcomes.append(await self._bind(address, endpoint))
        return self.outcomes

    async def serve(self, duration: float, stop: asyncio.Event | None = None) -> None:
        """Answer until `duration` seconds have passed or `stop` is set."""
        stop = stop or asyncio.Event()
        try:
            async with asyncio.timeout(duration):
                await stop.wait()
        except TimeoutError:
            pass

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for udp in self._udp:
            udp.close()
        for task in list(self._tcp_tasks):
            task.cancel()
        if self._tcp_tasks:
            await asyncio.gather(*self._tcp_tasks, return_exceptions=True)
        for server in self._servers:
            try:
                async with asyncio.timeout(1):
                    await server.wait_closed()
            except TimeoutError:
                pass
        self._servers.clear()
        self._udp.clear()
        self.finished = utc_now_iso()

    @property
    def listening(self) -> list[BindOutcome]:
        return [o for o in self.outcomes if o.state == "listening"]

    # ------------------------------------------------------------ binding

    async def _bind(self, address: str, endpoint: Endpoint) -> BindOutcome:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            if endpoint.transport == "tcp":
                sock = _bound_socket(family, socket.SOCK_STREAM, address, endpoint.port)
                server = await asyncio.start_server(
                    lambda r, w: self._tcp_connection(r, w, endpoint), sock=sock, backlog=128)
                self._servers.append(server)
            else:
                sock = _bound_socket(family, socket.SOCK_DGRAM, address, endpoint.port)
                self._udp.append(_UdpSocket(self, sock, asyncio.get_running_loop()))
        except OSError as exc:
            state, detail = describe_bind_error(exc, endpoint)
            return BindOutcome(address, endpoint.transport, endpoint.port, state, detail, endpoint.flows)
        return BindOutcome(address, endpoint.transport, endpoint.port, "listening", "listening", endpoint.flows)

    # ------------------------------------------------------------ answering

    def _answer(self, data: bytes, source: tuple[str, int], local: tuple[str, int], transport: str) -> bytes | None:
        """The echo to send for `data`, or None (ignored). Records everything in the ledger."""
        token = tokens.parse(data, self.key)
        if isinstance(token, str):
            self.ledger.reject(token, source[0])
            return None
        if token.kind != tokens.KIND_PROBE:
            self.ledger.reject(tokens.NOT_A_PROBE, source[0])
            return None
        if token.transport != transport:
            self.ledger.reject(tokens.WRONG_TRANSPORT, source[0])
            return None
        allowed = self.limiter.allow(source[0])
        record, first = self.ledger.seen(token, source, transport, local, allowed)
        if record is not None and self.on_probe is not None:
            self.on_probe(record, first)
        if not allowed:
            return None
        echo = tokens.make_echo(token, local[1], self.key)
        assert len(echo) <= len(data)  # never an amplifier
        return echo

    async def _tcp_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                              endpoint: Endpoint) -> None:
        task = asyncio.current_task()
        if self._tcp_active >= self.limits.max_tcp_connections or task is None:
            self.ledger.busy_refusals += 1
            writer.transport.abort()
            return
        self._tcp_active += 1
        self._tcp_tasks.add(task)
        try:
            await self._tcp_exchange(reader, writer)
        finally:
            self._tcp_active -= 1
            self._tcp_tasks.discard(task)
            writer.transport.abort()

    async def _tcp_exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        if not peer or not local:
            return
        try:
            async with asyncio.timeout(self.limits.tcp_read_s):
                data = await reader.readexactly(tokens.TOKEN_LEN)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                self.ledger.reject(tokens.MALFORMED, peer[0])
            else:  # a bare handshake: e.g. a one-sided scan of this port
                self.ledger.handshakes_without_token += 1
            return
        except (TimeoutError, OSError):
            self.ledger.reject(tokens.MALFORMED, peer[0])
            return
        echo = self._answer(data, (peer[0], peer[1]), (local[0], local[1]), "tcp")
        if echo is None:
            return
        try:
            writer.write(echo)
            async with asyncio.timeout(self.limits.tcp_read_s):
                await writer.drain()
                # Let the prober close first, so TIME_WAIT stays on its ephemeral port, not on ours.
                await reader.read(1)
        except (TimeoutError, OSError):
            return


# <linux/in.h>: not exported by the socket module.
IP_PKTINFO = 8
_IN_PKTINFO = struct.Struct("=I4s4s")  # ifindex, spec_dst, addr
_IN6_PKTINFO = struct.Struct("=16sI")  # addr, ifindex
MAX_DATAGRAM = 2048  # larger datagrams arrive truncated (MSG_TRUNC) and are malformed anyway


class _UdpSocket:
    """One bound UDP socket, read with recvmsg so the reply leaves from the very address the
    probe was sent to (IP_PKTINFO): with a wildcard bind on a multi-homed host the kernel would
    otherwise pick the source address, and the prober's connected socket would drop the echo."""

    def __init__(self, listener: Listener, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.listener = listener
        self.sock = sock
        self.loop = loop
        self.v6 = sock.family == socket.AF_INET6
        if self.v6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        self.bound = sock.getsockname()
        loop.add_reader(sock.fileno(), self._readable)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def _readable(self) -> None:
        for _ in range(self.listener.limits.udp_batch):
            try:
                data, ancillary, flags, source = self.sock.recvmsg(MAX_DATAGRAM, 256)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # a queued error (e.g. ICMP for an earlier echo): nothing to do
            if flags & socket.MSG_TRUNC:
                data = b""  # oversized: malformed, never answered
            local, reply_control = self._destination(ancillary)
            echo = self.listener._answer(data, (str(source[0]), int(source[1])), (local, int(self.bound[1])), "udp")
            if echo is None:
                continue
            with contextlib.suppress(OSError):  # send buffer full or prober gone: silence, never a queue
                self.sock.sendmsg([echo], reply_control, 0, source)

    def _destination(self, ancillary: list[tuple[int, int, bytes]]) -> tuple[str, list[tuple[int, int, bytes]]]:
        """The address the datagram was sent to, and the control message that makes it the reply's source."""
        for level, kind, data in ancillary:
            if not self.v6 and (level, kind) == (socket.IPPROTO_IP, IP_PKTINFO) and len(data) >= _IN_PKTINFO.size:
                _ifindex, _spec, addr = _IN_PKTINFO.unpack_from(data)
                return socket.inet_ntop(socket.AF_INET, addr), [
                    (socket.IPPROTO_IP, IP_PKTINFO, _IN_PKTINFO.pack(0, addr, bytes(4)))]
            if self.v6 and (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO) \
                    and len(data) >= _IN6_PKTINFO.size:
                addr6, _ifindex = _IN6_PKTINFO.unpack_from(data)
                return socket.inet_ntop(socket.AF_INET6, addr6), [
                    (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, _IN6_PKTINFO.pack(addr6, 0))]
        return str(self.bound[0]), []


def _bound_socket(family: socket.AddressFamily, kind: socket.SocketKind, address: str, port: int) -> socket.socket:
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            # "::" must not also take the IPv4 port: 0.0.0.0 may be bound separately.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            # Lets a restarted listener rebind while old connections linger in TIME_WAIT; Linux still
            # refuses a port another socket listens on. Never set for UDP (it would share the port).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def describe_bind_error(exc: OSError, endpoint: Endpoint) -> tuple[str, str]:
    """(state, one line) for a failed bind, saying what it means for the flow."""
    where = f"{endpoint.transport.upper()} {endpoint.port}"
    if exc.errno == errno.EADDRINUSE:
        return "in-use", (f"{where}: already in use - the real service listens there, which is fine: "
                          "scans reach it but cannot confirm with a token")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "no-permission", (f"{where}: permission denied - ports below 1024 need root or "
                                 "CAP_NET_BIND_SERVICE (or map the port in the site file's ports:)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return "not-local", f"{where}: this host has no such address"
    return "error", f"{where}: {exc.strerror or exc}"
