"""Prometheus text exposition for node_exporter's textfile collector.

Every series carries the run's `site` and `profile`, so the files of several profiles
(sensor.prom, client.prom) in one textfile folder never collide. Per flow (labels flow,
peer, host, port, transport, direction, required):
  netcheck_flow_status        1 for the flow's status, 0 for the others (a state set)
  netcheck_flow_reason        1, labelled with the reason (refused, filtered, ...)
  netcheck_flow_latency_seconds   only for flows with a measured latency
Per run: the last-run timestamp, its duration, flows per status, and netcheck_run_success
(1 when the run's verdict is pass). Label values are escaped per the exposition format
(backslash, double quote, line feed).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from netcheck.model import Report, Result, Status

PREFIX = "netcheck_"


def _escape(value: str) -> str:
    """A label value per the exposition format; a lone surrogate (possible in a crafted JSON report) becomes '?'."""
    value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in pairs) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def _timestamp(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class _Exposition:
    """Metric families in order: HELP and TYPE once, then the samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        if not samples:
            return
        self.lines.append(f"# HELP {PREFIX}{name} {help_text}")
        self.lines.append(f"# TYPE {PREFIX}{name} gauge")
        self.lines.extend(f"{PREFIX}{name}{labels} {_number(value)}" for labels, value in samples)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _flow_labels(run: list[tuple[str, str]], result: Result) -> list[tuple[str, str]]:
    flow = result.flow
    return [*run, ("flow", flow.id), ("peer", flow.peer), ("host", flow.host), ("port", str(flow.port)),
            ("transport", flow.transport), ("direction", flow.direction.value),
            ("required", "true" if flow.required else "false")]


def render_prometheus(report: Report) -> str:
    info = report.info
    run = [("site", info.site), ("profile", info.profile)]
    results: list[Result] = []
    seen: set[str] = set()
    for result in report.results:  # a series may appear only once; a hand-made report could repeat one
        key = _labels(_flow_labels(run, result))
        if key not in seen:
            seen.add(key)
            results.append(result)

    out = _Exposition()
    out.family("flow_status", "1 for the flow's status in the last run (pass, warn, fail, skip, error), else 0.",
               [(_labels([*_flow_labels(run, r), ("status", s.value)]), float(r.status is s))
                for r in results for s in Status])
    out.family("flow_reason", "Why the flow got its status in the last run (the reason label); always 1.",
               [(_labels([*_flow_labels(run, r), ("reason", r.reason.value)]), 1.0) for r in results])
    out.family("flow_latency_seconds", "Time to the decisive answer of the flow's probe in the last run.",
               [(_labels(_flow_labels(run, r)), round(r.latency_ms / 1000.0, 9))
                for r in results if r.latency_ms is not None])
    counts = report.counts()
    out.family("run_flows", "Flows of the last run per status.",
               [(_labels([*run, ("status", s.value)]), float(counts[s.value])) for s in Status])
    out.family("run_success", "1 when the last run's verdict was pass, else 0.",
               [(_labels(run), float(report.verdict() is Status.PASS))])
    finished, started = _timestamp(info.finished), _timestamp(info.started)
    out.family("last_run_timestamp_seconds", "When the last run finished, in seconds since the epoch.",
               [(_labels(run), finished)] if finished is not None else [])
    out.family("run_duration_seconds", "How long the last run took.",
               [(_labels(run), finished - started)] if finished is not None and started is not None else [])
    return out.text()
