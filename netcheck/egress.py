"""Where a scan's packets leave from: the address family (-4 / -6), a source address
(--source) and an interface (--interface), for every socket a probe opens.

The run's choice lives in a context variable set around the scan, so probes, the engine's
resolver, raw diagnosis (threads copy the context) and library clients all read the same
one without threading it through every call. The default is the appliance's: IPv4 first,
IPv6 only where a peer has nothing else (so IPv6 peers keep working); -4 and -6 are strict.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import ipaddress
import socket
import struct
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
SIOCGIFADDR = 0x8915


@dataclass(frozen=True)
class Egress:
    """family     4 or 6 (strict), or None: prefer IPv4
    source        bind every socket to this local address (of the destination's family)
    interface     bind every socket to this interface (SO_BINDTODEVICE, root)
    interface_addresses  the interface's own addresses: the source for library clients that
                  can bind an address but not a device"""

    family: int | None = None
    source: str | None = None
    interface: str | None = None
    interface_addresses: tuple[str, ...] = ()

    @property
    def resolve_family(self) -> int:
        """getaddrinfo's family: -4/-6, else the family of --source, else either."""
        version = self.family or (_version(self.source) if self.source else None)
        return {4: socket.AF_INET, 6: socket.AF_INET6}.get(version or 0, socket.AF_UNSPEC)

    def refuses(self, address: str) -> str | None:
        """Why `address` is outside this scan's family or source, else None."""
        version = _version(address)
        if version is None:
            return None
        if self.family and version != self.family:
            return f"the peer address {address} is IPv{version}; this scan runs with -{self.family}"
        if self.source and _version(self.source) != version:
            return f"the peer address {address} is IPv{version}; --source {self.source} is not"
        return None

    def source_for(self, address: str) -> str | None:
        """The local address to bind toward `address`, or None to let the kernel choose."""
        version = _version(address)
        if self.source:
            return self.source if _version(self.source) == version else None
        return next((a for a in self.interface_addresses if _version(a) == version), None)

    def prepare(self, sock: socket.socket, address: str) -> None:
        """Bind a fresh socket to the interface and source address before it connects or sends."""
        if self.interface:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.interface.encode())
        source = self.source if self.source and _version(self.source) == _version(address) else None
        if source:
            sock.bind((source, 0))

    def as_dict(self) -> dict[str, Any]:
        """The non-default choices, for the report's run options."""
        chosen = {"family": f"ipv{self.family}" if self.family else None, "source": self.source,
                  "interface": self.interface}
        return {key: value for key, value in chosen.items() if value}


@functools.lru_cache(maxsize=4096)  # asked for every flow (refuses, source_for): parse each address once
def _version(address: str) -> int | None:
    try:
        return ipaddress.ip_address(address.split("%")[0]).version
    except ValueError:
        return None


DEFAULT = Egress()
_CURRENT: ContextVar[Egress | None] = ContextVar("netcheck_egress", default=None)


def current() -> Egress:
    return _CURRENT.get() or DEFAULT


@contextlib.contextmanager
def using(egress: Egress) -> Iterator[None]:
    token = _CURRENT.set(egress)
    try:
        yield
    finally:
        _CURRENT.reset(token)


# ---------------------------------------------------------------- checking the choice

def interface_addresses(name: str) -> tuple[str, ...]:
    """The IPv4 (primary) and IPv6 addresses of interface `name`; () when it has none."""
    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        packed = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        found.append(socket.inet_ntoa(packed[20:24]))
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 6 and fields[5] == name:
                address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
                if not address.is_link_local:
                    found.append(str(address))
    return tuple(found)


def choose(family: int | None, source: str | None, interface: str | None,
           local: tuple[str, ...]) -> Egress:
    """The run's Egress from the command line, or a UsageError saying what is wrong."""
    from netcheck.errors import UsageError

    if source is not None:
        if _version(source) is None:
            raise UsageError(f"--source {source!r} is not an IP address", hint="e.g. --source 198.51.100.10")
        source = str(ipaddress.ip_address(source))
        if source not in local:
            raise UsageError(f"--source {source} is not an address of this host",
                             hint="one of: " + ", ".join(local[:8]))
        if family and _version(source) != family:
            raise UsageError(f"--source {source} is not IPv{family}", hint=f"drop -{family} or pick another source")
    addresses: tuple[str, ...] = ()
    if interface is not None:
        try:
            socket.if_nametoindex(interface)
        except OSError:
            raise UsageError(f"--interface {interface!r}: no such interface on this host",
                             hint="see `ip link`") from None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, interface.encode())
            except PermissionError:
                raise UsageError("--interface needs root (SO_BINDTODEVICE)",
                                 hint="run as root, or pick the interface's address with --source") from None
        addresses = interface_addresses(interface)
    return Egress(family, source, interface, addresses)
