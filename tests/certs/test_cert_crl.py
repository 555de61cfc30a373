"""CRL judgement over download results (no network): parse, issuer, signature, currency,
revocation, URL schemes, several distribution points, and what unreachable means."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from netcheck.certs.checks import Analysis
from netcheck.certs.crl import parse_crl
from netcheck.certs.findings import Severity
from netcheck.model import Reason
from netcheck.net.http import FetchResult
from tests.certs.conftest import codes, crl_ok, material, run_analysis
from tests.certs.pkifactory import CA, DAY, NOW, Pki, make_crl, make_leaf

URL = "http://crl.plant.example/issuing.crl"
REVOKED = "This certificate has been revoked by the CRL and cannot be trusted for a secure connection."
UNREACHABLE = (
    "The CRL (Certificate Revocation List) location is not reachable. "
    "Verify the URL can be accessed from this appliance"
)


def check(
    pki: Pki,
    downloads: dict[str, FetchResult],
    *,
    urls: tuple[str, ...] = (URL,),
    chain: bool = True,
    serial: int | None = None,
    validate: bool = True,
) -> tuple[list[str], Analysis]:
    leaf, key = make_leaf(pki.intermediate, crl_urls=urls, serial=serial)
    given = (pki.intermediate.cert, pki.root.cert) if chain else ()
    analysis = run_analysis(material(leaf, key, given), downloads, validate=validate)
    return codes(analysis), analysis


def der(ca: CA, *revoked: int, **kw: object) -> bytes:
    return make_crl(ca, revoked, **kw).public_bytes(Encoding.DER)  # type: ignore[arg-type]


def test_current_crl_without_the_serial(pki: Pki) -> None:
    found, analysis = check(pki, {URL: crl_ok(URL, der(pki.intermediate, 12345))})
    assert found == [] and "crl" in analysis.passed
    crl = analysis.crl[0]
    assert crl["usable"] and crl["crl"]["revoked_count"] == 1 and crl["download"]["bytes"] > 0


def test_revoked(pki: Pki) -> None:
    found, analysis = check(pki, {URL: crl_ok(URL, der(pki.intermediate, 4242))}, serial=4242)
    assert found == ["crl.revoked"]
    finding = analysis.findings[0]
    assert finding.appliance_message == REVOKED
    assert "1092" in finding.message and "keyCompromise" in finding.message  # serial hex, reason


def test_revoked_stays_an_error_even_when_another_point_works(pki: Pki) -> None:
    second = "http://crl2.plant.example/issuing.crl"
    downloads = {URL: crl_ok(URL, der(pki.intermediate, 77)), second: crl_ok(second, der(pki.intermediate))}
    found, analysis = check(pki, downloads, urls=(URL, second), serial=77)
    assert found == ["crl.revoked"] and not analysis.ok


def test_pem_crl_is_accepted(pki: Pki) -> None:
    body = make_crl(pki.intermediate).public_bytes(Encoding.PEM)
    assert parse_crl(b"junk before\n" + body) is not None
    found, _ = check(pki, {URL: crl_ok(URL, body)})
    assert found == []


def test_stale_crl(pki: Pki) -> None:
    body = der(pki.intermediate, this_update=NOW - 20 * DAY, next_update=NOW - DAY)
    found, analysis = check(pki, {URL: crl_ok(URL, body)})
    assert found == ["crl.stale"]
    assert analysis.findings[0].appliance_message == "Certificate Validation Failed"


def test_crl_from_the_future(pki: Pki) -> None:
    found, _ = check(pki, {URL: crl_ok(URL, der(pki.intermediate, this_update=NOW + DAY, next_update=NOW + 9 * DAY))})
    assert found == ["crl.not-yet-valid"]


def test_crl_of_another_ca(pki: Pki) -> None:
    found, _ = check(pki, {URL: crl_ok(URL, der(pki.other_intermediate))})
    assert found == ["crl.wrong-issuer"]


def test_crl_with_the_right_name_and_the_wrong_key(pki: Pki) -> None:
    forged = make_crl(pki.intermediate, signer=pki.other_intermediate).public_bytes(Encoding.DER)
    found, _ = check(pki, {URL: crl_ok(URL, forged)})
    assert found == ["crl.bad-signature"]


def test_crl_signature_unverifiable_without_the_chain(pki: Pki) -> None:
    found, _ = check(pki, {URL: crl_ok(URL, der(pki.intermediate))}, chain=False)
    assert found == ["chain.absent", "crl.unverified"]


def test_html_instead_of_a_crl(pki: Pki) -> None:
    page = FetchResult(
        url=URL,
        error=None,
        detail="200",
        status=200,
        status_line="HTTP/1.1 200 OK",
        headers=(("Content-Type", "text/html"),),
        body=b"<html>login</html>",
    )
    found, analysis = check(pki, {URL: page})
    assert found == ["crl.not-a-crl"]
    assert "text/html" in analysis.findings[0].message


def test_no_cdp_is_a_note_quoting_the_document(pki: Pki) -> None:
    found, analysis = check(pki, {}, urls=())
    assert found == ["crl.no-cdp"] and analysis.ok
    assert "port 80" in analysis.findings[0].message


def test_https_cdp_is_not_allowed(pki: Pki) -> None:
    https = "https://crl.plant.example/issuing.crl"
    found, analysis = check(pki, {}, urls=(https,))
    assert found == ["crl.https"]
    assert analysis.findings[0].appliance_message == UNREACHABLE


def test_ldap_cdp_is_not_usable(pki: Pki) -> None:
    found, _ = check(pki, {}, urls=("ldap://dc1/CN=Issuing,CN=CDP",))
    assert found == ["crl.unsupported-scheme"]


def test_a_working_point_softens_the_others(pki: Pki) -> None:
    https = "https://crl.plant.example/issuing.crl"
    down = "http://down.plant.example/issuing.crl"
    downloads = {
        URL: crl_ok(URL, der(pki.intermediate)),
        down: FetchResult(url=down, error=Reason.REFUSED, detail="refused", hop="server"),
    }
    found, analysis = check(pki, downloads, urls=(https, down, URL))
    assert found == ["crl.https", "crl.unreachable"]
    assert analysis.ok
    assert {f.severity for f in analysis.findings} == {Severity.WARNING}


@pytest.mark.parametrize(
    ("reason", "hint"),
    [
        (Reason.DNS_FAILURE, "resolvable"),
        (Reason.REFUSED, "nothing listens"),
        (Reason.FILTERED, "allow TCP 80"),
        (Reason.UNREACHABLE, "no route"),
        (Reason.PROXY_DENIED, "on the proxy"),
        (Reason.HTTP_ERROR, "publish it"),
        (Reason.TIMEOUT, "did not answer in time"),
    ],
)
def test_unreachable_quotes_the_appliance_and_says_what_to_fix(pki: Pki, reason: Reason, hint: str) -> None:
    failed = FetchResult(url=URL, error=reason, detail="detail text", hop="server")
    found, analysis = check(pki, {URL: failed})
    assert found == ["crl.unreachable"]
    finding = analysis.findings[0]
    assert finding.appliance_message == UNREACHABLE
    assert reason.value in finding.message and hint in str(finding.fix)


def test_custom_port_and_proxy_notes(pki: Pki) -> None:
    url = "http://crl.plant.example:8080/issuing.crl"
    found, analysis = check(pki, {url: crl_ok(url, der(pki.intermediate), proxy="proxy.plant:3128")}, urls=(url,))
    assert found == ["crl.custom-port", "crl.via-proxy"] and analysis.ok
    assert "TCP 8080" in analysis.findings[0].message


def test_unreachable_is_a_warning_without_validation(pki: Pki) -> None:
    failed = FetchResult(url=URL, error=Reason.FILTERED, detail="silence", hop="server")
    found, analysis = check(pki, {URL: failed}, validate=False)
    assert found == ["crl.unreachable"] and analysis.ok
