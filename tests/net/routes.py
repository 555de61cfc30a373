"""A network namespace with no way out, for the failures a route gives: silence, unreachable
and prohibited. Traffic only to TEST-NET addresses inside it; the namespace is removed after."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SILENT = "198.51.100.99"  # on the namespace's own link, where nobody answers ARP
UNREACHABLE = "203.0.113.10"  # an `unreachable` route: EHOSTUNREACH at once
PROHIBITED = "203.0.113.200"  # a `prohibit` route: EACCES at once


@contextlib.contextmanager
def routes_namespace() -> Iterator[str]:
    name = f"ncnet{secrets.token_hex(4)}"
    commands = [
        ["ip", "netns", "add", name],
        ["ip", "-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1"],  # v1 has no address
        ["ip", "-n", name, "link", "set", "lo", "up"],
        ["ip", "-n", name, "link", "set", "v0", "up"],
        ["ip", "-n", name, "link", "set", "v1", "up"],
        ["ip", "-n", name, "addr", "add", "198.51.100.1/24", "dev", "v0"],
        ["ip", "-n", name, "route", "add", "unreachable", "203.0.113.0/25"],
        ["ip", "-n", name, "route", "add", "prohibit", "203.0.113.128/25"],
    ]
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def run_in(namespace: str, code: str, *args: str) -> Any:
    """Run `code` with this checkout's netcheck inside the namespace; its stdout is JSON."""
    out = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", code, *args],
        capture_output=True, text=True, check=True, cwd=REPO, timeout=30,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    return json.loads(out.stdout)
