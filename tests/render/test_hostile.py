"""Text from the network is hostile: a banner <script>alert(1)</script>, a certificate CN
"><img src=x onerror=alert(1)>, spreadsheet formulas, Markdown syntax and control
characters must come out inert in every format."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from netcheck.escape import csv_cell, markdown_cell
from netcheck.model import Report
from netcheck.render import FORMATS
from netcheck.render.csv_report import render_csv
from netcheck.render.firewall import render_firewall_csv, render_firewall_markdown
from netcheck.render.fleet import build_fleet, render_fleet_html, render_fleet_markdown
from netcheck.render.html import render_html
from netcheck.render.junit import render_junit
from netcheck.render.markdown import render_markdown
from netcheck.serialize import loads
from tests.render.sample import FORMULA, IMG, SCRIPT


class ElementCollector(HTMLParser):
    """Every start tag with its attributes, and the text of each <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def collect(page: str) -> ElementCollector:
    parser = ElementCollector()
    parser.feed(page)
    parser.close()
    return parser


@pytest.mark.parametrize("page_of", [render_html, lambda r: render_fleet_html(build_fleet([("x.json", r)]))],
                         ids=["report", "fleet"])
def test_html_creates_no_element_or_handler_from_network_text(hostile: Report, page_of) -> None:  # type: ignore[no-untyped-def]
    page = page_of(hostile)
    parsed = collect(page)
    # Then: no <img>, no event handler attribute, and exactly the two scripts netcheck writes.
    assert not [tag for tag, _ in parsed.tags if tag in ("img", "iframe", "object", "embed", "u")]
    assert not [(tag, name) for tag, attrs in parsed.tags for name in attrs if name.startswith("on")]
    assert [attrs.get("type") for attrs, _ in parsed.scripts] == ["application/json", None]
    assert "alert" not in parsed.scripts[1][1]
    # The hostile text is still there, as visible text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    # Control characters are dropped.
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", page)


def test_embedded_json_cannot_end_its_script_and_round_trips(hostile: Report) -> None:
    page = render_html(hostile)
    data_script = collect(page).scripts[0][1]
    assert "</" not in data_script and "<" not in data_script
    # The embedded data is the report itself, hostile text intact.
    assert loads(data_script, "embedded") == hostile
    assert SCRIPT in json.loads(data_script)["results"][0]["detail"] or any(
        SCRIPT in r["detail"] for r in json.loads(data_script)["results"])


def test_csv_defuses_formulas_in_every_cell(hostile: Report) -> None:
    for text in (render_csv(hostile), render_firewall_csv(hostile)):
        rows = list(csv.reader(io.StringIO(text)))
        assert len({len(row) for row in rows}) == 1, "every row has the header's width (no line broke a row)"
        for row in rows[1:]:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    rows = list(csv.DictReader(io.StringIO(render_csv(hostile))))
    by_flow = {row["flow"]: row for row in rows}
    assert by_flow["formula"]["detail"] == "'" + FORMULA
    assert by_flow["formula"]["purpose"] == "'+purpose starting with plus"
    assert by_flow["markdown"]["purpose"] == "'@mention purpose"
    assert by_flow["control"]["purpose"] == "'-purpose with\ttab"
    assert by_flow["skipped"]["detail"] == "' leading carriage return"
    assert "\x1b" not in by_flow["control"]["detail"] and "\x00" not in by_flow["control"]["detail"]


def tables(text: str) -> list[list[str]]:
    """Markdown tables: runs of consecutive lines starting with a pipe."""
    found: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=x", "'\t=x"),
    ("\r=x", "' =x"), ("plain", "plain"), ("a=b", "a=b"),
    ("\x00=x", "'=x"),  # a control character in front must not smuggle a formula past the check
])
def test_csv_cell(value: str, expected: str) -> None:
    assert csv_cell(value) == expected


def test_markdown_tables_keep_their_shape_and_show_no_markup(hostile: Report) -> None:
    for text in (render_markdown(hostile), render_firewall_markdown(hostile), render_fleet_markdown(
            build_fleet([("x.json", hostile)]))):
        for table in tables(text):
            widths = {len(re.split(r"(?<!\\)\|", line)) for line in table}
            assert len(widths) == 1, table
        # No raw HTML, link, code span or emphasis can start: each such character is escaped.
        for special in ("<", "[", "`", "*", "_"):
            unescaped = re.findall(r"(?<!\\)" + re.escape(special), text.replace("**", ""))
            assert not unescaped, (special, text)
        assert "\x1b" not in text and "\x07" not in text
    assert markdown_cell("a|b`c`\n*d* [e](f) <g>") == r"a\|b\`c\` \*d\* \[e\](f) \<g>"


def test_junit_is_well_formed_with_hostile_text(hostile: Report) -> None:
    text = render_junit(hostile)
    root = ET.fromstring(text.encode("utf-8"))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(hostile.results)
    banner = next(c for c in cases if c.get("name") == "ssh-banner")
    failure = banner.find("failure")
    assert failure is not None and SCRIPT in (failure.get("message") or "")
    control = next(c for c in cases if c.get("name") == "control")
    error = control.find("error")
    assert error is not None and "bell esc[31m nul end" in (error.get("message") or "")
    assert IMG in root.find("./testsuite").get("hostname", "")  # type: ignore[union-attr]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_survives_the_hostile_report(hostile: Report, name: str) -> None:
    text = FORMATS[name].renderer()(hostile)
    assert text
    if name != "json":  # the table too: terminal_text shows control characters as escapes
        assert "\x1b" not in text and "\x00" not in text
