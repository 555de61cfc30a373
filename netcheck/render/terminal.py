"""The terminal matrix: one row per flow, status in words (and color when there is a TTY)."""

from __future__ import annotations

import io

from netcheck.model import Direction, Report, Result, Status

STATUS_STYLE = {
    Status.PASS: "bold green",
    Status.WARN: "bold yellow",
    Status.FAIL: "bold red",
    Status.SKIP: "dim",
    Status.ERROR: "bold magenta",
}


def path_text(result: Result) -> str:
    """source -> destination, from this host's point of view."""
    flow = result.flow
    if flow.direction is Direction.IN:
        return f"{flow.peer} -> this host"
    if not flow.host:
        return f"this host -> {flow.peer} (not configured)"
    target = flow.host
    if result.address and result.address != flow.host and "://" not in flow.host:
        target = f"{flow.host} ({result.address})"
    return f"this host -> {flow.peer} {target}"


def latency_text(result: Result) -> str:
    return "" if result.latency_ms is None else f"{result.latency_ms:.0f}"


def summary_line(report: Report) -> str:
    counts = report.counts()
    parts = [f"{counts[s.value]} {s.value}" for s in Status if counts[s.value]]
    verdict = report.verdict()
    meaning = {
        Status.PASS: "every required flow passed",
        Status.FAIL: "a required flow failed",
        Status.ERROR: "netcheck could not finish some checks",
    }[verdict]
    return f"{len(report.results)} flows: {', '.join(parts)} -> {verdict.value.upper()} ({meaning})"


def render_terminal(report: Report, *, color: bool = False, width: int = 160) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    info = report.info
    table = Table(
        title=f"netcheck {info.version} - profile {info.profile} ({info.role}) at site {info.site} "
              f"from {info.host_name}",
        title_justify="left",
        show_lines=False,
        expand=False,
        header_style="bold",
    )
    for column, kwargs in (
        ("Status", {"no_wrap": True}),
        ("Flow", {"max_width": 34}),
        ("Proto", {"no_wrap": True}),
        ("Port", {"no_wrap": True}),
        ("Source -> Destination", {"max_width": 44}),
        ("Reason", {"no_wrap": True}),
        ("ms", {"justify": "right", "no_wrap": True}),
        ("Detail", {"ratio": 1, "min_width": 30}),
    ):
        table.add_column(column, **kwargs)
    for result in report.results:
        flow = result.flow
        label = Text(flow.id)
        label.append(f"\n{flow.purpose}", style="dim")
        if not flow.required:
            label.append(" (optional)", style="dim")
        table.add_row(
            Text(result.status.value.upper(), style=STATUS_STYLE[result.status]),
            label,
            flow.protocol,
            f"{flow.transport}/{flow.port}",
            path_text(result),
            result.reason.value,
            latency_text(result),
            Text(result.detail),
        )
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width,
                      color_system="standard" if color else None, highlight=False, soft_wrap=False)
    console.print(table)
    for line in certificate_lines(report):
        console.print(line, highlight=False, markup=False)
    console.print(summary_line(report))
    return buffer.getvalue()


def certificate_lines(report: Report) -> list[str]:
    """The certificate verdicts under the matrix: one line per appliance, then its errors."""
    from netcheck.render.certificates import certificate_sections

    sections = certificate_sections(report)
    if not sections:
        return []
    lines = ["Certificates (would the appliance accept the upload?):"]
    for section in sections:
        verdict = {True: "ACCEPT", False: "REFUSE", None: "?"}[section.ok]
        errors = [f for f in section.findings if f.severity == "error"]
        lines.append(f"  {verdict:<6} {section.label}" + (f": {len(errors)} error(s)" if errors else ""))
        for found in errors:
            said = f' - the appliance says "{found.appliance_message}"' if found.appliance_message else ""
            lines.append(f"         {found.code}: {found.message}{said}")
    return lines


def render_plain(report: Report) -> str:
    """The matrix without color, for files."""
    return render_terminal(report, color=False)
