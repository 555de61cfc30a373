"""Sub-commands over saved JSON reports: report (re-render), diff (before/after), merge (fleet).

Imports nothing heavy at module level: the parser is built on every netcheck start.
Exit codes: report and merge 0 once written; diff 1 when a flow got worse, else 0;
2 for unusable input (a missing file, not JSON, not a netcheck report).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netcheck.errors import UsageError
from netcheck.messages import say
from netcheck.outputs import is_folder

if TYPE_CHECKING:
    from netcheck.model import Report

DIFF_CHOICES = ("text", "markdown", "json")
MERGE_CHOICES = ("html", "markdown", "csv", "json")


def _format_list(choices: Callable[[], tuple[str, ...]]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        allowed = choices()
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown format '{','.join(unknown) or text}' (choose from {', '.join(allowed)})")
        return names
    return parse


def _report_formats() -> tuple[str, ...]:
    from netcheck.render import FORMATS

    return tuple(FORMATS)


def add_parser(commands: Any) -> None:
    from netcheck.cli import NAGIOS_HELP, add_vendor_option

    report = commands.add_parser(
        "report", help="re-render a saved JSON report (html, junit, markdown, csv, firewall-request, ...)",
        description="Re-render a JSON report saved by 'netcheck scan --format json' in other formats. "
                    "Files go to --output or reports/ like a scan's.", epilog=NAGIOS_HELP)
    report.add_argument("result", type=Path, help="a netcheck.report/1 JSON file")
    report.add_argument("--receipt", type=Path,
                        help="a `netcheck listen` receipt to join, so the report shows both ends of each flow")
    report.add_argument("--format", "-f", type=_format_list(_report_formats), default=["html"],
                        help="comma-separated formats (default: html): " + ", ".join(_report_formats()))
    report.add_argument("--output", "-o", help="file for a single format, or a folder (default: reports/); "
                                               "'-' for stdout")
    add_vendor_option(report)
    from netcheck.table_cli import add_table_options

    add_table_options(report)
    report.set_defaults(func=cmd_report)

    diff = commands.add_parser(
        "diff", help="list flows whose status changed between two reports (exit 1 if any got worse)",
        description="Compare two JSON reports (e.g. before and after a firewall change) and list the flows "
                    "whose status or reason changed. Exit 1 when a flow got worse (or a new flow failed), "
                    "0 otherwise.")
    diff.add_argument("old", type=Path, help="the earlier JSON report")
    diff.add_argument("new", type=Path, help="the later JSON report")
    diff.add_argument("--format", "-f", choices=DIFF_CHOICES, default="text", help="output format (default text)")
    diff.add_argument("--output", "-o", help="write to this file instead of stdout")
    diff.set_defaults(func=cmd_diff)

    merge = commands.add_parser(
        "merge", help="one fleet matrix (hosts x flows) from reports taken on many hosts",
        description="Merge JSON reports from many hosts into one matrix: a row per host, a column per flow, "
                    "each cell the worst status of that flow on that host.")
    merge.add_argument("reports", type=Path, nargs="+", help="netcheck.report/1 JSON files")
    merge.add_argument("--format", "-f", type=_format_list(lambda: MERGE_CHOICES), default=["html"],
                       help="comma-separated formats: " + ", ".join(MERGE_CHOICES) + " (default html)")
    merge.add_argument("--output", "-o", help="file for a single format, or a folder (default: reports/); "
                                              "'-' for stdout")
    merge.set_defaults(func=cmd_merge)


# ---------------------------------------------------------------- loading

def load_report(path: Path) -> Report:
    """A saved report, or a one-line ConfigError saying why it cannot be used."""
    from netcheck.serialize import load

    return load(path)


# ---------------------------------------------------------------- writing

def _single_target(output: str | None, single: bool) -> Path | None:
    if output and output != "-" and single and not is_folder(output) and not output.endswith("/"):
        return Path(output)
    return None


def _check_output(output: str | None, single: bool, label: str) -> None:
    """Refuse an unwritable --output before any work (netcheck.outputs)."""
    from netcheck.outputs import DEFAULT_REPORTS_DIR, check_folder, check_target

    if output == "-":
        return
    target = _single_target(output, single)
    if target is not None:
        check_target(target, label)
    else:
        check_folder(Path(output) if output else DEFAULT_REPORTS_DIR, label)


def _write(text: str, output: str | None, default_name: str, single: bool, label: str) -> None:
    """To stdout ('-', sanitised), a file (--output with one format), or a folder (default reports/);
    files are written atomically (netcheck.outputs)."""
    from netcheck.outputs import DEFAULT_REPORTS_DIR, write_stdout, write_text_file

    if output == "-":
        write_stdout(text)
        return
    target = _single_target(output, single) or (Path(output) if output else DEFAULT_REPORTS_DIR) / default_name
    write_text_file(target, text, label)
    say(f"wrote {label}: {target}")


# ---------------------------------------------------------------- commands

def cmd_report(args: argparse.Namespace) -> int:
    from netcheck.cli import check_formats
    from netcheck.outputs import ReportOutputs

    check_formats(args.format, args.output, args.vendor)
    outputs = ReportOutputs(tuple(args.format), args.output, args.vendor, table_view=getattr(args, "table_view", None),
                            no_color=getattr(args, "no_color", False))
    outputs.check()  # an unwritable output is refused before any work
    report = load_report(args.result)
    if args.receipt:
        from netcheck.listen.receipt import join_receipt, load_receipt

        report = join_receipt(report, load_receipt(args.receipt))
    if outputs.write(report):
        from netcheck.render.nagios import nagios_state

        return int(nagios_state(report))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from netcheck.render.diff import DIFF_FORMATS, diff_reports

    if args.output and args.output != "-":
        if is_folder(args.output):
            raise UsageError(f"--output {args.output} is a folder; the diff needs a file name")
        _check_output(args.output, True, f"{args.format} diff")
    old, new = load_report(args.old), load_report(args.new)
    if (old.info.host_name, old.info.profile) != (new.info.host_name, new.info.profile):
        say(f"note: comparing different runs: {old.info.host_name} ({old.info.profile}) "
             f"and {new.info.host_name} ({new.info.profile})")
    diff = diff_reports(old, new)
    render, _extension = DIFF_FORMATS[args.format]
    text = render(diff)
    if args.output and args.output != "-":
        _write(text, args.output, "", True, f"{args.format} diff")
    else:
        _write(text, "-", "", True, f"{args.format} diff")
    return 1 if diff.worse else 0


def cmd_merge(args: argparse.Namespace) -> int:
    from netcheck.render.fleet import FLEET_FORMATS, build_fleet

    _check_output(args.output, len(args.format) == 1, "fleet matrix")
    fleet = build_fleet([(str(path), load_report(path)) for path in args.reports])
    for note in fleet.notes:
        say(f"note: {note}")
    stamp = max(host.report.info.started for host in fleet.hosts).replace(":", "").replace("-", "")[:15]
    for name in args.format:
        render, extension = FLEET_FORMATS[name]
        _write(render(fleet), args.output, f"netcheck-fleet-{stamp}.{extension}", len(args.format) == 1,
               f"{name} fleet matrix")
    say(f"{len(fleet.hosts)} hosts, {len(fleet.columns)} flows: "
         + ", ".join(f"{n} {verdict}" for verdict, n in fleet.counts().items() if n))
    return 0
