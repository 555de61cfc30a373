"""IPv6 through the real nftables router, and the -4 / -6 switch, in the namespace lab.

client 2001:db8:100::10 -> router (2001:db8:100::1 | 2001:db8:113::1) -> server 2001:db8:113::10,
the IPv6 documentation prefix (RFC 3849) beside the lab's RFC 5737 IPv4 addresses, so one peer
has both families. netcheck runs inside the client namespace; nothing touches the host namespace.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.topology import SERVER_IP, Topology

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")

REPO = Path(__file__).resolve().parents[2]
CLIENT6, ROUTER_CLIENT6, ROUTER_SERVER6, SERVER6 = ("2001:db8:100::10", "2001:db8:100::1", "2001:db8:113::1",
                                                    "2001:db8:113::10")

RULESET = f"""
table inet v6 {{
  chain forward {{
    type filter hook forward priority 0; policy accept;
    ip6 daddr {SERVER6} tcp dport 8001 drop
    ip6 daddr {SERVER6} tcp dport 8002 reject with icmpv6 type admin-prohibited
    ip6 daddr {SERVER6} udp dport 8002 reject with icmpv6 type admin-prohibited
  }}
}}
"""

SERVER = textwrap.dedent(f"""
    import socket, time
    v6 = socket.create_server(("{SERVER6}", 8000), family=socket.AF_INET6)
    v4 = socket.create_server(("{SERVER_IP}", 8000))
    time.sleep(120)
""")

WAIT_FOR_SERVER = textwrap.dedent(f"""
    import socket, time
    for _ in range(100):
        try:
            socket.create_connection(("{SERVER6}", 8000), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
""")

FLOWS = [  # id, transport, port, peer
    ("v6-open", "tcp", 8000, "console"),
    ("v6-drop", "tcp", 8001, "console"),
    ("v6-prohibited", "tcp", 8002, "console"),
    ("v6-refused", "tcp", 8003, "console"),
    ("v6-udp-prohibited", "udp", 8002, "console"),
    ("v4-open", "tcp", 8000, "ha_console"),
]

SITE = f"name: v6-lab\npeers:\n  console: '{SERVER6}'\n  ha_console: {SERVER_IP}\n"


def profile_yaml() -> str:
    lines = ["name: v6", "role: sensor", "flows:"]
    for flow_id, transport, port, peer in FLOWS:
        lines += [f"  - {{id: {flow_id}, purpose: ipv6 test, protocol: TEST, transport: {transport}, port: {port}, "
                  f"direction: out, peer: {peer}, probe: {transport}}}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with Topology.create() as topology:
        cli, rtr, srv = topology.client, topology.router, topology.server
        # nodad: the addresses are usable at once, not after duplicate-address detection.
        cli.run(["ip", "-6", "addr", "add", f"{CLIENT6}/64", "dev", topology.client_if, "nodad"])
        rtr.run(["ip", "-6", "addr", "add", f"{ROUTER_CLIENT6}/64", "dev", topology.router_client_if, "nodad"])
        rtr.run(["ip", "-6", "addr", "add", f"{ROUTER_SERVER6}/64", "dev", topology.router_server_if, "nodad"])
        srv.run(["ip", "-6", "addr", "add", f"{SERVER6}/64", "dev", topology.server_if, "nodad"])
        cli.run(["ip", "-6", "route", "add", "default", "via", ROUTER_CLIENT6])
        srv.run(["ip", "-6", "route", "add", "default", "via", ROUTER_SERVER6])
        rtr.run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv6.icmp.ratelimit=0"])
        topology.nft(RULESET)
        srv.popen([sys.executable, "-c", SERVER])
        cli.run([sys.executable, "-c", WAIT_FOR_SERVER], check=False)
        yield topology


def scan(topo: Topology, folder: Path, *flags: str) -> dict[str, dict[str, Any]]:
    (folder / "profile.yaml").write_text(profile_yaml())
    (folder / "site.yaml").write_text(SITE)
    run = topo.client.run(
        [sys.executable, "-m", "netcheck", "scan", "--profile", str(folder / "profile.yaml"), "--site",
         str(folder / "site.yaml"), "--timeout", "1.5", "--format", "json", "--output", "-", *flags],
        check=False, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode in (0, 1), run.stderr
    return {result["flow"]: result for result in json.loads(run.stdout)["results"]}


def test_ipv6_flows_through_the_router_keep_their_reasons(topo: Topology, tmp_path: Path) -> None:
    # Given a peer with an IPv6 address behind the router, and the default (IPv4 first, IPv6 kept)
    results = scan(topo, tmp_path)
    verdict = {flow: (r["status"], r["reason"]) for flow, r in results.items()}
    # Then every state is told apart over IPv6 as over IPv4, with the router named as ICMPv6 sender
    assert verdict["v6-open"] == ("pass", "open") and results["v6-open"]["address"] == SERVER6
    assert verdict["v6-drop"] == ("fail", "filtered")
    assert verdict["v6-prohibited"] == ("fail", "prohibited")
    assert ROUTER_SERVER6 in json.dumps(results["v6-prohibited"]["evidence"]) or \
        ROUTER_CLIENT6 in json.dumps(results["v6-prohibited"]["evidence"])
    assert verdict["v6-refused"] == ("fail", "refused")
    assert verdict["v6-udp-prohibited"] == ("fail", "prohibited")
    assert verdict["v4-open"] == ("pass", "open")


@pytest.mark.parametrize(("flag", "kept", "left_out"), [("-6", "v6-open", "v4-open"), ("-4", "v4-open", "v6-open")])
def test_one_family_only(topo: Topology, tmp_path: Path, flag: str, kept: str, left_out: str) -> None:
    results = scan(topo, tmp_path, flag)
    assert (results[kept]["status"], results[kept]["reason"]) == ("pass", "open")
    assert (results[left_out]["status"], results[left_out]["reason"]) == ("skip", "not-applicable")
    assert flag in results[left_out]["detail"]
