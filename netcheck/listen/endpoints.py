"""Which ports a role's listener opens, and on which addresses by default."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netcheck.addresses import is_ip
from netcheck.errors import UsageError
from netcheck.listen.server import Endpoint
from netcheck.model import Direction, PortRange
from netcheck.probes.tcp import DEFAULT_SAMPLE, sample_ports
from netcheck.profiles import Profile, Site

# The site-file peer key under which a role's own addresses are listed.
ROLE_PEER = {"sensor": "sensors", "console": "console", "ha-console": "ha_console", "ha_console": "ha_console",
             "client": "clients"}


@dataclass(frozen=True)
class EndpointPlan:
    """endpoints to open, and notes for the operator (e.g. how a port range was sampled)."""

    endpoints: list[Endpoint]
    notes: list[str]


def role_endpoints(profile: Profile, site: Site | None) -> EndpointPlan:
    """One endpoint per distinct (transport, port) of the profile's inbound flows, after the
    site's `ports:` overrides. A port range is not bound whole (64k sockets): the listener opens
    the same sample of it that a scan with --listener probes (tcp.sample_ports)."""
    flows_at: dict[tuple[str, int], list[str]] = {}
    notes: list[str] = []
    for spec in profile.flows:
        if spec.direction is not Direction.IN:
            continue
        port = site.ports.get(spec.id, spec.port) if site else spec.port
        if isinstance(port, PortRange):
            count = int(spec.options.get("sample", DEFAULT_SAMPLE))
            picks = sample_ports(port, count)
            notes.append(f"{spec.id}: {spec.transport.upper()} {port} is a range; listening on the "
                         f"{len(picks)} ports a scan samples: {', '.join(map(str, picks))}")
        else:
            picks = [port]
        for pick in picks:
            flows_at.setdefault((spec.transport, pick), []).append(spec.id)
    endpoints = [Endpoint(transport, port, tuple(ids)) for (transport, port), ids in sorted(flows_at.items())]
    return EndpointPlan(endpoints, notes)


def default_addresses(role: str, site: Site | None, local: tuple[str, ...]) -> list[str]:
    """The addresses the site file gives this role that are configured on this host.

    Why not every address: the listener answers anyone who can reach it, so it should sit only
    where the role's peers are meant to connect - not on a management or internet-facing interface.
    Without such an address the operator must say where (--bind), e.g. --bind 0.0.0.0 deliberately.
    """
    peer = ROLE_PEER.get(role, role)
    planned = list(site.peers.get(peer, ())) if site else []
    own = set(local)
    chosen = [address for address in planned if is_ip(address) and address in own]
    if not chosen:
        where = f"the site file lists no address of this host under '{peer}'" if site else "no --site given"
        raise UsageError(f"no --bind address: {where}",
                         hint="pass --bind ADDR (an address the peers connect to; repeatable), "
                              "or --bind 0.0.0.0 to listen on every IPv4 address on purpose")
    return chosen


def check_addresses(addresses: list[str]) -> list[str]:
    """--bind values must be IP addresses (names could resolve to something unintended)."""
    checked = []
    for address in addresses:
        if not is_ip(address):
            raise UsageError(f"--bind {address!r} is not an IP address", hint="e.g. --bind 203.0.113.10")
        checked.append(str(ipaddress.ip_address(address)))
    return list(dict.fromkeys(checked))

