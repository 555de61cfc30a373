"""Inbound flows (probe kind local-listener): does something on this host listen on the port?
(The far side is tested with `netcheck listen` on this host and a scan from the peer.)"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from netcheck.catalogue import LOCAL_LISTENER
from netcheck.model import Flow, Observation, PortRange, Reason
from netcheck.probes import ProbeContext, register

TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"


@dataclass(frozen=True)
class LocalSocket:
    transport: str
    address: str
    port: int
    inode: int


def _decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw[::-1])
    # /proc prints IPv6 as four host-order (little-endian here) 32-bit words.
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    return str(ipaddress.IPv6Address(b"".join(words)))


def listening_sockets(transport: str, proc: Path = Path("/proc/net")) -> list[LocalSocket]:
    """Listening TCP sockets or bound, unconnected UDP sockets of this network namespace."""
    state = TCP_LISTEN if transport == "tcp" else UDP_UNCONNECTED
    found: list[LocalSocket] = []
    for name in (transport, transport + "6"):
        try:
            lines = (proc / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != state:
                continue
            address, port = fields[1].split(":")
            found.append(LocalSocket(transport, _decode_address(address), int(port, 16), int(fields[9])))
    return found


def owners(inodes: set[int]) -> dict[int, str]:
    """inode -> "name (pid N)" for the sockets whose process we may inspect (all, as root)."""
    result: dict[int, str] = {}
    if not inodes:
        return result
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        fd_dir = Path("/proc", pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or not ours to inspect
            continue
        for fd in fds:
            try:
                link = os.readlink(fd_dir / fd)
            except OSError:  # closed meanwhile (e.g. listdir's own descriptor)
                continue
            if link.startswith("socket:["):
                inode = int(link[8:-1])
                if inode in inodes and inode not in result:
                    try:
                        comm = Path("/proc", pid, "comm").read_text().strip()
                    except OSError:
                        comm = "?"
                    result[inode] = f"{comm} (pid {pid})"
    return result


def _check(flow: Flow) -> Observation:
    ports = range(flow.port.first, flow.port.last + 1) if isinstance(flow.port, PortRange) else [flow.port]
    wanted = set(ports)
    matches = [s for s in listening_sockets(flow.transport) if s.port in wanted]
    port_text = f"{flow.transport.upper()} {flow.port}"
    if not matches:
        return Observation(
            Reason.NOT_LISTENING,
            f"{port_text}: nothing listens on this host; peers ({flow.peer}) cannot connect until the service runs",
            {"listeners": []},
        )
    names = owners({s.inode for s in matches})
    listeners = [{"address": s.address, "port": s.port, "process": names.get(s.inode)} for s in matches]
    first = listeners[0]
    who = first["process"] or "process not visible (run as root to see it)"
    more = f" and {len(listeners) - 1} more" if len(listeners) > 1 else ""
    return Observation(
        Reason.LISTENING,
        f"{port_text}: listening on {first['address']}:{first['port']} ({who}){more}; "
        "whether the firewall lets peers in is tested from their side",
        {"listeners": listeners},
    )


@register(LOCAL_LISTENER)
async def observe_local_listener(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    # /proc walks are blocking file I/O: keep them off the event loop.
    return await asyncio.to_thread(_check, flow)
