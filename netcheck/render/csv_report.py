"""CSV: one row per flow, with the run's site and host on every row so files concatenate."""

from __future__ import annotations

import csv
import io

from netcheck.escape import csv_cell
from netcheck.model import Report
from netcheck.remediation import remediation
from netcheck.render.terminal import path_text

COLUMNS = ("site", "host", "profile", "started", "peer", "flow", "purpose", "protocol", "transport", "port",
           "direction", "path", "destination", "address", "status", "reason", "latency_ms", "required", "detail",
           "remediation", "category", "expected", "found")


def render_csv(report: Report) -> str:
    info = report.info
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for result in report.results:
        flow = result.flow
        text = [info.site, info.host_name, info.profile, info.started, flow.peer, flow.id, flow.purpose,
                flow.protocol, flow.transport, str(flow.port), flow.direction.value, path_text(result), flow.host,
                result.address or "", result.status.value, result.reason.value]
        latency = "" if result.latency_ms is None else f"{result.latency_ms:.2f}"
        writer.writerow([csv_cell(value) for value in text] + [
            latency, "yes" if flow.required else "no", csv_cell(result.detail),
            csv_cell(remediation(result, info) or ""),
            csv_cell(result.category or ""), csv_cell(result.expected or ""), csv_cell(result.found or ""),
        ])
    return buffer.getvalue()
