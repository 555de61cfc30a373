"""The protocol probes (tls, ssh, smtp, syslog, rpc, http-crl, proxy) against the lab's
real daemons: `netcheck scan` runs in the client namespace with a profile of these
probes and a site file naming the lab's hosts; every flow's status, reason and the
protocol facts are asserted, and the syslog messages are found in rsyslogd's file.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .daemons import Lab

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 3.0

# id, probe, transport, port, peer, flow options
FLOWS: list[tuple[str, str, str, int, str, dict[str, Any]]] = [
    ("tls-console", "tls", "tcp", 443, "console", {"expected_issuer": "netcheck lab issuing CA"}),
    ("tls-selfsigned", "tls", "tcp", 8443, "console", {}),
    ("tls-expired", "tls", "tcp", 443, "console", {"server_name": "expired.lab.example",
                                                    "expect_names": []}),
    ("tls-intercepted", "tls", "tcp", 443, "console", {"expected_issuer": "CN=Corporate Inspection CA"}),
    ("tls-on-ssh", "tls", "tcp", 22, "console", {}),
    ("tls-ha-by-ip", "tls", "tcp", 443, "ha_console", {}),
    ("ssh-console", "ssh", "tcp", 22, "console", {}),
    ("ssh-on-smtp", "ssh", "tcp", 25, "smtp", {}),
    ("smtp", "smtp", "tcp", 25, "smtp", {}),
    ("smtp-submission", "smtp", "tcp", 587, "smtp", {"require_starttls": True}),
    ("smtp-on-ssh", "smtp", "tcp", 22, "console", {}),
    ("syslog-udp", "syslog", "udp", 514, "syslog", {}),
    ("syslog-tcp", "syslog", "tcp", 514, "syslog", {}),
    ("syslog-udp-closed", "syslog", "udp", 161, "console", {}),
    ("rpc", "rpc", "tcp", 135, "wmi", {}),
    ("rpc-lookup", "rpc", "tcp", 135, "wmi", {"lookup": True}),
    ("rpc-dynamic", "rpc", "tcp", 135, "wmi", {"dynamic_sample": 3}),
    ("crl", "http-crl", "tcp", 80, "crl", {}),
    ("crl-via-proxy", "http-crl", "tcp", 80, "crl", {"via_proxy": True}),
    ("proxy", "proxy", "tcp", 3128, "proxy", {"connect_targets": ["console:443"]}),
    ("proxy-connect-denied", "proxy", "tcp", 3128, "proxy", {"connect_targets": ["console:8443"]}),
]


def _yaml_value(value: Any) -> str:
    return json.dumps(value)  # JSON is YAML


def profile_yaml() -> str:
    lines = ["name: protocol-probes", "role: sensor", "flows:"]
    for flow_id, probe, transport, port, peer, options in FLOWS:
        lines += [f"  - id: {flow_id}", "    purpose: protocol probe lab test", f"    protocol: {probe}",
                  f"    transport: {transport}", f"    port: {port}", "    direction: out",
                  f"    peer: {peer}", f"    probe: {probe}"]
        if options:
            lines.append(f"    options: {_yaml_value(options)}")
    return "\n".join(lines) + "\n"


def site_yaml(lab: Lab) -> str:
    crl = lab.addresses["crl"]
    urls = [lab.crl_urls["lab"], lab.crl_urls["stale"], lab.crl_urls["lab_alt_port"],
            f"http://{crl}/root-ca.pem", f"http://{crl}/missing.crl"]
    # An https:// CRL location is refused by `validate` already (tests/test_input_safety.py).
    peers = {
        "console": lab.hostnames["console"],
        "ha_console": lab.addresses["ha_console"],
        "smtp": lab.hostnames["smtp"],
        "syslog": lab.addresses["syslog"],
        "wmi": lab.addresses["wmi"],
        "crl": urls,
        "proxy": lab.proxy_url,
    }
    settings = {"console": {"ca_file": str(lab.pki.root_cert)}, "smtp": {"ca_file": str(lab.pki.root_cert)}}
    return json.dumps({"name": "protocol-probes-lab", "peers": peers, "settings": settings}, indent=1)


@pytest.fixture(scope="module")
def scan(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("protocol-probes")
    folder.chmod(0o755)
    (folder / "profile.yaml").write_text(profile_yaml())
    (folder / "site.yaml").write_text(site_yaml(lab))
    started = time.monotonic()
    run = lab.client.run(
        [sys.executable, "-m", "netcheck", "scan", "--profile", str(folder / "profile.yaml"),
         "--site", str(folder / "site.yaml"), "--timeout", str(TIMEOUT_S), "--no-raw",
         "--format", "json", "--output", "-"],
        check=False, cwd=REPO, timeout=120,
    )
    elapsed = time.monotonic() - started
    assert run.returncode in (0, 1), run.stderr
    report = json.loads(run.stdout)
    print(f"\nprotocol-probe scan of {len(report['results'])} flows took {elapsed:.2f} s")
    return {"elapsed": elapsed, "report": report, "stderr": run.stderr}


def results(scan: dict[str, Any], flow_id: str) -> list[dict[str, Any]]:
    found = [r for r in scan["report"]["results"] if r["flow"] == flow_id]
    assert found, f"no result for {flow_id}"
    return found


def one(scan: dict[str, Any], flow_id: str) -> dict[str, Any]:
    (found,) = results(scan, flow_id)
    return found


def by_url(scan: dict[str, Any], flow_id: str) -> dict[str, dict[str, Any]]:
    return {r["destination"]: r for r in results(scan, flow_id)}


def test_whole_scan_ends_within_its_deadlines(scan: dict[str, Any]) -> None:
    # Every probe bounds itself by --timeout; the run (python start-up included) stays close to it.
    assert scan["elapsed"] < TIMEOUT_S + 6
    assert not [r for r in scan["report"]["results"] if r["status"] == "error"], scan["report"]["results"]


def test_tls_console_passes_with_chain_verified_and_expected_issuer(scan: dict[str, Any], lab: Lab) -> None:
    result = one(scan, "tls-console")
    assert (result["status"], result["reason"]) == ("pass", "answered"), result["detail"]
    evidence = result["evidence"]
    leaf, issuer = evidence["certificates"][0], evidence["certificates"][1]
    assert leaf["subject"] == "CN=console.lab.example,O=netcheck lab"
    assert issuer["subject"].startswith("CN=netcheck lab issuing CA")
    assert evidence["tls"]["chain_source"] == "presented"
    assert evidence["tls"]["server_name"] == "console.lab.example"
    assert evidence["tls"]["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert evidence["chain_verified"] is True and evidence["issuer_matches"] is True
    assert evidence["name_matches"] == {"console.lab.example": True}
    assert "CN=console.lab.example" in result["detail"]


def test_tls_self_signed_warns(scan: dict[str, Any]) -> None:
    result = one(scan, "tls-selfsigned")
    assert (result["status"], result["reason"]) == ("warn", "certificate-warning")
    assert "self-signed" in result["detail"]
    assert result["evidence"]["certificates"][0]["self_signed"] is True
    assert result["evidence"]["chain_verified"] is False


def test_tls_expired_warns_and_names_the_mismatch(scan: dict[str, Any]) -> None:
    result = one(scan, "tls-expired")
    assert (result["status"], result["reason"]) == ("warn", "certificate-warning")
    assert "expired on" in result["detail"]
    # SNI picked expired.lab.example; the planned host is console.lab.example.
    assert "not valid for console.lab.example" in result["detail"]


def test_tls_unexpected_issuer_is_intercepted(scan: dict[str, Any]) -> None:
    result = one(scan, "tls-intercepted")
    assert (result["status"], result["reason"]) == ("warn", "intercepted")
    assert "not by the expected 'CN=Corporate Inspection CA'" in result["detail"]


def test_tls_to_an_ssh_port_is_protocol_error(scan: dict[str, Any]) -> None:
    result = one(scan, "tls-on-ssh")
    assert (result["status"], result["reason"]) == ("fail", "protocol-error")
    assert "an SSH server answered, not TLS" in result["detail"]
    assert result["evidence"]["first_bytes"].startswith("SSH-2.0-")


def test_tls_by_ip_matches_the_ip_san(scan: dict[str, Any], lab: Lab) -> None:
    result = one(scan, "tls-ha-by-ip")
    assert (result["status"], result["reason"]) == ("pass", "answered"), result["detail"]
    assert result["evidence"]["tls"]["server_name"] is None  # no SNI for an IP
    assert result["evidence"]["name_matches"] == {lab.addresses["ha_console"]: True}


def test_ssh_banner(scan: dict[str, Any]) -> None:
    result = one(scan, "ssh-console")
    assert (result["status"], result["reason"]) == ("pass", "answered")
    assert result["evidence"]["protocol"] == "2.0"
    assert result["evidence"]["software"].startswith("OpenSSH_")
    assert result["detail"].startswith("SSH 22: SSH-2.0-OpenSSH_")


def test_ssh_probe_on_an_smtp_port_is_protocol_error(scan: dict[str, Any]) -> None:
    result = one(scan, "ssh-on-smtp")
    assert (result["status"], result["reason"]) == ("fail", "protocol-error")
    assert "220 mail.lab.example ESMTP netcheck lab" in result["detail"]


def test_smtp_starttls_records_the_mail_certificate(scan: dict[str, Any]) -> None:
    result = one(scan, "smtp")
    assert (result["status"], result["reason"]) == ("pass", "answered"), result["detail"]
    evidence = result["evidence"]
    assert evidence["greeting"] == "220 mail.lab.example ESMTP netcheck lab"
    assert any(line.startswith("STARTTLS") for line in evidence["extensions"])
    assert evidence["certificates"][0]["subject"] == "CN=mail.lab.example,O=netcheck lab"
    assert evidence["certificates"][0]["key_type"] == "RSA"
    assert evidence["chain_verified"] is True
    commands = [line for line in evidence["transcript"] if line.startswith("C: ")]
    assert commands == ["C: EHLO netcheck.invalid", "C: STARTTLS", "C: EHLO netcheck.invalid", "C: QUIT"]


def test_smtp_submission_requires_and_gets_starttls(scan: dict[str, Any]) -> None:
    result = one(scan, "smtp-submission")
    assert (result["status"], result["reason"]) == ("pass", "answered"), result["detail"]
    assert result["evidence"]["tls"]["protocol"] in ("TLSv1.2", "TLSv1.3")


def test_smtp_probe_on_ssh_is_protocol_error(scan: dict[str, Any]) -> None:
    result = one(scan, "smtp-on-ssh")
    assert (result["status"], result["reason"]) == ("fail", "protocol-error")
    assert "not an SMTP reply" in result["detail"] and "SSH-2.0-" in result["detail"]


def _received(lab: Lab, needle: str, wait_s: float = 3.0) -> list[str]:
    deadline = time.monotonic() + wait_s
    while True:
        lines = [line for line in lab.syslog_file.read_text(errors="replace").splitlines() if needle in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_syslog_udp_is_unconfirmed_but_arrives(scan: dict[str, Any], lab: Lab) -> None:
    result = one(scan, "syslog-udp")
    assert (result["status"], result["reason"]) == ("warn", "unconfirmed")
    run_id = scan["report"]["run"]["id"]
    assert run_id in result["detail"]
    # rsyslogd's default file format keeps the text, not the structured data.
    lines = _received(lab, f"run {run_id}, flow syslog-udp.")
    assert len(lines) == 1, lab.syslog_file.read_text(errors="replace")[-2000:]  # exactly one message, no retries
    assert "netcheck connectivity test" in lines[0] and " netcheck" in lines[0]


def test_syslog_tcp_is_sent_and_arrives(scan: dict[str, Any], lab: Lab) -> None:
    result = one(scan, "syslog-tcp")
    assert (result["status"], result["reason"]) == ("pass", "open"), result["detail"]
    lines = _received(lab, f"run {scan['report']['run']['id']}, flow syslog-tcp.")
    assert len(lines) == 1, lab.syslog_file.read_text(errors="replace")[-2000:]


def test_syslog_to_a_closed_udp_port_fails_refused(scan: dict[str, Any]) -> None:
    result = one(scan, "syslog-udp-closed")
    assert (result["status"], result["reason"]) == ("fail", "refused")


def test_rpc_bind_ack_from_samba(scan: dict[str, Any]) -> None:
    result = one(scan, "rpc")
    assert (result["status"], result["reason"]) == ("pass", "answered"), result["detail"]
    assert result["evidence"]["pdu"] == "bind_ack"
    assert result["evidence"]["secondary_address"] == "135"
    assert result["evidence"]["results"] == ["acceptance"]


def test_rpc_lookup_lists_the_mapper(scan: dict[str, Any]) -> None:
    result = one(scan, "rpc-lookup")
    assert result["status"] == "pass", result["detail"]
    lookup = result["evidence"]["lookup"]
    assert "error" not in lookup, lookup
    assert lookup["count"] >= 1


def test_rpc_dynamic_range_blocked_by_the_router(scan: dict[str, Any]) -> None:
    result = one(scan, "rpc-dynamic")
    assert result["status"] == "fail"
    assert result["reason"] in ("filtered", "prohibited"), result["detail"]
    assert "the dynamic range is blocked" in result["detail"]
    assert len(result["evidence"]["dynamic_sample"]["sampled"]) >= 3


@pytest.mark.parametrize("flow_id", ["crl", "crl-via-proxy"])
def test_crl_downloads(scan: dict[str, Any], lab: Lab, flow_id: str) -> None:
    crl = lab.addresses["crl"]
    got = by_url(scan, flow_id)
    good = got[lab.crl_urls["lab"]]
    assert (good["status"], good["reason"]) == ("pass", "answered"), good["detail"]
    facts = good["evidence"]["crl"]
    assert facts["issuer"].startswith("CN=netcheck lab issuing CA")
    assert facts["revoked_count"] == 1
    assert facts["signature_algorithm"] == "ecdsa-with-SHA256"
    assert got[lab.crl_urls["lab_alt_port"]]["status"] == "pass"
    stale = got[lab.crl_urls["stale"]]
    assert (stale["status"], stale["reason"]) == ("warn", "stale")
    not_crl = got[f"http://{crl}/root-ca.pem"]
    assert (not_crl["status"], not_crl["reason"]) == ("fail", "not-a-crl")
    missing = got[f"http://{crl}/missing.crl"]
    assert (missing["status"], missing["reason"]) == ("fail", "http-error")
    assert "404" in missing["detail"]
    if flow_id == "crl-via-proxy":
        assert good["evidence"]["download"]["proxy"] == f"{lab.addresses['proxy']}:3128"


def test_proxy_relays_gets_and_connect(scan: dict[str, Any], lab: Lab) -> None:
    result = one(scan, "proxy")
    assert (result["status"], result["reason"]) == ("pass", "answered"), result["detail"]
    requests = result["evidence"]["requests"]
    assert requests["CONNECT console.lab.example:443"]["reason"] == "answered"
    assert requests[f"GET {lab.crl_urls['lab']}"]["status_line"] == "HTTP/1.1 200 OK"


def test_proxy_denied_connect_reports_the_status_line(scan: dict[str, Any]) -> None:
    result = one(scan, "proxy-connect-denied")
    assert (result["status"], result["reason"]) == ("fail", "proxy-denied")
    assert "CONNECT console.lab.example:8443 failed: HTTP/1.1 403" in result["detail"]
