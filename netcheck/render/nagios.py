"""A Nagios / Icinga plugin answer: one status line with performance data, the plugin exit code.

Plugin convention (Nagios plugin development guidelines), applied only when the nagios line
is what netcheck writes to stdout (the CLI decides):
  0 OK        every flow passed (skipped flows allowed)
  1 WARNING   a flow warned, or an optional flow failed
  2 CRITICAL  the run failed: a required flow failed (or warned, with --strict), or the
              appliance certificate would be refused
  3 UNKNOWN   netcheck could not judge a flow (status error), or could not run at all
              (bad input, usage error, internal error)

The first line is the status and the perfdata; each flow that did not pass follows on a line
of its own (the plugin "long output"). A '|' would start perfdata, so text never carries one.

The nagiosplugin library was considered and not used: its Check.main() owns the control flow
and calls sys.exit, while netcheck's renderers are pure and only the CLI sets exit codes; what
is left (one line, counts, one latency) is a few lines of code.
"""

from __future__ import annotations

import enum

from netcheck.model import Report, Result, Status
from netcheck.render.escape import terminal_text
from netcheck.render.views import port_label

SERVICE = "NETCHECK"
SHOWN_IDS = 5  # flow ids named in the status line before "and N more"


class NagiosState(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def _plain(text: str) -> str:
    """One line a monitoring system shows as is: no control characters, no perfdata separator."""
    return terminal_text(text).replace("|", "/").encode("utf-8", "replace").decode("utf-8")


def nagios_state(report: Report) -> NagiosState:
    verdict = report.verdict()
    if verdict is Status.FAIL:
        return NagiosState.CRITICAL
    if verdict is Status.ERROR:
        return NagiosState.UNKNOWN
    if any(r.status in (Status.WARN, Status.FAIL) for r in report.results):
        return NagiosState.WARNING
    return NagiosState.OK


def _ids(results: list[Result]) -> str:
    ids = list(dict.fromkeys(r.flow.id for r in results))
    shown = ", ".join(ids[:SHOWN_IDS])
    return shown + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


def _summary(report: Report, state: NagiosState) -> str:
    total = len(report.results)
    by_status = {status: [r for r in report.results if r.status is status] for status in Status}
    failed, warned, errored = by_status[Status.FAIL], by_status[Status.WARN], by_status[Status.ERROR]
    parts = []
    if failed:
        required = [r for r in failed if r.flow.required]
        optional = "" if len(required) == len(failed) else f" ({len(failed) - len(required)} optional)"
        parts.append(f"{len(failed)} of {total} flows failed{optional}: {_ids(failed)}")
    if warned:
        parts.append(f"{len(warned)} warned: {_ids(warned)}")
    if errored:
        parts.append(f"{len(errored)} could not be checked (netcheck error): {_ids(errored)}")
    if report.certificates is not None and not report.certificates.ok:
        parts.append("the appliance certificate would be refused")
    if not parts:
        skipped = len(by_status[Status.SKIP])
        parts.append(f"{len(by_status[Status.PASS])} of {total} flows passed"
                     + (f", {skipped} skipped" if skipped else ""))
    slowest = _slowest(report)
    if slowest is not None and state is NagiosState.OK:
        parts.append(f"slowest {slowest.flow.id} {slowest.latency_ms:.1f} ms")
    where = f"{report.info.host_name} ({report.info.profile}) at {report.info.site}"
    return f"{SERVICE} {state.name} - {where}: " + "; ".join(parts)


def _slowest(report: Report) -> Result | None:
    timed = [r for r in report.results if r.latency_ms is not None]
    return max(timed, key=lambda r: r.latency_ms or 0.0) if timed else None


def _perfdata(report: Report) -> str:
    counts = report.counts()
    total = len(report.results)
    fields = [f"{status.value}={counts[status.value]};;;0;{total}" for status in Status]
    slowest = _slowest(report)
    latency = "U" if slowest is None else f"{slowest.latency_ms:.3f}ms;;;0"
    fields.append(f"slowest_latency={latency}")
    return " ".join(fields)


def _long_output(report: Report) -> list[str]:
    lines = []
    for result in report.results:
        if result.status in (Status.PASS, Status.SKIP):
            continue
        flow = result.flow
        target = result.address or flow.host or flow.peer
        lines.append(_plain(f"{result.status.value} {flow.id} {port_label(flow)} {flow.direction.value} "
                            f"{target}: {result.reason.value} - {result.detail}"))
    return lines


def render_nagios(report: Report) -> str:
    """Status line with perfdata, then one line per flow that did not pass."""
    state = nagios_state(report)
    first = f"{_plain(_summary(report, state))} | {_perfdata(report)}"
    return "\n".join([first, *_long_output(report)]) + "\n"


def render_nagios_unknown(message: str) -> str:
    """The answer when netcheck could not check at all (bad input, usage or internal error)."""
    return f"{SERVICE} {NagiosState.UNKNOWN.name} - {_plain(message)}\n"
