"""A lab for cloud-connected sensors: cloud endpoints served by nginx with SNI and certificates
from a lab "public" CA, the site's DNS (dnsmasq), proxies (tinyproxy with Basic auth, tinyproxy
chained to an upstream tinyproxy, squid asking for NTLM only), a TLS-inspecting middlebox
(nginx re-signing with its own CA, reached through a DNAT on the router), and an NTP server
whose clock is three hours behind (chronyd under libfaketime).

Same namespaces and address rules as the main lab (tests/lab/topology.py): client
198.51.100.10 (and 198.51.100.11, the only address the router lets reach the "dropped"
endpoint: --source) -> router -> server 203.0.113.x; nothing touches the host namespace.
The client trusts the public CA through SSL_CERT_FILE, as OpenSSL finds a system store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .daemons import Daemon, Listener, _wait_ready, _write_netns_resolv, nginx_head
from .pki import _ca_cert
from .topology import CLIENT_IP, CLIENT_NET, SERVER_IP, SERVER_NET, Topology

DOMAIN: Final = "cloud.example"
ENDPOINT_IP: Final = SERVER_IP  # nginx, one vhost per endpoint (SNI)
DROPPED_IP: Final = "203.0.113.40"  # the router drops 443 there
INSPECTOR_IP: Final = "203.0.113.30"  # nginx re-signing with the inspection CA
DNS_IP: Final = "203.0.113.53"
DEAD_DNS_IP: Final = "203.0.113.54"  # the router drops DNS there
AUTH_PROXY_IP: Final = "203.0.113.19"  # tinyproxy, Basic auth
CHAIN_FRONT_IP: Final = "203.0.113.21"  # tinyproxy whose upstream is CHAIN_BACK_IP
CHAIN_BACK_IP: Final = "203.0.113.22"  # tinyproxy, no auth; allows CONNECT to 443 and 3128
NTLM_PROXY_IP: Final = "203.0.113.24"  # squid, NTLM only
DEAD_PROXY_IP: Final = "203.0.113.26"  # nothing listens: the server resets
NTP_IP: Final = "203.0.113.123"  # chronyd, clock 3 h behind
CLIENT_MGMT_IP: Final = "198.51.100.11"  # a second client address: only it may reach DROPPED_IP (--source)
PROXY_PORT: Final = 3128
CLOCK_OFFSET: Final = "-3h"
SERVED: Final = ("hub", "blob", "bus", "fresh")  # endpoints on ENDPOINT_IP
PROXY_USER: Final = "sensor"
PASSWORD_ENV: Final = "NETCHECK_CLOUD_PROXY_PASSWORD"
REQUIRED: Final = {"faketime": "faketime", "squid": "squid", "tinyproxy": "tinyproxy", "nginx": "nginx-light",
                   "dnsmasq": "dnsmasq-base", "chronyd": "chrony"}


def name(label: str) -> str:
    return f"{label}.{DOMAIN}"


@dataclass
class CloudLab:
    topo: Topology
    dir: Path
    public_root: Path  # the "public" CA the client's trust store holds (SSL_CERT_FILE)
    inspection_ca: Path
    proxy_password: str
    daemons: dict[str, Daemon]

    def env(self, password: str | None = None) -> dict[str, str]:
        """Environment of a scan: trust store, proxy password (or a given wrong one)."""
        return {"SSL_CERT_FILE": str(self.public_root), "SSL_CERT_DIR": str(self.dir / "no-such-dir"),
                PASSWORD_ENV: self.proxy_password if password is None else password}

    def intercept(self, on: bool) -> None:
        """Route the client's HTTPS to ENDPOINT_IP through the inspecting nginx (or not)."""
        self.topo.nft(ruleset(intercept=on))


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the cloud lab needs root (network namespaces, daemons on privileged ports)"
    missing = sorted({pkg for exe, pkg in REQUIRED.items() if shutil.which(exe) is None})
    if missing:
        return f"the cloud lab needs Debian packages: {' '.join(missing)} (see .ci/apt-packages.txt)"
    return None


def ruleset(intercept: bool = False) -> str:
    """The router: only the paths the scenarios need pass; 443 to DROPPED_IP and DNS to
    DEAD_DNS_IP fall to the drop policy. With `intercept`, the client's HTTPS to the endpoints
    is DNATed to the inspecting nginx, as a transparent TLS-inspection appliance does."""
    nat = ""
    if intercept:
        nat = f"""
table ip cloud_lab_nat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat;
    ip saddr {CLIENT_IP} ip daddr {ENDPOINT_IP} tcp dport 443 dnat to {INSPECTOR_IP}
  }}
}}"""
    proxies = ", ".join((AUTH_PROXY_IP, CHAIN_FRONT_IP, CHAIN_BACK_IP, NTLM_PROXY_IP, DEAD_PROXY_IP))
    return f"""table inet cloud_lab {{
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ip saddr {SERVER_NET} accept
    ip saddr {CLIENT_NET} ip daddr {{ {ENDPOINT_IP}, {INSPECTOR_IP} }} tcp dport 443 accept
    ip saddr {CLIENT_NET} ip daddr {DNS_IP} meta l4proto {{ tcp, udp }} th dport 53 accept
    ip saddr {CLIENT_NET} ip daddr {{ {proxies} }} tcp dport {PROXY_PORT} accept
    ip saddr {CLIENT_NET} ip daddr {NTP_IP} udp dport 123 accept
    ip saddr {CLIENT_MGMT_IP} ip daddr {DROPPED_IP} tcp dport 443 accept
  }}
}}{nat}
"""


# ---------------------------------------------------------------- PKI

def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def _leaf(names: list[str], issuer: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey,
          not_before: dt.datetime, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False)
        .sign(issuer_key, hashes.SHA256())
    )


def _pki(d: Path) -> dict[str, tuple[Path, Path]]:
    """Certificates: name -> (chain, key); plus the two CA files in d."""
    now = dt.datetime.now(dt.UTC)
    root_key, inter_key, inspect_key = _key(), _key(), _key()
    root = _ca_cert("Lab Public Root CA", root_key, None, root_key, now, None)
    inter = _ca_cert("Lab Public Issuing CA 01", inter_key, root, root_key, now, 0)
    inspect = _ca_cert("Contoso TLS Inspection CA", inspect_key, None, inspect_key, now, None)
    _write(d / "public-root.pem", root)
    _write(d / "inspection-ca.pem", inspect)
    served: dict[str, tuple[Path, Path]] = {}
    for label in (*SERVED, "dropped"):
        key = _key()
        # fresh: issued an hour ago, so a sensor whose clock is 3 h behind finds it not yet valid.
        start = now - (dt.timedelta(hours=1) if label == "fresh" else dt.timedelta(days=2))
        cert = _leaf([name(label)], inter, inter_key, start, key)
        served[label] = (_write(d / f"{label}.chain.pem", cert, inter), _write_key(d / f"{label}.key", key))
    key = _key()
    forged = _leaf([name(label) for label in SERVED], inspect, inspect_key, now - dt.timedelta(days=1), key)
    served["inspector"] = (_write(d / "inspector.chain.pem", forged), _write_key(d / "inspector.key", key))
    return served


# ---------------------------------------------------------------- daemons

def _dir(base: Path, sub: str) -> Path:
    path = base / sub
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def _nginx(base: Path, certs: dict[str, tuple[Path, Path]]) -> Daemon:
    d = _dir(base, "nginx")

    def server(address: str, host: str, label: str, default: bool = False) -> str:
        chain, key = certs[label]
        return (f"  server {{ listen {address}:443 ssl{' default_server' if default else ''}; server_name {host};\n"
                f"    ssl_certificate {chain}; ssl_certificate_key {key};\n"
                f'    location / {{ return 200 "cloud lab {label}\\n"; }} }}\n')

    servers = "".join(server(ENDPOINT_IP, name(label), label, label == "hub") for label in SERVED)
    servers += server(DROPPED_IP, name("dropped"), "dropped", True)
    servers += server(INSPECTOR_IP, "_", "inspector", True)
    conf = d / "nginx.conf"
    conf.write_text(nginx_head(d) + f"""{servers}}}
""")
    listeners = tuple(Listener("tcp", address, 443) for address in (ENDPOINT_IP, DROPPED_IP, INSPECTOR_IP))
    return Daemon("nginx", ["nginx", "-c", str(conf), "-e", str(d / "error.log"), "-g", "daemon off;"], listeners,
                  conf, base / "logs" / "nginx.log")


def _dnsmasq(base: Path) -> Daemon:
    d = _dir(base, "dnsmasq")
    conf = d / "dnsmasq.conf"
    records = [f"host-record={name(label)},{ENDPOINT_IP}" for label in SERVED]
    records += [f"host-record={name('dropped')},{DROPPED_IP}", f"host-record={name('proxy')},{AUTH_PROXY_IP}"]
    conf.write_text("\n".join([
        "port=53", f"listen-address={DNS_IP}", "bind-interfaces", "no-resolv", "no-hosts", "no-poll",
        "user=nobody", "group=nogroup", f"pid-file={d}/dnsmasq.pid",
        f"auth-server=ns.{DOMAIN},{DNS_IP}", f"auth-zone={DOMAIN}", f"auth-soa=1,hostmaster.{DOMAIN}",
        *records]) + "\n")
    return Daemon("dnsmasq", ["dnsmasq", "-k", "-C", str(conf)],
                  (Listener("udp", DNS_IP, 53), Listener("tcp", DNS_IP, 53)), conf, base / "logs" / "dnsmasq.log")


def _tinyproxy(base: Path, label: str, address: str, extra: str) -> Daemon:
    d = _dir(base, f"tinyproxy-{label}")
    shutil.chown(d, "nobody", "nogroup")
    conf = d / "tinyproxy.conf"
    conf.write_text(f"""User nobody
Group nogroup
Port {PROXY_PORT}
Listen {address}
Timeout 10
LogFile "{d}/tinyproxy.log"
LogLevel Info
PidFile "{d}/tinyproxy.pid"
MaxClients 20
Allow {CLIENT_NET}
Allow {SERVER_NET}
ConnectPort 443
DisableViaHeader Yes
{extra}
""")
    return Daemon(f"tinyproxy-{label}", ["tinyproxy", "-d", "-c", str(conf)], (Listener("tcp", address, PROXY_PORT),),
                  conf, base / "logs" / f"tinyproxy-{label}.log")


def _squid_ntlm(base: Path) -> Daemon:
    d = _dir(base, "squid")
    shutil.chown(d, "proxy", "proxy")
    conf = d / "squid.conf"
    # ntlm_fake_auth ships with squid: the proxy then offers NTLM and nothing else.
    conf.write_text(f"""http_port {NTLM_PROXY_IP}:{PROXY_PORT}
pid_filename {d}/squid.pid
cache_log {d}/cache.log
access_log {d}/access.log
cache_store_log none
cache deny all
coredump_dir {d}
netdb_filename none
pinger_enable off
logfile_rotate 0
shutdown_lifetime 0 seconds
cache_effective_user proxy
auth_param ntlm program /usr/lib/squid/ntlm_fake_auth
auth_param ntlm children 1
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
""")
    return Daemon("squid", ["squid", "-N", "-f", str(conf)], (Listener("tcp", NTLM_PROXY_IP, PROXY_PORT),), conf,
                  base / "logs" / "squid.log")


def _chronyd_skewed(base: Path) -> Daemon:
    d = _dir(base, "chrony")
    conf = d / "chrony.conf"
    conf.write_text(f"local stratum 8\nallow all\nbindaddress {NTP_IP}\nport 123\ncmdport 0\nbindcmdaddress /\n"
                    f"pidfile {d}/chronyd.pid\ndriftfile {d}/drift\n")
    # libfaketime shifts the daemon's clock only (-x: chronyd never touches the system clock).
    return Daemon("chronyd", ["faketime", "-f", CLOCK_OFFSET, "chronyd", "-4", "-x", "-d", "-f", str(conf)],
                  (Listener("udp", NTP_IP, 123),), conf, base / "logs" / "chronyd.log")


@contextlib.contextmanager
def start_cloud_lab() -> Iterator[CloudLab]:
    base = Path(tempfile.mkdtemp(prefix="netcheck-cloudlab-"))
    base.chmod(0o755)
    _dir(base, "logs")
    topo: Topology | None = None
    etc: Path | None = None
    try:
        topo = Topology.create()
        srv = topo.server
        for address in (DROPPED_IP, INSPECTOR_IP, DEAD_DNS_IP, CHAIN_FRONT_IP, CHAIN_BACK_IP, NTLM_PROXY_IP,
                        DEAD_PROXY_IP, NTP_IP):
            srv.run(["ip", "addr", "add", f"{address}/24", "dev", topo.server_if])
        topo.client.run(["ip", "addr", "add", f"{CLIENT_MGMT_IP}/24", "dev", topo.client_if])
        etc = Path("/etc/netns") / srv.name
        _write_netns_resolv(srv, f"nameserver {DNS_IP}\noptions timeout:1 attempts:1\n")
        _write_netns_resolv(topo.client, f"nameserver {DNS_IP}\noptions timeout:1 attempts:1\n")
        topo.nft(ruleset())
        certs = _pki(_dir(base, "pki"))
        password = "pw-" + secrets.token_hex(6)
        daemons = [
            _nginx(base, certs),
            _dnsmasq(base),
            _tinyproxy(base, "auth", AUTH_PROXY_IP, f"BasicAuth {PROXY_USER} {password}"),
            _tinyproxy(base, "front", CHAIN_FRONT_IP, f"Upstream http {CHAIN_BACK_IP}:{PROXY_PORT}"),
            _tinyproxy(base, "back", CHAIN_BACK_IP, f"ConnectPort {PROXY_PORT}"),
            _squid_ntlm(base),
            _chronyd_skewed(base),
        ]
        for daemon in daemons:
            with open(daemon.log, "w") as log:
                daemon.proc = srv.popen(daemon.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        _wait_ready(srv, daemons, 20.0)
        yield CloudLab(topo, base, base / "pki" / "public-root.pem", base / "pki" / "inspection-ca.pem", password,
                       {daemon.name: daemon for daemon in daemons})
    finally:
        if topo is not None:
            for ns in (topo.client, topo.server):
                shutil.rmtree(Path("/etc/netns") / ns.name, ignore_errors=True)
            topo.close()
        if etc is not None:
            shutil.rmtree(etc, ignore_errors=True)
        if os.environ.get("NETCHECK_LAB_KEEP") != "1":
            shutil.rmtree(base, ignore_errors=True)
