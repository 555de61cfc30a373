"""Shared helpers: free loopback ports and a Listener running for the length of a block."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from netcheck.listen.server import Endpoint, Listener, ListenerLimits

REPO = Path(__file__).resolve().parents[2]


def free_port(transport: str = "tcp") -> int:
    """A loopback port free for both TCP and UDP right now (bind, note, close)."""
    while True:
        kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, other) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


@contextlib.asynccontextmanager
async def running(endpoints: list[Endpoint], *, key: bytes | None = None, limits: ListenerLimits | None = None,
                  addresses: tuple[str, ...] = ("127.0.0.1",)) -> AsyncIterator[Listener]:
    listener = Listener(endpoints, list(addresses), key=key, limits=limits)
    await listener.open()
    try:
        yield listener
    finally:
        await listener.close()


async def udp_exchange(port: int, payload: bytes, wait: float = 0.3, source: str = "127.0.0.1") -> bytes | None:
    """Send one datagram from `source`, return the reply or None after `wait` seconds."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        await loop.sock_sendall(sock, payload)
        try:
            async with asyncio.timeout(wait):
                return await loop.sock_recv(sock, 65535)
        except (TimeoutError, ConnectionRefusedError):
            return None


def unprivileged_python() -> tuple[str, list[str]] | None:
    """An interpreter with PyYAML and rich that uid 65534 can run, and the command prefix to drop to it."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    for python in (sys.executable, "/usr/bin/python3"):
        check = subprocess.run([*prefix, python, "-c", "import yaml, rich"], capture_output=True, check=False,
                               env={"PATH": "/usr/bin:/bin"})
        if check.returncode == 0:
            return python, prefix
    return None
