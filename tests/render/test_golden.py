"""Golden files: every format rendered from one fixed Report must match tests/render/golden/.

The report is tests/render/sample.py's sample_report() (fixed times, ids and addresses),
so any change in a file's bytes is a change in what users get. After an intended change,
regenerate and review the diff:

    NETCHECK_UPDATE_GOLDEN=1 python3 -m pytest tests/render/test_golden.py

(the same switch regenerates docs/report.png in test_chromium.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from netcheck.model import Reason, Report, Status
from netcheck.render import FORMATS
from netcheck.render.diff import DIFF_FORMATS, diff_reports
from netcheck.render.fleet import FLEET_FORMATS, build_fleet
from tests.render.sample import sample_report

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("NETCHECK_UPDATE_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        return
    assert path.exists(), f"{path} missing: run with NETCHECK_UPDATE_GOLDEN=1 to create it"
    expected = path.read_bytes().decode("utf-8")
    assert text == expected, f"{name} differs from its golden file (NETCHECK_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_matches_its_golden_file(name: str) -> None:
    fmt = FORMATS[name]
    # Given the fixed sample report, When rendered, Then the bytes equal the reviewed file.
    check_golden(f"report.{fmt.extension}", fmt.renderer()(sample_report()))


def later_report() -> Report:
    """The sample after a firewall change: tunnel opened, console-https broke, crl still prohibited."""
    report = sample_report()
    changed = []
    for result in report.results:
        if result.flow.id == "tunnel":
            result = replace(result, status=Status.PASS, reason=Reason.OPEN, detail="TCP 9000: handshake completed",
                             latency_ms=1.4, evidence={})
        elif result.flow.id == "console-https":
            result = replace(result, status=Status.FAIL, reason=Reason.FILTERED, detail="TCP 443: no answer",
                             latency_ms=None, evidence={})
        elif result.flow.id == "crl":
            result = replace(result, reason=Reason.UNREACHABLE, detail="TCP 80: host unreachable")
        changed.append(result)
    info = replace(report.info, run_id="77aa00bb11cc22dd", started="2026-03-03T10:00:00Z",
                   finished="2026-03-03T10:00:05Z")
    return Report.build(info, changed)


def second_host() -> Report:
    report = later_report()
    info = replace(report.info, host_name="sensor-02", host_addresses=("198.51.100.11", "127.0.0.1"),
                   run_id="0123456789abcdef")
    return Report.build(info, [r for r in report.results if r.flow.peer != "wmi"])


@pytest.mark.parametrize("name", sorted(DIFF_FORMATS))
def test_diff_formats_match_golden_files(name: str) -> None:
    render: Callable[..., str] = DIFF_FORMATS[name][0]
    check_golden(f"diff.{DIFF_FORMATS[name][1]}", render(diff_reports(sample_report(), later_report())))


@pytest.mark.parametrize("name", sorted(FLEET_FORMATS))
def test_fleet_formats_match_golden_files(name: str) -> None:
    fleet = build_fleet([("a.json", sample_report()), ("b.json", second_host())])
    render: Callable[..., str] = FLEET_FORMATS[name][0]
    check_golden(f"fleet.{FLEET_FORMATS[name][1]}", render(fleet))
