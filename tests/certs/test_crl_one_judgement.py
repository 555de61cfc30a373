"""One rule set judges a CRL: the http-crl flow and the certificate verdict read the same download
through certs.crl.crl_currency, so a scan's report cannot call one CRL current in its flow matrix
and unusable in its certificate section (or the other way round)."""

from __future__ import annotations

import datetime as dt

import pytest

from netcheck.certs.crl import CLOCK_SKEW, CrlState, crl_currency, parse_crl
from netcheck.model import Reason
from netcheck.probes.http_crl import judge_crl
from tests.certs.conftest import codes, crl_ok, material, run_analysis
from tests.certs.pkifactory import DAY, NOW, Pki, make_leaf
from tests.certs.test_cert_crl import der

URL = "http://crl.plant.example/issuing.crl"
MINUTE = dt.timedelta(minutes=1)

# (thisUpdate, nextUpdate) relative to NOW, and the one judgement both verdicts must reach.
CASES = {
    "current": (-DAY, 7 * DAY, CrlState.CURRENT),
    "stale": (-20 * DAY, -DAY, CrlState.STALE),
    "from the future": (DAY, 9 * DAY, CrlState.NOT_YET_VALID),
    "just ahead, within the clock skew": (CLOCK_SKEW - MINUTE, 9 * DAY, CrlState.CURRENT),
    "just beyond the clock skew": (CLOCK_SKEW + MINUTE, 9 * DAY, CrlState.NOT_YET_VALID),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_flow_and_certificate_verdict_judge_a_crl_alike(pki: Pki, case: str) -> None:
    this_update, next_update, expected = CASES[case]
    body = der(pki.intermediate, this_update=NOW + this_update, next_update=NOW + next_update)
    crl = parse_crl(body)
    assert crl is not None
    currency = crl_currency(crl, NOW)
    assert currency.state is expected

    # Given the same bytes, When the http-crl flow judges them, Then it warns exactly when the CRL is not current
    flow = judge_crl(URL, body, "application/pkix-crl", {}, None, now=NOW)
    assert flow.reason is (Reason.ANSWERED if currency.current else Reason.STALE), flow.detail

    # When the certificate check judges them, Then it finds the same state (crl.<state>), with the same words
    leaf, key = make_leaf(pki.intermediate, crl_urls=(URL,))
    analysis = run_analysis(material(leaf, key, (pki.intermediate.cert, pki.root.cert)),
                            {URL: crl_ok(URL, body)}, now=NOW)
    found = [code for code in codes(analysis) if code.startswith("crl.")]
    assert found == ([] if currency.current else [f"crl.{expected.value}"])
    if not currency.current:
        assert currency.problem in flow.detail
        assert currency.problem in next(f.message for f in analysis.findings if f.code == found[0])
        assert flow.evidence["crl"]["currency"] == expected.value
