"""The Prometheus textfile: parsed by prometheus_client's own parser, its values equal the JSON report's."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netcheck.model import Report
from netcheck.render.prometheus import render_prometheus
from netcheck.serialize import dumps
from tests.render.loopback_site import loopback_scan
from tests.render.sample import hostile_report, sample_report

Samples = dict[str, list[tuple[dict[str, str], float]]]
FLOW_KEYS = ("flow", "host", "port", "transport")


def parse(text: str) -> Samples:
    """metric name -> [(labels, value)], through prometheus_client's parser (which raises on bad syntax)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge" and family.documentation
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def flow_key(labels: dict[str, str]) -> tuple[str, ...]:
    return tuple(labels[k] for k in FLOW_KEYS)


def json_key(result: dict[str, Any]) -> tuple[str, ...]:
    return (result["flow"], result["destination"], str(result["port"]), result["transport"])


def check_against_json(text: str, data: dict[str, Any]) -> None:
    samples = parse(text)
    results = {json_key(r): r for r in data["results"]}
    run = {"site": data["run"]["site"], "profile": data["run"]["profile"]}

    # status: a state set, exactly one status is 1 per flow, and it is the JSON's
    status: dict[tuple[str, ...], dict[str, float]] = {}
    for labels, value in samples["netcheck_flow_status"]:
        assert {k: labels[k] for k in run} == run
        status.setdefault(flow_key(labels), {})[labels["status"]] = value
    assert set(status) == set(results)
    for key, values in status.items():
        assert sorted(values) == sorted(["pass", "warn", "fail", "skip", "error"])
        assert [s for s, v in values.items() if v == 1.0] == [results[key]["status"]]

    reasons = {flow_key(labels): labels["reason"] for labels, value in samples["netcheck_flow_reason"]}
    assert reasons == {key: r["reason"] for key, r in results.items()}

    latency = {flow_key(labels): value for labels, value in samples.get("netcheck_flow_latency_seconds", [])}
    assert set(latency) == {key for key, r in results.items() if r["latency_ms"] is not None}
    for key, value in latency.items():
        assert value == pytest.approx(results[key]["latency_ms"] / 1000.0, abs=1e-9)

    counts = {labels["status"]: value for labels, value in samples["netcheck_run_flows"]}
    assert counts == {k: float(v) for k, v in data["summary"]["counts"].items()}
    [(_, success)] = samples["netcheck_run_success"]
    assert success == float(data["summary"]["verdict"] == "pass")
    [(_, finished)] = samples["netcheck_last_run_timestamp_seconds"]
    assert finished == datetime.fromisoformat(data["run"]["finished"].replace("Z", "+00:00")).timestamp()


def test_sample_report_parses_and_matches_its_json() -> None:
    report = sample_report()
    check_against_json(render_prometheus(report), json.loads(dumps(report)))


def test_hostile_label_values_are_escaped_and_come_back_intact() -> None:
    report = hostile_report()
    samples = parse(render_prometheus(report))  # the parser raises on a broken escape
    assert {labels["site"] for labels, _ in samples["netcheck_flow_status"]} == {report.info.site}
    assert {labels["flow"] for labels, _ in samples["netcheck_flow_status"]} == {r.flow.id for r in report.results}


def test_quotes_backslashes_and_newlines_in_labels() -> None:
    report = sample_report()
    nasty = 'a"b\\c\nd}e,f="g"'
    report = Report.build(replace(report.info, site=nasty), list(report.results))
    samples = parse(render_prometheus(report))
    assert {labels["site"] for labels, _ in samples["netcheck_run_flows"]} == {nasty}
    assert "\n" not in render_prometheus(report).split("site=")[1].split("}")[0]


def test_a_repeated_flow_is_written_once() -> None:
    report = sample_report()
    doubled = Report.build(report.info, [*report.results, report.results[0]])
    samples = parse(render_prometheus(doubled))
    keys = [flow_key(labels) for labels, _ in samples["netcheck_flow_reason"]]
    assert len(keys) == len(set(keys)) == len(report.results)


def test_real_scan_textfile_matches_its_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan = loopback_scan(tmp_path, capsys, "prometheus", closed=True)
    assert scan.code == 1
    data = scan.report
    assert {r["flow"]: r["status"] for r in data["results"]} == {"web": "pass", "tunnel": "fail"}
    check_against_json(scan.file("prom").read_text(), data)


def test_a_lone_surrogate_from_a_crafted_report_becomes_a_question_mark() -> None:
    report = sample_report()
    text = render_prometheus(Report.build(replace(report.info, site="\ud800x"), list(report.results)))
    text.encode("utf-8")  # writable as UTF-8
    assert {labels["site"] for labels, _ in parse(text)["netcheck_run_flows"]} == {"?x"}
