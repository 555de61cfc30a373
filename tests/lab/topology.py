"""Three network namespaces (client -> router -> server) for probe tests.

The lab never touches the host namespace: veth pairs are created directly
inside the namespaces (``ip -n A link add ... peer ... netns B``), so there is
no link, no route and no packet between the host and the lab.

Addresses come only from the documentation ranges 198.51.100.0/24 (client
side) and 203.0.113.0/24 (server side).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, Self

CLIENT_NET: Final = "198.51.100.0/24"
SERVER_NET: Final = "203.0.113.0/24"
CLIENT_IP: Final = "198.51.100.10"
ROUTER_CLIENT_IP: Final = "198.51.100.1"
ROUTER_SERVER_IP: Final = "203.0.113.1"
SERVER_IP: Final = "203.0.113.10"

# Extra addresses on the server's veth, one per peer (keyed like the site
# file's peers) so firewall rules and probes tell services apart by address.
SERVER_EXTRA_IPS: Final[dict[str, str]] = {
    "ha_console": "203.0.113.11",
    "syslog": "203.0.113.14",
    "ldap": "203.0.113.15",
    "snmp": "203.0.113.16",
    "wmi": "203.0.113.17",
    "crl": "203.0.113.18",
    "proxy": "203.0.113.19",
    "sensor": "203.0.113.20",
    "smtp": "203.0.113.25",
    "dns": "203.0.113.53",
}
# Deliberately not assigned: the router's ARP fails and it answers with ICMP
# host unreachable (after ~0.5 s: the router's ARP retries are shortened).
UNASSIGNED_IP: Final = "203.0.113.99"

_TERM_GRACE_S: Final = 2.0


class Netns:
    """One network namespace; runs commands inside it via ``ip netns exec``."""

    def __init__(self, name: str) -> None:
        self.name = name
        # Process groups started by popen(), killed by kill_all().
        self._procs: list[subprocess.Popen[str]] = []

    def __repr__(self) -> str:
        return f"Netns({self.name!r})"

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def run(
        self, argv: list[str], check: bool = True, timeout: float = 60, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run argv in the namespace; text mode, output captured unless overridden."""
        if "stdout" not in kw and "stderr" not in kw:
            kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        # Own session so a timeout kills the whole tree, not just `ip`.
        kw.setdefault("start_new_session", True)
        return subprocess.run(self.prefix() + argv, check=check, timeout=timeout, **kw)

    def popen(self, argv: list[str], **kw: Any) -> subprocess.Popen[str]:
        """Start argv in the namespace in its own process group (killed at close)."""
        kw.setdefault("text", True)
        kw["start_new_session"] = True
        proc: subprocess.Popen[str] = subprocess.Popen(self.prefix() + argv, **kw)
        self._procs.append(proc)
        return proc

    def pids(self) -> list[int]:
        """Every process whose network namespace is this one (also daemons that forked away)."""
        res = subprocess.run(
            ["ip", "netns", "pids", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return [int(p) for p in res.stdout.split() if p.isdigit()]

    def kill_all(self) -> None:
        """Stop what popen() started, then anything else still living in the namespace."""
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + _TERM_GRACE_S
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._procs.clear()
        # Daemons that double-forked left our process groups; the namespace
        # still names them, so kill by namespace membership, never by name.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + _TERM_GRACE_S
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)


def _ip(args: str) -> None:
    """Run `ip ARGS` (space-separated, no quoting needed) and fail loudly."""
    res = subprocess.run(["ip", *args.split()], capture_output=True, text=True, timeout=30, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"ip {args}: {res.stderr.strip()}")


class Topology:
    """client (198.51.100.10) -- router -- server (203.0.113.10 + extras).

    Use as ``with Topology.create() as topo:``; close() removes everything.
    """

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        base = f"nc{suffix}"
        self.client = Netns(f"{base}-cli")
        self.router = Netns(f"{base}-rtr")
        self.server = Netns(f"{base}-srv")
        # veth names (<= 15 chars), all living inside the namespaces.
        self.client_if = f"{base}-c"
        self.router_client_if = f"{base}-rc"
        self.router_server_if = f"{base}-rs"
        self.server_if = f"{base}-s"
        self._created: list[Netns] = []
        self._closed = False

    @property
    def namespaces(self) -> list[Netns]:
        return [self.client, self.router, self.server]

    @classmethod
    def create(cls) -> Topology:
        topo = cls(secrets.token_hex(3))
        try:
            topo._build()
        except BaseException:
            topo.close()
            raise
        return topo

    def _build(self) -> None:
        cli, rtr, srv = self.client.name, self.router.name, self.server.name
        for ns in self.namespaces:
            _ip(f"netns add {ns.name}")
            self._created.append(ns)
            _ip(f"-n {ns.name} link set lo up")
        # Created inside the namespaces: never visible in the host namespace.
        _ip(f"-n {cli} link add {self.client_if} type veth peer name {self.router_client_if} netns {rtr}")
        _ip(f"-n {srv} link add {self.server_if} type veth peer name {self.router_server_if} netns {rtr}")
        _ip(f"-n {cli} addr add {CLIENT_IP}/24 dev {self.client_if}")
        _ip(f"-n {rtr} addr add {ROUTER_CLIENT_IP}/24 dev {self.router_client_if}")
        _ip(f"-n {rtr} addr add {ROUTER_SERVER_IP}/24 dev {self.router_server_if}")
        for addr in (SERVER_IP, *SERVER_EXTRA_IPS.values()):
            _ip(f"-n {srv} addr add {addr}/24 dev {self.server_if}")
        _ip(f"-n {cli} link set {self.client_if} up")
        _ip(f"-n {rtr} link set {self.router_client_if} up")
        _ip(f"-n {rtr} link set {self.router_server_if} up")
        _ip(f"-n {srv} link set {self.server_if} up")
        _ip(f"-n {cli} route add default via {ROUTER_CLIENT_IP}")
        _ip(f"-n {srv} route add default via {ROUTER_SERVER_IP}")
        # sysctls are per namespace: none of this touches the host.
        rs = self.router_server_if
        self.router.run(
            [
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                # Give up ARP for 203.0.113.99 after 2 x 250 ms (kernel default: 3 x 1 s),
                # so "host unreachable" arrives within ~0.5 s, inside probe timeouts.
                f"net.ipv4.neigh.{rs}.mcast_solicit=2",
                f"net.ipv4.neigh.{rs}.retrans_time_ms=250",
            ]
        )
        for ns in (self.router, self.server):
            # No ICMP rate limit (default: 1 error/s per destination after a burst of 6): many
            # probes at once must each get their reject / unreachable, deterministically.
            ns.run(["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"])
            # Per-namespace only on newer kernels; where it is global it is absent here: ignore.
            ns.run(
                ["sysctl", "-qw", "net.ipv4.icmp_msgs_per_sec=100000", "net.ipv4.icmp_msgs_burst=100000"], check=False
            )

    def nft(self, ruleset: str) -> None:
        """Replace the router's nftables ruleset (flush first, load atomically)."""
        res = self.router.run(["nft", "-f", "-"], input="flush ruleset\n" + ruleset, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"nft rejected the ruleset: {res.stderr.strip()}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for ns in reversed(self._created):
            ns.kill_all()
        for ns in reversed(self._created):
            # Deleting the namespace also deletes the veths inside it.
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, check=False)
        self._created.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- the lab's firewall policy (loaded into the router by the lab fixture) ---

Verdict = Literal["accept", "drop", "reject"]


@dataclass(frozen=True)
class FirewallRule:
    """One row of the router's policy for NEW flows from the client side.

    peer: site-file peer key of the destination (console, ha_console, ...).
    verdict: accept; drop (silently); reject (ICMP admin-prohibited, code 13,
      sent by the router from 198.51.100.1).
    service: the daemon answering behind an accepted rule; "" if none listens.
    expect: the netcheck reason a plain tcp/udp reachability probe from the
      client gets: open, answered (a UDP service replied to its protocol),
      refused (TCP RST / ICMP port unreachable from the server), filtered (TCP
      silence), no-response (UDP silence), prohibited, unreachable (ICMP host
      unreachable from the router).
    """

    peer: str
    address: str
    transport: Literal["tcp", "udp"]
    port: int
    verdict: Verdict
    service: str
    expect: str
    why: str

    def nft(self) -> str:
        action = {"accept": "accept", "drop": "drop", "reject": "reject with icmp type admin-prohibited"}
        return f"ip daddr {self.address} {self.transport} dport {self.port} counter {action[self.verdict]}"


def _r(
    peer: str,
    address: str,
    transport: Literal["tcp", "udp"],
    port: int,
    verdict: Verdict,
    service: str,
    expect: str,
    why: str,
) -> FirewallRule:
    return FirewallRule(peer, address, transport, port, verdict, service, expect, why)


_X = SERVER_EXTRA_IPS
FIREWALL_POLICY: Final[tuple[FirewallRule, ...]] = (
    _r("console", SERVER_IP, "tcp", 443, "accept", "nginx", "open", "console web UI / API"),
    _r("console", SERVER_IP, "tcp", 22, "accept", "sshd", "open", "console SSH"),
    _r("console", SERVER_IP, "tcp", 8443, "accept", "nginx", "open", "self-signed certificate (TLS warn case)"),
    _r(
        "console",
        SERVER_IP,
        "tcp",
        9000,
        "accept",
        "",
        "refused",
        "tunnel port allowed but nothing listens (a test may start a listener)",
    ),
    _r("console", SERVER_IP, "udp", 123, "accept", "chronyd", "answered", "NTP from the console"),
    _r("console", SERVER_IP, "udp", 161, "accept", "", "refused", "UDP allowed, closed: ICMP port unreachable"),
    _r("ha_console", _X["ha_console"], "tcp", 443, "accept", "nginx", "open", "HA console web UI"),
    _r("ha_console", _X["ha_console"], "tcp", 9000, "reject", "", "prohibited", "TCP admin-prohibited case"),
    _r("ha_console", _X["ha_console"], "udp", 123, "reject", "", "prohibited", "UDP admin-prohibited case"),
    _r(
        "syslog",
        _X["syslog"],
        "udp",
        514,
        "accept",
        "rsyslogd",
        "no-response",
        "syslog over UDP never replies: grep the lab's syslog file",
    ),
    _r("syslog", _X["syslog"], "tcp", 514, "accept", "rsyslogd", "open", "syslog over TCP"),
    _r("ldap", _X["ldap"], "tcp", 389, "accept", "slapd", "open", "LDAP + StartTLS"),
    _r("ldap", _X["ldap"], "tcp", 636, "accept", "slapd", "open", "LDAPS"),
    _r("snmp", _X["snmp"], "udp", 161, "accept", "snmpd", "answered", "SNMP v2c and v3"),
    _r("wmi", _X["wmi"], "tcp", 135, "accept", "samba-dcerpcd", "open", "DCE/RPC endpoint mapper"),
    _r("crl", _X["crl"], "tcp", 80, "accept", "nginx", "open", "CRL download"),
    _r("crl", _X["crl"], "tcp", 8080, "accept", "nginx", "open", "CRL download on a custom port"),
    _r("proxy", _X["proxy"], "tcp", 3128, "accept", "tinyproxy", "open", "HTTP proxy (CONNECT to 443 only)"),
    _r("sensor", _X["sensor"], "tcp", 443, "accept", "nginx", "open", "sensor web UI"),
    _r("sensor", _X["sensor"], "tcp", 22, "accept", "sshd", "open", "sensor SSH"),
    _r("sensor", _X["sensor"], "tcp", 9000, "drop", "", "filtered", "TCP silent-drop case"),
    _r("sensor", _X["sensor"], "udp", 161, "drop", "", "no-response", "UDP silent-drop case"),
    _r("smtp", _X["smtp"], "tcp", 25, "accept", "postfix", "open", "SMTP + STARTTLS"),
    _r("smtp", _X["smtp"], "tcp", 587, "accept", "postfix", "open", "submission, STARTTLS required"),
    _r("dns", _X["dns"], "udp", 53, "accept", "dnsmasq", "answered", "DNS over UDP"),
    _r("dns", _X["dns"], "tcp", 53, "accept", "dnsmasq", "open", "DNS over TCP"),
    _r(
        "unassigned",
        UNASSIGNED_IP,
        "tcp",
        443,
        "accept",
        "",
        "unreachable",
        "no such host: the router's ARP fails, ICMP host unreachable after ~0.5 s",
    ),
    _r("unassigned", UNASSIGNED_IP, "udp", 123, "accept", "", "unreachable", "same, for UDP"),
)


def lab_ruleset(policy: tuple[FirewallRule, ...] = FIREWALL_POLICY) -> str:
    """nftables text for the router, generated from the policy table so the two never drift.

    New flows from the client side get the table's verdicts and anything else is
    silently dropped; replies (established/related, which includes ICMP errors
    about tracked flows) and everything the server side starts pass. Pings to the
    server side pass so ICMP-based checks work.
    """
    rules = "\n".join(f"    {rule.nft()}" for rule in policy)
    return f"""table inet netcheck_lab {{
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ip saddr {SERVER_NET} accept
    ip saddr {CLIENT_NET} ip daddr {SERVER_NET} icmp type echo-request accept
{rules}
  }}
}}
"""


LAB_RULESET: Final = lab_ruleset()
