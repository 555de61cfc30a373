"""The fleet matrix: reports from many hosts as one table, hosts x flows.

A column is a (peer, flow id); a cell holds every result of that flow on that host
(one per peer host) and shows the worst status. Two reports of the same host, profile
and site keep the later one (and say so in `notes`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from netcheck.escape import csv_cell, markdown_cell, one_line
from netcheck.model import Report, Result, Status
from netcheck.remediation import remediation
from netcheck.render.views import port_label, worst

FLEET_SCHEMA = "netcheck.fleet/1"


@dataclass(frozen=True)
class FleetColumn:
    peer: str
    flow: str
    protocol: str
    port: str
    purpose: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.peer, self.flow)

    @property
    def label(self) -> str:
        return self.flow


@dataclass(frozen=True)
class FleetCell:
    status: Status
    results: tuple[Result, ...]

    @property
    def title(self) -> str:
        """Per peer host: status, reason and detail (one line each)."""
        return "\n".join(
            one_line(f"{r.flow.host or r.flow.peer}: {r.status.value} ({r.reason.value}) {r.detail}")
            for r in self.results)


@dataclass(frozen=True)
class FleetHost:
    label: str
    source: str  # the JSON file it came from
    report: Report
    cells: dict[tuple[str, str], FleetCell]


@dataclass(frozen=True)
class Fleet:
    hosts: tuple[FleetHost, ...]
    columns: tuple[FleetColumn, ...]
    notes: tuple[str, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        """Hosts by verdict."""
        counts = {status.value: 0 for status in (Status.PASS, Status.FAIL, Status.ERROR)}
        for host in self.hosts:
            counts[host.report.verdict().value] += 1
        return counts


def build_fleet(reports: list[tuple[str, Report]]) -> Fleet:
    """`reports` as (source file, Report) pairs, in the order given."""
    latest: dict[tuple[str, str, str], tuple[str, Report]] = {}
    notes = []
    for source, report in reports:
        key = (report.info.host_name, report.info.profile, report.info.site)
        if key in latest:
            kept_source, kept = latest[key]
            if report.info.started >= kept.info.started:
                notes.append(f"{kept_source}: older report of {key[0]} ({key[1]} at {key[2]}) replaced by {source}")
                latest[key] = (source, report)
            else:
                notes.append(f"{source}: older report of {key[0]} ({key[1]} at {key[2]}) ignored")
            continue
        latest[key] = (source, report)
    names = [host for host, _profile, _site in latest]
    columns: dict[tuple[str, str], FleetColumn] = {}
    hosts = []
    for (host_name, profile, site), (source, report) in latest.items():
        grouped: dict[tuple[str, str], list[Result]] = {}
        for result in report.results:
            flow = result.flow
            grouped.setdefault((flow.peer, flow.id), []).append(result)
            columns.setdefault((flow.peer, flow.id), FleetColumn(
                flow.peer, flow.id, flow.protocol, port_label(flow), flow.purpose))
        label = host_name if names.count(host_name) == 1 else f"{host_name} ({profile}, {site})"
        cells = {key: FleetCell(worst(r.status for r in results), tuple(results)) for key, results in grouped.items()}
        hosts.append(FleetHost(label, source, report, cells))
    hosts.sort(key=lambda host: host.label)
    return Fleet(tuple(hosts), tuple(sorted(columns.values(), key=lambda c: c.key)), tuple(notes))


def _cell_text(host: FleetHost, column: FleetColumn) -> str:
    cell = host.cells.get(column.key)
    return cell.status.value if cell else ""


def render_fleet_csv(fleet: Fleet) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["host", "site", "profile", "started", "verdict"]
                    + [csv_cell(f"{c.peer}/{c.flow}") for c in fleet.columns])
    for host in fleet.hosts:
        info = host.report.info
        writer.writerow([csv_cell(host.label), csv_cell(info.site), csv_cell(info.profile), csv_cell(info.started),
                         host.report.verdict().value] + [_cell_text(host, c) for c in fleet.columns])
    return buffer.getvalue()


def render_fleet_markdown(fleet: Fleet) -> str:
    counts = fleet.counts()
    lines = ["# netcheck fleet matrix", "",
             f"{len(fleet.hosts)} hosts: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n), ""]
    headings = ["Host", "Site", "Verdict"] + [markdown_cell(c.flow) for c in fleet.columns]
    lines.append("| " + " | ".join(headings) + " |")
    lines.append("|" + "---|" * len(headings))
    for host in fleet.hosts:
        cells = [_cell_text(host, c).upper() for c in fleet.columns]
        lines.append("| " + " | ".join([markdown_cell(host.label), markdown_cell(host.report.info.site),
                                        f"**{host.report.verdict().value.upper()}**"] + cells) + " |")
    lines += ["", "## Flows", ""]
    for column in fleet.columns:
        lines.append(f"- {markdown_cell(column.flow)} ({markdown_cell(column.peer)}, {markdown_cell(column.protocol)} "
                     f"{markdown_cell(column.port)}): {markdown_cell(column.purpose)}")
    problems = [(host, result) for host in fleet.hosts for result in host.report.results
                if result.status is not Status.PASS]
    if problems:
        lines += ["", "## What to fix", ""]
        for host, result in problems:
            fix = remediation(result, host.report.info) or result.detail
            lines.append(f"- {markdown_cell(host.label)}: **{result.status.value.upper()}** "
                         f"{markdown_cell(result.flow.id)}: {markdown_cell(fix)}")
    if fleet.notes:
        lines += ["", "## Notes", ""] + [f"- {markdown_cell(note)}" for note in fleet.notes]
    return "\n".join(lines) + "\n"


def render_fleet_json(fleet: Fleet) -> str:
    from netcheck.serialize import result_to_dict

    data = {
        "schema": FLEET_SCHEMA,
        "hosts": [
            {"label": host.label, "source": host.source, "host": host.report.info.host_name,
             "addresses": list(host.report.info.host_addresses), "site": host.report.info.site,
             "profile": host.report.info.profile, "run_id": host.report.info.run_id,
             "started": host.report.info.started, "verdict": host.report.verdict().value,
             "counts": host.report.counts()}
            for host in fleet.hosts
        ],
        "flows": [{"peer": c.peer, "flow": c.flow, "protocol": c.protocol, "port": c.port, "purpose": c.purpose}
                  for c in fleet.columns],
        "matrix": {
            host.label: {
                f"{peer}/{flow}": {"status": cell.status.value,
                                   "results": [result_to_dict(r) for r in cell.results]}
                for (peer, flow), cell in host.cells.items()
            }
            for host in fleet.hosts
        },
        "notes": list(fleet.notes),
    }
    return json.dumps(data, indent=2, default=str) + "\n"


def render_fleet_html(fleet: Fleet) -> str:
    import markupsafe

    from netcheck.render.html import environment, json_for_script, script_hash, template_text

    script = template_text("report.js")
    problems = [
        (host, [(result, remediation(result, host.report.info)) for result in host.report.results
                if result.status is not Status.PASS])
        for host in fleet.hosts
    ]
    return str(environment().get_template("fleet.html.j2").render(
        fleet=fleet,
        counts=fleet.counts(),
        problems=[(host, items) for host, items in problems if items],
        style=markupsafe.Markup(template_text("report.css") + template_text("fleet.css")),
        script=markupsafe.Markup(script),
        script_hash=script_hash(script),
        data=markupsafe.Markup(json_for_script(json.loads(render_fleet_json(fleet)))),
    ))


FLEET_FORMATS = {
    "html": (render_fleet_html, "html"),
    "markdown": (render_fleet_markdown, "md"),
    "csv": (render_fleet_csv, "csv"),
    "json": (render_fleet_json, "json"),
}
