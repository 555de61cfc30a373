"""The firewall change request: the rules the firewall team must add, one per path.

One rule per failed or unconfirmed flow whose path was not proven open
(remediation.needs_firewall_rule), de-duplicated on source, destination, transport,
port and direction; the purposes and flow ids of merged flows are joined.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from netcheck.escape import csv_cell, markdown_cell
from netcheck.model import Direction, Report, Result
from netcheck.remediation import destination_of, needs_firewall_rule, source_addresses


@dataclass(frozen=True)
class FirewallRule:
    """One rule to add. `flows` are the flow ids it serves; `observed` what the scan saw."""

    source: str
    destination: str
    transport: str
    port: str
    direction: str
    purpose: str
    justification: str
    flows: str
    observed: str


def _endpoints(result: Result, report: Report) -> tuple[str, str]:
    flow = result.flow
    this_host = " ".join(source_addresses(report.info, destination_of(result))) or report.info.host_name
    if flow.direction is Direction.IN:
        here = " ".join(source_addresses(report.info)) or report.info.host_name
        return (flow.host or f"{flow.peer} host(s)", here)
    return (this_host, destination_of(result))


def _justification(result: Result) -> str:
    flow = result.flow
    text = f"{flow.protocol}: documented flow {flow.source or '?'} -> {flow.destination or '?'}"
    if flow.note:
        text += f" ({flow.note})"
    if not flow.required:
        text += " [optional]"
    return text


def firewall_rules(report: Report) -> list[FirewallRule]:
    merged: dict[tuple[str, str, str, str, str], list[Result]] = {}
    for result in report.results:
        if not needs_firewall_rule(result):
            continue
        source, destination = _endpoints(result, report)
        key = (source, destination, result.flow.transport, str(result.flow.port), result.flow.direction.value)
        merged.setdefault(key, []).append(result)
    rules = []
    for (source, destination, transport, port, direction), results in merged.items():
        def joined(texts: list[str]) -> str:
            return "; ".join(dict.fromkeys(texts))
        rules.append(FirewallRule(
            source=source, destination=destination, transport=transport.upper(), port=port, direction=direction,
            purpose=joined([r.flow.purpose for r in results]),
            justification=joined([_justification(r) for r in results]),
            flows=joined([r.flow.id for r in results]),
            observed=joined([f"{r.status.value} ({r.reason.value})" for r in results]),
        ))
    return rules


COLUMNS = ("source", "destination", "transport", "port", "direction", "purpose", "justification", "flows",
           "observed")
HEADINGS = ("Source", "Destination", "Transport", "Port", "Direction", "Purpose", "Justification", "Flows",
            "Observed")


def render_firewall_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for rule in firewall_rules(report):
        writer.writerow([csv_cell(getattr(rule, column)) for column in COLUMNS])
    return buffer.getvalue()


def render_firewall_markdown(report: Report) -> str:
    info = report.info
    rules = firewall_rules(report)
    lines = [
        f"# Firewall change request: {markdown_cell(info.site)}",
        "",
        f"Rules needed by **{markdown_cell(info.host_name)}** (profile {markdown_cell(info.profile)}, "
        f"role {markdown_cell(info.role)}), from the netcheck run {markdown_cell(info.run_id)} "
        f"of {markdown_cell(info.started)}. Direction is seen from {markdown_cell(info.host_name)}: "
        "out = it initiates, in = it must accept.",
        "",
    ]
    if not rules:
        lines.append("No rule needed: every flow passed or its path was proven open.")
        return "\n".join(lines) + "\n"
    lines.append("| " + " | ".join(HEADINGS) + " |")
    lines.append("|" + "---|" * len(HEADINGS))
    for rule in rules:
        lines.append("| " + " | ".join(markdown_cell(getattr(rule, column)) for column in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
