"""The self-contained HTML report: one file, no external resource, readable offline and in print.

Jinja2 with autoescape on renders templates/report.html.j2; everything from the
network reaches the page only through autoescaped expressions. The report's JSON is
embedded in a <script type="application/json"> block with <, > and & written as
\\u escapes, so no "</script>" can end it early. A Content-Security-Policy allows no
network access at all and only the page's own inline script (by its hash).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from netcheck.model import REASON_TEXT, Report, Result, Status
from netcheck.remediation import remediation
from netcheck.render.certificates import CertSection, certificate_sections
from netcheck.render.escape import json_visible, printable, visible_bidi
from netcheck.render.firewall import FirewallRule, firewall_rules
from netcheck.render.terminal import path_text, summary_line
from netcheck.render.views import grouped_by_peer, latency_label, port_label
from netcheck.serialize import report_to_dict

VERDICT_TEXT = {
    Status.PASS: "every required flow passed",
    Status.FAIL: "a required flow failed",
    Status.ERROR: "netcheck could not finish some checks",
}


@functools.cache
def environment() -> Any:
    """The Jinja2 environment (imported lazily: jinja2 is not needed for --help)."""
    import jinja2
    import markupsafe

    def finalize(value: Any) -> Any:
        # Network text may carry NUL, ESC and friends: drop them before autoescaping; bidirectional
        # overrides (U+202E ...) would reorder what the reader sees: show them as \u202e instead.
        if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
            return visible_bidi(printable(value))
        return value

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("netcheck.render", "templates"),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["visible"] = finalize  # for items a filter such as join() would escape before finalize
    return env


def template_text(name: str) -> str:
    source: str = environment().loader.get_source(environment(), name)[0]
    return source


def json_for_script(data: Any) -> str:
    """JSON that cannot close or comment its <script> element (< > & as \\u escapes)."""
    text = json_visible(json.dumps(data, indent=1, sort_keys=False, default=str, ensure_ascii=False))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def duration_text(started: str, finished: str) -> str:
    try:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    except ValueError:
        return ""
    return f"{seconds:.0f} s"


@dataclass(frozen=True)
class FlowRow:
    """One matrix row, every field ready to print (escaping is the template's)."""

    anchor: str
    result: Result
    port: str
    path: str
    latency: str
    reason_text: str
    remediation: str | None
    evidence: Mapping[str, Any]


@dataclass(frozen=True)
class PeerView:
    peer: str
    worst: str
    counts: str
    rows: tuple[FlowRow, ...]


def _peer_views(report: Report) -> list[PeerView]:
    views = []
    index = 0
    for group in grouped_by_peer(report):
        rows = []
        for result in group.results:
            index += 1
            rows.append(FlowRow(
                anchor=f"flow-{index}", result=result, port=port_label(result.flow), path=path_text(result),
                latency=latency_label(result), reason_text=REASON_TEXT.get(result.reason, ""),
                remediation=remediation(result, report.info), evidence=result.evidence,
            ))
        tally: dict[str, int] = {}
        for result in group.results:
            tally[result.status.value] = tally.get(result.status.value, 0) + 1
        counts = ", ".join(f"{n} {status}" for status, n in tally.items())
        views.append(PeerView(group.peer, group.worst.value, counts, tuple(rows)))
    return views


def render_html(report: Report) -> str:
    import markupsafe

    from netcheck.cloud.categories import pane as cloud_pane

    script = template_text("report.js")
    peers = _peer_views(report)
    fixes = [row for view in peers for row in view.rows if row.remediation]
    sections: list[CertSection] = certificate_sections(report)
    rules: list[FirewallRule] = firewall_rules(report)
    verdict = report.verdict()
    return str(environment().get_template("report.html.j2").render(
        report=report,
        info=report.info,
        counts=report.counts(),
        verdict=verdict.value,
        verdict_text=VERDICT_TEXT[verdict],
        summary=summary_line(report),
        duration=duration_text(report.info.started, report.info.finished),
        peers=peers,
        fixes=fixes,
        cloud=cloud_pane(report.results),
        certificates=sections,
        rules=rules,
        statuses=[status.value for status in Status],
        style=markupsafe.Markup(template_text("report.css")),
        script=markupsafe.Markup(script),
        script_hash=script_hash(script),
        data=markupsafe.Markup(json_for_script(report_to_dict(report))),
    ))
