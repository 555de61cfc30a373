"""The judges, offline: each probe kind's registered judge against typed facts (pass and fail
side), and the run-level judge that sees every result of a run. Real-daemon tests for the same
judges are in tests/probes (chronyd, slapd, snmpd, a TLS server) and tests/lab."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from netcheck.judges import Verdict, as_verdict, crl_through_proxy, judge_run
from netcheck.model import Observation, Reason, Result, Status
from netcheck.probes import get
from netcheck.probes._tls import Expectation, TlsFacts, assess, judge_certificate
from netcheck.probes.dns import DnsAnswer, DnsFacts
from netcheck.probes.ldap import LdapFacts
from netcheck.probes.ntp import NtpFacts
from netcheck.probes.smtp import SmtpFacts
from netcheck.probes.snmp import SnmpFacts
from tests.conftest import make_flow
from tests.probes.hostile import der, make_cert


def judged(kind: str, observation: Observation, **options: Any) -> Verdict:
    flow = make_flow(123, probe=kind, options=options)
    return as_verdict(get(kind).judge(flow, observation))


# --- ntp -------------------------------------------------------------------------------

def ntp(reason: Reason, offset: float = 0.002, stratum: int = 2, leap: int = 0, kiss: str = "") -> Observation:
    return Observation(reason, "x", facts=NtpFacts(stratum, leap, offset, 0.001, "PPS", kiss))


def test_ntp_offset_within_the_sites_limit_passes() -> None:
    assert judged("ntp", ntp(Reason.ANSWERED, 0.2), max_offset_s=0.5) == Verdict(
        Status.PASS, "offset <= 0.5 s", "offset +0.200 s")


def test_ntp_offset_beyond_the_sites_limit_warns_with_both_numbers() -> None:
    assert judged("ntp", ntp(Reason.CLOCK_OFFSET, 1.73), max_offset_s=0.5) == Verdict(
        Status.WARN, "offset <= 0.5 s", "offset +1.730 s")


def test_ntp_default_limit_is_one_second() -> None:
    assert judged("ntp", ntp(Reason.ANSWERED, -0.9)).expected == "offset <= 1 s"


def test_ntp_unsynchronised_and_refusing_servers() -> None:
    unsynced = judged("ntp", ntp(Reason.UNSYNCHRONISED, stratum=16, leap=3))
    assert unsynced == Verdict(Status.WARN, "synchronised: stratum 1-15, leap not 3", "stratum 16, leap 3")
    denied = judged("ntp", ntp(Reason.UNSYNCHRONISED, stratum=0, kiss="DENY"))
    assert denied == Verdict(Status.FAIL, "the server serves this client", "kiss-o'-death DENY")


def test_ntp_without_a_reply_is_judged_by_its_reason_alone() -> None:
    assert judged("ntp", Observation(Reason.NO_RESPONSE, "silence")) == Verdict(Status.FAIL)


# --- dns -------------------------------------------------------------------------------

def dns(reason: Reason, *answers: DnsAnswer) -> Observation:
    return Observation(reason, "x", facts=DnsFacts(answers))


def test_dns_every_listed_name_resolving_passes() -> None:
    verdict = judged("dns", dns(Reason.ANSWERED, DnsAnswer("console.lab.example.", "A", "NOERROR", ("203.0.113.10",),
                                                           Reason.ANSWERED)))
    assert verdict == Verdict(Status.PASS, "resolve console.lab.example A", "console.lab.example A -> 203.0.113.10")


def test_dns_a_missing_name_warns_and_says_which() -> None:
    verdict = judged("dns", dns(Reason.NXDOMAIN,
                                DnsAnswer("console.lab.example.", "A", "NOERROR", ("203.0.113.10",), Reason.ANSWERED),
                                DnsAnswer("nowhere.lab.example.", "A", "NXDOMAIN", (), Reason.NXDOMAIN)))
    assert verdict.status is Status.WARN
    assert verdict.expected == "resolve console.lab.example A, nowhere.lab.example A"
    assert verdict.found == "console.lab.example A -> 203.0.113.10; nowhere.lab.example A: NXDOMAIN"


def test_dns_without_listed_names_a_refused_root_query_only_warns() -> None:
    verdict = judged("dns", dns(Reason.DNS_ERROR, DnsAnswer(".", "NS", "REFUSED", (), Reason.DNS_ERROR, False, True)))
    assert verdict == Verdict(Status.WARN, "any well-formed answer (the site lists no names)", ". NS: REFUSED")


def test_dns_a_server_error_for_a_listed_name_fails() -> None:
    verdict = judged("dns", dns(Reason.DNS_ERROR, DnsAnswer("a.example.", "A", "SERVFAIL", (), Reason.DNS_ERROR)))
    assert (verdict.status, verdict.found) == (Status.FAIL, "a.example A: SERVFAIL")


def test_dns_without_any_answer_is_judged_by_its_reason_alone() -> None:
    assert judged("dns", dns(Reason.NO_RESPONSE, DnsAnswer("a.example.", "A", None, (), Reason.NO_RESPONSE))) == \
        Verdict(Status.FAIL)


# --- tls (and the tls-family: smtp's STARTTLS, syslog over TLS) ---------------------------

@pytest.fixture(scope="module")
def chain() -> dict[str, tuple[bytes, ...]]:
    ca = make_cert("Lab CA", ca=True, days=(-10, 3650))
    leaf = make_cert("server.test", issuer=ca, dns=("server.test",))
    other = make_cert("Other CA", ca=True, days=(-10, 3650))
    forged = make_cert("server.test", issuer=other, dns=("server.test",))
    old = make_cert("server.test", issuer=ca, dns=("server.test",), days=(-60, -30))
    return {"good": (der(leaf[0]), der(ca[0])), "forged": (der(forged[0]), der(other[0])),
            "expired": (der(old[0]), der(ca[0]))}


def tls(chain_der: tuple[bytes, ...], expect: Expectation) -> Observation:
    assessment = assess(chain_der, expect)
    return Observation(assessment.reason, "x", facts=assessment.facts)


@pytest.mark.parametrize("kind", ["tls", "smtp", "syslog"])
def test_the_expected_issuer_passes_and_another_warns(chain: dict[str, tuple[bytes, ...]], kind: str) -> None:
    expect = Expectation(names=("server.test",), expected_issuer="CN=Lab CA")
    good = judged(kind, tls(chain["good"], expect))
    assert good.status is Status.PASS
    assert good.expected == "issuer CN=Lab CA; valid for server.test; within its validity period, not self-signed"
    assert good.found is not None and good.found.startswith("issuer CN=Lab CA; valid for server.test; valid until ")
    forged = judged(kind, tls(chain["forged"], expect))
    assert forged.status is Status.WARN
    assert forged.found is not None and forged.found.startswith("issuer CN=Other CA;")


def test_an_expired_certificate_and_a_wrong_name_are_found(chain: dict[str, tuple[bytes, ...]]) -> None:
    verdict = judged("tls", tls(chain["expired"], Expectation(names=("other.test",))))
    assert verdict.status is Status.WARN
    assert verdict.expected == "valid for other.test; within its validity period, not self-signed"
    expired_on = f"{datetime.now(UTC) - timedelta(days=30):%Y-%m-%d}"
    assert verdict.found == f"valid for server.test; the certificate expired on {expired_on}"


def test_an_unreadable_certificate_warns_with_why() -> None:
    verdict = as_verdict(judge_certificate(make_flow(), tls((b"garbage",), Expectation())))
    assert (verdict.status, verdict.expected) == (Status.WARN, "a readable certificate")
    assert verdict.found is not None and "does not parse" in verdict.found


def test_a_failed_handshake_is_judged_by_its_reason_alone() -> None:
    assert judged("tls", Observation(Reason.TLS_ERROR, "alert", facts=TlsFacts())) == Verdict(Status.FAIL)


# --- smtp, ldap, snmp ----------------------------------------------------------------------

def test_smtp_require_starttls() -> None:
    offered = Observation(Reason.ANSWERED, "x", facts=SmtpFacts(True, True))
    assert judged("smtp", offered) == Verdict(Status.PASS, "STARTTLS offered (require_starttls)", "STARTTLS offered")
    missing = Observation(Reason.TLS_ERROR, "x", facts=SmtpFacts(False, True))
    assert judged("smtp", missing) == Verdict(Status.FAIL, "STARTTLS offered (require_starttls)",
                                              "STARTTLS not offered")
    # no expectation, no rule: a server without STARTTLS passes when the site does not require it
    assert judged("smtp", Observation(Reason.ANSWERED, "x", facts=SmtpFacts(False, False))) == Verdict(Status.PASS)


@pytest.mark.parametrize("kind", ["ldap", "ldaps"])
def test_ldap_bind_and_certificate(kind: str) -> None:
    bound = Observation(Reason.ANSWERED, "x", facts=LdapFacts("cn=netcheck", "success", "ldap.test", "CN=ldap.test"))
    assert judged(kind, bound) == Verdict(
        Status.PASS, "simple bind as cn=netcheck succeeds; certificate valid for ldap.test, CA-issued, in its validity "
                     "period", "bind: success; certificate CN=ldap.test: valid")
    refused = Observation(Reason.AUTH_FAILED, "x",
                          facts=LdapFacts("cn=netcheck", "invalidCredentials", "ldap.test"))
    assert judged(kind, refused) == Verdict(Status.FAIL, "simple bind as cn=netcheck succeeds",
                                            "bind: invalidCredentials")
    # anonymous, no TLS: no site expectation to show
    assert judged(kind, Observation(Reason.ANSWERED, "x", facts=LdapFacts(None, None, "ldap.test"))) == \
        Verdict(Status.PASS)


def test_snmp_credentials_answered_and_rejected() -> None:
    answered = Observation(Reason.ANSWERED, "x", facts=SnmpFacts("v2c community", "sysDescr 'Linux'"))
    assert judged("snmp", answered) == Verdict(Status.PASS, "GET sysDescr.0 answered with v2c community",
                                               "sysDescr 'Linux'")
    rejected = Observation(Reason.AUTH_FAILED, "x", facts=SnmpFacts("v3 user u authPriv (SHA/AES)",
                                                                  "rejected: WrongDigest"))
    assert judged("snmp", rejected).status is Status.FAIL


# --- the run-level judge ------------------------------------------------------------------

CRL_URL = "http://203.0.113.80/crl/lab-ca.crl"


def crl_result(status: Status, reason: Reason, via_proxy: bool = False, **evidence: Any) -> Result:
    flow = make_flow(80, probe="http-crl", peer="crl", host=CRL_URL, flow_id="crl",
                     options={"via_proxy": True} if via_proxy else {})
    return Result(flow=flow, status=status, reason=reason, detail="TCP 80: no answer within 2.0 s",
                  address="203.0.113.80", evidence=evidence)


def proxy_result(got_it: bool, status: Status = Status.PASS) -> Result:
    flow = make_flow(3128, probe="proxy", peer="proxy", host="http://203.0.113.30:3128", flow_id="proxy")
    request = ({"reason": "answered", "detail": "HTTP/1.1 200 OK", **{"reason": None, "bytes": 812}} if got_it else
               {"reason": "http-error", "detail": "relayed; the server said: 404", "bytes": 153})
    return Result(flow=flow, status=status, reason=Reason.ANSWERED, detail="relayed", address="203.0.113.30",
                  evidence={"requests": {f"GET {CRL_URL}": request}})


def test_a_dropped_direct_crl_fetched_through_the_proxy_is_satisfied_elsewhere() -> None:
    direct = crl_result(Status.FAIL, Reason.FILTERED, download={"reason": "filtered"})
    judged_direct, proxy = judge_run([direct, proxy_result(True)])
    assert (judged_direct.status, judged_direct.reason) == (Status.SKIP, Reason.SATISFIED_ELSEWHERE)
    assert judged_direct.detail.startswith("satisfied through the proxy 203.0.113.30:3128 — the appliance fetches "
                                           "its CRL that way (direct download: filtered: ")
    assert judged_direct.evidence["direct"] == {"status": "fail", "reason": "filtered",
                                                "detail": "TCP 80: no answer within 2.0 s"}
    assert judged_direct.evidence["download"] == {"reason": "filtered"}  # the probe's evidence is kept
    assert judged_direct.found == "direct download filtered; through the proxy 203.0.113.30:3128: downloaded"
    assert proxy == proxy_result(True)


def test_a_passing_via_proxy_crl_flow_also_satisfies_the_direct_one() -> None:
    via = crl_result(Status.PASS, Reason.ANSWERED, via_proxy=True, download={"proxy": "203.0.113.30:3128"})
    judged_direct = crl_through_proxy([crl_result(Status.FAIL, Reason.PROHIBITED), via])[0]
    assert judged_direct.reason is Reason.SATISFIED_ELSEWHERE


@pytest.mark.parametrize(("direct", "proxy"), [
    # the proxy relayed, but the server answered 404: the CRL did not arrive that way either
    (crl_result(Status.FAIL, Reason.FILTERED), proxy_result(False)),
    # the file itself is wrong: the proxy would serve the same file
    (crl_result(Status.FAIL, Reason.NOT_A_CRL), proxy_result(True)),
    # a warning is not a failure to excuse
    (crl_result(Status.WARN, Reason.STALE), proxy_result(True)),
])
def test_what_the_proxy_does_not_satisfy_stays_as_it_was(direct: Result, proxy: Result) -> None:
    assert judge_run([direct, proxy]) == [direct, proxy]


def test_without_a_proxy_result_nothing_changes() -> None:
    direct = crl_result(Status.FAIL, Reason.FILTERED)
    assert judge_run([direct]) == [direct]
