"""Raw-packet diagnosis through a real nftables router: the traceroute names the router as the
last hop before a drop, a REJECT names the router as the ICMP sender, a reset comes from the
server, and many failed flows at once stay within one time budget.

client 198.51.100.10 -> router (198.51.100.1 | 203.0.113.1) -> server 203.0.113.10.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.topology import ROUTER_CLIENT_IP, SERVER_IP, Topology

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")

REPO = Path(__file__).resolve().parents[2]
DROPPED_TCP = list(range(7100, 7110))  # ten dropped ports: more than the router's ICMP burst
FLOWS = [(f"tcp-drop-{port}", "tcp", port) for port in DROPPED_TCP] + [
    ("udp-drop", "udp", 7201),
    ("tcp-reject", "tcp", 7202),
    ("udp-reject", "udp", 7203),
    ("tcp-refused", "tcp", 7204),  # allowed, nothing listens: the server resets
]
RULESET = f"""
table inet raw {{
  chain forward {{
    type filter hook forward priority 0; policy accept;
    ip daddr {SERVER_IP} tcp dport 7100-7109 drop
    ip daddr {SERVER_IP} udp dport 7201 drop
    ip daddr {SERVER_IP} tcp dport 7202 reject with icmp type admin-prohibited
    ip daddr {SERVER_IP} udp dport 7203 reject with icmp type admin-prohibited
  }}
}}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("raw-lab")
    lines = ["name: raw-lab", "role: sensor", "flows:"]
    for flow_id, transport, port in FLOWS:
        lines += [f"  - {{id: {flow_id}, purpose: raw lab flow, protocol: TEST, transport: {transport}, "
                  f"port: {port}, direction: out, peer: console, probe: {transport}}}"]
    (folder / "profile.yaml").write_text("\n".join(lines) + "\n")
    (folder / "site.yaml").write_text(f"name: raw-lab\npeers:\n  console: {SERVER_IP}\n")
    with Topology.create() as topo:
        topo.nft(RULESET)

        def scan(*extra: str) -> dict[str, Any]:
            started = time.monotonic()
            run = topo.client.run(
                [sys.executable, "-m", "netcheck", "scan", "--profile", str(folder / "profile.yaml"),
                 "--site", str(folder / "site.yaml"), "--timeout", "1", "--format", "json", "--output", "-",
                 *extra], check=False, cwd=REPO)
            assert run.returncode == 1, run.stderr
            results = {r["flow"]: r for r in json.loads(run.stdout)["results"]}
            return {"results": results, "stderr": run.stderr, "seconds": time.monotonic() - started}

        yield {"raw": scan(), "plain": scan("--no-raw")}


def test_every_dropped_flow_names_the_router_as_its_last_hop(runs: dict[str, Any]) -> None:
    results = runs["raw"]["results"]
    for flow_id in [f"tcp-drop-{port}" for port in DROPPED_TCP] + ["udp-drop"]:
        result = results[flow_id]
        raw = result["evidence"]["raw"]
        assert raw["privileged"] is True
        assert raw["last_hop"] == ROUTER_CLIENT_IP, (flow_id, raw)
        assert raw.get("syn", raw.get("udp")) == "silence"
        assert f"dropped after {ROUTER_CLIENT_IP}" in result["detail"]
    # one traceroute per address first, so the router's ICMP burst is not spent on duplicates
    own = [f for f in results.values() if "raw" in f["evidence"] and "traced_on_port" not in f["evidence"]["raw"]]
    assert len(own) >= 4
    # a flow without its own traceroute borrows one from a port that was dropped too, never from 7204 (reached)
    borrowed = {f["evidence"]["raw"]["traced_on_port"] for f in results.values()
                if "traced_on_port" in f["evidence"].get("raw", {})}
    assert borrowed <= set(DROPPED_TCP) | {7201}


def test_a_reject_names_the_router_as_the_icmp_sender(runs: dict[str, Any]) -> None:
    for flow_id in ("tcp-reject", "udp-reject"):
        result = runs["raw"]["results"][flow_id]
        assert (result["status"], result["reason"]) == ("fail", "prohibited")
        assert result["evidence"]["icmp"]["sender"] == ROUTER_CLIENT_IP  # connect()/IP_RECVERR
        raw = result["evidence"]["raw"]
        assert raw["icmp"] == {"type": 3, "code": 13, "sender": ROUTER_CLIENT_IP,
                               "text": "communication administratively prohibited"}
        assert f"rejected by {ROUTER_CLIENT_IP}" in result["detail"]


def test_a_reset_comes_from_the_server_past_the_router(runs: dict[str, Any]) -> None:
    result = runs["raw"]["results"]["tcp-refused"]
    raw = result["evidence"]["raw"]
    assert raw["syn"] == "rst" and raw["responder"] == SERVER_IP
    if "traced_on_port" not in raw:
        assert [hop["address"] for hop in raw["hops"]] == [ROUTER_CLIENT_IP, SERVER_IP]


def test_raw_diagnosis_stays_within_its_budget(runs: dict[str, Any]) -> None:
    # 14 failed flows, all diagnosed in one round: a couple of seconds, not seconds per flow.
    extra = runs["raw"]["seconds"] - runs["plain"]["seconds"]
    assert extra < 6, f"raw diagnosis took {extra:.1f} s more"
    assert "raw diagnosis of 14 failed flow(s)" in runs["raw"]["stderr"]
    assert all("raw" not in r["evidence"] for r in runs["plain"]["results"].values())  # --no-raw
