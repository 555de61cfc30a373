"""The scanner's side of two-sided checks: which flows go through the listener, plus raw diagnosis.

`scan_hooks(args, site)` is called by `netcheck scan` (cli.scan_hooks) with the scan options
this package adds (--listener, --no-raw); it returns engine.ScanHook objects.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

from netcheck.errors import UsageError
from netcheck.listen import tokens
from netcheck.model import Flow, Result
from netcheck.probes import ProbeContext
from netcheck.profiles import STANDARD_PEERS, Site

ALL_PEERS = "*"


@dataclass(frozen=True)
class ListenerChoice:
    """Tests every TCP/UDP flow to `peers` (or to every peer, with ALL_PEERS) with the listener probe."""

    peers: frozenset[str]

    def choose(self, flow: Flow) -> str | None:
        if flow.transport in ("tcp", "udp") and (ALL_PEERS in self.peers or flow.peer in self.peers):
            return "listener"
        return None

    async def after(self, results: list[Result], ctx: ProbeContext) -> list[Result]:
        return results


def listener_peers(option: str | None, site: Site) -> frozenset[str]:
    """Peers named by --listener (comma-separated; bare flag = all) and by `listener: true` settings."""
    peers = {peer for peer, settings in site.settings.items() if settings.get("listener") is True}
    if option == ALL_PEERS:
        return frozenset({ALL_PEERS})
    if option:
        named = [name.strip() for name in option.split(",") if name.strip()]
        known = set(STANDARD_PEERS) | set(site.peers)
        unknown = [name for name in named if name not in known]
        if unknown:
            raise UsageError(f"--listener: unknown peer '{', '.join(unknown)}'",
                             hint="peers are site-file keys such as console, ha_console, syslog")
        peers.update(named)
    return frozenset(peers)


def scan_hooks(args: argparse.Namespace, site: Site) -> list[Any]:
    from netcheck.raw.diagnose import RawDiagnosis

    hooks: list[Any] = []
    peers = listener_peers(getattr(args, "listener", None), site)
    if peers:
        tokens.key_from_env(os.environ)  # a bad key is a usage error now, not one error per flow later
        hooks.append(ListenerChoice(peers))
    if not getattr(args, "no_raw", False):
        hooks.append(RawDiagnosis(say=_say))
    return hooks


def _say(text: str) -> None:
    from netcheck.render.escape import terminal_text

    print(terminal_text(f"netcheck: {text}"), file=sys.stderr)
