"""Raw diagnosis: which flows it looks at, how it words what it found, and what it does
without the privilege (pure logic, and a real unprivileged scan)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from netcheck.model import Direction, PortRange, Reason, Result, Status
from netcheck.probes import ProbeContext
from netcheck.raw import diagnose
from netcheck.raw.diagnose import RawDiagnosis, describe, needs_diagnosis, target_of
from netcheck.raw.packets import Hop, PathFacts, Target
from tests.conftest import make_flow
from tests.listen.helpers import REPO, free_port, unprivileged_python

SERVER = "203.0.113.10"
ROUTER = "198.51.100.1"


def failed(reason: Reason, port: int | PortRange = 8001, transport: str = "tcp", **evidence: object) -> Result:
    return Result(flow=make_flow(port, transport=transport, host=SERVER), status=Status.FAIL, reason=reason,
                  detail=f"{transport.upper()} {port}: {reason.value}", address=SERVER, evidence=evidence)


def test_only_path_failures_of_outbound_flows_are_diagnosed() -> None:
    assert needs_diagnosis(failed(Reason.FILTERED))
    assert needs_diagnosis(failed(Reason.BLOCKED, transport="udp"))
    assert not needs_diagnosis(failed(Reason.TLS_ERROR))  # the path worked
    assert not needs_diagnosis(Result(make_flow(22, direction=Direction.IN, host=""), Status.FAIL, Reason.REFUSED,
                                      "x"))
    unresolved = failed(Reason.DNS_FAILURE)
    assert not needs_diagnosis(Result(**{**unresolved.__dict__, "address": None}))


def test_a_range_is_probed_on_its_first_blocked_sampled_port() -> None:
    result = failed(Reason.FILTERED, PortRange(1025, 65535), sampled={"1025": "open", "9000": "filtered"})
    assert target_of(result) == Target(SERVER, "tcp", 9000)


def test_wording_names_the_hop_or_the_router() -> None:
    target = Target(SERVER, "tcp", 8001)
    dropped = PathFacts(target, hops=[Hop(1, ROUTER, "time-exceeded", 11, 0)])
    assert describe(dropped) == f"dropped after {ROUTER} (hop 1 answered, nothing beyond it)"
    assert dropped.to_dict()["last_hop"] == ROUTER and dropped.to_dict()["syn"] == "silence"
    rejected = PathFacts(target, answer="icmp", responder=ROUTER, icmp_type=3, icmp_code=13)
    assert describe(rejected).startswith(f"rejected by {ROUTER} (communication administratively prohibited")
    assert rejected.to_dict()["icmp"]["sender"] == ROUTER
    reset = PathFacts(target, answer="rst", responder=SERVER, hops=[Hop(1, ROUTER, "time-exceeded"),
                                                                   Hop(2, SERVER, "rst")])
    assert describe(reset) == f"{SERVER} resets a raw SYN"
    assert reset.last_hop == ROUTER and reset.stop == Hop(2, SERVER, "rst")
    assert "no hop answered" in describe(PathFacts(Target(SERVER, "udp", 514)))
    untraced = PathFacts(Target(SERVER, "tcp", 22), traceroute=False)
    assert describe(untraced).startswith(f"raw SYN unanswered; no traceroute toward {SERVER}")
    assert untraced.to_dict()["traceroute"] is False


def test_without_privilege_the_flows_keep_their_facts_and_say_root_helps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diagnose, "raw_unavailable", lambda: "raw packets need root or CAP_NET_RAW")
    said: list[str] = []
    icmp = {"origin": "icmp", "type": 3, "code": 13, "sender": ROUTER, "text": "x"}
    results = [failed(Reason.PROHIBITED, icmp=icmp), failed(Reason.TLS_ERROR)]
    out = asyncio.run(RawDiagnosis(say=said.append).after(results, ProbeContext(timeout=1, run_id="r")))
    raw = out[0].evidence["raw"]
    assert raw == {"privileged": False, "icmp_sender": ROUTER,
                   "note": "raw packets need root or CAP_NET_RAW: running as root adds hop detail"}
    assert out[0].detail == results[0].detail and out[1] == results[1]
    assert len(said) == 1 and "running as root adds hop detail" in said[0] and "--no-raw" in said[0]


def test_nothing_failed_nothing_said() -> None:
    said: list[str] = []
    ok = Result(make_flow(443, host=SERVER), Status.PASS, Reason.OPEN, "open", address=SERVER)
    assert asyncio.run(RawDiagnosis(say=said.append).after([ok], ProbeContext(timeout=1, run_id="r"))) == [ok]
    assert said == []


def test_an_unprivileged_scan_falls_back_with_a_note(tmp_path: Path) -> None:
    found = unprivileged_python()
    if found is None:
        pytest.skip("needs root (to drop to uid 65534 with setpriv) and a Python that uid can run")
    python, prefix = found
    port = free_port("tcp")
    tmp_path.chmod(0o777)
    (tmp_path / "p.yaml").write_text(
        "name: p\nrole: sensor\nflows:\n  - {id: closed, purpose: t, protocol: T, transport: tcp, "
        f"port: {port}, direction: out, peer: console, probe: tcp}}\n")
    (tmp_path / "s.yaml").write_text("name: s\npeers:\n  console: 127.0.0.1\n")
    run = subprocess.run([*prefix, python, "-m", "netcheck", "scan", "--profile", "p.yaml", "--site", "s.yaml",
                          "--format", "json", "--output", "-", "--timeout", "1"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)})
    assert run.returncode == 1, run.stderr
    result = json.loads(run.stdout)["results"][0]
    assert result["reason"] == "refused"
    assert result["evidence"]["raw"]["privileged"] is False
    assert "running as root adds hop detail" in run.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="raw packets need root")
def test_as_root_on_loopback_the_probe_sees_the_reset() -> None:
    from netcheck.raw.packets import trace

    port = free_port("tcp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        closed_udp = udp.getsockname()[1]
    tcp, udp_facts = trace([Target("127.0.0.1", "tcp", port), Target("127.0.0.1", "udp", closed_udp)], 2, 1.0, 6)
    tcp_raw, udp_raw = tcp.to_dict(), udp_facts.to_dict()
    assert tcp_raw["syn"] == "rst" and tcp_raw["responder"] == "127.0.0.1"
    assert tcp_raw["hops"][0] == {"ttl": 1, "address": "127.0.0.1", "answer": "rst"}
    assert describe(tcp) == "127.0.0.1 resets a raw SYN"
    assert udp_raw["udp"] == "icmp" and udp_raw["icmp"]["code"] == 3
    assert describe(udp_facts).startswith("the host itself answers port unreachable")


def test_as_root_loopback_flows_are_not_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    # on loopback there is no path to trace: the scan keeps what connect() said, and scapy stays unloaded
    monkeypatch.setattr(diagnose, "raw_unavailable", lambda: None)
    monkeypatch.setattr(diagnose, "scapy_missing", lambda: None)
    monkeypatch.setattr("netcheck.raw.packets.trace", lambda *a: pytest.fail("traced loopback"))
    results = [Result(make_flow(9, host="127.0.0.1"), Status.FAIL, Reason.REFUSED, "refused", address="127.0.0.1")]
    said: list[str] = []
    assert asyncio.run(RawDiagnosis(say=said.append).after(results, ProbeContext(timeout=1, run_id="r"))) == results
    assert said == []


def test_the_terminal_report_shows_the_hop() -> None:
    from netcheck.model import Report, RunInfo
    from netcheck.raw.diagnose import _with_facts
    from netcheck.render.terminal import render_terminal

    fact = PathFacts(Target(SERVER, "tcp", 8001), hops=[Hop(1, ROUTER, "time-exceeded", 11, 0)])
    result = _with_facts(failed(Reason.FILTERED), fact)
    info = RunInfo(version="t", run_id="r", host_name="h", host_addresses=(), profile="p", role="sensor",
                   site="s", site_file="s.yaml", started="2026-01-01T00:00:00Z", finished="2026-01-01T00:00:01Z")
    # the clause is part of the Detail column (wide enough here not to wrap)
    assert f"dropped after {ROUTER} (hop 1 answered" in render_terminal(Report.build(info, [result]), width=250)


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> list[list[Target]]:
    """Raw packets allowed, and each burst of path traces recorded (every path answers: hop 1 is ROUTER)."""
    bursts: list[list[Target]] = []

    def fake_trace(targets: list[Target], max_hops: int, wait: float, traceroutes: int) -> list[PathFacts]:
        bursts.append(list(targets))
        return [PathFacts(t, hops=[Hop(1, ROUTER, "time-exceeded", 11, 0)]) for t in targets]

    monkeypatch.setattr(diagnose, "raw_unavailable", lambda: None)
    monkeypatch.setattr(diagnose, "scapy_missing", lambda: None)
    monkeypatch.setattr("netcheck.raw.packets.trace", fake_trace)
    return bursts


def test_each_path_is_traced_once_and_the_flows_sharing_it_say_so(traced: list[list[Target]]) -> None:
    # Given 40 flows to one address dropped alike, 3 refused there, and 5 dropped to another address
    other = "203.0.113.20"

    def named(result: Result, address: str = SERVER) -> Result:
        flow = dataclasses.replace(result.flow, id=f"f{result.flow.port}")
        return dataclasses.replace(result, flow=flow, address=address)

    results = [named(failed(Reason.FILTERED, port=9000 + i)) for i in range(40)]
    results += [named(failed(Reason.REFUSED, port=9100 + i)) for i in range(3)]
    results += [named(failed(Reason.FILTERED, port=9200 + i), other) for i in range(5)]
    said: list[str] = []
    out = asyncio.run(RawDiagnosis(say=said.append).after(results, ProbeContext(timeout=1, run_id="r")))
    # Then one burst, one trace per (address, kind of failure), each on its group's first port
    assert traced == [[Target(SERVER, "tcp", 9000), Target(SERVER, "tcp", 9100), Target(other, "tcp", 9200)]]
    assert said == ["raw diagnosis of 48 failed flow(s): 3 path trace(s), one per address and kind of failure"]
    # and every other flow of a group borrows its answer and says whose it is
    assert "borrowed_from" not in out[0].evidence["raw"] and "borrows" not in out[0].detail
    assert out[1].evidence["raw"]["borrowed_from"] == {"flow": "f9000", "port": 9000, "flows_sharing": 40}
    assert "path traced once for 40 flows" in out[1].detail and f"dropped after {ROUTER}" in out[1].detail
    assert out[41].evidence["raw"]["borrowed_from"]["port"] == 9100
    assert out[44].evidence["raw"]["borrowed_from"]["port"] == 9200


def test_a_silent_path_is_traced_during_the_scan_and_not_again_after(traced: list[list[Target]]) -> None:
    results = [dataclasses.replace(failed(Reason.FILTERED, port=9000 + i),
                                   flow=make_flow(9000 + i, host=SERVER, flow_id=f"f{i}")) for i in range(10)]

    async def scan_then_diagnose() -> list[Result]:
        hook = RawDiagnosis()
        for result in results:  # what the engine does as each first SYN goes unanswered
            hook.silent(result.flow, SERVER)
        await asyncio.sleep(0.3)  # the scan waits out its timeout; the early burst runs meanwhile
        assert traced == [[Target(SERVER, "tcp", 9000)]]
        return await hook.after(results, ProbeContext(timeout=1, run_id="r"))

    out = asyncio.run(scan_then_diagnose())
    assert traced == [[Target(SERVER, "tcp", 9000)]]  # after() reused it
    assert f"dropped after {ROUTER}" in out[0].detail and "borrowed_from" not in out[0].evidence["raw"]
    assert out[9].evidence["raw"]["borrowed_from"] == {"flow": "f0", "port": 9000, "flows_sharing": 10}
