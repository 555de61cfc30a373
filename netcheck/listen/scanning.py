"""The scanner's side of two-sided checks: which flows go through the far-side listener.

`listener_hooks(site, peers, env)` is called by netcheck.scanner.scan_hooks for the typed
`listener_peers` option; the command line's --listener becomes that option in listen/cli.py.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from netcheck.errors import UsageError
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


def listener_peers(named: Collection[str], site: Site) -> frozenset[str]:
    """The peers `named` (ALL_PEERS: every peer) plus those with `listener: true` in the site's settings."""
    if isinstance(named, str):  # one peer's name, not its letters
        named = (named,)
    peers = {peer for peer, settings in site.settings.items() if settings.get("listener") is True}
    if ALL_PEERS in named:
        return frozenset({ALL_PEERS})
    known = set(STANDARD_PEERS) | set(site.peers)
    unknown = [name for name in named if name not in known]
    if unknown:
        raise UsageError(f"listener peers: unknown peer '{', '.join(unknown)}'",
                         hint="peers are site-file keys such as console, ha_console, syslog")
    peers.update(named)
    return frozenset(peers)


def listener_hooks(site: Site, named: Collection[str], env: Mapping[str, str]) -> list[ListenerChoice]:
    """The listener's scan hook, when any peer runs `netcheck listen`."""
    peers = listener_peers(named, site)
    if not peers:
        return []
    from netcheck import tokens  # only a scan with a listener pays for hashlib and hmac

    tokens.key_from_env(env)  # a bad key is a usage error now, not one error per flow later
    return [ListenerChoice(peers)]
