"""Who is running the scan: host name and local addresses (for the report header)."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path


def host_name() -> str:
    return socket.gethostname()


def local_addresses() -> tuple[str, ...]:
    """This network namespace's own unicast addresses, loopback last."""
    found: set[str] = set()
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        lines = []
    for previous, line in zip(lines, lines[1:], strict=False):
        if line.strip() == "/32 host LOCAL":
            found.add(previous.split()[-1])
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = line.split()[0]
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    except OSError:
        pass
    def order(address: str) -> tuple[bool, bool, str]:
        ip = ipaddress.ip_address(address)
        return (ip.is_loopback, ip.version == 6, address)
    return tuple(sorted(found, key=order))
