"""TCP and UDP reachability states through a real nftables router between two namespaces.

client 198.51.100.10 -> router (198.51.100.1 | 203.0.113.1) -> server 203.0.113.10.
netcheck runs inside the client namespace; nothing here touches the host namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.topology import ROUTER_CLIENT_IP, SERVER_IP, Topology

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")

RULESET = f"""
table inet reach {{
  chain forward {{
    type filter hook forward priority 0; policy accept;
    ip daddr {SERVER_IP} tcp dport 8001 drop
    ip daddr {SERVER_IP} tcp dport 8002 reject with icmp type admin-prohibited
    ip daddr {SERVER_IP} tcp dport 8004 reject with icmp type host-unreachable
    ip daddr {SERVER_IP} udp dport 8001 drop
    ip daddr {SERVER_IP} udp dport 8002 reject with icmp type admin-prohibited
  }}
}}
"""

SERVER = textwrap.dedent(f"""
    import socket, time
    tcp = socket.create_server(("{SERVER_IP}", 8000))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("{SERVER_IP}", 8005))
    time.sleep(120)
""")

WAIT_FOR_SERVER = textwrap.dedent(f"""
    import socket, time
    for _ in range(100):
        try:
            socket.create_connection(("{SERVER_IP}", 8000), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
""")

FLOWS = [
    # id, transport, port, peer
    ("tcp-open", "tcp", 8000, "console"),
    ("tcp-drop", "tcp", 8001, "console"),
    ("tcp-prohibited", "tcp", 8002, "console"),
    ("tcp-refused", "tcp", 8003, "console"),
    ("tcp-unreachable", "tcp", 8004, "console"),
    ("udp-drop", "udp", 8001, "console"),
    ("udp-prohibited", "udp", 8002, "console"),
    ("udp-refused", "udp", 8003, "console"),
    ("udp-silent", "udp", 8005, "console"),
    ("tcp-by-name", "tcp", 8000, "ha_console"),
    ("tcp-bad-name", "tcp", 8000, "smtp"),
]


def profile_yaml() -> str:
    lines = ["name: reach", "role: sensor", "flows:"]
    for flow_id, transport, port, peer in FLOWS:
        lines += [f"  - id: {flow_id}", "    purpose: reachability test", "    protocol: TEST",
                  f"    transport: {transport}", f"    port: {port}", "    direction: out",
                  f"    peer: {peer}", f"    probe: {transport}"]
    return "\n".join(lines) + "\n"


SITE = f"""
name: reach-lab
peers:
  console: {SERVER_IP}
  ha_console: console.lab.example
  smtp: nope.lab.example
"""


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with Topology.create() as topology:
        etc = Path("/etc/netns") / topology.client.name
        etc.mkdir(parents=True)
        try:
            # `ip netns exec` bind-mounts these over /etc/hosts and /etc/resolv.conf in the client
            # namespace: one name resolves from the hosts file, others go to a resolver on the
            # client's own loopback where nothing listens, so no query leaves the namespace.
            (etc / "hosts").write_text(f"127.0.0.1 localhost\n{SERVER_IP} console.lab.example\n")
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
            topology.nft(RULESET)
            topology.server.popen([sys.executable, "-c", SERVER])
            topology.client.run([sys.executable, "-c", WAIT_FOR_SERVER], check=False)
            yield topology
        finally:
            shutil.rmtree(etc, ignore_errors=True)


@pytest.fixture(scope="module")
def results(topo: Topology, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("reach")
    (folder / "profile.yaml").write_text(profile_yaml())
    (folder / "site.yaml").write_text(SITE)
    run = topo.client.run(
        [sys.executable, "-m", "netcheck", "scan", "--profile", str(folder / "profile.yaml"),
         "--site", str(folder / "site.yaml"), "--timeout", "1.5", "--format", "json", "--output", "-"],
        check=False, cwd=Path(__file__).resolve().parents[2],
    )
    assert run.returncode == 1, run.stderr  # some required flows fail
    report = json.loads(run.stdout)
    assert report["schema"] == "netcheck.report/1"
    return {r["flow"]: r for r in report["results"]}


@pytest.mark.parametrize("flow, status, reason", [
    ("tcp-open", "pass", "open"),
    ("tcp-drop", "fail", "filtered"),
    ("tcp-prohibited", "fail", "prohibited"),
    ("tcp-refused", "fail", "refused"),
    ("tcp-unreachable", "fail", "unreachable"),
    ("udp-drop", "fail", "no-response"),
    ("udp-prohibited", "fail", "prohibited"),
    ("udp-refused", "fail", "refused"),
    ("udp-silent", "fail", "no-response"),
    ("tcp-by-name", "pass", "open"),
    ("tcp-bad-name", "fail", "dns-failure"),
])
def test_state(results: dict[str, dict[str, Any]], flow: str, status: str, reason: str) -> None:
    result = results[flow]
    assert (result["status"], result["reason"]) == (status, reason), result["detail"]


def test_icmp_errors_name_the_router_that_sent_them(results: dict[str, dict[str, Any]]) -> None:
    for flow in ("tcp-prohibited", "udp-prohibited", "tcp-unreachable"):
        icmp = results[flow]["evidence"]["icmp"]
        assert icmp["sender"] == ROUTER_CLIENT_IP, flow
        assert icmp["type"] == 3
    assert results["tcp-prohibited"]["evidence"]["icmp"]["code"] == 13
    assert f"from {ROUTER_CLIENT_IP}" in results["udp-prohibited"]["detail"]


def test_udp_refusal_comes_from_the_server(results: dict[str, dict[str, Any]]) -> None:
    assert results["udp-refused"]["evidence"]["icmp"]["sender"] == SERVER_IP


def test_names_and_resolvers_are_reported(results: dict[str, dict[str, Any]]) -> None:
    assert results["tcp-by-name"]["address"] == SERVER_IP
    assert results["tcp-by-name"]["destination"] == "console.lab.example"
    bad = results["tcp-bad-name"]
    assert "nope.lab.example" in bad["detail"] and "127.0.0.1" in bad["detail"]
    assert bad["address"] is None


def test_silence_takes_one_timeout_not_the_sum(results: dict[str, dict[str, Any]]) -> None:
    # Every flow ran at once: the drop-flows report silence after about one timeout each.
    assert results["tcp-drop"]["evidence"]["timeout_s"] == 1.5
