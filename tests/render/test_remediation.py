"""Remediation sentences and the firewall change request, from the evidence."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from netcheck.model import Direction, Reason, Report, Result, Status
from netcheck.remediation import last_hop, needs_firewall_rule, remediation, source_addresses
from netcheck.render.firewall import firewall_rules, render_firewall_csv
from tests.render.sample import INFO, flow, result

CONSOLE = flow("console-https", "console", "203.0.113.10", "HTTPS", "tcp", 443, "console")
SYSLOG = flow("syslog", "syslog", "203.0.113.14", "Syslog", "udp", 514, "logs")


def fix(r: Result) -> str | None:
    return remediation(r, INFO)


def test_filtered_with_icmp_sender_names_the_firewall() -> None:
    # Given a filtered handshake whose ICMP came from the router, the sentence names it.
    r = result(CONSOLE, Status.FAIL, Reason.FILTERED, "no answer",
               evidence={"icmp": {"sender": "198.51.100.1", "text": "host unreachable"}})
    assert fix(r) == ("allow TCP 443 from 198.51.100.10 to 203.0.113.10 on the firewall at 198.51.100.1; "
                      "the handshake got no answer")


def test_filtered_without_evidence_names_no_firewall() -> None:
    r = result(CONSOLE, Status.FAIL, Reason.FILTERED, "no answer")
    assert fix(r) == "allow TCP 443 from 198.51.100.10 to 203.0.113.10; the handshake got no answer"


def test_raw_traceroute_hop_is_used() -> None:
    raw = {"syn": "silence", "responder": None, "last_hop": "198.51.100.1",
           "hops": [{"ttl": 1, "address": "198.51.100.1", "answer": "time-exceeded"}]}
    r = result(CONSOLE, Status.FAIL, Reason.FILTERED, "no answer", evidence={"raw": raw})
    assert "on the firewall at or just after 198.51.100.1 (the last hop that answered)" in (fix(r) or "")
    # Without last_hop, the last router of the hop list; the destination itself never counts.
    assert last_hop({"raw": {"hops": [{"address": "198.51.100.1", "answer": "time-exceeded"},
                                      {"address": "203.0.113.10", "answer": "rst"}]}}) == "198.51.100.1"
    assert last_hop({"raw": {"last_hop": None, "hops": [{"address": "x", "answer": "time-exceeded"}]}}) is None
    assert last_hop({"raw": "garbage"}) is None


def test_prohibited_by_router_and_by_own_firewall() -> None:
    r = result(CONSOLE, Status.FAIL, Reason.PROHIBITED, "prohibited",
               evidence={"icmp": {"sender": "198.51.100.1", "text": "communication administratively prohibited"}})
    assert fix(r) == ("allow TCP 443 from 198.51.100.10 to 203.0.113.10 on the firewall at 198.51.100.1; "
                      "it answered ICMP administratively prohibited")
    own = result(CONSOLE, Status.FAIL, Reason.PROHIBITED, "EPERM", evidence={"errno": "EPERM"})
    assert "in this host's own firewall" in (fix(own) or "")


def test_refused_by_host_is_a_service_problem_refused_by_router_a_firewall_one() -> None:
    by_host = result(CONSOLE, Status.FAIL, Reason.REFUSED, "reset")
    assert (fix(by_host) or "").startswith("start the HTTPS service on 203.0.113.10 port 443")
    by_router = result(CONSOLE, Status.FAIL, Reason.REFUSED, "port unreachable",
                       evidence={"icmp": {"sender": "198.51.100.1", "text": "port unreachable"}})
    assert (fix(by_router) or "").startswith(
        "allow TCP 443 from 198.51.100.10 to 203.0.113.10 on the firewall at 198.51.100.1; it rejected")


def test_unconfirmed_udp_and_inbound_and_not_configured() -> None:
    syslog = result(SYSLOG, Status.WARN, Reason.UNCONFIRMED, "sent")
    assert "allow UDP 514 from 198.51.100.10 to 203.0.113.14" in (fix(syslog) or "")
    assert "netcheck listen" in (fix(syslog) or "")
    inbound = result(flow("snmp-in", "snmp", "", "SNMP", "udp", 161, "queries", Direction.IN),
                     Status.WARN, Reason.NOT_LISTENING, "nothing")
    assert fix(inbound) == ("start the SNMP service on this host (UDP 161): nothing listens there, so no snmp host "
                            "can reach it; then test the path from the snmp host(s)")
    unset = result(flow("ntp", "ntp", "", "NTP", "udp", 123, "time"), Status.SKIP, Reason.NOT_CONFIGURED, "")
    assert fix(unset) == "name the ntp host(s) in the site file's peers to test this flow"


def test_a_named_peer_missing_a_setting_is_told_the_setting_not_to_name_the_peer() -> None:
    # Given the SNMP host named but no community configured (the probe's own reason and detail)
    detail = "SNMP 161: the v2c community is missing: set settings.snmp.community_env to a variable name"
    snmp = result(flow("snmp", "snmp", "203.0.113.15", "SNMP", "udp", 161, "queries"), Status.SKIP,
                  Reason.NOT_CONFIGURED, detail)
    # Then the fix repeats what the detail asks for, never "name the snmp host(s)"
    assert fix(snmp) == f"complete the site file's settings for this flow: {detail}"


def test_passed_flows_have_no_remediation_and_every_reason_has_one() -> None:
    assert fix(result(CONSOLE, Status.PASS, Reason.OPEN, "ok")) is None
    reached = {Reason.OPEN, Reason.ANSWERED, Reason.CONFIRMED, Reason.LISTENING, Reason.REACHABLE}
    for reason in Reason:
        if reason is Reason.NOT_APPLICABLE or reason in reached:
            continue
        text = fix(result(CONSOLE, Status.FAIL, reason, "x"))
        assert text and not text.startswith("review "), reason


def test_source_addresses_skip_loopback_and_link_local_and_match_the_family() -> None:
    assert source_addresses(INFO, "203.0.113.10") == ("198.51.100.10",)
    assert source_addresses(INFO, "2001:db8:200::1") == ("2001:db8:100::10",)
    assert source_addresses(INFO) == ("198.51.100.10", "2001:db8:100::10")
    assert source_addresses(INFO, "127.0.0.1") == ("127.0.0.1",)


@pytest.mark.parametrize("status, reason, needed", [
    (Status.FAIL, Reason.FILTERED, True), (Status.FAIL, Reason.REFUSED, True),
    (Status.WARN, Reason.UNCONFIRMED, True), (Status.WARN, Reason.NO_RESPONSE, True),
    (Status.FAIL, Reason.AUTH_FAILED, False), (Status.WARN, Reason.CERT_WARNING, False),
    (Status.PASS, Reason.OPEN, False), (Status.SKIP, Reason.NOT_CONFIGURED, False),
    (Status.ERROR, Reason.INTERNAL_ERROR, False),
])
def test_which_flows_need_a_firewall_rule(status: Status, reason: Reason, needed: bool) -> None:
    assert needs_firewall_rule(result(CONSOLE, status, reason, "")) is needed


def test_firewall_request_is_deduplicated(report: Report) -> None:
    # Given two flows on the same path (one documented twice), one rule serves both.
    twin = replace(CONSOLE, id="console-https-2", purpose="the same path, another row of the table")
    results = [result(CONSOLE, Status.FAIL, Reason.FILTERED, ""), result(twin, Status.FAIL, Reason.FILTERED, ""),
               result(SYSLOG, Status.WARN, Reason.UNCONFIRMED, "")]
    rules = firewall_rules(Report.build(INFO, results))
    assert [(r.destination, r.transport, r.port, r.flows) for r in rules] == [
        ("203.0.113.10", "TCP", "443", "console-https; console-https-2"),
        ("203.0.113.14", "UDP", "514", "syslog"),
    ]
    assert rules[0].source == "198.51.100.10"
    assert "documented flow sensor -> console server" in rules[0].justification
    rows = list(csv.DictReader(io.StringIO(render_firewall_csv(report))))
    assert {row["flows"] for row in rows} == {"tunnel", "crl", "dns-udp", "syslog", "wmi-rpc"}
    assert all(row["source"] == "198.51.100.10" for row in rows)
