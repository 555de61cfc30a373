"""`netcheck demo` on the command line; the demo itself (asyncio, listeners) loads only when run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="zero-setup demo on loopback: listeners, a two-sided scan, reports with failures",
        description="Start netcheck listeners on 127.0.0.1 (sensor ports mapped above 20000: no root, no "
                    "network), scan them with the sensor profile, and write the reports. Two flows are "
                    "blocked on purpose (tunnel: nothing listens; syslog: datagrams are swallowed) so the "
                    "reports show failures and their remediation. Exit 0 when the demo behaved as designed.")
    from netcheck.outputs import DEFAULT_REPORTS_DIR

    demo.add_argument("--output", "-o", type=Path, default=DEFAULT_REPORTS_DIR,
                      help="folder for the reports, the demo site file and the listener receipt (default reports/)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from netcheck.cli import signal_exit
    from netcheck.demo import run_demo
    from netcheck.messages import say
    from netcheck.scanner import interrupted_by

    outcome = run_demo(args.output, show=lambda line: print(line, file=sys.stdout, flush=True),
                       notice=lambda text: say(text, program="netcheck demo"))
    stopped = interrupted_by(outcome.report)
    if stopped is not None:
        return signal_exit(stopped)
    return 0 if outcome.as_designed else 1
