"""The optional `category` of a cloud result: serialized only when set, round-trips, validates
against the report schema, and the HTML report shows it with the category's fix."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from netcheck.cloud.categories import FIXES, PROXY_AUTH
from netcheck.model import Flow, Reason, Report, Status
from netcheck.render.html import render_html
from netcheck.serialize import dumps, loads
from tests.render.sample import INFO, flow, result, sample_results

ROOT = Path(__file__).resolve().parents[2]


def cloud_flow() -> Flow:
    return replace(flow("cloud-https", "cloud", "hub.example.net", "HTTPS", "tcp", 443, "To the cloud"), probe="cloud")


def cloud_report() -> Report:
    cloud = cloud_flow()
    failed = replace(result(cloud, Status.FAIL, Reason.PROXY_AUTH_REQUIRED, "CONNECT hub.example.net:443: 407"),
                     category=PROXY_AUTH)
    return Report.build(INFO, [*sample_results(), failed])


def test_category_is_optional_in_json_and_round_trips() -> None:
    report = cloud_report()
    data = json.loads(dumps(report))
    with_category = [r for r in data["results"] if "category" in r]
    assert [(r["reason"], r["category"]) for r in with_category] == [("proxy-auth-required", PROXY_AUTH)]
    assert loads(dumps(report), "x") == report
    jsonschema = __import__("jsonschema")
    schema = json.loads((ROOT / "schema" / "report.schema.json").read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []


def test_html_shows_the_category_and_its_fix() -> None:
    page = render_html(cloud_report())
    assert f'<div class="category">{PROXY_AUTH}</div>' in page
    assert FIXES[PROXY_AUTH].replace("'", "&#39;") in page


def test_html_has_the_sensors_troubleshooting_pane() -> None:
    page = render_html(cloud_report())
    assert '<section id="cloud">' in page and "1 of 1 endpoints cannot be reached" in page
    assert f"<td><b>{PROXY_AUTH}</b></td><td class=\"mono\">hub.example.net</td>" in page
    assert '<section id="cloud">' not in render_html(Report.build(INFO, sample_results()))
    cloud = cloud_flow()
    passed = result(cloud, Status.PASS, Reason.ANSWERED, "The sensor is connected to cloud successfully")
    assert "The sensor is connected to cloud successfully (1 endpoint)" in render_html(Report.build(INFO, [passed]))


def test_markdown_and_csv_carry_the_category() -> None:
    import csv
    import io

    from netcheck.render.csv_report import render_csv
    from netcheck.render.markdown import render_markdown

    report = cloud_report()
    assert f"proxy-auth-required ({PROXY_AUTH})" in render_markdown(report)
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert [row["category"] for row in rows if row["reason"] == "proxy-auth-required"] == [PROXY_AUTH]
    assert all(row["category"] == "" for row in rows if row["reason"] != "proxy-auth-required")
