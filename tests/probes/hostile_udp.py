"""Hostile in-process servers on 127.0.0.1 for the protocol probes' failure paths.

HostileUdp answers each datagram with whatever `respond(request)` returns (nothing,
garbage, a malformed or oversized packet). HostileTcp accepts connections and runs
`behave(conn)` on each (drip one byte a second, send garbage, close at once, stay
silent). Both run in a daemon thread and stop when the `with` block ends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

Responder = Callable[[bytes], list[bytes]]
Behaviour = Callable[[socket.socket], None]


class HostileUdp:
    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            self.received.append(data)
            for reply in self.respond(data):
                with contextlib.suppress(OSError):
                    self.sock.sendto(reply, peer)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class HostileTcp:
    def __init__(self, behave: Behaviour) -> None:
        self.behave = behave
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self._conns.append(conn)
            worker = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _run(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.behave(conn)

    def __enter__(self) -> Self:
        self._accepter.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stopping.set()
        self._accepter.join(timeout=2)
        for conn in self._conns:  # wakes behaviours blocked in send/recv
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for worker in self._threads:
            worker.join(timeout=3)
        self.listener.close()


def silent(stop: threading.Event | None = None, seconds: float = 10.0) -> Behaviour:
    """Accept, read and never answer (until `seconds` pass)."""

    def behave(conn: socket.socket) -> None:
        conn.settimeout(0.1)
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (stop and stop.is_set()):
            with contextlib.suppress(TimeoutError):
                if conn.recv(4096) == b"":
                    return

    return behave


def drip(payload: bytes, interval: float = 1.0, seconds: float = 10.0) -> Behaviour:
    """Send `payload` one byte every `interval` seconds (what a slowloris-like peer does)."""

    def behave(conn: socket.socket) -> None:
        end = time.monotonic() + seconds
        conn.settimeout(interval)
        for byte in payload:
            if time.monotonic() > end:
                return
            conn.sendall(bytes([byte]))
            # Sleep by waiting for data: returns early when the connection is shut down.
            with contextlib.suppress(TimeoutError):
                if conn.recv(4096) == b"":
                    return

    return behave


def send_then_close(payload: bytes, read_first: bool = True) -> Behaviour:
    """Optionally read the request, send `payload`, close."""

    def behave(conn: socket.socket) -> None:
        if read_first:
            conn.settimeout(1.0)
            with contextlib.suppress(TimeoutError):
                conn.recv(4096)
        conn.sendall(payload)

    return behave


def send_then_hold(payload: bytes, seconds: float = 10.0) -> Behaviour:
    """Read the request, send `payload` and keep the connection open without more."""

    def behave(conn: socket.socket) -> None:
        conn.settimeout(1.0)
        with contextlib.suppress(TimeoutError):
            conn.recv(4096)
        conn.sendall(payload)
        silent(seconds=seconds)(conn)

    return behave
