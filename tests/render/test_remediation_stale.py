"""The fix for a `stale` CRL follows the result's own facts: a CRL whose nextUpdate has passed asks the CA
for a current one, a CRL dated in the future (thisUpdate ahead, also `stale`) asks for the clocks to be
checked. Real CRLs are judged by the http-crl probe's pure judge (netcheck.probes.http_crl.judge_crl), so
the evidence is exactly what a scan records."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from netcheck.model import Reason, Status
from netcheck.probes.http_crl import judge_crl
from netcheck.remediation import remediation
from tests.probes.hostile import make_cert, make_crl
from tests.render.sample import INFO, flow, result

URL = "http://203.0.113.80/crl/lab-ca.crl"
CA = make_cert("Stale Test CA", ca=True)


def fix_for(days: tuple[int, int]) -> tuple[str, dict[str, object]]:
    """The fix of the warn / stale result a scan records for a CRL dated `days` (thisUpdate, nextUpdate)
    from now."""
    observation = judge_crl(URL, make_crl(CA, days=days).public_bytes(Encoding.DER), None, {"url": URL}, 4.0)
    assert observation.reason is Reason.STALE, observation.detail
    planned = flow("crl", "crl", URL, "HTTP", "tcp", 80, "CRL")
    text = remediation(result(planned, Status.WARN, Reason.STALE, observation.detail, address="203.0.113.80",
                              evidence=dict(observation.evidence)), INFO)
    assert text is not None
    return text, dict(observation.evidence["crl"])


def test_a_crl_past_its_next_update_asks_the_ca_for_a_current_one() -> None:
    text, facts = fix_for((-10, -2))
    assert text.startswith(f"have the CA publish a current CRL at {URL} (server 203.0.113.80 port 80)"), text
    assert f"its nextUpdate ({facts['next_update']}) has passed" in text
    assert "future" not in text and "clock" not in text


def test_a_crl_dated_in_the_future_asks_for_the_clocks_not_a_new_crl() -> None:
    text, facts = fix_for((2, 9))  # thisUpdate two days ahead, nextUpdate far away: not expired
    assert text.startswith("check the CA's clock (and this host's)"), text
    assert f"the CRL at {URL} (server 203.0.113.80 port 80) is dated {facts['this_update']}, in the future" in text
    assert "nextUpdate" not in text and "publish" not in text


@pytest.mark.parametrize("evidence", [{}, {"crl": "not a mapping"}, {"crl": {"issuer": "CN=x"}}])
def test_without_the_facts_the_fix_names_both_ways(evidence: dict[str, object]) -> None:
    planned = flow("crl", "crl", URL, "HTTP", "tcp", 80, "CRL")
    text = remediation(result(planned, Status.WARN, Reason.STALE, "the CRL is out of date", address="203.0.113.80",
                              evidence=evidence), INFO)
    assert text is not None and "nextUpdate has passed or its thisUpdate is in the future" in text, text
