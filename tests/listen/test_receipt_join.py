"""join_receipt: the scan report and the listener's receipt in one view (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from netcheck.errors import ConfigError
from netcheck.listen.receipt import SCHEMA, join_receipt, load_receipt
from netcheck.model import Reason, Report, Result, RunInfo, Status
from tests.conftest import make_flow

SCANNER = "198.51.100.10"
FAR = "203.0.113.10"


def result(flow_id: str, transport: str, port: int, status: Status, reason: Reason, token: str | None) -> Result:
    evidence: dict[str, Any] = {"listener": {"token": token}} if token else {}
    return Result(flow=make_flow(port, transport=transport, flow_id=flow_id, host=FAR), status=status, reason=reason,
                  detail=f"{transport} {port}: {reason.value}", address=FAR, evidence=evidence)


def report(*results: Result) -> Report:
    info = RunInfo(version="t", run_id="r", host_name="scanner", host_addresses=(SCANNER, "127.0.0.1"),
                   profile="sensor", role="sensor", site="lab", site_file="site.yaml",
                   started="2026-01-01T10:00:00Z", finished="2026-01-01T10:00:05Z")
    return Report.build(info, list(results))


def receipt(probes: list[dict[str, Any]], endpoints: list[dict[str, Any]] | None = None,
            started: str = "2026-01-01T09:59:00Z", finished: str = "2026-01-01T10:05:00Z") -> dict[str, Any]:
    return {"schema": SCHEMA, "listener": {"id": "L1", "host": "far", "started": started, "finished": finished},
            "endpoints": endpoints or [], "probes": probes}


def probe(token: str, source: str = SCANNER, answered: int = 1, rate_limited: int = 0) -> dict[str, Any]:
    return {"token": token, "source": source, "first_seen": "2026-01-01T10:00:01Z", "answered": answered,
            "rate_limited": rate_limited}


def by_id(joined: Report) -> dict[str, Result]:
    return {r.flow.id: r for r in joined.results}


def test_both_ends_in_one_report() -> None:
    scan = report(
        result("ntp", "udp", 123, Status.PASS, Reason.CONFIRMED, "t-ntp"),
        result("syslog", "udp", 514, Status.FAIL, Reason.BLOCKED, "t-syslog"),
        result("snmp", "udp", 161, Status.FAIL, Reason.BLOCKED, "t-snmp"),
        result("plain", "tcp", 25, Status.FAIL, Reason.REFUSED, None),
    )
    joined = by_id(join_receipt(scan, receipt([probe("t-ntp"), probe("t-snmp")])))
    assert joined["ntp"].evidence["receipt"]["sources"] == [SCANNER]
    assert "the listener saw it from 198.51.100.10" in joined["ntp"].detail
    # never arrived: the drop is on the way there
    assert joined["syslog"].evidence["receipt"]["seen"] is False
    assert "never arrived" in joined["syslog"].detail and joined["syslog"].status is Status.FAIL
    # arrived but no echo came back: the return path
    assert "the return path drops it" in joined["snmp"].detail and joined["snmp"].status is Status.FAIL
    # flows not tested through the listener are left alone
    assert joined["plain"] == scan.results[[r.flow.id for r in scan.results].index("plain")]


def test_a_reset_is_never_called_a_drop() -> None:
    # Given a tunnel flow refused by a reset, a prohibited one and a silent one, none seen by the listener
    scan = report(result("tunnel", "tcp", 9000, Status.FAIL, Reason.REFUSED, "t-reset"),
                  result("wmi", "tcp", 135, Status.FAIL, Reason.PROHIBITED, "t-icmp"),
                  result("syslog", "udp", 514, Status.FAIL, Reason.BLOCKED, "t-silent"))
    joined = by_id(join_receipt(scan, receipt([])))
    # Then each says what its own reason means about where the token stopped
    assert "nothing accepted the connection" in joined["tunnel"].detail
    assert "dropped" not in joined["tunnel"].detail
    assert "rejected it on the way there" in joined["wmi"].detail
    assert "dropped on the way there" in joined["syslog"].detail


def test_nat_and_rate_limits_are_named() -> None:
    scan = report(result("ntp", "udp", 123, Status.PASS, Reason.CONFIRMED, "t1"),
                  result("snmp", "udp", 161, Status.FAIL, Reason.BLOCKED, "t2"))
    joined = by_id(join_receipt(scan, receipt([probe("t1", source="198.51.100.77"),
                                               probe("t2", answered=0, rate_limited=3)])))
    assert "a NAT rewrites the source" in joined["ntp"].detail
    assert "rate-limited" in joined["snmp"].detail


def test_handshake_to_a_port_the_listener_found_in_use_passes() -> None:
    scan = report(result("ssh", "tcp", 22, Status.WARN, Reason.UNCONFIRMED, "t-ssh"))
    endpoints = [{"address": "0.0.0.0", "transport": "tcp", "port": 22, "state": "in-use"}]
    joined = by_id(join_receipt(scan, receipt([], endpoints)))
    assert (joined["ssh"].status, joined["ssh"].reason) == (Status.PASS, Reason.OPEN)
    assert "real service" in joined["ssh"].detail


def test_port_range_tokens_are_joined() -> None:
    flow_result = result("wmi", "tcp", 135, Status.PASS, Reason.CONFIRMED, None)
    ranged = Result(**{**flow_result.__dict__, "evidence": {"listener": {"tokens": {"1025": "a", "1026": "b"}}}})
    joined = by_id(join_receipt(report(ranged), receipt([probe("b")])))
    assert joined["wmi"].evidence["receipt"]["seen"] is True


def test_a_receipt_from_another_time_is_refused() -> None:
    scan = report(result("ntp", "udp", 123, Status.PASS, Reason.CONFIRMED, "t"))
    with pytest.raises(ConfigError, match="the listener ran"):
        join_receipt(scan, receipt([], started="2026-01-02T00:00:00Z", finished="2026-01-02T00:10:00Z"))
    with pytest.raises(ConfigError, match="not a listener receipt"):
        join_receipt(scan, {"schema": "netcheck.report/1"})


def test_load_receipt_errors_are_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "r.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_receipt(bad)
    with pytest.raises(ConfigError, match="no such file"):
        load_receipt(tmp_path / "missing.json")


def test_the_certificate_verdicts_stay_in_the_joined_report() -> None:
    from dataclasses import replace

    from tests.render.sample import CERTIFICATES

    scan = replace(report(result("ntp", "udp", 123, Status.PASS, Reason.CONFIRMED, "t-ntp")), certificates=CERTIFICATES)
    assert join_receipt(scan, receipt([probe("t-ntp")])).certificates == CERTIFICATES
