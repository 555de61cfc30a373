"""The fuzz tests' guard: a site is scanned only when every host it could reach is loopback."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from netcheck.profiles import Site


def is_loopback_address(text: str) -> bool:
    """A literal loopback IP (127.0.0.1, ::1); never a name, which would need a resolver."""
    try:
        return ipaddress.ip_address(text.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_only(site: Site) -> bool:
    """Every host a scan of `site` could send to is a loopback address (URL peers and CONNECT targets too)."""
    for hosts in site.peers.values():
        for host in hosts:
            name = urlsplit(host).hostname if "://" in host else host
            if not is_loopback_address(name or ""):
                return False
    for options in site.settings.values():
        for target in options.get("connect_targets") or []:
            host = str(target).rpartition(":")[0]
            if not is_loopback_address(host) and host not in site.peers:
                return False
    return not site.extra.get("certificates")
