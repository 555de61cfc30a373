"""Site-wide certificate findings (a certificate or key shared between appliances, netcheck.certs.run
.shared_findings) fail the report, so every human format shows them: the terminal's certificate
section, Markdown and HTML, after the appliances' sections, with the appliance names (from the site
file, so any text) escaped as the other certificate texts are."""

from __future__ import annotations

import re
from dataclasses import replace

from netcheck.certs.findings import finding
from netcheck.certs.verdicts import by_severity, severity_counts
from netcheck.model import Report, Status
from netcheck.render.certificates import SITE_WIDE_LABEL, certificate_sections
from netcheck.render.html import render_html
from netcheck.render.markdown import render_markdown
from netcheck.render.terminal import render_terminal
from tests.render.sample import IMG, sample_report
from tests.render.test_hostile import collect, tables

HOSTILE_NAME = f"evil|*{IMG}\x1b]0;owned\x07\x1b[2J"


def shared(first: str, second: str) -> Report:
    """The sample report whose site shares one certificate between two appliances."""
    report = sample_report()
    assert report.certificates is not None
    found = (finding("site.shared-certificate", f"{first}, {second} use the same certificate; each appliance "
                     "needs its own", "issue a certificate (and key) per appliance, with its own CN",
                     subject=f"{first}, {second}"),)
    everything = [*found, *report.certificates.appliances[0].findings]
    return replace(report, certificates=replace(report.certificates, findings=by_severity(found),
                                                counts=severity_counts(everything)))


def test_the_section_follows_the_appliances_and_only_when_there_are_site_wide_findings() -> None:
    assert SITE_WIDE_LABEL not in [section.label for section in certificate_sections(sample_report())]
    report = shared("sensor-01", "sensor-02")
    *appliances, site = certificate_sections(report)
    assert [section.site_wide for section in appliances] == [False]
    assert (site.label, site.site_wide, site.ok, site.verdict_word) == (SITE_WIDE_LABEL, True, False, "FAIL")
    assert [(f.code, f.severity) for f in site.findings] == [("site.shared-certificate", "error")]
    assert report.verdict() is Status.FAIL


def test_terminal_lists_the_site_wide_errors() -> None:
    text = render_terminal(shared("sensor-01", "sensor-02"))
    assert f"  FAIL   {SITE_WIDE_LABEL}: 1 error(s)\n" in text
    assert ("site.shared-certificate: sensor-01, sensor-02 use the same certificate; each appliance needs its own"
            in " ".join(text.split()))
    assert text.index("REFUSE sensor-01.plant-north.example") < text.index(SITE_WIDE_LABEL)


def test_terminal_shows_a_hostile_appliance_name_inert() -> None:
    text = render_terminal(shared(HOSTILE_NAME, "sensor-02"))
    assert "\x1b" not in text and "\x07" not in text
    assert "site.shared-certificate: evil|*" in text and "owned" in text


def test_markdown_has_a_site_wide_heading_and_table() -> None:
    text = render_markdown(shared("sensor-01", "sensor-02"))
    heading = f"## Certificate findings: {SITE_WIDE_LABEL} (fails the report)"
    assert heading in text.splitlines()
    after = text.split(heading, 1)[1]
    assert re.search(r"^\| ERROR \| site\.shared-certificate \| sensor-01, sensor-02 use the same certificate; "
                     r"each appliance needs its own \|", after, re.MULTILINE), after


def test_markdown_keeps_the_table_shape_with_a_hostile_name() -> None:
    text = render_markdown(shared(HOSTILE_NAME, "sensor-02"))
    site_part = text.split(f"## Certificate findings: {SITE_WIDE_LABEL}", 1)[1]
    [table] = tables(site_part)
    assert len({len(re.split(r"(?<!\\)\|", line)) for line in table}) == 1, table
    assert r"evil\|\*" in site_part and r"\<img" in site_part and "\x1b" not in site_part
    assert not re.search(r"(?<!\\)[<*`\[]", site_part.replace("**", ""))  # no markup can start


def test_html_has_a_site_wide_section_with_the_finding() -> None:
    page = render_html(shared("sensor-01", "sensor-02"))
    certificates = page.split('<section id="certificates">', 1)[1].split("</section>", 1)[0]
    headings = re.findall(r"<h3>(.*?)</h3>", certificates)
    assert len(headings) == 2 and headings[1].startswith(f"{SITE_WIDE_LABEL}: ")
    assert headings[1].endswith("fails the report") and "would refuse" not in headings[1]
    assert "<td>sensor-01, sensor-02 use the same certificate; each appliance needs its own</td>" in certificates


def test_html_shows_a_hostile_name_as_text() -> None:
    page = render_html(shared(HOSTILE_NAME, "sensor-02"))
    assert not [tag for tag, _ in collect(page).tags if tag == "img"]
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", page)
