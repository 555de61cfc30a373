"""Real daemons for CRL tests: nginx serving CRL files and tinyproxy as the appliance's
proxy, each with its config in a temp dir, on loopback or inside a network namespace this
module creates (TEST-NET addresses only). Everything started here is stopped here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ns(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


def wait_port(host: str, port: int, netns: str | None = None, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if netns:
            probe = _ns(netns) + ["bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}"]
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                return
        else:
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.contextmanager
def nginx(
    www: Path, workdir: Path, *, host: str = "127.0.0.1", port: int | None = None, netns: str | None = None
) -> Iterator[int]:
    """Serve `www` over HTTP on host:port; yields the port."""
    port = port or free_port(host)
    workdir.mkdir(parents=True, exist_ok=True)
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
user root;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log {workdir}/access.log;
  client_body_temp_path {workdir}/body;
  types {{ application/pkix-crl crl; text/html html; }}
  default_type application/octet-stream;
  server {{ listen {listen}; root {www}; }}
}}
""")
    process = subprocess.Popen(
        _ns(netns) + [NGINX, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(host, port, netns)
        yield port
    finally:
        _stop(process)


@contextlib.contextmanager
def tinyproxy(
    workdir: Path,
    *,
    listen: str = "127.0.0.1",
    port: int | None = None,
    allow: str = "127.0.0.1",
    deny_patterns: tuple[str, ...] = (),
    basic_auth: tuple[str, str] | None = None,
    netns: str | None = None,
    disable_via: bool = False,
) -> Iterator[int]:
    """An HTTP proxy; deny_patterns are tinyproxy filter regexes answered with 403."""
    port = port or free_port(listen)
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"Port {port}",
        f"Listen {listen}",
        "Timeout 5",
        "MaxClients 20",
        f'LogFile "{workdir}/tinyproxy.log"',
        "LogLevel Info",
        f'PidFile "{workdir}/tinyproxy.pid"',
        f"Allow {allow}",
    ]
    if deny_patterns:
        (workdir / "filter").write_text("\n".join(deny_patterns) + "\n")
        lines += [f'Filter "{workdir}/filter"', "FilterURLs On", "FilterExtended On", "FilterDefaultDeny No"]
    if disable_via:
        lines.append("DisableViaHeader Yes")
    if basic_auth:
        lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
    conf = workdir / "tinyproxy.conf"
    conf.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        _ns(netns) + [TINYPROXY, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(listen, port, netns)
        yield port
    finally:
        _stop(process)


@dataclass(frozen=True)
class ProxyOnlyLab:
    """Two namespaces: `appliance` (198.51.100.2, no other route) and `services`
    (198.51.100.1 towards the appliance; the CRL server on 203.0.113.10 on its loopback).
    The appliance reaches 203.0.113.10 only through a proxy in `services`."""

    appliance: str
    services: str
    proxy_ip: str = "198.51.100.1"
    crl_ip: str = "203.0.113.10"


def netns_available() -> bool:
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    probe = f"netcheck-probe-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False).returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return True


@contextlib.contextmanager
def proxy_only_lab() -> Iterator[ProxyOnlyLab]:
    tag = f"{os.getpid() % 100000}"
    lab = ProxyOnlyLab(appliance=f"nccert-a{tag}", services=f"nccert-s{tag}")
    steps = [
        ["ip", "netns", "add", lab.appliance],
        ["ip", "netns", "add", lab.services],
        [
            "ip",
            "link",
            "add",
            f"nca{tag}",
            "netns",
            lab.appliance,
            "type",
            "veth",
            "peer",
            "name",
            f"ncs{tag}",
            "netns",
            lab.services,
        ],
        ["ip", "-n", lab.appliance, "link", "set", "lo", "up"],
        ["ip", "-n", lab.services, "link", "set", "lo", "up"],
        ["ip", "-n", lab.appliance, "addr", "add", "198.51.100.2/24", "dev", f"nca{tag}"],
        ["ip", "-n", lab.services, "addr", "add", "198.51.100.1/24", "dev", f"ncs{tag}"],
        ["ip", "-n", lab.services, "addr", "add", f"{lab.crl_ip}/32", "dev", "lo"],
        ["ip", "-n", lab.appliance, "link", "set", f"nca{tag}", "up"],
        ["ip", "-n", lab.services, "link", "set", f"ncs{tag}", "up"],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True)
        yield lab
    finally:
        for namespace in (lab.appliance, lab.services):  # deleting them removes the veth pair too
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
