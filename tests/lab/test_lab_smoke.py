"""Smoke tests: the topology, every lab daemon and the firewall policy, checked from the
CLIENT namespace with standard tools (dig, ldapsearch, snmpget, ssh-keyscan, curl,
openssl, logger, nmap) and a few lines of Python where no CLI exists (NTP, DCE/RPC, SMTP).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509

from .daemons import Lab, lab_unavailable, start_lab
from .topology import FIREWALL_POLICY, ROUTER_CLIENT_IP, SERVER_IP, FirewallRule, Topology

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="lab needs root plus iproute2 and nftables (network namespaces)",
)


def run(
    lab: Lab, argv: list[str], env: dict[str, str] | None = None, timeout: float = 30, **kw: object
) -> subprocess.CompletedProcess[str]:
    """Run argv in the client namespace (never in the host's)."""
    return lab.client.run(argv, check=False, timeout=timeout, env={**os.environ, **(env or {})}, **kw)


# --- topology alone (no daemons) ---


def _ping(topo: Topology, addr: str) -> int:
    return topo.client.run(["ping", "-c1", "-W1", addr], check=False).returncode


@needs_root
def test_topology_routes_and_router_firewall_applies() -> None:
    with Topology.create() as topo:
        # Given a fresh lab, the client reaches the server through the router.
        assert _ping(topo, SERVER_IP) == 0
        # When the router drops ICMP to the server, the same ping fails.
        topo.nft(
            "table inet t {\n chain fw {\n type filter hook forward priority 0;\n"
            f" ip daddr {SERVER_IP} icmp type echo-request drop\n }}\n}}\n"
        )
        assert _ping(topo, SERVER_IP) != 0
        names = [ns.name for ns in topo.namespaces]
    # Then close() removed every namespace it created.
    leftover = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert not leftover & set(names)


# --- daemons ---


def test_dns_is_authoritative_for_the_lab_zone_over_udp_and_tcp(lab: Lab) -> None:
    dns = lab.addresses["dns"]
    for transport in ("+tcp", "+notcp"):
        out = run(lab, ["dig", f"@{dns}", "console.lab.example", transport, "+norec"]).stdout
        assert "flags: qr aa" in out, out
        assert re.search(r"console\.lab\.example\.\s+\d+\s+IN\s+A\s+203\.0\.113\.10", out), out
    ptr = run(lab, ["dig", f"@{dns}", "-x", lab.addresses["smtp"], "+short"]).stdout.split()
    assert ptr == ["mail.lab.example."]
    assert "status: NXDOMAIN" in run(lab, ["dig", f"@{dns}", "nope.lab.example"]).stdout
    # No upstream: names outside the lab are refused, never forwarded.
    assert "status: REFUSED" in run(lab, ["dig", f"@{dns}", "www.debian.org"]).stdout


def test_ldap_answers_anonymously_and_binds_over_starttls_and_ldaps(lab: Lab) -> None:
    addr = lab.addresses["ldap"]
    root_dse = run(
        lab,
        [
            "ldapsearch",
            "-x",
            "-LLL",
            "-H",
            f"ldap://{addr}",
            "-b",
            "",
            "-s",
            "base",
            "namingContexts",
            "supportedExtension",
        ],
    )
    assert root_dse.returncode == 0, root_dse.stderr
    assert f"namingContexts: {lab.ldap_suffix}" in root_dse.stdout
    assert "supportedExtension: 1.3.6.1.4.1.1466.20037" in root_dse.stdout  # StartTLS
    # Host names resolve through the lab DNS and must match the lab-CA certificate.
    tls_env = {"LDAPTLS_CACERT": str(lab.pki.root_cert), "LDAPTLS_REQCERT": "demand"}
    bind = ["-x", "-D", lab.secrets.ldap_bind_dn, "-w", lab.env["NETCHECK_LDAP_PASSWORD"]]
    for uri, extra in (("ldap://ldap.lab.example", ["-ZZ"]), ("ldaps://ldap.lab.example", [])):
        who = run(lab, ["ldapwhoami", "-H", uri, *extra, *bind], env=tls_env)
        assert who.returncode == 0, (uri, who.stderr)
        assert who.stdout.strip() == f"dn:{lab.secrets.ldap_bind_dn}"
    wrong = run(
        lab,
        ["ldapwhoami", "-H", "ldaps://ldap.lab.example", "-x", "-D", lab.secrets.ldap_bind_dn, "-w", "wrong"],
        env=tls_env,
    )
    assert wrong.returncode == 49, wrong.stderr  # invalidCredentials


def test_snmp_answers_v2c_and_v3_authpriv(lab: Lab, tmp_path: Path) -> None:
    addr = lab.addresses["snmp"]
    env = {"SNMP_PERSISTENT_DIR": str(tmp_path), "MIBS": ""}  # keep the client tools out of /var/lib/snmp
    sys_descr = "1.3.6.1.2.1.1.1.0"
    v2c = run(lab, ["snmpget", "-v2c", "-c", lab.env["NETCHECK_SNMP_COMMUNITY"], "-Oqv", addr, sys_descr], env=env)
    assert v2c.stdout.strip().strip('"') == lab.sysdescr, v2c.stderr
    v3 = run(
        lab,
        [
            "snmpget",
            "-v3",
            "-l",
            "authPriv",
            "-u",
            lab.secrets.snmp_user,
            "-a",
            "SHA",
            "-A",
            lab.env["NETCHECK_SNMP_AUTH_KEY"],
            "-x",
            "AES",
            "-X",
            lab.env["NETCHECK_SNMP_PRIV_KEY"],
            "-Oqv",
            addr,
            sys_descr,
        ],
        env=env,
    )
    assert v3.stdout.strip().strip('"') == lab.sysdescr, v3.stderr
    wrong = run(lab, ["snmpget", "-v2c", "-c", "public", "-t", "0.5", "-r", "0", addr, sys_descr], env=env)
    assert wrong.returncode != 0 and "Timeout" in wrong.stderr


def test_sshd_serves_the_lab_host_keys_on_console_and_sensor(lab: Lab) -> None:
    expected = {" ".join(line.split()[1:3]) for line in lab.ssh_known_hosts.read_text().splitlines()}
    for addr in (lab.addresses["console"], lab.addresses["sensor"]):
        scan = run(lab, ["ssh-keyscan", "-T", "3", addr])
        keys = {" ".join(line.split()[1:3]) for line in scan.stdout.splitlines() if not line.startswith("#")}
        assert keys == expected, scan.stderr
        assert "SSH-2.0-OpenSSH" in scan.stderr


def test_crl_is_served_over_http_on_80_and_8080(lab: Lab, tmp_path: Path) -> None:
    for url in (lab.crl_urls["lab"], lab.crl_urls["lab_alt_port"]):
        got = run(lab, ["curl", "-sS", "--fail", "-o", str(tmp_path / "got.crl"), "-w", "%{content_type}", url])
        assert got.returncode == 0, got.stderr
        assert got.stdout == "application/pkix-crl"
        assert (tmp_path / "got.crl").read_bytes() == lab.pki.crl_der.read_bytes()
    crl = x509.load_der_x509_crl(lab.pki.crl_der.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(lab.pki.leaves["revoked"].serial) is not None
    assert lab.pki.leaves["console"].serial != lab.pki.leaves["revoked"].serial


def _s_client(lab: Lab, addr: str, port: int, name: str) -> subprocess.CompletedProcess[str]:
    return run(
        lab,
        [
            "openssl",
            "s_client",
            "-connect",
            f"{addr}:{port}",
            "-servername",
            name,
            "-CAfile",
            str(lab.pki.root_cert),
            "-verify_hostname",
            name,
            "-verify_return_error",
            "-brief",
        ],
        input="",
        timeout=15,
    )


@pytest.mark.parametrize("peer", ["console", "ha_console", "sensor"])
def test_https_presents_a_lab_ca_certificate_naming_the_host(lab: Lab, peer: str) -> None:
    res = _s_client(lab, lab.addresses[peer], 443, lab.hostnames[peer])
    assert res.returncode == 0, res.stderr
    assert "Verification: OK" in res.stderr


@pytest.mark.parametrize(
    "port, name, error",
    [
        (8443, "selfsigned.lab.example", "self-signed certificate"),
        (443, "selfsigned.lab.example", "self-signed certificate"),
        (443, "expired.lab.example", "certificate has expired"),
    ],
)
def test_https_warn_cases_fail_verification(lab: Lab, port: int, name: str, error: str) -> None:
    res = _s_client(lab, lab.addresses["console"], port, name)
    assert res.returncode != 0
    assert error in res.stderr + res.stdout


def test_https_revoked_case_fails_a_crl_check(lab: Lab) -> None:
    name = "revoked.lab.example"
    res = run(
        lab,
        [
            "openssl",
            "s_client",
            "-connect",
            f"{lab.addresses['console']}:443",
            "-servername",
            name,
            "-CAfile",
            str(lab.pki.root_cert),
            "-CRL",
            str(lab.pki.crl_pem),
            "-crl_check",
            "-verify_hostname",
            name,
            "-verify_return_error",
            "-brief",
        ],
        input="",
        timeout=15,
    )
    assert res.returncode != 0
    assert "certificate revoked" in res.stderr + res.stdout


NTP_QUERY = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b"\\x23" + bytes(47), (sys.argv[1], 123))  # LI 0, version 4, mode 3 (client)
    reply, _ = s.recvfrom(512)
    print(reply[0] >> 6, reply[0] & 7, reply[1])  # leap indicator, mode, stratum
""")


def test_ntp_answers_synchronised_at_stratum_8(lab: Lab) -> None:
    res = run(lab, [sys.executable, "-c", NTP_QUERY, lab.addresses["console"]])
    assert res.returncode == 0, res.stderr
    leap, mode, stratum = map(int, res.stdout.split())
    assert (mode, stratum) == (4, 8)
    assert leap != 3  # 3 = unsynchronised


def test_syslog_receives_udp_and_tcp_messages(lab: Lab) -> None:
    tokens = {"-d": f"netcheck-udp-{secrets.token_hex(4)}", "-T": f"netcheck-tcp-{secrets.token_hex(4)}"}
    for flag, token in tokens.items():
        sent = run(lab, ["logger", "-n", lab.addresses["syslog"], "-P", "514", flag, token])
        assert sent.returncode == 0, sent.stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = lab.syslog_file.read_text(errors="replace")
        if all(token in text for token in tokens.values()):
            return
        time.sleep(0.05)
    pytest.fail(f"syslog file lacks {tokens}: {lab.syslog_file.read_text(errors='replace')[-500:]!r}")


SMTP_CHECK = textwrap.dedent("""
    import smtplib, ssl, sys
    addr, cafile = sys.argv[1], sys.argv[2]
    for port in (25, 587):
        with smtplib.SMTP(addr, port, timeout=5) as smtp:
            print(port, "banner-ehlo", smtp.ehlo("probe.lab.example")[0])
            if port == 587:
                print(port, "mail-before-tls", smtp.mail("probe@lab.example")[0])
                smtp.rset()
            smtp._host = "mail.lab.example"  # the name STARTTLS verifies
            ctx = ssl.create_default_context(cafile=cafile)
            print(port, "starttls", smtp.starttls(context=ctx)[0])
            smtp.ehlo("probe.lab.example")
            print(port, "mail", smtp.mail("probe@lab.example")[0])
            print(port, "rcpt-foreign", smtp.rcpt("someone@elsewhere.example")[0])
            print(port, "rcpt-local", smtp.rcpt("postmaster@lab.example")[0])
""")


def test_smtp_offers_starttls_with_the_lab_cert_and_never_relays(lab: Lab) -> None:
    res = run(lab, [sys.executable, "-c", SMTP_CHECK, lab.addresses["smtp"], str(lab.pki.root_cert)])
    assert res.returncode == 0, res.stderr
    got = {tuple(line.split()[:2]): int(line.split()[2]) for line in res.stdout.splitlines()}
    for port in ("25", "587"):
        assert got[(port, "banner-ehlo")] == 250
        assert got[(port, "starttls")] == 220
        assert got[(port, "rcpt-foreign")] == 554  # relay access denied
        assert got[(port, "rcpt-local")] == 250
    assert got[("587", "mail-before-tls")] == 530  # submission requires STARTTLS


def test_proxy_connects_to_443_and_denies_other_ports(lab: Lab) -> None:
    ok = run(
        lab, ["curl", "-sS", "--cacert", str(lab.pki.root_cert), "-x", lab.proxy_url, "https://console.lab.example/"]
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "netcheck lab console\n"
    denied = run(
        lab,
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_connect}",
            "-p",
            "-x",
            lab.proxy_url,
            "http://console.lab.example:22/",
        ],
    )
    assert denied.stdout == "403", denied.stderr


RPC_BIND = textwrap.dedent("""
    import socket, struct, sys, uuid
    EPM = uuid.UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa")  # endpoint mapper v3.0
    NDR = uuid.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860")  # NDR transfer syntax v2
    ctx = struct.pack("<HBB", 0, 1, 0) + EPM.bytes_le + struct.pack("<HH", 3, 0) + NDR.bytes_le + struct.pack("<I", 2)
    body = struct.pack("<HHIB3x", 4280, 4280, 0, 1) + ctx
    pdu = struct.pack("<BBBB4sHHI", 5, 0, 11, 3, b"\\x10\\0\\0\\0", 16 + len(body), 0, 1) + body  # bind
    with socket.create_connection((sys.argv[1], 135), timeout=3) as s:
        s.sendall(pdu)
        reply = s.recv(4096)
    print(reply[0], reply[2])  # RPC version, packet type
""")


def test_rpc_endpoint_mapper_acknowledges_a_bind(lab: Lab) -> None:
    res = run(lab, [sys.executable, "-c", RPC_BIND, lab.addresses["wmi"]])
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["5", "12"]  # DCE/RPC v5 bind_ack


# --- firewall policy ---

# What nmap (SYN/UDP scan, --reason) reports for each documented expectation.
NMAP_SEES: dict[str, set[tuple[str, str]]] = {
    "open": {("open", "syn-ack")},
    "answered": {("open", "udp-response"), ("open|filtered", "no-response")},  # nmap's payload may be ignored
    "refused": {("closed", "reset"), ("closed", "port-unreach")},
    "filtered": {("filtered", "no-response")},
    "no-response": {("open|filtered", "no-response")},
    "prohibited": {("filtered", "admin-prohibited")},
    "unreachable": {("filtered", "host-unreach")},
}


def _nmap(lab: Lab, address: str, rules: list[FirewallRule]) -> dict[tuple[str, int], tuple[str, str, str]]:
    tcp = sorted({r.port for r in rules if r.transport == "tcp"})
    udp = sorted({r.port for r in rules if r.transport == "udp"})
    ports = ",".join([*(f"T:{p}" for p in tcp), *(f"U:{p}" for p in udp)])
    scans = (["-sS"] if tcp else []) + (["-sU"] if udp else [])
    res = run(
        lab,
        ["nmap", "-n", "-Pn", *scans, "-T4", "--max-retries", "2", "--reason", "-p", ports, "-oX", "-", address],
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    found = {}
    for port in ET.fromstring(res.stdout).iter("port"):
        state = port.find("state")
        assert state is not None
        found[(port.get("protocol", ""), int(port.get("portid", "0")))] = (
            state.get("state", ""),
            state.get("reason", ""),
            state.get("reason_ip", ""),
        )
    return found


def test_firewall_policy_table_matches_what_the_client_sees(lab: Lab) -> None:
    by_address: dict[str, list[FirewallRule]] = defaultdict(list)
    for rule in lab.firewall:
        by_address[rule.address].append(rule)
    # A port the table does not list falls to the default policy: silently dropped.
    unlisted = FirewallRule("console", lab.addresses["console"], "tcp", 23, "drop", "", "filtered", "default drop")
    by_address[unlisted.address].append(unlisted)
    with ThreadPoolExecutor(max_workers=len(by_address)) as pool:
        scans = dict(zip(by_address, pool.map(lambda a: _nmap(lab, a, by_address[a]), by_address), strict=True))
    wrong = []
    for address, rules in by_address.items():
        for rule in rules:
            state, reason, sender = scans[address][(rule.transport, rule.port)]
            ok = (state, reason) in NMAP_SEES[rule.expect]
            if rule.expect in ("prohibited", "unreachable"):
                ok = ok and sender == ROUTER_CLIENT_IP  # the router, not the server, answered
            if not ok:
                wrong.append(
                    f"{rule.transport} {address}:{rule.port} expected {rule.expect}, nmap saw "
                    f"{state}/{reason} from {sender or '-'}"
                )
    assert not wrong, "\n".join(wrong)


def test_firewall_policy_covers_every_case_other_tests_rely_on() -> None:
    cases = {(rule.transport, rule.expect) for rule in FIREWALL_POLICY}
    for needed in [
        ("tcp", "open"),
        ("tcp", "refused"),
        ("tcp", "filtered"),
        ("tcp", "prohibited"),
        ("tcp", "unreachable"),
        ("udp", "answered"),
        ("udp", "refused"),
        ("udp", "no-response"),
        ("udp", "prohibited"),
        ("udp", "unreachable"),
    ]:
        assert needed in cases


def test_readme_policy_table_is_the_policy() -> None:
    readme = (Path(__file__).parent / "README.md").read_text()
    section = readme.split("## Firewall policy", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if re.match(r"\| \w+ \| \d+\.", line)
    ]
    assert rows == [
        [r.peer, r.address, str(r.port), r.transport, r.verdict, r.service or "(none)", r.expect, r.why]
        for r in FIREWALL_POLICY
    ]


def test_ping_reaches_every_server_address(lab: Lab) -> None:
    targets = sorted({r.address for r in lab.firewall if r.expect != "unreachable"})
    res = run(lab, ["nmap", "-n", "-sn", "-PE", "-oG", "-", *targets])
    up = set(re.findall(r"Host: (\S+) \(\)\s+Status: Up", res.stdout))
    assert up == set(targets), res.stdout


# --- life cycle ---


@needs_root
def test_a_lab_comes_up_fast_and_leaves_nothing_behind() -> None:
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    started = time.monotonic()
    with start_lab() as lab:
        up = time.monotonic() - started
        names = [ns.name for ns in lab.topo.namespaces]
        pids = [d.proc.pid for d in lab.daemons.values() if d.proc is not None]
        workdir = lab.dir
        assert all(d.proc is not None and d.proc.poll() is None for d in lab.daemons.values())
        stopping = time.monotonic()
    down = time.monotonic() - stopping
    print(f"\nlab up {up:.1f} s, down {down:.1f} s")
    netns = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert not netns & set(names)
    assert not any(Path("/etc/netns", name).exists() for name in names)
    assert not workdir.exists()
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert up + down < 20, f"lab up {up:.1f} s + down {down:.1f} s"
