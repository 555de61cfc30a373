"""Real daemons from Debian packages in the lab's server namespace.

Every daemon gets a config written into a per-run temp dir (pid files, logs,
state and queues too) and runs in the foreground inside the server namespace,
so the host's /etc configs and running services are never touched and several
labs can run at once. ``start_lab()`` builds the topology, the PKI, the
firewall and all daemons, waits until every expected socket listens, and
tears everything down on exit, also when start-up fails half-way.

Run ``python3 -m tests.lab.daemons`` (root) to bring a lab up by hand and poke
at it with ``ip netns exec <name> ...``; Ctrl-C tears it down.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from .pki import DOMAIN, LabPKI, make_pki
from .topology import (
    CLIENT_IP,
    FIREWALL_POLICY,
    LAB_RULESET,
    ROUTER_CLIENT_IP,
    ROUTER_SERVER_IP,
    SERVER_EXTRA_IPS,
    SERVER_IP,
    UNASSIGNED_IP,
    FirewallRule,
    Netns,
    Topology,
)

_X = SERVER_EXTRA_IPS
# peer key (as in site files) -> (host name, address); A and PTR records in the lab DNS.
HOSTS: Final[dict[str, tuple[str, str]]] = {
    "console": (f"console.{DOMAIN}", SERVER_IP),
    "ha_console": (f"ha-console.{DOMAIN}", _X["ha_console"]),
    "syslog": (f"syslog.{DOMAIN}", _X["syslog"]),
    "ldap": (f"ldap.{DOMAIN}", _X["ldap"]),
    "snmp": (f"snmp.{DOMAIN}", _X["snmp"]),
    "wmi": (f"wmi.{DOMAIN}", _X["wmi"]),
    "crl": (f"crl.{DOMAIN}", _X["crl"]),
    "proxy": (f"proxy.{DOMAIN}", _X["proxy"]),
    "sensor": (f"sensor.{DOMAIN}", _X["sensor"]),
    "smtp": (f"mail.{DOMAIN}", _X["smtp"]),
    "dns": (f"ns.{DOMAIN}", _X["dns"]),
    "client": (f"client.{DOMAIN}", CLIENT_IP),  # so servers' reverse lookups of the client succeed
}
# Names for the bad-certificate vhosts on the console's nginx (SNI picks the cert).
TLS_CASE_NAMES: Final = ("selfsigned", "expired", "revoked")
LDAP_SUFFIX: Final = "dc=lab,dc=example"
SYSDESCR: Final = "netcheck lab snmpd"
READY_TIMEOUT_S: Final = 20.0


class LabError(RuntimeError):
    """The lab could not be brought up; the message carries the daemons' log tails."""


@dataclass(frozen=True)
class LabSecrets:
    """Credentials the lab daemons accept, fresh per run."""

    ldap_bind_dn: str
    ldap_password: str
    snmp_community: str
    snmp_user: str
    snmp_auth_key: str  # SHA passphrase
    snmp_priv_key: str  # AES(-128) passphrase

    def env(self) -> dict[str, str]:
        """Values for the environment variables a site file names (password_env, ...)."""
        return {
            "NETCHECK_LDAP_PASSWORD": self.ldap_password,
            "NETCHECK_SNMP_COMMUNITY": self.snmp_community,
            "NETCHECK_SNMP_AUTH_KEY": self.snmp_auth_key,
            "NETCHECK_SNMP_PRIV_KEY": self.snmp_priv_key,
        }


@dataclass(frozen=True)
class Listener:
    transport: Literal["tcp", "udp"]
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport} {self.address}:{self.port}"


@dataclass
class Daemon:
    """One daemon: how it is started, where it must listen, where it logs."""

    name: str
    argv: list[str]
    listeners: tuple[Listener, ...]
    config: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None

    def state(self) -> str:
        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        return "running" if code is None else f"exited {code}"

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Lab:
    """A running lab: topology, PKI, firewall, daemons and the facts tests need.

    addresses / hostnames: keyed by site-file peer names (console, ha_console,
      sensor, syslog, ldap, snmp, wmi, crl, proxy, smtp, dns) plus client,
      router_client, router_server and unassigned (addresses only).
    env: secrets as environment variables (see LabSecrets.env).
    firewall: the router's policy table; firewall_ruleset: its nftables text.
    crl_urls: lab (valid CRL), lab_alt_port (same on :8080), stale, root.
    """

    topo: Topology
    dir: Path
    pki: LabPKI
    secrets: LabSecrets
    env: dict[str, str]
    addresses: dict[str, str]
    hostnames: dict[str, str]
    firewall: tuple[FirewallRule, ...]
    firewall_ruleset: str
    daemons: dict[str, Daemon]
    syslog_file: Path
    ssh_known_hosts: Path
    ssh_host_keys: dict[str, Path]
    resolv_conf: Path
    crl_urls: dict[str, str]
    proxy_url: str
    ldap_suffix: str = LDAP_SUFFIX
    sysdescr: str = SYSDESCR
    up_seconds: float = 0.0

    @property
    def client(self) -> Netns:
        return self.topo.client

    @property
    def router(self) -> Netns:
        return self.topo.router

    @property
    def server(self) -> Netns:
        return self.topo.server

    def reset_firewall(self) -> None:
        """Reload the default policy (after a test loaded its own ruleset)."""
        self.topo.nft(self.firewall_ruleset)


# --- configs ---------------------------------------------------------------


def _dir(base: Path, name: str, mode: int = 0o755) -> Path:
    path = base / name
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    path.chmod(mode)
    return path


def _daemon(base: Path, name: str, argv: list[str], listeners: list[Listener], config: Path) -> Daemon:
    return Daemon(name, argv, tuple(listeners), config, base / "logs" / f"{name}.log")


def _chronyd(base: Path) -> Daemon:
    d = _dir(base, "chrony")
    conf = d / "chrony.conf"
    # `local stratum 8`: serve our own clock as synchronised without any upstream.
    # `bindcmdaddress /` + `cmdport 0`: no command sockets, so nothing is shared
    # with the host's /run/chrony. -x: never touch the (shared) system clock.
    conf.write_text(
        f"local stratum 8\nallow all\nbindaddress {SERVER_IP}\nport 123\n"
        f"cmdport 0\nbindcmdaddress /\npidfile {d}/chronyd.pid\ndriftfile {d}/drift\n"
    )
    return _daemon(
        base, "chronyd", ["chronyd", "-4", "-x", "-d", "-f", str(conf)], [Listener("udp", SERVER_IP, 123)], conf
    )


def _dnsmasq(base: Path) -> Daemon:
    d = _dir(base, "dnsmasq")
    conf = d / "dnsmasq.conf"
    dns = _X["dns"]
    lines = [
        "port=53",
        f"listen-address={dns}",
        "bind-interfaces",
        "no-resolv",
        "no-hosts",
        "no-poll",
        "user=nobody",
        "group=nogroup",
        f"pid-file={d}/dnsmasq.pid",
        f"log-facility={d}/queries.log",
        "log-queries",
        # Authoritative (aa flag, SOA/NS, NXDOMAIN) for the lab zone and both reverse zones;
        # with no-resolv anything else is REFUSED, nothing is forwarded.
        f"auth-server=ns.{DOMAIN},{dns}",
        f"auth-zone={DOMAIN},203.0.113.0/24,198.51.100.0/24",
        f"auth-soa=1,hostmaster.{DOMAIN}",
        f"mx-host={DOMAIN},mail.{DOMAIN},10",
        f"srv-host=_ldap._tcp.{DOMAIN},ldap.{DOMAIN},389",
    ]
    lines += [f"host-record={name},{addr}" for name, addr in HOSTS.values()]
    lines += [f"address=/{case}.{DOMAIN}/{SERVER_IP}" for case in TLS_CASE_NAMES]
    conf.write_text("\n".join(lines) + "\n")
    return _daemon(
        base, "dnsmasq", ["dnsmasq", "-k", "-C", str(conf)], [Listener("udp", dns, 53), Listener("tcp", dns, 53)], conf
    )


def _ssha(password: str) -> str:
    salt = secrets.token_bytes(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def _slapd(base: Path, pki: LabPKI, sec: LabSecrets) -> tuple[Daemon, list[str]]:
    d = _dir(base, "slapd")
    db = _dir(d, "db", 0o700)
    leaf = pki.leaves["ldap"]
    conf = d / "slapd.conf"
    conf.write_text(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
TLSCACertificateFile {pki.ca_bundle}
TLSCertificateFile {leaf.chain}
TLSCertificateKeyFile {leaf.key}
database mdb
maxsize 16777216
suffix "{LDAP_SUFFIX}"
directory {db}
# Root DSE and schema readable anonymously (probes read supportedExtension);
# the directory itself only after binding as the netcheck user.
access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{sec.ldap_bind_dn}" read by * none
""")
    ldif = d / "base.ldif"
    ldif.write_text(f"""dn: {LDAP_SUFFIX}
objectClass: dcObject
objectClass: organization
dc: lab
o: netcheck lab

dn: {sec.ldap_bind_dn}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: netcheck
userPassword: {_ssha(sec.ldap_password)}
""")
    addr = _X["ldap"]
    # -d 0: stay in the foreground (slapd never forks with -d) without debug noise.
    daemon = _daemon(
        base,
        "slapd",
        ["slapd", "-f", str(conf), "-h", f"ldap://{addr}:389/ ldaps://{addr}:636/", "-d", "0"],
        [Listener("tcp", addr, 389), Listener("tcp", addr, 636)],
        conf,
    )
    return daemon, ["slapadd", "-q", "-f", str(conf), "-l", str(ldif)]


def _snmpd(base: Path, sec: LabSecrets) -> Daemon:
    d = _dir(base, "snmpd")
    conf = d / "snmpd.conf"
    addr = _X["snmp"]
    conf.write_text(f"""agentAddress udp:{addr}:161
sysDescr {SYSDESCR}
sysName snmp.{DOMAIN}
sysLocation netcheck lab
sysContact lab@{DOMAIN}
rocommunity {sec.snmp_community} 198.51.100.0/24
createUser {sec.snmp_user} SHA "{sec.snmp_auth_key}" AES "{sec.snmp_priv_key}"
rouser {sec.snmp_user} authPriv
master no
""")
    daemon = _daemon(
        base,
        "snmpd",
        ["snmpd", "-f", "-C", "-c", str(conf), "-Lf", str(d / "snmpd.log"), "-p", str(d / "snmpd.pid")],
        [Listener("udp", addr, 161)],
        conf,
    )
    # -C skips /etc/snmp; the persistent dir keeps engine boots and the v3 user out of /var/lib/snmp.
    daemon.env = {"SNMP_PERSISTENT_DIR": str(_dir(d, "persist", 0o700)), "MIBS": ""}
    return daemon


def nginx_head(d: Path) -> str:
    """An nginx.conf up to the inside of `http {`: one worker as nobody, every path under `d`."""
    return f"""user nobody nogroup;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
"""


def _nginx(base: Path, pki: LabPKI) -> Daemon:
    d = _dir(base, "nginx")
    www = _dir(d, "www")
    for src, name in (
        (pki.crl_der, "lab.crl"),
        (pki.stale_crl_der, "stale.crl"),
        (pki.root_crl_der, "root.crl"),
        (pki.root_cert, "root-ca.pem"),
    ):
        shutil.copyfile(src, www / name)
        (www / name).chmod(0o644)
    lv = pki.leaves

    def tls(listen: str, name: str, leaf: str, extra: str = "") -> str:
        return (
            f"  server {{ listen {listen} ssl{extra}; server_name {name};\n"
            f"    ssl_certificate {lv[leaf].chain}; ssl_certificate_key {lv[leaf].key};\n"
            f'    location / {{ return 200 "netcheck lab {leaf}\\n"; }} }}\n'
        )

    servers = tls(f"{SERVER_IP}:443", f"console.{DOMAIN}", "console", " default_server")
    servers += "".join(tls(f"{SERVER_IP}:443", f"{case}.{DOMAIN}", case) for case in TLS_CASE_NAMES)
    servers += tls(f"{SERVER_IP}:8443", f"selfsigned.{DOMAIN}", "selfsigned", " default_server")
    servers += tls(f"{_X['ha_console']}:443", f"ha-console.{DOMAIN}", "ha-console", " default_server")
    servers += tls(f"{_X['sensor']}:443", f"sensor.{DOMAIN}", "sensor", " default_server")
    crl = _X["crl"]
    conf = d / "nginx.conf"
    # Master runs as root (reads the 0600 keys); workers as nobody only read www/.
    conf.write_text(nginx_head(d) + f"""  types {{ application/pkix-crl crl; application/x-pem-file pem; }}
  default_type application/octet-stream;
{servers}  server {{ listen {crl}:80; listen {crl}:8080; server_name crl.{DOMAIN}; root {www}; }}
}}
""")
    listeners = [
        Listener("tcp", a, p)
        for a, p in (
            (SERVER_IP, 443),
            (SERVER_IP, 8443),
            (_X["ha_console"], 443),
            (_X["sensor"], 443),
            (crl, 80),
            (crl, 8080),
        )
    ]
    return _daemon(
        base, "nginx", ["nginx", "-c", str(conf), "-e", str(d / "error.log"), "-g", "daemon off;"], listeners, conf
    )


SSH_KEY_TYPES: Final[tuple[tuple[str, list[str]], ...]] = (
    ("ed25519", []),
    ("ecdsa", ["-b", "256"]),
    ("rsa", ["-b", "3072"]),
)


def _sshd(base: Path) -> tuple[Daemon, list[list[str]]]:
    d = _dir(base, "sshd")
    keygens = [
        ["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-C", f"lab-{kind}", "-f", str(d / f"host_{kind}")]
        for kind, bits in SSH_KEY_TYPES
    ]
    conf = d / "sshd_config"
    hostkeys = "".join(f"HostKey {d}/host_{kind}\n" for kind, _ in SSH_KEY_TYPES)
    # Nobody can log in: the lab only needs the banner and the key exchange.
    conf.write_text(f"""ListenAddress {SERVER_IP}:22
ListenAddress {_X["sensor"]}:22
{hostkeys}PidFile {d}/sshd.pid
UsePAM no
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers netcheck-lab-nobody
""")
    daemon = _daemon(
        base,
        "sshd",
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)],
        [Listener("tcp", SERVER_IP, 22), Listener("tcp", _X["sensor"], 22)],
        conf,
    )
    return daemon, keygens


def _postfix(base: Path, pki: LabPKI) -> tuple[Daemon, list[str]]:
    # OpenSMTPD 6.8 in bookworm cannot do TLS with OpenSSL 3 (its privsep key
    # engine fails: "EVP lib", upstream issue #1171), so the MTA is Postfix.
    d = _dir(base, "postfix")
    etc, spool, lib = _dir(d, "etc"), _dir(d, "spool"), _dir(d, "lib")
    shutil.chown(lib, "postfix", "postfix")
    leaf = pki.leaves["mail"]
    addr = _X["smtp"]
    (etc / "main.cf").write_text(f"""compatibility_level = 3.6
queue_directory = {spool}
data_directory = {lib}
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination = {DOMAIN}, mail.{DOMAIN}
inet_interfaces = {addr}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Never relay: foreign recipients are refused at RCPT (reject_unauth_destination),
# anything that would still leave bounces at once, local mail is discarded.
relayhost =
default_transport = error:the netcheck lab never relays
local_transport = discard:netcheck lab sink
local_recipient_maps =
alias_maps =
alias_database =
smtpd_relay_restrictions = reject_unauth_destination
smtpd_banner = $myhostname ESMTP netcheck lab
smtpd_tls_chain_files = {leaf.key}, {leaf.chain}
smtpd_tls_security_level = may
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
biff = no
""")
    (etc / "master.cf").write_text("""smtp       inet n - n - - smtpd
submission inet n - n - - smtpd -o smtpd_tls_security_level=encrypt
cleanup    unix n - n - 0 cleanup
qmgr       unix n - n 300 1 qmgr
tlsmgr     unix - - n 1000? 1 tlsmgr
rewrite    unix - - n - - trivial-rewrite
bounce     unix - - n - 0 bounce
defer      unix - - n - 0 bounce
trace      unix - - n - 0 bounce
verify     unix - - n - 1 verify
flush      unix n - n 1000? 0 flush
proxymap   unix - - n - - proxymap
showq      unix n - n - - showq
error      unix - - n - - error
retry      unix - - n - - error
discard    unix - - n - - discard
anvil      unix - - n - 1 anvil
scache     unix - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
""")
    daemon = _daemon(
        base,
        "postfix",
        ["/usr/lib/postfix/sbin/master", "-c", str(etc), "-d"],
        [Listener("tcp", addr, 25), Listener("tcp", addr, 587)],
        etc / "main.cf",
    )
    # Creates the queue directories with Postfix's owners; must run in the server
    # namespace because it validates inet_interfaces against local addresses.
    return daemon, ["postfix", "-c", str(etc), "post-install", "create-missing"]


def _rsyslogd(base: Path) -> tuple[Daemon, Path]:
    d = _dir(base, "rsyslog")
    received = d / "received.log"
    received.touch()
    addr = _X["syslog"]
    conf = d / "rsyslog.conf"
    conf.write_text(f"""global(workDirectory="{d}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="{addr}" port="514")
input(type="imtcp" address="{addr}" port="514")
*.* action(type="omfile" file="{received}")
""")
    daemon = _daemon(
        base,
        "rsyslogd",
        ["rsyslogd", "-f", str(conf), "-i", str(d / "rsyslogd.pid"), "-n"],
        [Listener("udp", addr, 514), Listener("tcp", addr, 514)],
        conf,
    )
    return daemon, received


def _tinyproxy(base: Path) -> Daemon:
    d = _dir(base, "tinyproxy")
    shutil.chown(d, "nobody", "nogroup")  # it writes its log after dropping to nobody
    addr = _X["proxy"]
    conf = d / "tinyproxy.conf"
    # Denials: CONNECT to any port but 443 -> 403; clients outside 198.51.100.0/24 -> 403.
    conf.write_text(f"""User nobody
Group nogroup
Port 3128
Listen {addr}
Timeout 10
LogFile "{d}/tinyproxy.log"
LogLevel Info
PidFile "{d}/tinyproxy.pid"
MaxClients 20
Allow 198.51.100.0/24
ConnectPort 443
DisableViaHeader Yes
""")
    return _daemon(base, "tinyproxy", ["tinyproxy", "-d", "-c", str(conf)], [Listener("tcp", addr, 3128)], conf)


def _samba_dcerpcd(base: Path) -> Daemon:
    d = _dir(base, "samba")
    subdirs = {key: _dir(d, key) for key in ("private", "lock", "state", "cache", "pid", "ncalrpc", "log", "bind-dns")}
    addr = _X["wmi"]
    conf = d / "smb.conf"
    # A standalone (AD-less) server whose only job is the endpoint mapper on 135;
    # every state dir is per run so nothing is shared with a host Samba.
    conf.write_text(f"""[global]
  server role = standalone server
  workgroup = LAB
  netbios name = WMI
  interfaces = {addr}
  bind interfaces only = yes
  rpc start on demand helpers = false
  disable netbios = yes
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  private dir = {subdirs["private"]}
  lock directory = {subdirs["lock"]}
  state directory = {subdirs["state"]}
  cache directory = {subdirs["cache"]}
  pid directory = {subdirs["pid"]}
  ncalrpc dir = {subdirs["ncalrpc"]}
  binddns dir = {subdirs["bind-dns"]}
  log file = {subdirs["log"]}/%m.log
""")
    return _daemon(
        base,
        "samba-dcerpcd",
        [
            "/usr/libexec/samba/samba-dcerpcd",
            "-F",
            "--debug-stdout",
            "-d",
            "1",
            "-s",
            str(conf),
            "/usr/libexec/samba/rpcd_epmapper",
        ],
        [Listener("tcp", addr, 135)],
        conf,
    )


# --- bring-up --------------------------------------------------------------

# Executables the lab runs, with the Debian package that ships each.
REQUIRED: Final[dict[str, str]] = {
    "ip": "iproute2",
    "nft": "nftables",
    "ss": "iproute2",
    "chronyd": "chrony",
    "dnsmasq": "dnsmasq-base",
    "slapd": "slapd",
    "slapadd": "slapd",
    "snmpd": "snmpd",
    "nginx": "nginx-light",
    "/usr/sbin/sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "/usr/lib/postfix/sbin/master": "postfix",
    "postfix": "postfix",
    "rsyslogd": "rsyslog",
    "tinyproxy": "tinyproxy",
    "/usr/libexec/samba/samba-dcerpcd": "samba",
}


def lab_unavailable() -> str | None:
    """Why the lab cannot run here (not root, missing packages), or None."""
    if os.geteuid() != 0:
        return "the namespace lab needs root (network namespaces, daemons on privileged ports)"
    missing = sorted(
        {
            pkg
            for exe, pkg in REQUIRED.items()
            if (shutil.which(exe) if "/" not in exe else (exe if os.access(exe, os.X_OK) else None)) is None
        }
    )
    if missing:
        return f"the namespace lab needs Debian packages: {' '.join(missing)} (see .ci/apt-packages.txt)"
    return None


def _listening(ns: Netns) -> set[str]:
    out = ns.run(["ss", "-Hlntu"], check=False, timeout=10).stdout
    found = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 5:
            host, _, port = parts[4].rpartition(":")
            found.add(f"{parts[0]} {host}:{port}")
    return found


def _wait_ready(ns: Netns, daemons: list[Daemon], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        up = _listening(ns)
        waiting = [(dmn, [str(li) for li in dmn.listeners if str(li) not in up]) for dmn in daemons]
        waiting = [(dmn, missing) for dmn, missing in waiting if missing]
        if not waiting:
            return
        dead = [dmn for dmn, _ in waiting if dmn.proc is not None and dmn.proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            # A daemon that died is the story; the others were merely still starting.
            culprits = [(dmn, missing) for dmn, missing in waiting if dmn in dead] or waiting
            report = "\n".join(
                f"--- {dmn.name} ({dmn.state()}), not listening on {', '.join(missing)}; log {dmn.log}:\n"
                f"{dmn.log_tail()}"
                for dmn, missing in culprits
            )
            raise LabError(f"lab daemons did not come up (NETCHECK_LAB_KEEP=1 keeps the logs):\n{report}")
        time.sleep(0.05)


def _run_prep(ns: Netns | None, argv: list[str]) -> None:
    res = (
        ns.run(argv, check=False)
        if ns is not None
        else subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    )
    if res.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({res.returncode}): {res.stdout}{res.stderr}")


def _write_netns_resolv(ns: Netns, text: str) -> Path:
    # `ip netns exec` bind-mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf,
    # so every command in the namespace asks the lab DNS and never the host's resolver.
    etc = Path("/etc/netns") / ns.name
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "resolv.conf").write_text(text)
    return etc / "resolv.conf"


@contextlib.contextmanager
def start_lab(keep_dir: bool | None = None) -> Iterator[Lab]:
    """Bring the whole lab up; tear it down on exit (also on errors during bring-up).

    keep_dir: keep the temp dir (configs, logs) afterwards; default from
    NETCHECK_LAB_KEEP=1.
    """
    if keep_dir is None:
        keep_dir = os.environ.get("NETCHECK_LAB_KEEP") == "1"
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="netcheck-lab-"))
    base.chmod(0o755)  # daemons that drop privileges (chronyd, postfix, nginx workers) must traverse it
    _dir(base, "logs")
    topo: Topology | None = None
    netns_etc: list[Path] = []
    # sshd insists on its privilege-separation dir; the openssh package creates it at boot
    # via tmpfiles, which a container or CI machine may never run. Harmless to leave.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    try:
        topo = Topology.create()
        pki = make_pki(base / "pki")
        sec = LabSecrets(
            ldap_bind_dn=f"cn=netcheck,{LDAP_SUFFIX}",
            ldap_password=secrets.token_urlsafe(12),
            snmp_community="lab-" + secrets.token_hex(6),
            snmp_user="netcheck",
            snmp_auth_key="auth-" + secrets.token_hex(8),
            snmp_priv_key="priv-" + secrets.token_hex(8),
        )
        resolv = f"nameserver {_X['dns']}\noptions timeout:1 attempts:2\nsearch {DOMAIN}\n"
        for ns in (topo.client, topo.server):
            netns_etc.append(Path("/etc/netns") / ns.name)
            resolv_conf = _write_netns_resolv(ns, resolv)
        topo.nft(LAB_RULESET)

        sshd, keygens = _sshd(base)
        keygen_procs = [
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for argv in keygens
        ]
        slapd, slapadd = _slapd(base, pki, sec)
        postfix, postfix_prep = _postfix(base, pki)
        rsyslogd, received = _rsyslogd(base)
        daemons = [
            _chronyd(base),
            _dnsmasq(base),
            slapd,
            _snmpd(base, sec),
            _nginx(base, pki),
            sshd,
            postfix,
            rsyslogd,
            _tinyproxy(base),
            _samba_dcerpcd(base),
        ]
        _run_prep(None, slapadd)
        _run_prep(topo.server, postfix_prep)
        for argv, proc in zip(keygens, keygen_procs, strict=True):
            out, _ = proc.communicate(timeout=60)
            if proc.returncode != 0:
                raise LabError(f"{' '.join(argv)} failed: {out}")

        for dmn in daemons:
            with open(dmn.log, "w") as log:
                dmn.proc = topo.server.popen(
                    dmn.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **dmn.env},
                )
        _wait_ready(topo.server, daemons, READY_TIMEOUT_S)

        ssh_keys = {kind: base / "sshd" / f"host_{kind}.pub" for kind, _ in SSH_KEY_TYPES}
        known_hosts = base / "sshd" / "known_hosts"
        known_hosts.write_text(
            "".join(
                f"{host} {' '.join(path.read_text().split()[:2])}\n"
                for host in (SERVER_IP, HOSTS["console"][0], _X["sensor"], HOSTS["sensor"][0])
                for path in ssh_keys.values()
            )
        )
        crl = _X["crl"]
        lab = Lab(
            topo=topo,
            dir=base,
            pki=pki,
            secrets=sec,
            env=sec.env(),
            addresses={
                **{peer: addr for peer, (_, addr) in HOSTS.items()},
                "router_client": ROUTER_CLIENT_IP,
                "router_server": ROUTER_SERVER_IP,
                "unassigned": UNASSIGNED_IP,
            },
            hostnames={peer: name for peer, (name, _) in HOSTS.items()},
            firewall=FIREWALL_POLICY,
            firewall_ruleset=LAB_RULESET,
            daemons={dmn.name: dmn for dmn in daemons},
            syslog_file=received,
            ssh_known_hosts=known_hosts,
            ssh_host_keys=ssh_keys,
            resolv_conf=resolv_conf,
            crl_urls={
                "lab": f"http://{crl}/lab.crl",
                "lab_alt_port": f"http://{crl}:8080/lab.crl",
                "stale": f"http://{crl}/stale.crl",
                "root": f"http://{crl}/root.crl",
            },
            proxy_url=f"http://{_X['proxy']}:3128",
        )
        lab.up_seconds = time.monotonic() - started
        yield lab
    finally:
        if topo is not None:
            topo.close()
        for etc in netns_etc:
            shutil.rmtree(etc, ignore_errors=True)
        if not keep_dir:
            shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    """Bring a lab up by hand until Ctrl-C (or SIGTERM)."""
    reason = lab_unavailable()
    if reason:
        raise SystemExit(reason)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with start_lab() as lab:
        print(f"lab up in {lab.up_seconds:.1f}s; dir {lab.dir}")
        for ns in lab.topo.namespaces:
            print(f"  ip netns exec {ns.name} ...")
        for key, value in sorted(lab.env.items()):
            print(f"  {key}={value}")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
