"""The ntp, dns, ldap/ldaps and snmp probes' failure paths through the lab's real router.

One scan from the client namespace with a profile of these probes aimed at the lab's
hosts and firewall cases: ICMP admin-prohibited and host-unreachable from the router,
silent drops, closed ports, the wrong protocol on a port, wrong credentials, NXDOMAIN
and REFUSED from the real dnsmasq. Each flow must end with its exact reason, within
its deadline, while the other flows of the same run still report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from .daemons import Lab
from .test_profiles_lab import TIMEOUT_S, scan

# id, probe, transport, port, peer, expected status, expected reason
FLOWS: list[tuple[str, str, str, int, str, str, str]] = [
    ("ntp-prohibited", "ntp", "udp", 123, "ha_console", "fail", "prohibited"),
    ("ntp-unreachable", "ntp", "udp", 123, "unassigned", "fail", "unreachable"),
    ("ntp-dropped", "ntp", "udp", 123, "sensor_host", "fail", "no-response"),
    ("ntp-closed", "ntp", "udp", 161, "console", "fail", "refused"),
    ("dns-udp-dropped", "dns", "udp", 53, "sensor_host", "fail", "no-response"),
    ("dns-tcp-dropped", "dns", "tcp", 53, "sensor_host", "fail", "filtered"),
    ("dns-tcp-prohibited", "dns", "tcp", 9000, "ha_console", "fail", "prohibited"),
    ("dns-nxdomain", "dns", "udp", 53, "dns_missing", "warn", "nxdomain"),
    ("dns-refused", "dns", "tcp", 53, "dns_foreign", "fail", "dns-error"),
    ("ldap-prohibited", "ldap", "tcp", 9000, "ha_console", "fail", "prohibited"),
    ("ldap-dropped", "ldap", "tcp", 9000, "sensor_host", "fail", "filtered"),
    ("ldap-closed", "ldap", "tcp", 9000, "console", "fail", "refused"),
    ("ldap-on-ssh", "ldap", "tcp", 22, "console", "fail", "protocol-error"),
    ("ldaps-on-https", "ldaps", "tcp", 443, "console", "fail", "protocol-error"),
    ("ldaps-on-ldap", "ldaps", "tcp", 389, "ldap", "fail", "tls-error"),
    ("ldap-wrong-password", "ldap", "tcp", 389, "ldap_wrong", "fail", "auth-failed"),
    ("ldaps-self-signed", "ldaps", "tcp", 8443, "console", "fail", "protocol-error"),
    ("snmp-prohibited", "snmp", "udp", 123, "ha_console", "fail", "prohibited"),
    ("snmp-unreachable", "snmp", "udp", 123, "unassigned", "fail", "unreachable"),
    ("snmp-dropped", "snmp", "udp", 161, "unassigned", "fail", "no-response"),  # not in the policy
    ("snmp-v3-unknown-user", "snmp", "udp", 161, "snmp_stranger", "fail", "auth-failed"),
    ("snmp-on-syslog", "snmp", "udp", 514, "syslog", "fail", "no-response"),
]


def profile_yaml() -> str:
    lines = ["name: failure-paths", "role: sensor", "flows:"]
    for flow_id, probe, transport, port, peer, _, _ in FLOWS:
        lines += [f"  - id: {flow_id}", "    purpose: failure paths of the p2 probes", f"    protocol: {probe}",
                  f"    transport: {transport}", f"    port: {port}", "    direction: out", f"    peer: {peer}",
                  f"    probe: {probe}"]
    return "\n".join(lines) + "\n"


def site_yaml(lab: Lab) -> str:
    a = lab.addresses
    site: dict[str, Any] = {
        "name": "lab-p2",
        "peers": {
            "console": a["console"], "ha_console": a["ha_console"], "sensor_host": a["sensor"],
            "unassigned": a["unassigned"], "syslog": a["syslog"], "ldap": lab.hostnames["ldap"],
            "ldap_wrong": lab.hostnames["ldap"], "dns_missing": a["dns"], "dns_foreign": a["dns"],
            "snmp_stranger": a["snmp"],
        },
        "settings": {
            "ha_console": {"community_env": "NETCHECK_SNMP_COMMUNITY", "names": ["console.lab.example"]},
            "sensor_host": {"names": ["console.lab.example"]},
            "unassigned": {"community_env": "NETCHECK_SNMP_COMMUNITY"},
            "syslog": {"community_env": "NETCHECK_SNMP_COMMUNITY"},
            "dns_missing": {"names": ["console.lab.example", "nowhere.lab.example"], "reverse": []},
            "dns_foreign": {"names": ["www.example.com"], "reverse": []},
            "ldap_wrong": {"bind_dn": lab.secrets.ldap_bind_dn, "password_env": "NETCHECK_LDAP_PASSWORD"},
            "snmp_stranger": {"version": "3", "user": "stranger", "auth_key_env": "NETCHECK_SNMP_AUTH_KEY",
                              "priv_key_env": "NETCHECK_SNMP_PRIV_KEY"},
        },
    }
    return json.dumps(site, indent=1)


@pytest.fixture(scope="module")
def report(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, Any]], float]:
    folder = tmp_path_factory.mktemp("p2")
    (folder / "profile.yaml").write_text(profile_yaml())
    (folder / "site.yaml").write_text(site_yaml(lab))
    started = time.monotonic()
    run = scan(lab, str(folder / "profile.yaml"), folder / "site.yaml", "--no-raw",
               env={"NETCHECK_LDAP_PASSWORD": "not-the-password-" + lab.secrets.snmp_user})
    elapsed = time.monotonic() - started
    assert run.returncode == 1, run.stderr
    data = json.loads(run.stdout)
    return {r["flow"]: r for r in data["results"]}, elapsed


@pytest.mark.parametrize(("flow", "status", "reason"), [(f[0], f[5], f[6]) for f in FLOWS])
def test_failure_reason(report: tuple[dict[str, dict[str, Any]], float], flow: str, status: str,
                        reason: str) -> None:
    result = report[0][flow]
    assert (result["status"], result["reason"]) == (status, reason), result["detail"]


def test_icmp_senders_are_named(lab: Lab, report: tuple[dict[str, dict[str, Any]], float]) -> None:
    results = report[0]
    router = lab.addresses["router_client"]
    for flow in ("ntp-prohibited", "ntp-unreachable", "dns-tcp-prohibited", "ldap-prohibited", "snmp-prohibited",
                 "snmp-unreachable"):
        assert results[flow]["evidence"]["icmp"]["sender"] == router, flow
    assert results["ntp-closed"]["evidence"]["icmp"]["sender"] == lab.addresses["console"]


def test_wrong_protocol_details(report: tuple[dict[str, dict[str, Any]], float]) -> None:
    results = report[0]
    assert "SSH-2.0" in results["ldap-on-ssh"]["detail"]  # the bytes that are not LDAP are shown
    assert "invalidCredentials" in results["ldap-wrong-password"]["detail"]
    assert results["dns-refused"]["evidence"]["rcode"] == "REFUSED"
    assert "nowhere.lab.example" in results["dns-nxdomain"]["detail"]
    assert results["snmp-v3-unknown-user"]["evidence"]["error_indication"] == "UnknownUserName"


def test_all_flows_end_within_their_deadlines(report: tuple[dict[str, dict[str, Any]], float]) -> None:
    results, elapsed = report
    assert set(results) == {f[0] for f in FLOWS}
    # concurrent flows: the run takes about one timeout (+ start-up), never the sum
    assert elapsed < 2 * TIMEOUT_S + 4, elapsed
    slow = {name: r["latency_ms"] for name, r in results.items()
            if r["latency_ms"] is not None and r["latency_ms"] > (TIMEOUT_S + 0.5) * 1000}
    assert not slow, slow


def test_p2_site_and_profile_are_valid(tmp_path: Path, lab: Lab) -> None:
    (tmp_path / "profile.yaml").write_text(profile_yaml())
    (tmp_path / "site.yaml").write_text(site_yaml(lab))
    from netcheck.profiles import load_profile, load_site

    profile = load_profile(str(tmp_path / "profile.yaml"))
    load_site(tmp_path / "site.yaml", profile)
