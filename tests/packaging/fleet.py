"""A small fleet for Ansible: a controller namespace and sensor namespaces, each sensor with its own sshd
and its own host name, on one bridge inside the controller (198.51.100.0/24, no route anywhere else).

Nothing is reachable from the host namespace and nothing here reaches out: ansible-playbook runs inside
the controller namespace. Every namespace and process is removed at the end (by namespace membership).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.lab.topology import Netns

CONTROLLER_IP = "198.51.100.2"


def _ip(args: str) -> None:
    run = subprocess.run(["ip", *args.split()], capture_output=True, text=True, timeout=30, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"ip {args}: {run.stderr.strip()}")


@dataclass(frozen=True)
class Fleet:
    """controller: where ansible-playbook runs; hosts: name -> (namespace, address); key: the client's SSH key."""

    controller: Netns
    hosts: dict[str, tuple[Netns, str]]
    key: Path
    known_hosts: Path
    dir: Path


def _sshd_config(folder: Path, address: str, host_key: Path, authorized: Path) -> Path:
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"ListenAddress {address}", "Port 22", f"HostKey {host_key}", f"AuthorizedKeysFile {authorized}",
        "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "UsePAM no", "StrictModes no", "PidFile none", "Subsystem sftp internal-sftp", "LogLevel VERBOSE", "",
    ]))
    return config


def _keygen(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True,
                   timeout=30)
    return path


def _wait_listening(ns: Netns, address: str, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if ns.run(["ss", "-Hltn", f"src {address}:22"], check=False).stdout.strip():
            return
        time.sleep(0.1)
    raise RuntimeError(f"sshd on {address} did not start: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def start_fleet(folder: Path, names: list[str]) -> Iterator[Fleet]:
    suffix = secrets.token_hex(3)
    controller = Netns(f"nf{suffix}-ctl")
    hosts = {name: (Netns(f"nf{suffix}-h{index}"), f"198.51.100.{21 + index}") for index, name in enumerate(names)}
    created: list[Netns] = []
    try:
        for ns in [controller, *(ns for ns, _ in hosts.values())]:
            _ip(f"netns add {ns.name}")
            created.append(ns)
            _ip(f"-n {ns.name} link set lo up")
        _ip(f"-n {controller.name} link add br0 type bridge")
        _ip(f"-n {controller.name} addr add {CONTROLLER_IP}/24 dev br0")
        _ip(f"-n {controller.name} link set br0 up")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation folder
        key = _keygen(folder / "id_ed25519", "netcheck-fleet-test")
        authorized = folder / "authorized_keys"
        authorized.write_text(Path(f"{key}.pub").read_text())
        known = []
        for index, (name, (ns, address)) in enumerate(hosts.items()):
            port = f"nf{suffix}-p{index}"  # the bridge port, inside the controller namespace
            _ip(f"-n {ns.name} link add eth0 type veth peer name {port} netns {controller.name}")
            _ip(f"-n {controller.name} link set {port} master br0")
            _ip(f"-n {controller.name} link set {port} up")
            _ip(f"-n {ns.name} addr add {address}/24 dev eth0")
            _ip(f"-n {ns.name} link set eth0 up")
            home = folder / name
            home.mkdir()
            host_key = _keygen(home / "ssh_host_ed25519_key", name)
            kind, public = Path(f"{host_key}.pub").read_text().split()[:2]
            known.append(f"{address} {kind} {public}")
            config = _sshd_config(home, address, host_key, authorized)
            log = home / "sshd.log"
            with log.open("w") as out:
                # its own UTS namespace: each sensor reports its own host name
                ns.popen(["unshare", "--uts", "sh", "-c", f"hostname {name} && exec /usr/sbin/sshd -D -e -f {config}"],
                         stdout=out, stderr=subprocess.STDOUT)
            _wait_listening(ns, address, log)
        known_hosts = folder / "known_hosts"
        known_hosts.write_text("\n".join(known) + "\n")
        yield Fleet(controller, hosts, key, known_hosts, folder)
    finally:
        for ns in created:
            ns.kill_all()
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, timeout=30, check=False)
