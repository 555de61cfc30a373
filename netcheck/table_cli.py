"""The terminal table's command-line side: its options, its width, its colour, its view.

Width: COLUMNS when set, else the terminal's width, else (a pipe or a file) a fixed 160
columns. Colour only on a terminal, never with --no-color, a non-empty NO_COLOR or TERM=dumb.
View: every flow for up to SUMMARY_ABOVE flows, else the summary (counts first, then the flows
that did not pass); --all and --summary choose. Imports nothing heavy (built on every start).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from netcheck.model import Report

SUMMARY_ABOVE = 1000  # flows; a longer table starts with the summary unless --all is given


def add_table_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "table output (-f table)",
        "The table fits COLUMNS when set, else the terminal's width (160 columns in a pipe): the full table "
        "when it fits, else a compact layout with each detail on its own line.")
    view = group.add_mutually_exclusive_group()
    view.add_argument("--all", dest="table_view", action="store_const", const="all",
                      help=f"list every flow (the default up to {SUMMARY_ABOVE} flows)")
    view.add_argument("--summary", dest="table_view", action="store_const", const="summary",
                      help="counts by status and reason and by peer first, then only the flows that did not pass "
                           f"(the default above {SUMMARY_ABOVE} flows)")
    group.add_argument("--no-color", action="store_true",
                       help="no colour even on a terminal (a non-empty NO_COLOR does the same)")


def table_width(stream: TextIO, env: Mapping[str, str]) -> int:
    """COLUMNS if it is a positive number, else the terminal's width, else PIPE_WIDTH (160)."""
    from netcheck.render.terminal import PIPE_WIDTH

    columns = env.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns or PIPE_WIDTH
    except (OSError, ValueError, AttributeError):
        pass
    return PIPE_WIDTH


def use_color(stream: TextIO, env: Mapping[str, str], no_color: bool = False) -> bool:
    if no_color or env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (ValueError, AttributeError):
        return False


def choose_view(report: Report, asked: str | None) -> str:
    """The view asked for, else the summary for a report longer than SUMMARY_ABOVE flows (said on stderr)."""
    if asked:
        return asked
    if len(report.results) <= SUMMARY_ABOVE:
        return "all"
    print(f"netcheck: {len(report.results)} flows: the table shows the summary and the flows that did not pass; "
          "--all lists every flow", file=sys.stderr)
    return "summary"


def write_table(report: Report, view: str | None = None, no_color: bool = False,
                stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> None:
    """The terminal table on stdout, written as it is rendered (a few thousand lines at a time)."""
    from netcheck.render.terminal import terminal_lines

    out = stream if stream is not None else sys.stdout
    environ = env if env is not None else os.environ
    lines = terminal_lines(report, color=use_color(out, environ, no_color), width=table_width(out, environ),
                           view=choose_view(report, view))
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= 4096:
            out.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        out.write("\n".join(batch) + "\n")
