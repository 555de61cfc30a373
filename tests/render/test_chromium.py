"""The HTML report in a real browser: Debian's headless Chromium loads the file offline,
runs its script under the page's CSP, and the DOM it builds has one row per flow with
the right status words. Screenshots go to the test's tmp_path; with
NETCHECK_UPDATE_GOLDEN=1 the README's docs/report.png is regenerated from the sample.

Skipped, with the reason, only when no chromium binary is installed (apt-get install chromium).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from netcheck.model import Reason, Report, Status
from netcheck.render.fleet import build_fleet, render_fleet_html
from netcheck.render.html import render_html
from tests.render.sample import flow, result, sample_report

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
UPDATE = os.environ.get("NETCHECK_UPDATE_GOLDEN") == "1"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian package 'chromium', see .ci/apt-packages.txt)")


def chromium(tmp_path: Path, page: Path, *action: str) -> subprocess.CompletedProcess[str]:
    """One headless run with a fresh profile, no network features, no proxy or DNS use."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
        "--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--mute-audio",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--lang=en-US",
        f"--user-data-dir={profile}", *action, page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class FlowRows(HTMLParser):
    """tr.flow rows of a dumped DOM: their data attributes and the word in their status badge."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.attributes: dict[str, dict[str, str | None]] = {}
        self._badge = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.attributes[values["id"] or ""] = values
        if tag == "tr" and "flow" in (values.get("class") or "").split():
            self.rows.append({"flow": values.get("data-flow") or "", "status": values.get("data-status") or "",
                              "destination": values.get("data-destination") or "", "word": ""})
        elif tag == "span" and "badge" in (values.get("class") or "").split() and self.rows \
                and not self.rows[-1]["word"]:
            self._badge = True

    def handle_data(self, data: str) -> None:
        if self._badge:
            self.rows[-1]["word"] += data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._badge = False


def dump(tmp_path: Path, html: str, name: str = "report.html") -> tuple[str, FlowRows]:
    page = tmp_path / name
    page.write_text(html, encoding="utf-8")
    dom = chromium(tmp_path, page, "--dump-dom").stdout
    parsed = FlowRows()
    parsed.feed(dom)
    return dom, parsed


def test_chromium_shows_one_row_per_flow_with_its_status(tmp_path: Path) -> None:
    report = sample_report()
    dom, parsed = dump(tmp_path, render_html(report))
    # Then: one row per flow, in the report's order, each with its status as data and as a word.
    assert [(row["flow"], row["destination"], row["status"]) for row in parsed.rows] == [
        (r.flow.id, r.flow.host, r.status.value) for r in report.results]
    assert [row["word"] for row in parsed.rows] == [r.status.value.upper() for r in report.results]
    # The page's own script ran under its CSP (it un-hides the filter control) ...
    assert "hidden" not in parsed.attributes["controls"]
    # ... and the verdict is shown.
    assert re.search(r'<div class="word">FAIL</div>', dom)


def test_chromium_screenshot(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sample_report()), encoding="utf-8")
    shot = tmp_path / "report.png"
    chromium(tmp_path, page, "--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=1200,1560",
             f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    if UPDATE:
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "report.png")


def test_chromium_prints_to_paper(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sample_report()), encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    chromium(tmp_path, page, "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    boxes = {tuple(round(float(v)) for v in box.split()) for box in
             re.findall(rb"/MediaBox\s*\[\s*([0-9. ]+)\]", data)}
    assert boxes and boxes <= {(0, 0, 612, 792), (0, 0, 595, 842)}, boxes  # Letter or A4
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert 1 <= pages <= 10, pages  # 18 flows with their evidence and fixes


def test_chromium_runs_no_injected_script(tmp_path: Path) -> None:
    # Given payloads that would change the DOM if they ever ran.
    base = sample_report()
    marker_img = '"><img src=x onerror="document.body.setAttribute(\'data-pwned\',\'img\')">'
    marker_script = "<script>document.body.setAttribute('data-pwned','script')</script>"
    hostile = [
        result(flow("banner", "console", "203.0.113.10", "SSH", "tcp", 22, marker_script), Status.FAIL,
               Reason.PROTOCOL_ERROR, f"banner {marker_script}", evidence={"banner": marker_script}),
        result(flow("cn", "console", "203.0.113.10", "HTTPS", "tcp", 443, "tls"), Status.WARN,
               Reason.CERT_WARNING, f"CN {marker_img}", evidence={"subject": f"CN={marker_img}",
                                                                  "json": f"</script>{marker_script}"}),
    ]
    report = Report.build(replace(base.info, site=marker_script, host_name=marker_img), hostile)
    for name, html in (("report.html", render_html(report)),
                       ("fleet.html", render_fleet_html(build_fleet([("x.json", report)])))):
        dom, parsed = dump(tmp_path, html, name)
        assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0], name
        assert "<img" not in dom, name
        if name == "report.html":
            assert [row["flow"] for row in parsed.rows] == ["banner", "cn"]
