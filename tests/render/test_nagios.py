"""The Nagios plugin answer: status line, perfdata matching the JSON report, and the plugin exit codes.

Unit tests over fixed reports for the mapping; real scans on loopback (a listening socket and
a closed port) for the exit codes end to end.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from netcheck.cli import main
from netcheck.model import Reason, Report, Status
from netcheck.render.nagios import NagiosState, nagios_state, render_nagios
from netcheck.serialize import dumps
from tests.render.loopback_site import listening_port, loopback_scan, write_scenario
from tests.render.sample import CERTIFICATES, hostile_report, sample_report


def perfdata(text: str) -> dict[str, str]:
    """label -> value (without unit and thresholds) from the first line's perfdata."""
    first = text.splitlines()[0]
    assert first.count("|") == 1, first
    fields = first.split(" | ")[1].split()
    return {label: value.split(";")[0] for label, value in (field.split("=") for field in fields)}


def with_statuses(report: Report, changes: dict[str, Status], strict: bool = False) -> Report:
    """The sample report with only the named flows failing/warning; every other flow passed."""
    results = []
    for result in report.results:
        status = changes.get(result.flow.id, Status.PASS)
        reason = {Status.PASS: Reason.OPEN, Status.WARN: Reason.UNCONFIRMED, Status.FAIL: Reason.FILTERED,
                  Status.ERROR: Reason.INTERNAL_ERROR, Status.SKIP: Reason.NOT_CONFIGURED}[status]
        results.append(replace(result, status=status, reason=reason))
    info = replace(report.info, options={**report.info.options, "strict": strict})
    return Report.build(info, results)


@pytest.mark.parametrize(("changes", "strict", "state"), [
    ({}, False, NagiosState.OK),
    ({"ntp-external": Status.SKIP}, False, NagiosState.OK),
    ({"syslog": Status.WARN}, False, NagiosState.WARNING),
    ({"ntp-external": Status.FAIL}, False, NagiosState.WARNING),  # an optional flow
    ({"syslog": Status.WARN}, True, NagiosState.CRITICAL),  # --strict
    ({"tunnel": Status.FAIL, "syslog": Status.WARN}, False, NagiosState.CRITICAL),
    ({"wmi-dynamic": Status.ERROR, "syslog": Status.WARN}, False, NagiosState.UNKNOWN),
    ({"wmi-dynamic": Status.ERROR, "tunnel": Status.FAIL}, False, NagiosState.CRITICAL),
])
def test_state_follows_the_plugin_convention(changes: dict[str, Status], strict: bool, state: NagiosState) -> None:
    report = with_statuses(sample_report(), changes, strict)
    assert nagios_state(report) is state
    text = render_nagios(report)
    assert text.startswith(f"NETCHECK {state.name} - sensor-01 (sensor) at plant-north: ")
    for flow_id, status in changes.items():
        if status is not Status.SKIP:
            assert flow_id in text.splitlines()[0]


def test_a_refused_certificate_is_critical() -> None:
    report = with_statuses(sample_report(), {})
    with_cert = Report.build(replace(report.info), list(report.results),
                             certificates=replace(CERTIFICATES, ok=False))
    assert nagios_state(with_cert) is NagiosState.CRITICAL
    assert "certificate would be refused" in render_nagios(with_cert)


def test_perfdata_matches_the_json_report() -> None:
    report = sample_report()
    data = json.loads(dumps(report))
    perf = perfdata(render_nagios(report))
    for status, count in data["summary"]["counts"].items():
        assert int(perf[status]) == count
    slowest = max(r["latency_ms"] for r in data["results"] if r["latency_ms"] is not None)
    assert perf["slowest_latency"] == f"{slowest:.3f}ms"
    # the long output names every flow that did not pass, one per line, and no '|' (that would start perfdata)
    lines = render_nagios(report).splitlines()[1:]
    assert len(lines) == sum(1 for r in data["results"] if r["status"] not in ("pass", "skip"))
    assert all("|" not in line for line in lines)


def test_no_latency_at_all_is_undetermined() -> None:
    report = sample_report()
    bare = Report.build(report.info, [replace(r, latency_ms=None) for r in report.results])
    assert perfdata(render_nagios(bare))["slowest_latency"] == "U"


def test_hostile_text_cannot_forge_perfdata_or_lines() -> None:
    report = hostile_report()
    text = render_nagios(report)
    assert text.splitlines()[0].count("|") == 1
    assert len(text.splitlines()) == 1 + sum(r.status not in (Status.PASS, Status.SKIP) for r in report.results)
    assert "\x1b" not in text and "\x00" not in text and "\r" not in text


# ---------------------------------------------------------------- end to end, real loopback scans

@pytest.mark.parametrize(("closed", "required", "state"), [
    (False, True, NagiosState.OK),
    (True, False, NagiosState.WARNING),
    (True, True, NagiosState.CRITICAL),
])
def test_scan_exit_code_and_line_match_the_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       closed: bool, required: bool, state: NagiosState) -> None:
    scan = loopback_scan(tmp_path, capsys, "nagios", closed=closed, closed_required=required)
    assert scan.code == state.value, scan.stderr
    assert scan.stdout.startswith(f"NETCHECK {state.name} - "), scan.stdout
    perf = perfdata(scan.stdout)
    for status, count in scan.report["summary"]["counts"].items():
        assert int(perf[status]) == count
    timed = [r["latency_ms"] for r in scan.report["results"] if r["latency_ms"] is not None]
    assert perf["slowest_latency"] == f"{max(timed):.3f}ms"
    tunnel = [r for r in scan.report["results"] if r["flow"] == "tunnel"]
    if closed:
        assert tunnel[0]["reason"] == "refused"
        assert "tunnel" in scan.stdout.splitlines()[0] and scan.stdout.splitlines()[1].startswith("fail tunnel ")
    assert "netcheck: 2 flows" not in scan.stderr  # the nagios line is the summary


def test_report_of_a_saved_scan_gives_the_same_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan = loopback_scan(tmp_path, capsys, "nagios", closed=True)
    saved = scan.file("json")
    assert main(["report", str(saved), "-f", "nagios"]) == NagiosState.CRITICAL.value
    assert capsys.readouterr().out == scan.stdout


def test_broken_input_is_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with listening_port() as port:
        profile, site = write_scenario(tmp_path, port, None)
    site.write_text("name: lo\npeers:\n  console: [127.0.0.1\n")
    assert main(["scan", "-p", str(profile), "-s", str(site), "-f", "nagios"]) == NagiosState.UNKNOWN.value
    out = capsys.readouterr()
    assert out.out.startswith("NETCHECK UNKNOWN - ") and str(site) in out.out and len(out.out.splitlines()) == 1
    # the same error without nagios keeps netcheck's own code
    assert main(["scan", "-p", str(profile), "-s", str(site)]) == 2
    assert capsys.readouterr().out == ""
    # a report that is not JSON, and arguments that do not parse, are UNKNOWN too
    (tmp_path / "bad.json").write_text("{")
    assert main(["report", str(tmp_path / "bad.json"), "-f", "nagios"]) == NagiosState.UNKNOWN.value
    assert capsys.readouterr().out.startswith("NETCHECK UNKNOWN - ")
    assert main(["scan", "-f", "nagios", "--no-such-option"]) == NagiosState.UNKNOWN.value
    assert capsys.readouterr().out.startswith("NETCHECK UNKNOWN - ")


def test_with_the_table_nagios_is_a_file_and_the_exit_code_stays_netchecks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan = loopback_scan(tmp_path, capsys, "table,nagios", closed=True)
    assert scan.code == 1  # netcheck's "a required flow failed", not CRITICAL
    assert "NETCHECK" not in scan.stdout
    assert scan.file("nagios.txt").read_text().startswith("NETCHECK CRITICAL - ")


def test_nagios_cannot_share_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "scan.json"
    saved.write_text(dumps(sample_report()))
    assert main(["report", str(saved), "-f", "nagios,json", "-o", "-"]) == NagiosState.UNKNOWN.value
    out = capsys.readouterr()
    assert out.out.startswith("NETCHECK UNKNOWN - ") and len(out.out.splitlines()) == 1
    assert "owns stdout" in out.err


def test_an_unwritable_file_is_unknown_with_no_other_status_line(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "scan.json"
    saved.write_text(dumps(sample_report()))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    assert main(["report", str(saved), "-f", "nagios,json", "-o", f"{blocker}/"]) == NagiosState.UNKNOWN.value
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("NETCHECK UNKNOWN - cannot write")
