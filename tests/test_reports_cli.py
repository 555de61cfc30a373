"""netcheck report / diff / merge on saved JSON reports, and scan's file formats end to end."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from netcheck.cli import main
from netcheck.model import Reason, Report, Status
from netcheck.serialize import dumps, loads
from tests.render.sample import sample_report
from tests.render.test_golden import later_report, second_host

ROOT = Path(__file__).resolve().parents[1]


def save(path: Path, report: Report) -> Path:
    path.write_text(dumps(report), encoding="utf-8")
    return path


@pytest.fixture
def saved(tmp_path: Path) -> dict[str, Path]:
    return {"before": save(tmp_path / "before.json", sample_report()),
            "after": save(tmp_path / "after.json", later_report()),
            "other": save(tmp_path / "other.json", second_host())}


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netcheck: error: "), err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------- report

def test_report_rerenders_into_the_reports_folder(saved: dict[str, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(saved["before"]), "--format", "html,junit,firewall-request"]) == 0
    written = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert written == ["netcheck-plant-north-sensor-01-sensor-20260302T091504.firewall-request.csv",
                       "netcheck-plant-north-sensor-01-sensor-20260302T091504.html",
                       "netcheck-plant-north-sensor-01-sensor-20260302T091504.junit.xml"]
    page = (tmp_path / "reports" / written[1]).read_text()
    assert "netcheck report: plant-north" in page
    assert "wrote html report" in capsys.readouterr().err


def test_report_default_is_html_and_dash_is_stdout(saved: dict[str, Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(saved["before"]), "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")
    assert main(["report", str(saved["before"]), "-f", "json", "-o", "-"]) == 0
    assert loads(capsys.readouterr().out, "stdout") == sample_report()


def test_report_to_a_named_file(saved: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "ticket" / "CHG-1234.md"
    assert main(["report", str(saved["before"]), "-f", "markdown", "-o", str(target)]) == 0
    assert target.read_text().startswith("# netcheck report: plant-north")


def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    good = json.loads(dumps(sample_report()))
    wrong_type = json.loads(dumps(sample_report()))
    wrong_type["results"][0]["detail"] = 42
    missing_key = json.loads(dumps(sample_report()))
    del missing_key["results"][3]["status"]
    files = {
        "missing": tmp_path / "missing.json",
        "folder": tmp_path,
        "not-json": tmp_path / "not.json",
        "binary": tmp_path / "binary.json",
        "array": tmp_path / "array.json",
        "other-schema": tmp_path / "cert.json",
        "wrong-type": tmp_path / "wrong-type.json",
        "missing-key": tmp_path / "missing-key.json",
        "bad-status": tmp_path / "bad-status.json",
    }
    files["not-json"].write_text("<html>not json</html>")
    files["binary"].write_bytes(b"\xff\xfe\x00garbage")
    files["array"].write_text("[1, 2]")
    files["other-schema"].write_text(json.dumps({"schema": "netcheck.cert/1", "ok": True}))
    files["wrong-type"].write_text(json.dumps(wrong_type))
    files["missing-key"].write_text(json.dumps(missing_key))
    good["results"][0]["status"] = "sort-of"
    files["bad-status"].write_text(json.dumps(good))
    return files


@pytest.mark.parametrize("case", ["missing", "folder", "not-json", "binary", "array", "other-schema",
                                  "wrong-type", "missing-key", "bad-status"])
def test_bad_input_files_are_one_line_exit_2(case: str, tmp_path: Path, saved: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(bad_inputs(tmp_path)[case])
    for argv in (["report", bad, "-o", "-"], ["diff", str(saved["before"]), bad], ["merge", str(saved["before"]), bad]):
        assert main(argv) == 2, argv
        line = one_error_line(capsys.readouterr().err)
        assert bad in line


def test_unknown_format_is_a_usage_error(saved: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(saved["before"]), "-f", "pdf"]) == 2
    assert "unknown format 'pdf'" in one_error_line(capsys.readouterr().err)
    assert main(["merge", str(saved["before"]), "-f", "junit"]) == 2
    capsys.readouterr()


# ---------------------------------------------------------------- diff

def test_diff_lists_changed_flows_and_exits_1_when_worse(saved: dict[str, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(saved["before"]), str(saved["after"])]) == 1
    out = capsys.readouterr().out
    changed = [line.split()[0] for line in out.splitlines()[2:-1]]
    assert changed == ["WORSE", "REASON", "BETTER"]
    assert "console-https" in out and "pass (answered) -> fail (filtered)" in out
    assert "tunnel" in out and "fail (filtered) -> pass (open)" in out
    assert out.splitlines()[-1].endswith("-> WORSE")


def test_diff_exits_0_when_only_better_or_unchanged(saved: dict[str, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    fixed = replace(sample_report(), results=tuple(
        replace(r, status=Status.PASS, reason=Reason.OPEN) if r.flow.id == "tunnel" else r
        for r in sample_report().results))
    better = save(saved["before"].parent / "fixed.json", fixed)
    assert main(["diff", str(saved["before"]), str(better)]) == 0
    assert "1 better" in capsys.readouterr().out
    assert main(["diff", str(saved["before"]), str(saved["before"])]) == 0
    assert "0 worse, 0 better, 0 reason changed, 0 added, 0 removed; 18 unchanged" in capsys.readouterr().out


def test_diff_added_failure_is_worse_removed_flow_is_not(saved: dict[str, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    full = sample_report()
    fewer = Report.build(full.info, [r for r in full.results if r.flow.id not in ("wmi-rpc", "ldap")])
    fewer_path = save(saved["before"].parent / "fewer.json", fewer)
    # wmi-rpc (fail) and ldap (pass) come back: a new failing flow is worse.
    assert main(["diff", str(fewer_path), str(saved["before"]), "-f", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {(c["flow"], c["kind"], c["worse"]) for c in data["changes"]} == {
        ("wmi-rpc", "added", True), ("ldap", "added", False)}
    assert main(["diff", str(saved["before"]), str(fewer_path)]) == 0
    assert "2 removed" in capsys.readouterr().out


def test_diff_markdown_to_a_file(saved: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "diff.md"
    assert main(["diff", str(saved["before"]), str(saved["after"]), "-f", "markdown", "-o", str(target)]) == 1
    assert "| **WORSE** | console | console-https |" in target.read_text()


def test_diff_of_different_hosts_says_so(saved: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    main(["diff", str(saved["before"]), str(saved["other"])])
    assert "comparing different runs: sensor-01 (sensor) and sensor-02 (sensor)" in capsys.readouterr().err


# ---------------------------------------------------------------- merge

def test_merge_builds_the_fleet_matrix(saved: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fleet"
    assert main(["merge", str(saved["before"]), str(saved["other"]), "-f", "html,csv,json,markdown",
                 "-o", str(out) + "/"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"netcheck-fleet-20260303T100000.{ext}" for ext in ("csv", "html", "json", "md")]
    rows = list(csv.DictReader(io.StringIO((out / names[0]).read_text())))
    assert [row["host"] for row in rows] == ["sensor-01", "sensor-02"]
    assert rows[0]["console/tunnel"] == "fail" and rows[1]["console/tunnel"] == "pass"
    assert rows[0]["dns/dns-udp"] == "fail"  # worst of its two DNS servers
    assert rows[1]["wmi/wmi-rpc"] == ""  # sensor-02's report has no wmi flows
    data = json.loads((out / names[2]).read_text())
    assert data["schema"] == "netcheck.fleet/1" and len(data["hosts"]) == 2
    assert len(data["matrix"]["sensor-01"]["dns/dns-udp"]["results"]) == 2
    page = (out / names[1]).read_text()
    assert page.count('<tr class="fleet-host"') == 2
    assert "2 hosts, 17 flows" in capsys.readouterr().err  # dns-udp: one column, two servers


def test_merge_keeps_the_latest_report_of_a_host(saved: dict[str, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["merge", str(saved["after"]), str(saved["before"]), "-f", "csv", "-o", "-"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert len(rows) == 1 and rows[0]["started"] == "2026-03-03T10:00:00Z"
    assert "before.json: older report of sensor-01 (sensor at plant-north) ignored" in captured.err


# ---------------------------------------------------------------- scan writes the formats

def test_scan_writes_html_and_json_side_by_side(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "netcheck", "scan", "--timeout", "1", "--format",
                           "html,json,junit,csv,markdown,firewall-request", "--output", str(tmp_path) + "/",
                           "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    suffixes = sorted("".join(p.suffixes[-2:]) if p.name.endswith((".junit.xml", ".firewall-request.csv"))
                      else p.suffix for p in tmp_path.iterdir())
    assert suffixes == [".csv", ".firewall-request.csv", ".html", ".json", ".junit.xml", ".md"]
    report = loads(next(tmp_path.glob("*.json")).read_text(), "scan")
    page = next(tmp_path.glob("*.html")).read_text()
    assert page.count('<tr class="flow ') == len(report.results)


# ---------------------------------------------------------------- the Ansible example

def test_ansible_example_is_valid_yaml_that_runs_netcheck_and_fetches_json() -> None:
    path = ROOT / "examples" / "ansible" / "netcheck-fleet.yml"
    plays = yaml.safe_load(path.read_text())
    assert isinstance(plays, list) and plays
    tasks = [task for play in plays for task in play.get("tasks", [])]
    modules = {key for task in tasks for key in task}
    assert {"ansible.builtin.command", "ansible.builtin.fetch"} <= modules
    scan = next(task["ansible.builtin.command"] for task in tasks if "ansible.builtin.command" in task)
    argv = scan["argv"] if isinstance(scan, dict) else scan.split()
    assert "scan" in argv and "--format" in argv and "json" in argv[argv.index("--format") + 1]
    fetch = next(task["ansible.builtin.fetch"] for task in tasks if "ansible.builtin.fetch" in task)
    assert fetch["flat"] is True and "{{ inventory_hostname }}" in fetch["dest"]
