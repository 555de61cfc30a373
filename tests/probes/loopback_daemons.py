"""Real daemons (chronyd, dnsmasq, slapd, snmpd) on 127.0.0.1 with a config in a temp dir.

The protocol probes are tested against the real thing; these helpers start one daemon
on free loopback ports, wait until its sockets are bound, and always stop it.
Tests skip (with the reason) when the daemon's binary is missing or it cannot start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcheck.probes.local import listening_sockets


def free_port(transport: str = "tcp") -> int:
    """A loopback port that is free for both TCP and UDP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free loopback port")


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (apt-get install the package that ships it)")
    return path


def _bound(transport: str, port: int) -> bool:
    return any(s.port == port for s in listening_sockets(transport))


@contextlib.contextmanager
def daemon(argv: list[str], ready: list[tuple[str, int]], log: Path, env: dict[str, str] | None = None,
           wait: float = 10.0) -> Iterator[subprocess.Popen[bytes]]:
    """Run argv (in the foreground mode of the daemon) until every (transport, port) in
    `ready` is bound; stop the whole process group afterwards."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + wait
        while not all(_bound(t, p) for t, p in ready):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")[-800:]
                pytest.skip(f"{Path(argv[0]).name} did not start (exit {proc.poll()}): {text}")
            time.sleep(0.05)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
