"""The self-contained HTML report: one file, no external resource, readable offline and in print.

Jinja2 with autoescape on renders templates/report.html.j2. The parts repeated per flow
(matrix rows, evidence, "what to fix", firewall rules) are written here in Python, since
50,000 rows through Jinja expressions took seconds; every text in them passes `_h`
(printable, bidi controls made visible, then markupsafe's escape: what `finalize` and
autoescape do for the template's expressions). The report's JSON is
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
from typing import Any, NamedTuple

from netcheck.escape import json_visible, printable, visible_bidi
from netcheck.model import REASON_TEXT, Report, Result, Status
from netcheck.remediation import remediation
from netcheck.render.certificates import CertSection, certificate_sections
from netcheck.render.firewall import FirewallRule, firewall_rules
from netcheck.render.terminal import path_text, summary_line
from netcheck.render.views import WORD, grouped_by_peer, latency_label, port_label
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
    """JSON that cannot close or comment its <script> element (< > & as \\u escapes).

    Compact, without indentation: only then does the json module use its C encoder
    (indent=1 took 1.8 s of CPU for 50,000 results, compact 0.5 s)."""
    text = json_visible(json.dumps(data, separators=(",", ":"), sort_keys=False, default=str, ensure_ascii=False))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def evidence_html(value: Any) -> str:
    """The evidence as nested HTML lists, every text escaped by `_h`.

    Plain Python rather than a recursive Jinja macro: a macro call per value cost about half
    of the page's rendering time for 50,000 flows. JSON's own types are tested first (exact
    type checks are cheaper than the Mapping ABC)."""
    kind = type(value)
    if kind is str or isinstance(value, str):
        return f"<pre>{_h(value)}</pre>" if "\n" in value else f"<code>{_h(value)}</code>"
    if value is None:
        return "<code>null</code>"
    if kind is int or kind is float or kind is bool:
        return f"<code>{value}</code>"
    if kind is dict or isinstance(value, Mapping):
        inner = "".join(f"<dt>{_h(str(key))}</dt><dd>{evidence_html(item)}</dd>\n" for key, item in value.items())
        return f'<dl class="ev">\n{inner}</dl>'
    if kind is list or isinstance(value, tuple | set | frozenset):
        if not value:
            return "<code>(none)</code>"
        inner = "".join(f"<li>{evidence_html(item)}</li>\n" for item in value)
        return f'<ul class="ev">\n{inner}</ul>'
    return f"<code>{_h(str(value))}</code>"


def script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def duration_text(started: str, finished: str) -> str:
    try:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    except ValueError:
        return ""
    return f"{seconds:.0f} s"


class FlowRow(NamedTuple):
    """One matrix row, every field ready to print (escaping is flow_row_html's). A named tuple: one
    per flow, and a frozen dataclass's __init__ cost 0.2 s for 50,000."""

    anchor: str
    result: Result
    port: str
    path: str
    latency: str
    reason_text: str
    remediation: str | None
    evidence: str  # the evidence as HTML (evidence_html, escaped), "" when there is none


@functools.lru_cache(maxsize=65536)  # purposes, hosts and details repeat across a big report
def _h(text: str) -> str:
    from markupsafe import escape

    return str(escape(visible_bidi(printable(text))))


def flow_row_html(row: FlowRow) -> str:
    """One flow's <tr> (and its "more" row), every text from the report escaped by `_h`.

    Written in Python rather than in the template: 50,000 rows through Jinja expressions (with
    `finalize` and attribute lookups on each) took over 4 s of CPU, this takes well under one."""
    result, flow = row.result, row.result.flow
    status = WORD[result.status]
    optional = "" if flow.required else ' <span class="optional">optional</span>'
    category = f'<div class="category">{_h(str(result.category))}</div>' if result.category else ""
    reason_text = _h(row.reason_text)
    rule = ""
    if result.expected is not None:  # the judge's rule and finding (goss-style), when it applied one
        rule = (f'<div class="rule">expected: {_h(result.expected)}'
                f'<br>found: {_h(result.found or "")}</div>')
    lines = [
        f'<tr class="flow s-{status}" id="{row.anchor}" data-flow="{_h(flow.id)}" '
        f'data-destination="{_h(flow.host)}" data-status="{status}">\n'
        f'  <td class="status"><span class="badge s-{status}">{status.upper()}</span></td>\n'
        f'  <td><b class="mono">{_h(flow.id)}</b>{optional}<div class="purpose">{_h(flow.purpose)}</div></td>\n'
        f'  <td>{_h(flow.protocol)}<div class="mono">{_h(row.port)} {WORD[flow.direction]}</div></td>\n'
        f"  <td>{_h(row.path)}</td>\n"
        f'  <td><span class="reason" title="{reason_text}">{WORD[result.reason]}</span>{category}</td>\n'
        f'  <td class="ms">{row.latency}</td>\n'
        f"  <td>{_h(result.detail)}{rule}</td>\n"
        "</tr>\n"
    ]
    if row.remediation or row.evidence or flow.note:
        lines.append(f'<tr class="more s-{status}"><td></td><td colspan="6">\n')
        if row.remediation:
            lines.append(f'<div class="fix s-{status}"><b>Fix:</b> {_h(row.remediation)}</div>')
        if flow.note:
            lines.append(f'<div class="purpose">Note: {_h(flow.note)}</div>')
        if row.evidence:
            lines.append(f"<details><summary>Evidence ({reason_text})</summary>\n{row.evidence}\n</details>\n")
        lines.append("</td></tr>\n")
    return "".join(lines)


def fix_item_html(row: FlowRow) -> str:
    """One <li> of "What to fix" (in Python for the same reason as flow_row_html)."""
    status = WORD[row.result.status]
    return (f'  <li class="s-{status}"><span class="badge s-{status}">{status.upper()}</span> '
            f'<a href="#{row.anchor}"><b>{_h(row.result.flow.id)}</b></a> ({_h(row.result.flow.peer)}, '
            f"{_h(row.port)}): {_h(row.remediation or '')}</li>\n")


def rule_row_html(rule: FirewallRule) -> str:
    """One <tr> of the firewall change request (in Python for the same reason as flow_row_html)."""
    return (f'<tr><td class="mono">{_h(rule.source)}</td><td class="mono">{_h(rule.destination)}</td>'
            f'<td>{_h(rule.transport)}</td><td class="mono">{_h(rule.port)}</td><td>{_h(rule.direction)}</td>'
            f"<td>{_h(rule.purpose)}</td><td>{_h(rule.justification)}</td><td>{_h(rule.observed)}</td></tr>\n")


@dataclass(frozen=True)
class PeerView:
    peer: str
    worst: str
    counts: str
    rows: tuple[FlowRow, ...]

    @property
    def rows_html(self) -> Any:
        """The <tbody> content (markupsafe.Markup: every text in it is already escaped)."""
        import markupsafe

        return markupsafe.Markup("".join(flow_row_html(row) for row in self.rows))


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
                remediation=remediation(result, report.info),
                evidence=evidence_html(result.evidence) if result.evidence else "",
            ))
        tally: dict[str, int] = {}
        for result in group.results:
            word = WORD[result.status]
            tally[word] = tally.get(word, 0) + 1
        counts = ", ".join(f"{n} {status}" for status, n in tally.items())
        views.append(PeerView(group.peer, group.worst.value, counts, tuple(rows)))
    return views


def render_html(report: Report) -> str:
    from netcheck.gcpause import collector_paused

    with collector_paused():  # 50,000 rows of acyclic values: the collector only slowed it (2.6 -> 1.9 s)
        return _render_html(report)


def _render_html(report: Report) -> str:
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
        fixes_html=markupsafe.Markup("".join(fix_item_html(row) for row in fixes)),
        cloud=cloud_pane(report.results),
        certificates=sections,
        rules=rules,
        rules_html=markupsafe.Markup("".join(rule_row_html(rule) for rule in rules)),
        statuses=[status.value for status in Status],
        style=markupsafe.Markup(template_text("report.css")),
        script=markupsafe.Markup(script),
        script_hash=script_hash(script),
        data=markupsafe.Markup(json_for_script(report_to_dict(report))),
    ))
