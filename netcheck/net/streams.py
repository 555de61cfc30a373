"""A byte stream for probes that speak a protocol: every read and write respects one
deadline, lines and messages are capped, and the stream can switch to TLS in place.

Why not asyncio's own ssl transport: the probes must report *what* answered when a
handshake fails (a plain-HTTP page or an SSH banner on a TLS port is protocol-error,
not tls-error), and STARTTLS (SMTP) must upgrade a stream mid-conversation. Driving
an ssl.SSLObject over memory BIOs gives both, with the raw bytes in hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable
from typing import TypeVar

from netcheck.model import Observation
from netcheck.net.sockets import open_stream

T = TypeVar("T")

RAW_HEAD_BYTES = 64  # how much of what the peer sent first is kept for diagnosis
RECV_CHUNK = 16384


class DeadlineHit(Exception):
    """The probe's own deadline passed (it then reports what it saw so far)."""


class StreamClosed(Exception):
    """The peer closed the connection before the expected bytes arrived."""


class LineTooLong(Exception):
    """The peer sent more than the cap without a line end."""


class Deadline:
    """One point in time that bounds a whole probe."""

    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.end = self.started + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def elapsed_ms(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 2)

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await within the deadline; DeadlineHit when it passes first."""
        remaining = self.remaining()
        if remaining <= 0:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()  # never awaited: silence "coroutine was never awaited"
            raise DeadlineHit
        try:
            async with asyncio.timeout(remaining):
                return await awaitable
        except TimeoutError:
            raise DeadlineHit from None


class Channel:
    """A connected stream with a read buffer, plain or TLS (after start_tls).

    received    bytes received from the network so far (raw, before TLS decryption)
    connect_ms  duration of the TCP handshake, when connect() made the channel
    raw_head    the first bytes the peer sent after start_tls began (non-TLS diagnosis)
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: Deadline) -> None:
        self.reader = reader
        self.writer = writer
        self.deadline = deadline
        self.buffer = bytearray()
        self.received = 0
        self.eof = False
        self.raw_head = b""
        self.connect_ms: float | None = None
        self.tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()

    # -- raw network side -------------------------------------------------------------
    async def _raw_recv(self) -> bytes:
        data = await self.deadline.run(self.reader.read(RECV_CHUNK))
        self.received += len(data)
        return data

    async def _raw_send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.deadline.run(self.writer.drain())

    async def _flush_tls(self) -> None:
        pending = self._outgoing.read()
        if pending:
            await self._raw_send(pending)

    # -- application side -------------------------------------------------------------
    async def recv(self) -> bytes:
        """The next chunk of application bytes; b"" at end of stream."""
        if self.tls is None:
            return await self._raw_recv()
        while True:
            try:
                return self.tls.read(RECV_CHUNK)
            except ssl.SSLWantReadError:
                await self._flush_tls()
                raw = await self._raw_recv()
                if raw:
                    self._incoming.write(raw)
                else:
                    self._incoming.write_eof()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    async def send(self, data: bytes) -> None:
        if self.tls is None:
            await self._raw_send(data)
            return
        self.tls.write(data)
        await self._flush_tls()

    async def fill(self) -> None:
        """Read one more chunk into the buffer; StreamClosed at end of stream."""
        if self.eof:
            raise StreamClosed
        data = await self.recv()
        if not data:
            self.eof = True
            raise StreamClosed
        self.buffer += data

    async def read_line(self, limit: int) -> bytes:
        """One line without its CR LF (or bare LF); LineTooLong past `limit` bytes."""
        while True:
            end = self.buffer.find(b"\n")
            if 0 <= end <= limit:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buffer) > limit:
                raise LineTooLong
            await self.fill()

    async def read_exact(self, count: int) -> bytes:
        while len(self.buffer) < count:
            await self.fill()
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> ssl.SSLObject:
        """Run a TLS client handshake over this stream. Raises ssl.SSLError (with the raw
        bytes the peer sent in raw_head), StreamClosed or DeadlineHit."""
        self.buffer.clear()  # plaintext sent before the upgrade must not be read as TLS data
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_side=False,
                                    server_hostname=server_hostname)
        head = bytearray()
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush_tls()
                raw = await self._raw_recv()
                if len(head) < RAW_HEAD_BYTES:
                    head += raw[: RAW_HEAD_BYTES - len(head)]
                    self.raw_head = bytes(head)
                if not raw:
                    raise StreamClosed from None
                self._incoming.write(raw)
            except ssl.SSLError:
                with contextlib.suppress(OSError, DeadlineHit):  # our alert may explain it in the peer's log
                    await self._flush_tls()
                raise
        await self._flush_tls()  # TLS 1.3: our Finished
        return self.tls

    def close(self) -> None:
        """Close without waiting: a hostile peer must not hold the probe."""
        if self.tls is not None:
            with contextlib.suppress(ssl.SSLError):
                self.tls.unwrap()
            pending = self._outgoing.read()
            if pending and not self.writer.is_closing():
                self.writer.write(pending)  # close_notify, best effort
        self.writer.close()


async def connect(address: str, port: int, deadline: Deadline, within: float | None = None,
                  what: str | None = None) -> Channel | Observation:
    """A Channel to address:port (connect_ms set), or the Observation saying why not (with the
    ICMP error and its sender, see net.sockets). The handshake may take `within` seconds (default:
    what is left of the deadline); `what` names the connection in a failure's detail."""
    wait = deadline.remaining() if within is None else min(within, deadline.remaining())
    opened = await open_stream(address, port, max(wait, 0.01), what)
    if isinstance(opened, Observation):
        return opened
    reader, writer, handshake_ms = opened
    channel = Channel(reader, writer, deadline)
    channel.connect_ms = handshake_ms
    return channel
