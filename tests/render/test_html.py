"""The HTML report's promises, checked on the markup: self-contained, grouped by peer,
evidence in <details>, remediation for every failure, certificate findings, print CSS."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace

import pytest

from netcheck.model import Report, Status
from netcheck.render.fleet import build_fleet, render_fleet_html
from netcheck.render.html import render_html
from netcheck.serialize import loads
from tests.render.test_hostile import collect

URL_ATTRIBUTES = {"href", "src", "srcset", "action", "formaction", "poster", "data", "background", "cite",
                  "longdesc", "manifest", "ping", "xlink:href", "codebase"}
REMOTE = re.compile(r"(?i)(https?:|ftp:|wss?:|//|@import|url\()")


def external_references(page: str) -> list[str]:
    """Everything in the page's markup, CSS and code (not its text) that could load a resource.

    Text content may mention URLs (a CRL location is data); only tags, attributes,
    <style> and executable <script> are checked.
    """
    found = []
    parsed = collect(page)
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            loads_url = name in URL_ATTRIBUTES and value is not None and not value.startswith("#")
            inline_style = name == "style"  # could hold url(); the report uses none
            refresh = tag == "meta" and name == "content" and attrs.get("http-equiv") == "refresh"
            if loads_url or inline_style or refresh:
                found.append(f"<{tag} {name}={value!r}>")
        if tag in ("link", "img", "iframe", "object", "embed", "base", "audio", "video", "source", "form"):
            found.append(f"<{tag}>")
    for style in re.findall(r"<style>(.*?)</style>", page, re.S):
        found += [f"style: {m}" for m in REMOTE.findall(style)]
    for attrs, code in parsed.scripts:
        if attrs.get("type") != "application/json":
            found += [f"script: {m}" for m in REMOTE.findall(code)]
            if "src" in attrs:
                found.append("script src")
    return found


@pytest.mark.parametrize("page_of", [render_html, lambda r: render_fleet_html(build_fleet([("a.json", r)]))],
                         ids=["report", "fleet"])
def test_html_references_no_external_url(report: Report, page_of) -> None:  # type: ignore[no-untyped-def]
    page = page_of(report)
    assert external_references(page) == []
    # The CRL URL and proxy URL of the data may appear only as text, never as a reference.
    assert 'href="http' not in page and "src=" not in page


def test_the_checker_would_notice_an_external_reference(report: Report) -> None:
    page = render_html(report)
    for bad in ('<link rel="stylesheet" href="https://cdn.example/x.css">', '<img src="//x/y.png">',
                "<style>body { background: url(https://x/y.png) }</style>", '<script src="a.js"></script>',
                '<p style="background:url(x)">'):
        assert external_references(page.replace("</body>", bad + "</body>")), bad


def test_csp_allows_only_the_page_own_script(report: Report) -> None:
    page = render_html(report)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    assert "default-src 'none'" in policy.group(1)
    script = collect(page).scripts[1][1]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy.group(1)


def test_rows_grouped_by_peer_with_status_words(report: Report) -> None:
    page = render_html(report)
    peers = re.findall(r'<section class="peer" data-peer="([^"]+)">', page)
    assert peers == list(dict.fromkeys(r.flow.peer for r in report.results))
    rows = re.findall(r'<tr class="flow s-(\w+)" id="flow-\d+" data-flow="([^"]+)"', page)
    assert [(s, f) for s, f in rows] == [(r.status.value, r.flow.id) for r in report.results]
    for status in Status:
        assert f'<span class="badge s-{status.value}">{status.value.upper()}</span>' in page


def test_every_failure_has_its_remediation_and_evidence_is_expandable(report: Report) -> None:
    page = render_html(report)
    assert ("allow TCP 9000 from 198.51.100.10 to 203.0.113.10 on the firewall at or just after 198.51.100.1"
            in page)
    assert "allow TCP 80 from 198.51.100.10 to 203.0.113.80 on the firewall at 198.51.100.1" in page
    failed = [r for r in report.results if r.status is not Status.PASS]
    assert page.count('<div class="fix ') == len(failed)
    assert page.count("<details>") == sum(1 for r in report.results if r.evidence)
    assert "<dt>sysDescr</dt>" in page and "<dt>offset_ms</dt>" in page and "<dt>namingContexts</dt>" in page


def test_certificate_findings_when_present_and_absent(report: Report) -> None:
    page = render_html(report)
    assert '<section id="certificates">' in page
    assert "crl.unreachable" in page and "the appliance would refuse it" in page
    assert page.index("crl.unreachable") < page.index("cert.expiring"), "errors first"
    without = Report.build(replace(report.info, options={"timeout_s": 3.0}), list(report.results))
    assert '<section id="certificates">' not in render_html(without)


def test_embedded_json_is_the_report(report: Report) -> None:
    data = collect(render_html(report)).scripts[0][1]
    assert loads(data, "embedded") == report


def test_print_stylesheet_fits_paper(report: Report) -> None:
    page = render_html(report)
    assert "@media print" in page and "@page" in page
    # No fixed paper size: the printer's A4 or Letter is used; rows never split across pages.
    assert "size:" not in page.split("@page", 1)[1].split("}", 1)[0]
    assert "break-inside: avoid" in page and "table-header-group" in page
