"""The scan option --no-raw (raw-packet diagnosis of failed flows is on by default). Imports
nothing heavy: this module is loaded for every `netcheck` invocation to build the parser.
cli.cmd_scan passes the choice on as the typed option raw=, which raw/hook.py turns into the scan hook."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    """raw/ adds no sub-command of its own."""


def add_scan_options(scan: argparse.ArgumentParser) -> None:
    scan.add_argument("--no-raw", action="store_true",
                      help="do not diagnose failed flows with raw packets (SYN probe, traceroute; needs root)")
