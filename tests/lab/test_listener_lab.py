"""Two-sided checks through a real nftables router: `netcheck listen` in the server namespace
(no real service behind it), `netcheck scan --listener` from the client namespace.

client 198.51.100.10 -> router (198.51.100.1 | 203.0.113.1) -> server 203.0.113.10.
A one-sided scan can only say `no-response` for both UDP flows; with the listener the
allowed one is `confirmed` and the dropped one `blocked`, and the receipt shows which
tokens arrived.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netcheck.listen.receipt import join_receipt, load_receipt
from netcheck.serialize import loads
from tests.lab.topology import CLIENT_IP, ROUTER_CLIENT_IP, SERVER_EXTRA_IPS, SERVER_IP, Topology

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")

REPO = Path(__file__).resolve().parents[2]
FLOWS = [  # id, transport, port, what the router does
    ("udp-allowed", "udp", 7001, "accept"),
    ("udp-dropped", "udp", 7002, "drop"),
    ("tcp-allowed", "tcp", 7003, "accept"),
    ("tcp-dropped", "tcp", 7004, "drop"),
    ("tcp-rejected", "tcp", 7005, "reject with icmp type admin-prohibited"),
]
RULESET = "table inet listen {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n" + "".join(
    f"    ip daddr {SERVER_IP} {transport} dport {port} {verdict}\n"
    for _id, transport, port, verdict in FLOWS if verdict != "accept") + "  }\n}\n"


def profile(direction: str, role: str, peer: str) -> str:
    lines = [f"name: lab-{direction}", f"role: {role}", "flows:"]
    for flow_id, transport, port, _verdict in FLOWS:
        lines += [f"  - id: {flow_id}", "    purpose: two-sided lab flow", "    protocol: TEST",
                  f"    transport: {transport}", f"    port: {port}", f"    direction: {direction}",
                  f"    peer: {peer}", f"    probe: {'local-listener' if direction == 'in' else transport}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with Topology.create() as topology:
        topology.nft(RULESET)
        yield topology


def start_listener(topo: Topology, profile_file: Path, receipt: Path, bind: str) -> tuple[Any, str]:
    listener = topo.server.popen(
        [sys.executable, "-m", "netcheck", "listen", "--profile", str(profile_file), "--bind", bind,
         "--duration", "120s", "--receipt", str(receipt)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert listener.stderr is not None
    banner = ""
    while "listening for" not in banner:
        line = listener.stderr.readline()
        assert line, f"the listener ended: {banner}"
        banner += line
    return listener, banner


@pytest.fixture(scope="module")
def lab(topo: Topology, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("listener-lab")
    (folder / "far.yaml").write_text(profile("in", "console", "sensors"))
    (folder / "near.yaml").write_text(profile("out", "sensor", "console"))
    (folder / "site.yaml").write_text(f"name: listener-lab\npeers:\n  console: {SERVER_IP}\n")
    listener, banner = start_listener(topo, folder / "far.yaml", folder / "receipt.json", SERVER_IP)

    def scan(*extra: str) -> dict[str, Any]:
        run = topo.client.run(
            [sys.executable, "-m", "netcheck", "scan", "--profile", str(folder / "near.yaml"),
             "--site", str(folder / "site.yaml"), "--timeout", "1.5", "--format", "json", "--output", "-",
             *extra], check=False, cwd=REPO)
        assert run.returncode == 1, run.stderr
        return {"report": json.loads(run.stdout), "stderr": run.stderr}

    one_sided = scan("--no-raw")
    two_sided = scan("--listener", "console")
    listener.terminate()  # SIGTERM: the listener stops early and writes its receipt
    out, err = listener.communicate(timeout=10)
    yield {"folder": folder, "banner": banner, "one_sided": one_sided, "two_sided": two_sided,
           "listener_out": out, "listener_err": err, "returncode": listener.returncode}


def results(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["flow"]: r for r in run["report"]["results"]}


@pytest.mark.parametrize("flow, one_sided, two_sided", [
    ("udp-allowed", ("fail", "no-response"), ("pass", "confirmed")),
    ("udp-dropped", ("fail", "no-response"), ("fail", "blocked")),
    ("tcp-allowed", ("pass", "open"), ("pass", "confirmed")),  # no real service: only the listener
    ("tcp-dropped", ("fail", "filtered"), ("fail", "blocked")),
    ("tcp-rejected", ("fail", "prohibited"), ("fail", "prohibited")),
])
def test_the_listener_turns_guesses_into_verdicts(lab: dict[str, Any], flow: str, one_sided: tuple[str, str],
                                                  two_sided: tuple[str, str]) -> None:
    before, after = results(lab["one_sided"])[flow], results(lab["two_sided"])[flow]
    assert (before["status"], before["reason"]) == one_sided, before["detail"]
    assert (after["status"], after["reason"]) == two_sided, after["detail"]


def test_the_listener_printed_and_kept_what_arrived(lab: dict[str, Any]) -> None:
    assert lab["returncode"] == 0, lab["listener_err"]
    assert "listening on 5 of 5 sockets" in lab["banner"]
    run_id = lab["two_sided"]["report"]["run"]["id"]
    printed = lab["listener_out"]
    assert f"{CLIENT_IP}:" in printed and f"udp/7001  token {run_id}-" in printed
    assert "udp/7002" not in printed and "tcp/7004" not in printed  # dropped: never arrived
    receipt = json.loads((lab["folder"] / "receipt.json").read_text())
    arrived = {(p["transport"], p["port"]) for p in receipt["probes"] if p["run_id"] == run_id}
    assert arrived == {("udp", 7001), ("tcp", 7003)}
    # The one-sided scan's empty datagram and bare handshake reached it but were not answered.
    assert receipt["ignored"]["rejected"].get("malformed", 0) >= 1
    assert receipt["ignored"]["handshakes_without_token"] >= 1


def test_the_receipt_joins_into_the_report(lab: dict[str, Any]) -> None:
    report = loads(json.dumps(lab["two_sided"]["report"]), "scan.json")
    joined = {r.flow.id: r for r in join_receipt(report, load_receipt(lab["folder"] / "receipt.json")).results}
    assert joined["udp-allowed"].evidence["receipt"]["sources"] == [CLIENT_IP]
    assert "never arrived" in joined["udp-dropped"].detail


def test_dropped_flows_name_the_router_as_the_last_hop(lab: dict[str, Any]) -> None:
    for flow in ("udp-dropped", "tcp-dropped"):
        result = results(lab["two_sided"])[flow]
        assert result["evidence"]["raw"]["last_hop"] == ROUTER_CLIENT_IP, result["evidence"]["raw"]
        assert f"dropped after {ROUTER_CLIENT_IP}" in result["detail"]


def test_a_wildcard_listener_answers_from_the_address_it_was_asked_on(topo: Topology, tmp_path: Path) -> None:
    """--bind 0.0.0.0 on a host with many addresses: the echo must leave from the address the probe
    went to (here a secondary one), or the scanner's connected socket would drop it."""
    secondary = min(SERVER_EXTRA_IPS.values())  # any secondary address of the server
    (tmp_path / "far.yaml").write_text(
        "name: wild\nrole: console\nflows:\n  - {id: ntp-serve, purpose: t, protocol: NTP, transport: udp, "
        "port: 7301, direction: in, peer: sensors, probe: local-listener}\n")
    (tmp_path / "near.yaml").write_text(
        "name: near\nrole: sensor\nflows:\n  - {id: ntp-ha, purpose: t, protocol: NTP, transport: udp, "
        "port: 7301, direction: out, peer: ha_console, probe: udp}\n")
    (tmp_path / "site.yaml").write_text(f"name: wild\npeers:\n  ha_console: {secondary}\n")
    listener, banner = start_listener(topo, tmp_path / "far.yaml", tmp_path / "receipt.json", "0.0.0.0")
    try:
        run = topo.client.run(
            [sys.executable, "-m", "netcheck", "scan", "--profile", str(tmp_path / "near.yaml"),
             "--site", str(tmp_path / "site.yaml"), "--listener", "--no-raw", "--timeout", "1.5",
             "--format", "json", "--output", "-"], check=False, cwd=REPO)
    finally:
        listener.terminate()
        listener.communicate(timeout=10)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)["results"][0]
    assert (result["status"], result["reason"]) == ("pass", "confirmed")
    probes = json.loads((tmp_path / "receipt.json").read_text())["probes"]
    assert [(p["address"], p["source"]) for p in probes] == [(secondary, CLIENT_IP)]
