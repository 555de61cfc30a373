"""Every reason that can come with skip, fail, warn or error gets a fix that agrees with its own
result: one source of truth (the reason, the detail, the evidence, expected/found).

The walk covers the Reason enum with the statuses the default judge (DEFAULT_STATUS, else fail)
and the probes' own judges give it, for a named and for an unnamed peer, over TCP and UDP."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from netcheck.model import Direction, Flow, Reason, Report, Result, Status
from netcheck.probes import DEFAULT_STATUS
from netcheck.remediation import needs_firewall_rule, remediation
from netcheck.render.firewall import firewall_rules
from netcheck.render.firewall_rules import render_vendor
from tests.render.sample import INFO, flow, result

# Statuses a probe's own judge gives besides the default (probes/ntp.py, dns.py, the run-level judge, ...).
OTHER_STATUSES: dict[Reason, set[Status]] = {
    Reason.UNSYNCHRONISED: {Status.FAIL},  # kiss-o'-death DENY/RSTR
    Reason.DNS_ERROR: {Status.WARN},  # the site lists no names
    Reason.NOT_CONFIGURED: {Status.SKIP},
}
REACHED = {Reason.OPEN, Reason.ANSWERED, Reason.CONFIRMED, Reason.LISTENING, Reason.REACHABLE}
# Reasons where the host itself answered that nothing listens: the fix is the service, not a rule.
NOTHING_LISTENS = {Reason.REFUSED, Reason.NOT_LISTENING}
# The fix is a change to the site file's settings.
SETTINGS_REASONS = {Reason.NOT_CONFIGURED, Reason.AUTH_FAILED, Reason.PROXY_AUTH_REQUIRED}
# The CRL's file is at fault, not the path: these name its URL (with the server's address and port).
CONTENT_REASONS = {Reason.NOT_A_CRL, Reason.STALE, Reason.HTTP_ERROR}


def statuses(reason: Reason) -> set[Status]:
    found = {DEFAULT_STATUS.get(reason, Status.FAIL)} | OTHER_STATUSES.get(reason, set())
    return {status for status in found if status is not Status.PASS}


def flows() -> Iterator[Flow]:
    yield flow("console-https", "console", "203.0.113.10", "HTTPS", "tcp", 443, "console")
    yield flow("syslog", "syslog", "203.0.113.14", "Syslog", "udp", 514, "logs")
    yield flow("ldap", "ldap", "203.0.113.20", "LDAP", "tcp", 389, "directory")
    yield flow("crl", "crl", "http://203.0.113.80/crl/lab-ca.crl", "HTTP", "tcp", 80, "CRL")
    yield flow("ntp", "ntp", "", "NTP", "udp", 123, "time")  # peer not named
    yield flow("snmp-in", "snmp", "", "SNMP", "udp", 161, "queries", Direction.IN)


# An outbound flow without a host only ever gets not-configured; an inbound one what the local
# listener check and the receipt join give it (and netcheck's own troubles).
UNNAMED_OUT = {Reason.NOT_CONFIGURED}
INBOUND = {Reason.NOT_LISTENING, Reason.BLOCKED, Reason.INTERNAL_ERROR, Reason.NO_PRIVILEGE, Reason.RUN_DEADLINE,
           Reason.INTERRUPTED}


def possible(reason: Reason, planned: Flow) -> bool:
    if planned.direction is Direction.IN:
        return reason in INBOUND
    return bool(planned.host) or reason in UNNAMED_OUT


CASES = [(reason, status, f) for reason in Reason if reason not in REACHED and reason is not Reason.NOT_APPLICABLE
         for status in sorted(statuses(reason)) for f in flows() if possible(reason, f)]


@pytest.mark.parametrize(("reason", "status", "planned"), CASES,
                         ids=[f"{r.value}-{s.value}-{f.id}" for r, s, f in CASES])
def test_the_fix_agrees_with_the_result(reason: Reason, status: Status, planned: Flow) -> None:
    # Given a result of this reason whose detail names a setting, as probes' details do
    detail = f"{reason.value}: set settings.{planned.peer}.user to the account name"
    address = None if planned.direction is Direction.IN or not planned.host else "203.0.113.80"
    outcome = result(planned, status, reason, detail, address=address)
    # When the fix is derived from it
    text = remediation(outcome, INFO)
    # Then there is one, specific to the reason (not the catch-all "review ...")
    assert text and not text.startswith("review "), text
    # it never asks to name a peer that is named
    if planned.host:
        assert f"name the {planned.peer} host" not in text and "in the site file's peers" not in text, text
    # it never asks for a firewall rule when the host said that nothing listens there
    if reason in NOTHING_LISTENS and planned.direction is Direction.OUT or reason is Reason.NOT_LISTENING:
        assert not text.startswith("allow ") and "open the firewall" not in text, text
    # a rule names addresses and ports, never URLs (only a CRL's content is named by its URL)
    if "allow " in text:
        assert re.search(rf"\ballow {planned.transport.upper()} {planned.port}\b", text), text
    if reason not in CONTENT_REASONS:
        assert "://" not in text, text
    # the firewall request and the fix agree: a rule is requested only when the fix asks for one
    # (a refusal keeps its rule in the request: a firewall may reset on the host's behalf, and the fix says so)
    if needs_firewall_rule(outcome) and reason is not Reason.REFUSED:
        assert "allow " in text or "route" in text or "resolvable" in text, text
    if reason is Reason.REFUSED and not text.startswith("allow "):
        assert "unless a firewall answers on its behalf" in text, text
    # a fix about settings names the setting the detail names
    if reason in SETTINGS_REASONS and planned.host:
        assert f"settings.{planned.peer}.user" in text, text


def test_the_fix_quotes_the_judges_rule_and_finding() -> None:
    ntp = flow("ntp", "ntp", "203.0.113.123", "NTP", "udp", 123, "time")
    outcome = Result(flow=ntp, status=Status.WARN, reason=Reason.CLOCK_OFFSET, detail="off", address="203.0.113.123",
                     expected="offset <= 0.5 s", found="offset +1.730 s")
    text = remediation(outcome, INFO) or ""
    assert text.endswith("(expected offset <= 0.5 s; found offset +1.730 s)"), text


def test_auth_failed_names_the_settings_the_flow_ran_with() -> None:
    ldap = flow("ldap", "ldap", "203.0.113.20", "LDAP", "tcp", 389, "directory")
    ldap = Flow(**{**ldap.__dict__, "options": {"bind_dn": "cn=netcheck", "password_env": "LDAP_PW"}})
    text = remediation(result(ldap, Status.FAIL, Reason.AUTH_FAILED, "bind refused"), INFO) or ""
    assert "settings.ldap.bind_dn, settings.ldap.password_env" in text, text
    assert "LDAP_PW" not in text  # the variable's name is a setting value: the setting is named, not it


def test_satisfied_elsewhere_asks_for_nothing_and_names_the_direct_rule_by_address() -> None:
    crl = flow("crl", "crl", "http://203.0.113.80/crl/lab-ca.crl", "HTTP", "tcp", 80, "CRL")
    outcome = result(crl, Status.SKIP, Reason.SATISFIED_ELSEWHERE,
                     "satisfied through the proxy 203.0.113.30:3128 — the appliance fetches its CRL that way "
                     "(direct download: filtered: no answer)", address="203.0.113.80",
                     evidence={"satisfied_through": {"proxy": "203.0.113.30:3128"}})
    text = remediation(outcome, INFO) or ""
    assert text.startswith("none needed: satisfied through the proxy 203.0.113.30:3128"), text
    assert "allow TCP 80 from 198.51.100.10 to 203.0.113.80" in text and "://" not in text
    assert not needs_firewall_rule(outcome)


@pytest.mark.parametrize("address", [None, "203.0.113.80"])
def test_the_firewall_request_names_a_crl_urls_address_and_port(address: str | None) -> None:
    # Given a CRL flow dropped on the way (with or without the address the probe connected to)
    crl = flow("crl", "crl", "http://203.0.113.80:8080/crl/lab-ca.crl", "HTTP", "tcp", 8080, "CRL")
    outcome = Result(flow=crl, status=Status.FAIL, reason=Reason.FILTERED, detail="no answer", address=address)
    # Then the fix and the change request name the server's address and the URL's port, never the URL
    assert remediation(outcome, INFO) == ("allow TCP 8080 from 198.51.100.10 to 203.0.113.80; "
                                          "the handshake got no answer")
    rules = firewall_rules(Report.build(INFO, [outcome]))
    assert [(r.source, r.destination, r.transport, r.port) for r in rules] == [
        ("198.51.100.10", "203.0.113.80", "TCP", "8080")]
    for vendor in ("nftables", "iptables"):
        assert "://" not in render_vendor(Report.build(INFO, [outcome]), vendor)
