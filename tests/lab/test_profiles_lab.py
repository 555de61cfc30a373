"""The shipped sensor, console and client profiles, scanned from the lab's client namespace.

`netcheck scan` runs as a user would run it (a subprocess, JSON on stdout) against a
site file naming the lab's hosts. Every flow's exact status and reason follows from
the lab's firewall policy (tests/lab/README.md) and the daemon behind each rule, and
the protocol facts each probe reads (NTP stratum, LDAP naming context, SNMP sysDescr,
SSH banner, TLS subject, CRL issuer) are asserted too.

Some peers list several hosts on purpose, so one profile run meets several states:
snmp = the agent (answers), the sensor address (silently dropped) and the console
address (allowed, closed: ICMP port unreachable); ntp = the HA console address, where
the router rejects NTP with admin-prohibited; crl = a current and a stale CRL.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netcheck.profiles import load_profile

from .daemons import Lab

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 2.0
TUNNEL_PORT = 9000
SNMP_V3 = "v3"


def site(lab: Lab, profile: str, snmp: str = "2c") -> dict[str, Any]:
    """A site file (as data) naming the lab's hosts; settings only for the profile's own peers."""
    a, names, ca = lab.addresses, lab.hostnames, str(lab.pki.root_cert)
    peers: dict[str, Any] = {
        "console": a["console"],
        "ha_console": a["ha_console"],
        "sensors": a["sensor"],
        "ntp": a["ha_console"],  # the router rejects NTP there: admin-prohibited
        "dns": a["dns"],
        "smtp": names["smtp"],  # resolved through the lab DNS
        "syslog": a["syslog"],
        "ldap": names["ldap"],
        "snmp": [a["snmp"], a["sensor"], a["console"]],  # answers / dropped / closed
        "wmi": a["wmi"],
        "crl": [lab.crl_urls["lab"], lab.crl_urls["stale"]],
        "proxy": lab.proxy_url,
    }
    snmp_settings: dict[str, Any] = {"version": "2c", "community_env": "NETCHECK_SNMP_COMMUNITY"}
    if snmp == SNMP_V3:
        snmp_settings = {"version": "3", "user": lab.secrets.snmp_user, "auth_protocol": "SHA",
                         "auth_key_env": "NETCHECK_SNMP_AUTH_KEY", "priv_protocol": "AES",
                         "priv_key_env": "NETCHECK_SNMP_PRIV_KEY"}
    settings: dict[str, Any] = {
        "console": {"ca_file": ca},
        "ha_console": {"ca_file": ca},
        "sensors": {"ca_file": ca},
        "smtp": {"ca_file": ca},
        "dns": {"names": [names["console"], names["ldap"], names["smtp"]], "reverse": [a["console"]]},
        "ldap": {"bind_dn": lab.secrets.ldap_bind_dn, "password_env": "NETCHECK_LDAP_PASSWORD", "starttls": True,
                 "ca_file": ca},
        "snmp": snmp_settings,
        "proxy": {"connect_targets": ["console:443"]},
    }
    used = {flow.peer for flow in load_profile(profile).flows if flow.direction.value == "out"}
    return {"name": f"lab-{profile}", "description": "netcheck namespace lab", "peers": peers,
            "settings": {peer: options for peer, options in settings.items() if peer in used}}


def scan(lab: Lab, profile: str, site_file: Path, *extra: str, env: dict[str, str] | None = None,
         formats: str = "json", output: str = "-", debug: bool = False) -> Any:
    """Run `netcheck scan` in the client namespace; returns the CompletedProcess."""
    argv = [sys.executable, "-m", "netcheck", *(["--debug"] if debug else []), "scan", "--profile", profile,
            "--site", str(site_file), "--timeout", str(TIMEOUT_S), "--format", formats, "--output", output, *extra]
    return lab.client.run(argv, check=False, cwd=REPO, timeout=120,
                          env={**os.environ, **lab.env, **(env or {})})


@contextlib.contextmanager
def tunnel_listener(lab: Lab) -> Iterator[None]:
    """Something listening on the console's tunnel port in the client namespace (an inbound pass)."""
    code = ("import socket, time\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('{lab.addresses['client']}', {TUNNEL_PORT}))\ns.listen()\nprint('ready', flush=True)\n"
            "time.sleep(300)\n")
    proc = lab.client.popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


Results = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def runs(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Results, int, float]]:
    """Each profile scanned once: results keyed by (flow id, destination), exit code, seconds."""
    folder = tmp_path_factory.mktemp("profiles")
    found: dict[str, tuple[Results, int, float]] = {}
    for profile in ("sensor", "console", "client"):
        site_file = folder / f"{profile}.yaml"
        site_file.write_text(json.dumps(site(lab, profile, SNMP_V3 if profile == "console" else "2c"), indent=1))
        started = time.monotonic()
        context = tunnel_listener(lab) if profile == "console" else contextlib.nullcontext()
        with context:
            run = scan(lab, profile, site_file)
        elapsed = time.monotonic() - started
        assert run.stdout.startswith("{"), run.stderr
        report = json.loads(run.stdout)
        assert report["run"]["profile"] == profile
        results = {(r["flow"], r["destination"]): r for r in report["results"]}
        assert len(results) == len(report["results"]), "duplicate flow/destination"
        found[profile] = (results, run.returncode, elapsed)
    return found


def expected(lab: Lab, profile: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(flow id, destination) -> (status, reason), from the firewall policy and the daemons."""
    a, names = lab.addresses, lab.hostnames
    crl, stale = lab.crl_urls["lab"], lab.crl_urls["stale"]
    inbound_idle = ("warn", "not-listening")  # nothing of the appliance runs in the client namespace
    common_out = {
        ("smtp", names["smtp"]): ("pass", "answered"),
        ("syslog", a["syslog"]): ("warn", "unconfirmed"),  # UDP syslog never answers
        ("dns-udp", a["dns"]): ("pass", "answered"),
        ("dns-tcp", a["dns"]): ("pass", "answered"),
        ("ldap", names["ldap"]): ("pass", "answered"),
        ("ldaps", names["ldap"]): ("pass", "answered"),
        ("snmp", a["snmp"]): ("pass", "answered"),
        ("snmp", a["sensor"]): ("fail", "no-response"),  # policy: drop
        ("snmp", a["console"]): ("fail", "refused"),  # policy: accept, nothing listens
        ("snmp-in", ""): inbound_idle,
        ("crl", crl): ("pass", "answered"),
        ("crl", stale): ("warn", "stale"),
        ("proxy", lab.proxy_url): ("pass", "answered"),
    }
    if profile == "sensor":
        return {
            **common_out,
            ("console-https", a["console"]): ("pass", "answered"),
            ("console-https-in", ""): inbound_idle,
            ("tunnel", a["console"]): ("fail", "refused"),  # policy: accept, nothing listens
            ("tunnel-ssh", a["console"]): ("pass", "answered"),
            ("ntp-console", a["console"]): ("pass", "answered"),
            ("ntp-external", a["ha_console"]): ("fail", "prohibited"),  # policy: reject
            ("wmi-rpc", a["wmi"]): ("pass", "answered"),
            ("wmi-dynamic", a["wmi"]): ("fail", "filtered"),  # only 135 is forwarded
            ("wmi-udp", a["wmi"]): ("fail", "no-response"),  # not in the policy: dropped
            ("web-https", ""): inbound_idle,
            ("cli-ssh", ""): inbound_idle,
        }
    if profile == "console":
        return {
            **common_out,
            ("web-https", ""): inbound_idle,
            ("cli-ssh", ""): inbound_idle,
            ("sensor-https-in", ""): inbound_idle,
            ("sensor-https", a["sensor"]): ("pass", "answered"),
            ("ntp-serve", ""): inbound_idle,
            ("tunnel", ""): ("pass", "listening"),  # the test's own listener
            ("tunnel-ssh", ""): inbound_idle,
            ("ha-https", a["ha_console"]): ("pass", "answered"),
            ("ha-https-in", ""): inbound_idle,
        }
    return {
        ("sensor-https", a["sensor"]): ("pass", "answered"),
        ("sensor-ssh", a["sensor"]): ("pass", "answered"),
        ("console-https", a["console"]): ("pass", "answered"),
        ("console-ssh", a["console"]): ("pass", "answered"),
        ("tunnel", a["console"]): ("fail", "refused"),
        ("ha-console-https", a["ha_console"]): ("pass", "answered"),
    }


@pytest.mark.parametrize("profile", ["sensor", "console", "client"])
def test_every_flow_has_its_exact_status_and_reason(lab: Lab, runs: dict[str, tuple[Results, int, float]],
                                                    profile: str) -> None:
    results, exit_code, _ = runs[profile]
    got = {key: (r["status"], r["reason"]) for key, r in results.items()}
    want = expected(lab, profile)
    wrong = {key: (got.get(key), want.get(key), results[key]["detail"] if key in results else None)
             for key in set(got) | set(want) if got.get(key) != want.get(key)}
    assert not wrong, json.dumps({f"{k[0]} {k[1]}": v for k, v in wrong.items()}, indent=1)
    # a required flow fails in every profile (a refused tunnel, a dropped SNMP host), so exit 1
    assert exit_code == 1


def test_ntp_facts(lab: Lab, runs: dict[str, tuple[Results, int, float]]) -> None:
    ntp = runs["sensor"][0][("ntp-console", lab.addresses["console"])]["evidence"]
    assert ntp["stratum"] == 8 and ntp["leap"] == 0
    assert ntp["reference_id"] == "127.127.1.1"  # chrony's local clock
    assert abs(ntp["offset_s"]) < 0.1  # namespaces share the clock
    prohibited = runs["sensor"][0][("ntp-external", lab.addresses["ha_console"])]["evidence"]
    assert prohibited["icmp"]["sender"] == lab.addresses["router_client"]


@pytest.mark.parametrize("profile", ["sensor", "console"])
def test_ldap_facts(lab: Lab, runs: dict[str, tuple[Results, int, float]], profile: str) -> None:
    results = runs[profile][0]
    for flow in ("ldap", "ldaps"):
        evidence = results[(flow, lab.hostnames["ldap"])]["evidence"]
        assert evidence["root_dse"]["naming_contexts"] == [lab.ldap_suffix]
        assert evidence["bind"] == {"dn": lab.secrets.ldap_bind_dn, "result": "success", "message": ""}
        assert evidence["certificate"]["subject_cn"] == "ldap.lab.example"
    assert "LDAP+StartTLS" in results[("ldap", lab.hostnames["ldap"])]["detail"]


@pytest.mark.parametrize(("profile", "version"), [("sensor", "2c"), ("console", "3")])
def test_snmp_facts(lab: Lab, runs: dict[str, tuple[Results, int, float]], profile: str, version: str) -> None:
    results = runs[profile][0]
    agent = results[("snmp", lab.addresses["snmp"])]
    assert agent["evidence"]["sys_descr"] == lab.sysdescr
    assert agent["evidence"]["snmp"]["version"] == version
    assert agent["evidence"]["sys_uptime_ticks"] > 0
    silent = results[("snmp", lab.addresses["sensor"])]
    assert "look the same on the wire" in silent["detail"]
    closed = results[("snmp", lab.addresses["console"])]
    assert closed["evidence"]["icmp"]["sender"] == lab.addresses["console"]  # the host itself, not the router


def test_dns_facts(lab: Lab, runs: dict[str, tuple[Results, int, float]]) -> None:
    for flow in ("dns-udp", "dns-tcp"):
        queries = runs["sensor"][0][(flow, lab.addresses["dns"])]["evidence"]["queries"]
        answers = {(q["name"], q["type"]): q["answers"] for q in queries}
        assert answers[("console.lab.example.", "A")] == [lab.addresses["console"]]
        assert answers[("mail.lab.example.", "A")] == [lab.addresses["smtp"]]
        console_ptr = ipaddress.ip_address(lab.addresses["console"]).reverse_pointer + "."
        assert answers[(console_ptr, "PTR")] == ["console.lab.example."]


def test_ssh_tls_and_crl_facts(lab: Lab, runs: dict[str, tuple[Results, int, float]]) -> None:
    client = runs["client"][0]
    for flow, peer in (("console-ssh", "console"), ("sensor-ssh", "sensor")):
        assert client[(flow, lab.addresses[peer])]["evidence"]["identification"].startswith("SSH-2.0-OpenSSH_")
    for flow, peer, cn in (("console-https", "console", "console.lab.example"),
                           ("sensor-https", "sensor", "sensor.lab.example"),
                           ("ha-console-https", "ha_console", "ha-console.lab.example")):
        leaf = client[(flow, lab.addresses[peer])]["evidence"]["certificates"][0]
        assert leaf["subject"] == f"CN={cn},O=netcheck lab"
        assert leaf["issuer"] == "CN=netcheck lab issuing CA,O=netcheck lab"
    sensor = runs["sensor"][0]
    current = sensor[("crl", lab.crl_urls["lab"])]["evidence"]["crl"]
    assert current["issuer"] == "CN=netcheck lab issuing CA,O=netcheck lab"
    assert current["revoked_count"] == 1  # the lab's revoked leaf


def test_syslog_message_reached_the_server(lab: Lab, runs: dict[str, tuple[Results, int, float]]) -> None:
    # UDP syslog is "unconfirmed" from the client side; the lab can look at the far side.
    message = runs["sensor"][0][("syslog", lab.addresses["syslog"])]["evidence"]["message"]
    run_id = message.split('run="', 1)[1].split('"', 1)[0]
    deadline = time.monotonic() + 3
    while run_id not in lab.syslog_file.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_id in lab.syslog_file.read_text(errors="replace")


def test_each_profile_run_stays_within_its_deadlines(runs: dict[str, tuple[Results, int, float]]) -> None:
    # flows run concurrently: a profile takes a few timeouts, never the sum of its flows'
    for profile, (results, _, seconds) in runs.items():
        assert seconds < 6 * TIMEOUT_S + 5, f"{profile}: {seconds:.1f} s for {len(results)} flows"
