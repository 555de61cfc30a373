"""Before/after a firewall change: which flows changed status between two reports.

A flow is matched on (peer, flow id, peer host, port). Kinds of change:
  worse    the status got worse (STATUS_RANK: pass < skip < warn < error < fail)
  better   the status got better
  reason   same status, different reason (e.g. filtered -> prohibited)
  added    only in the new report; counts as worse when it failed or errored
  removed  only in the old report (listed, never counted as worse)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from netcheck.escape import markdown_cell, terminal_text
from netcheck.model import Report, Result, Status
from netcheck.render.views import STATUS_RANK, port_label

Key = tuple[str, str, str, str]


def flow_key(result: Result) -> Key:
    flow = result.flow
    return (flow.peer, flow.id, flow.host, str(flow.port))


@dataclass(frozen=True)
class FlowChange:
    old: Result | None
    new: Result | None

    @property
    def result(self) -> Result:
        found = self.new or self.old
        assert found is not None
        return found

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        before, after = STATUS_RANK[self.old.status], STATUS_RANK[self.new.status]
        if after > before:
            return "worse"
        if after < before:
            return "better"
        return "reason"

    @property
    def is_worse(self) -> bool:
        if self.kind == "added":
            return self.result.status in (Status.FAIL, Status.ERROR)
        return self.kind == "worse"


def _state(result: Result | None) -> str:
    return "-" if result is None else f"{result.status.value} ({result.reason.value})"


@dataclass(frozen=True)
class ReportDiff:
    old: Report
    new: Report
    changes: tuple[FlowChange, ...]
    unchanged: int

    @property
    def worse(self) -> bool:
        return any(change.is_worse for change in self.changes)

    def tally(self) -> dict[str, int]:
        tally = {kind: 0 for kind in ("worse", "better", "reason", "added", "removed")}
        for change in self.changes:
            tally[change.kind] += 1
        return tally


KIND_ORDER = {"worse": 0, "added": 1, "reason": 2, "better": 3, "removed": 4}


def diff_reports(old: Report, new: Report) -> ReportDiff:
    before = {flow_key(r): r for r in old.results}
    after = {flow_key(r): r for r in new.results}
    changes = []
    unchanged = 0
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was and now and was.status is now.status and was.reason is now.reason:
            unchanged += 1
            continue
        changes.append(FlowChange(was, now))
    changes.sort(key=lambda change: (KIND_ORDER[change.kind], flow_key(change.result)))
    return ReportDiff(old, new, tuple(changes), unchanged)


def _run_label(report: Report) -> str:
    info = report.info
    return f"{info.host_name} {info.site} ({info.profile}) {info.started}"


def _summary(diff: ReportDiff) -> str:
    tally = diff.tally()
    parts = [f"{tally['worse']} worse", f"{tally['better']} better", f"{tally['reason']} reason changed",
             f"{tally['added']} added", f"{tally['removed']} removed"]
    return ", ".join(parts) + f"; {diff.unchanged} unchanged"


def render_diff_text(diff: ReportDiff) -> str:
    lines = [terminal_text(f"old: {_run_label(diff.old)}"), terminal_text(f"new: {_run_label(diff.new)}")]
    for change in diff.changes:
        result = change.result
        target = result.flow.host or "this host"
        lines.append(terminal_text(
            f"{change.kind.upper():<8}{'!' if change.is_worse else ' '} {result.flow.peer:<9} {result.flow.id:<18} "
            f"{port_label(result.flow):<10} {target}: {_state(change.old)} -> {_state(change.new)}"
            + (f"  {change.new.detail}" if change.new else "")))
    lines.append(_summary(diff) + (" -> WORSE" if diff.worse else ""))
    return "\n".join(lines) + "\n"


def render_diff_markdown(diff: ReportDiff) -> str:
    lines = ["# netcheck: before and after", "",
             f"- before: {markdown_cell(_run_label(diff.old))}", f"- after: {markdown_cell(_run_label(diff.new))}",
             f"- {markdown_cell(_summary(diff))}", ""]
    if diff.changes:
        lines += ["| Change | Peer | Flow | Port | Destination | Before | After | Detail now |", "|" + "---|" * 8]
        for change in diff.changes:
            result = change.result
            lines.append("| " + " | ".join([
                f"**{change.kind.upper()}**", markdown_cell(result.flow.peer), markdown_cell(result.flow.id),
                markdown_cell(port_label(result.flow)), markdown_cell(result.flow.host or "this host"),
                markdown_cell(_state(change.old)), markdown_cell(_state(change.new)),
                markdown_cell(change.new.detail if change.new else ""),
            ]) + " |")
    return "\n".join(lines) + "\n"


def render_diff_json(diff: ReportDiff) -> str:
    def side(result: Result | None) -> dict[str, object] | None:
        if result is None:
            return None
        return {"status": result.status.value, "reason": result.reason.value, "detail": result.detail,
                "address": result.address}

    data = {
        "schema": "netcheck.diff/1",
        "old": {"run_id": diff.old.info.run_id, "host": diff.old.info.host_name, "started": diff.old.info.started},
        "new": {"run_id": diff.new.info.run_id, "host": diff.new.info.host_name, "started": diff.new.info.started},
        "worse": diff.worse,
        "tally": diff.tally(),
        "unchanged": diff.unchanged,
        "changes": [
            {"kind": change.kind, "worse": change.is_worse, "peer": change.result.flow.peer,
             "flow": change.result.flow.id, "destination": change.result.flow.host,
             "port": str(change.result.flow.port), "transport": change.result.flow.transport,
             "old": side(change.old), "new": side(change.new)}
            for change in diff.changes
        ],
    }
    return json.dumps(data, indent=2) + "\n"


DIFF_FORMATS = {"text": (render_diff_text, "txt"), "markdown": (render_diff_markdown, "md"),
                "json": (render_diff_json, "json")}
