"""A Markdown report to paste into a change ticket: header, the matrix, remediation."""

from __future__ import annotations

from netcheck.escape import markdown_cell as cell
from netcheck.model import Report, Result
from netcheck.remediation import remediation
from netcheck.render.certificates import certificate_sections
from netcheck.render.terminal import path_text, summary_line
from netcheck.render.views import latency_label, port_label


def _table(headings: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _rule(result: Result) -> str:
    """The judge's rule and finding after the detail, when it applied one."""
    if result.expected is None:
        return ""
    return f" (expected: {cell(result.expected)}; found: {cell(result.found or '')})"


def _reason(result: Result) -> str:
    """The reason, with the sensor's own troubleshooting category of a cloud failure after it."""
    return cell(result.reason.value) + (f" ({cell(result.category)})" if result.category else "")


def render_markdown(report: Report) -> str:
    info = report.info
    verdict = report.verdict().value.upper()
    lines = [f"# netcheck report: {cell(info.site)}", ""]
    lines += _table(("Run", ""), [
        ["Host", f"{cell(info.host_name)} ({cell(', '.join(info.host_addresses))})"],
        ["Profile", f"{cell(info.profile)} (role {cell(info.role)})"],
        ["Site file", cell(info.site_file)],
        ["Started", cell(info.started)],
        ["Finished", cell(info.finished)],
        ["netcheck", f"{cell(info.version)}, run {cell(info.run_id)}"],
        ["Verdict", f"**{verdict}**: {cell(summary_line(report))}"],
    ])
    lines += ["", "## Flows", ""]
    rows = []
    for result in report.results:
        flow = result.flow
        optional = "" if flow.required else " (optional)"
        rows.append([
            f"**{result.status.value.upper()}**", cell(flow.peer), cell(flow.id) + optional, cell(flow.purpose),
            cell(flow.protocol), cell(port_label(flow)), cell(path_text(result)), _reason(result),
            latency_label(result), cell(result.detail) + _rule(result),
        ])
    lines += _table(("Status", "Peer", "Flow", "Purpose", "Protocol", "Port", "Source -> Destination", "Reason",
                     "ms", "Detail"), rows)
    fixes = [(result, remediation(result, info)) for result in report.results]
    fixes_listed = [(result, text) for result, text in fixes if text]
    if fixes_listed:
        lines += ["", "## What to fix", ""]
        for result, text in fixes_listed:
            lines.append(f"- **{result.status.value.upper()}** {cell(result.flow.id)} "
                         f"({cell(result.flow.peer)}, {cell(port_label(result.flow))}): {cell(text)}")
    for section in certificate_sections(report):
        lines += ["", f"## Certificate findings: {cell(section.label)} ({section.verdict_text})", ""]
        lines += _table(("Severity", "Code", "Finding", "Appliance message", "Fix"), [
            [cell(f.severity.upper()), cell(f.code), cell(f.message), cell(f.appliance_message), cell(f.fix)]
            for f in section.findings
        ])
    return "\n".join(lines) + "\n"
