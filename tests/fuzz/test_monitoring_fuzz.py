"""Text a saved report can carry, anywhere, never breaks the monitoring outputs or the vendor comments:
prometheus label values come back exactly through prometheus_client's parser, the nagios answer keeps
one perfdata separator and one line per flow, and vendor comments stay within their character set."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from netcheck.model import Report, Status
from netcheck.render.firewall_rules import COMMENT_LIMIT, _safe
from netcheck.render.nagios import render_nagios
from netcheck.render.prometheus import render_prometheus
from tests.render.sample import sample_report

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def with_text(site: str, flow_id: str, host: str, detail: str) -> Report:
    report = sample_report()
    first = report.results[0]
    changed = replace(first, status=Status.FAIL, detail=detail, flow=replace(first.flow, id=flow_id, host=host))
    return Report.build(replace(report.info, site=site), [changed, *report.results[1:]])


@given(site=TEXT, flow_id=TEXT, host=TEXT, detail=TEXT)
def test_prometheus_labels_round_trip(site: str, flow_id: str, host: str, detail: str) -> None:
    report = with_text(site, flow_id, host, detail)
    samples = [s for family in text_string_to_metric_families(render_prometheus(report)) for s in family.samples]
    assert {s.labels["site"] for s in samples} == {site}
    flows = {(s.labels["flow"], s.labels["host"]) for s in samples if s.name == "netcheck_flow_reason"}
    assert (flow_id, host) in flows


@given(site=TEXT, flow_id=TEXT, host=TEXT, detail=TEXT)
def test_nagios_keeps_its_shape(site: str, flow_id: str, host: str, detail: str) -> None:
    report = with_text(site, flow_id, host, detail)
    lines = render_nagios(report).split("\n")
    assert lines[-1] == ""  # ends with one line feed
    assert lines[0].count("|") == 1
    assert len(lines) - 2 == sum(r.status not in (Status.PASS, Status.SKIP) for r in report.results)
    assert all("|" not in line and "\r" not in line for line in lines[1:])


@given(text=st.text(max_size=400))
def test_vendor_comments_stay_in_their_character_set(text: str) -> None:
    comment = _safe(text)
    assert len(comment.encode()) <= COMMENT_LIMIT
    assert all(c.isascii() and (c.isalnum() or c in " -_.,:;()/+=@%!?'") for c in comment)
    assert "*/" not in comment and '"' not in comment and "\n" not in comment
