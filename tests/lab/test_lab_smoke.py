"""Smoke tests: the lab topology and every daemon answer with standard CLI tools."""

from __future__ import annotations

import os
import shutil

import pytest

from .topology import SERVER_IP, Topology

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="lab needs root plus iproute2 and nftables (network namespaces)",
)


def _ping(topo: Topology, addr: str) -> int:
    return topo.client.run(["ping", "-c1", "-W1", addr], check=False).returncode


def test_topology_routes_and_router_firewall_applies() -> None:
    with Topology.create() as topo:
        # Given a fresh lab, the client reaches the server through the router.
        assert _ping(topo, SERVER_IP) == 0
        # When the router drops ICMP to the server, the same ping fails.
        topo.nft(
            "table inet t {\n chain fw {\n type filter hook forward priority 0;\n"
            f" ip daddr {SERVER_IP} icmp type echo-request drop\n }}\n}}\n"
        )
        assert _ping(topo, SERVER_IP) != 0
        names = [ns.name for ns in topo.namespaces]
    # Then close() removed every namespace it created.
    leftover = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert not leftover & set(names)
