"""`netcheck listen`, and the scan option --listener (cli.cmd_scan passes it on as the typed
option listener_peers=). Imports nothing heavy:
this module is loaded for every `netcheck` invocation to build the parser."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

DEFAULT_DURATION_S = 600.0
MAX_DURATION_S = 24 * 3600.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def duration(text: str) -> float:
    """'90', '90s', '10m', '1h' -> seconds, between 1 s and 24 h."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration such as 90s, 10m or 1h")
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if not 1 <= seconds <= MAX_DURATION_S:
        raise argparse.ArgumentTypeError(f"'{text}' must be between 1 s and 24 h")
    return seconds


def add_parser(commands: Any) -> None:
    listen = commands.add_parser(
        "listen", help="answer netcheck probes on the far side of a role's inbound flows",
        description="Open a TCP and a UDP listener for every inbound flow of a role (ports after the site "
                    "file's overrides) and echo the tokens of `netcheck scan --listener`, so a scan from a "
                    "peer proves each flow end to end (UDP too). Prints each probe as it arrives, stops after "
                    "--duration and writes a JSON receipt. Set NETCHECK_LISTENER_KEY (16+ characters) on both "
                    "sides so only holders of the key get answers.",
        epilog="Default addresses: the ones the site file lists for this role (e.g. peers.console) that this "
               "host has; without them --bind is required (--bind 0.0.0.0 listens everywhere, deliberately).",
    )
    listen.add_argument("--profile", "-p", required=True,
                        help="the role whose inbound flows to open (console, sensor, ... or a YAML file)")
    listen.add_argument("--site", "-s", type=Path, help="site file: port overrides and this role's addresses")
    listen.add_argument("--bind", "-b", action="append", metavar="ADDR",
                        help="listen on this IP address (repeatable); default: see below")
    listen.add_argument("--duration", "-d", type=duration, default=DEFAULT_DURATION_S,
                        help="stop after this long (e.g. 90s, 10m, 1h; default 10m, at most 24h)")
    listen.add_argument("--receipt", "-r", type=Path,
                        help="where to write the JSON receipt (default: reports/netcheck-receipt-<host>-<time>.json)")
    listen.add_argument("--quiet", "-q", action="store_true", help="do not print each probe")
    family = listen.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4,
                        help="listen on the IPv4 addresses only (of --bind or the site file)")
    family.add_argument("-6", dest="family", action="store_const", const=6, help="listen on the IPv6 addresses only")
    listen.set_defaults(func=cmd_listen)


def add_scan_options(scan: argparse.ArgumentParser) -> None:
    scan.add_argument("--listener", nargs="?", const=("*",), metavar="PEERS", type=peer_names,
                      help="the peers (comma-separated; every peer when bare) run `netcheck listen`: test their "
                           "flows with tokens, so an echo is confirmed and silence is blocked "
                           "(per peer in the site file: settings: {console: {listener: true}})")


def peer_names(text: str) -> tuple[str, ...]:
    """--listener a,b -> ("a", "b"); the bare flag's "*" means every peer."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def cmd_listen(args: argparse.Namespace) -> int:
    import os

    from netcheck.errors import UsageError
    from netcheck.escape import terminal_text
    from netcheck.listen.run import run_listener, summary_line
    from netcheck.messages import say

    def show(line: str) -> None:
        print(terminal_text(line), file=sys.stdout, flush=True)

    outcome = run_listener(args.profile, args.site, bind=args.bind or (), family=args.family,
                           duration=args.duration, receipt=args.receipt, env=os.environ,
                           on_probe=None if args.quiet else show, notice=say)
    say(summary_line(outcome.receipt))
    say(f"wrote receipt: {outcome.receipt_path}")
    if not outcome.listening:
        raise UsageError("no port could be bound, so nothing listened",
                         hint="ports below 1024 need root; ports in use already have their real service")
    return 0
