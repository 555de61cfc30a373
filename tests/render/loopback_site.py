"""A real scan on loopback for the monitoring and firewall-rule tests: a listening socket and a closed port.

`loopback_scan(...)` writes a two-flow profile and a site naming 127.0.0.1, runs
`netcheck scan` in-process (real TCP probes), and returns the exit code, stdout and the
JSON report it wrote beside the other formats.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from netcheck.cli import main


@contextmanager
def listening_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on: bound, then released (the kernel answers it with a reset)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_scenario(folder: Path, open_port: int, closed: int | None, closed_required: bool = True) -> tuple[Path, Path]:
    """Profile: `web` to the listening port; `tunnel` to the closed port (when given)."""
    flows = [f"  - {{id: web, purpose: Web console, protocol: HTTPS, transport: tcp, port: {open_port},"
             " direction: out, peer: console, probe: tcp}"]
    if closed is not None:
        flows.append(f"  - {{id: tunnel, purpose: Tunnel to the console, protocol: TCP, transport: tcp,"
                     f" port: {closed}, direction: out, peer: console, probe: tcp,"
                     f" required: {'true' if closed_required else 'false'}}}")
    profile = folder / "profile.yaml"
    profile.write_text("name: mini\nrole: sensor\nflows:\n" + "\n".join(flows) + "\n")
    site = folder / "site.yaml"
    site.write_text("name: lo\npeers:\n  console: 127.0.0.1\n")
    return profile, site


@dataclass(frozen=True)
class Scan:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]
    files: list[Path]

    def file(self, extension: str) -> Path:
        """The one file written with this extension (json, prom, firewall-request.nft, ...)."""
        found = [p for p in self.files if p.name.endswith("." + extension)]
        assert len(found) == 1, (extension, self.files)
        return found[0]


def loopback_scan(folder: Path, capsys: pytest.CaptureFixture[str], formats: str, *, closed: bool,
                  closed_required: bool = True, extra: tuple[str, ...] = ()) -> Scan:
    out = folder / "out"
    folder.mkdir(parents=True, exist_ok=True)
    with listening_port() as port:
        profile, site = write_scenario(folder, port, closed_port() if closed else None, closed_required)
        code = main(["scan", "-p", str(profile), "-s", str(site), "-t", "2", "--no-raw", "-f", f"{formats},json",
                     "-o", f"{out}/", *extra])
    captured = capsys.readouterr()
    files = sorted(out.iterdir())
    report = [p for p in files if p.suffix == ".json"]
    assert len(report) == 1, (code, captured.err, files)
    return Scan(code, captured.out, captured.err, json.loads(report[0].read_text()), files)
