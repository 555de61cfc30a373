"""Pure checks over Material with an injected `now`: every rule, valid and invalid."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from netcheck.certs import findings as F
from netcheck.certs.checks import passphrase_ok_for_later
from netcheck.certs.findings import CATALOGUE, Severity, recognise
from netcheck.certs.load import KeyState
from netcheck.net.http import FetchResult
from tests.certs.conftest import codes, crl_ok, material, run_analysis
from tests.certs.pkifactory import DAY, NOW, Pki, ec_key, make_crl, make_leaf, name, rsa_key

URL = "http://crl.plant.example/issuing.crl"
# The source documents live beside the project, in ../shared/reference (see DESIGN.md).
REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "working-with-certificates.md"


def good(pki: Pki, **leaf_kw: Any) -> tuple[Any, Any, tuple[Any, ...]]:
    leaf, key = make_leaf(pki.intermediate, **leaf_kw)
    return leaf, key, (pki.intermediate.cert, pki.root.cert)


def good_crl(pki: Pki, *revoked: int) -> dict[str, FetchResult]:
    return {URL: crl_ok(URL, make_crl(pki.intermediate, revoked).public_bytes(Encoding.DER))}


def test_valid_certificate_is_accepted(pki: Pki) -> None:
    leaf, key, chain = good(pki)
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki),
                            hosts=("sensor-1.plant.example", "198.51.100.23"))
    assert analysis.ok
    assert codes(analysis) == []
    assert analysis.passed == [
        "fields",
        "input",
        "passphrase",
        "key-match",
        "key-type",
        "signature",
        "validity",
        "usage",
        "subject",
        "names",
        "chain",
        "crl",
    ]


# --- passphrase and key -------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "code"),
    [(KeyState.NEEDS_PASSPHRASE, "key.passphrase-missing"), (KeyState.WRONG_PASSPHRASE, "key.passphrase-wrong")],
)
def test_passphrase_problems_quote_the_appliance(pki: Pki, state: KeyState, code: str) -> None:
    leaf, _, chain = good(pki)
    analysis = run_analysis(material(leaf, None, chain, key_state=state, key_encrypted=True), good_crl(pki))
    assert codes(analysis, "error") == [code]
    assert analysis.findings[0].appliance_message == "Passphrase does not match to the key"
    assert "key-match" in analysis.passed  # nothing to compare: the passphrase finding says why


def test_passphrase_problems_survive_no_validate(pki: Pki) -> None:
    leaf, _, chain = good(pki)
    mat = material(leaf, None, chain, key_state=KeyState.WRONG_PASSPHRASE, key_encrypted=True)
    analysis = run_analysis(mat, good_crl(pki), validate=False)
    assert not analysis.ok and codes(analysis, "error") == ["key.passphrase-wrong"]


def test_unused_passphrase_is_a_note(pki: Pki) -> None:
    leaf, key, chain = good(pki)
    analysis = run_analysis(material(leaf, key, chain, passphrase_unused=True), good_crl(pki))
    assert analysis.ok and codes(analysis) == ["key.passphrase-unused"]


def test_passphrase_characters_later_releases_reject(pki: Pki) -> None:
    leaf, key, chain = good(pki)
    assert passphrase_ok_for_later("abc-DEF_123!") is True
    assert passphrase_ok_for_later("with space") is False
    assert passphrase_ok_for_later(None) is None
    analysis = run_analysis(
        material(leaf, key, chain, key_encrypted=True), good_crl(pki), passphrase_ok_for_later=False
    )
    assert codes(analysis) == ["key.passphrase-characters"]
    assert "with space" not in analysis.findings[0].message


def test_mismatched_key(pki: Pki) -> None:
    leaf, _, chain = good(pki)
    analysis = run_analysis(material(leaf, rsa_key("someone-else"), chain), good_crl(pki))
    assert codes(analysis, "error") == ["key.mismatch"]
    assert analysis.findings[0].appliance_message == "Certificate Validation Failed"


def test_rsa_1024_is_refused(pki: Pki) -> None:
    leaf, key, chain = good(pki, key=rsa_key("small", 1024))
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki))
    assert codes(analysis, "error") == ["key.rsa-too-small"]
    assert "1024 bits" in analysis.findings[0].message


def test_ec_key_is_unsupported(pki: Pki) -> None:
    leaf, key, chain = good(pki, key=ec_key("leaf"))
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki))
    assert codes(analysis, "error") == ["key.unsupported-type"]
    assert "EC (secp256r1)" in analysis.findings[0].message


def test_rsa_4096_is_allowed_with_a_note(pki: Pki) -> None:
    leaf, key, chain = good(pki, key=rsa_key("big", 4096))
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki))
    assert analysis.ok and codes(analysis) == ["key.rsa-4096"]


# --- signature and validity ---------------------------------------------------------


def test_sha384_is_outside_the_documentation(pki: Pki) -> None:
    leaf, key, chain = good(pki, hash_alg=hashes.SHA384())
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki))
    assert analysis.ok and codes(analysis) == ["cert.signature-algorithm"]


def test_expired_quotes_the_appliance(pki: Pki) -> None:
    leaf, key, chain = good(pki, not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki))
    assert codes(analysis, "error") == ["cert.expired"]
    assert analysis.findings[0].appliance_message == "This SSL certificate has expired and is not considered valid."


def test_not_yet_valid(pki: Pki) -> None:
    leaf, key, chain = good(pki, not_before=NOW + 2 * DAY)
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki))
    assert codes(analysis, "error") == ["cert.not-yet-valid"]


def test_injected_now_decides_validity(pki: Pki) -> None:
    leaf, key, chain = good(pki)
    later = run_analysis(material(leaf, key, chain), good_crl(pki), now=NOW + 400 * DAY)
    assert "cert.expired" in codes(later)


@pytest.mark.parametrize(("warn_days", "expected"), [(30, []), (60, ["cert.expiring"])])
def test_expiry_warning_is_configurable(pki: Pki, warn_days: int, expected: list[str]) -> None:
    leaf, key, chain = good(pki, not_after=NOW + 45 * DAY)
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki), expiry_warn_days=warn_days)
    assert analysis.ok and codes(analysis) == expected


# --- subject and names --------------------------------------------------------------


def test_missing_subject_fields(pki: Pki) -> None:
    leaf, key, chain = good(pki, subject=name("sensor-1.plant.example", c=None, ou=None))
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki))
    assert analysis.ok and codes(analysis) == ["subject.fields-missing"]
    assert "C, OU" in analysis.findings[0].message


def test_missing_cn(pki: Pki) -> None:
    leaf, key, chain = good(pki, subject=name(None), dns=("sensor-1.plant.example",))
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki), hosts=("sensor-1.plant.example",))
    assert codes(analysis) == ["subject.cn-missing"]


def test_wildcard_is_flagged_not_refused(pki: Pki) -> None:
    leaf, key, chain = good(pki, cn="*.plant.example")
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki), hosts=("sensor-1.plant.example",))
    assert analysis.ok and codes(analysis) == ["name.wildcard"]
    assert "later releases reject" in analysis.findings[0].message


def test_name_mismatch_per_host(pki: Pki) -> None:
    leaf, key, chain = good(pki)
    analysis = run_analysis(
        material(leaf, key, chain),
        good_crl(pki),
        hosts=("sensor-1.plant.example", "sensor-2.plant.example", "198.51.100.99"),
    )
    mismatches = [f for f in analysis.findings if f.code == "name.mismatch"]
    assert [f.subject for f in mismatches] == ["sensor-2.plant.example", "198.51.100.99"]
    assert "IP:198.51.100.99" in str(mismatches[1].fix)
    assert not analysis.ok


def test_cn_only_match_warns(pki: Pki) -> None:
    leaf, key, chain = good(pki, san=False)
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki), hosts=("sensor-1.plant.example",))
    assert analysis.ok and codes(analysis) == ["name.cn-only"]


def test_no_hosts_means_names_not_checked(pki: Pki) -> None:
    leaf, key, chain = good(pki)
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki), hosts=())
    assert [(f.code, f.severity) for f in analysis.findings] == [("name.not-checked", Severity.INFO)]
    assert analysis.ok and "names" in analysis.passed


def test_self_signed_is_a_warning(pki: Pki) -> None:
    leaf, key = make_leaf(None, crl_urls=())
    analysis = run_analysis(material(leaf, key))
    assert analysis.ok and codes(analysis, "warning") == ["cert.self-signed"]


def test_no_server_auth_eku(pki: Pki) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    leaf, key, chain = good(pki, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    analysis = run_analysis(material(leaf, key, chain), good_crl(pki))
    assert codes(analysis) == ["cert.key-usage"]


# --- input shape and --no-validate --------------------------------------------------


def test_input_shape_notes(pki: Pki) -> None:
    leaf, key, chain = good(pki)
    mat = material(leaf, key, chain, crt_format="pkcs12", bag_attributes=True)
    analysis = run_analysis(mat, good_crl(pki))
    assert analysis.ok and codes(analysis) == ["cert.pkcs12-input", "chain.bag-attributes"]
    mat = material(leaf, key, chain, extra_in_crt=chain, key_in_crt=True)
    assert codes(run_analysis(mat, good_crl(pki))) == ["cert.extra-certificates", "cert.key-in-crt"]


def test_no_validate_downgrades_validation_errors(pki: Pki) -> None:
    leaf, key, chain = good(pki, not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    analysis = run_analysis(
        material(leaf, key, chain[1:]),
        good_crl(pki, leaf.serial_number),
        validate=False,
        hosts=("wrong.example",),
    )
    assert analysis.ok
    assert {f.severity for f in analysis.findings} <= {Severity.WARNING, Severity.INFO}
    downgraded = {f.code for f in analysis.findings if f.downgraded}
    assert {"cert.expired", "chain.missing-issuer", "name.mismatch"} <= downgraded


# --- the catalogue ------------------------------------------------------------------


def test_catalogue_codes_are_stable_shapes() -> None:
    for code, spec in CATALOGUE.items():
        assert re.fullmatch(r"[a-z0-9]+\.[a-z0-9-]+", code), code
        assert spec.title


def test_appliance_messages_are_verbatim_from_the_document() -> None:
    assert REFERENCE.is_file(), f"the source document is missing: {REFERENCE}"
    text = REFERENCE.read_text(encoding="utf-8")
    for message in F.APPLIANCE_MESSAGES:
        assert message.text.strip('"') in text, message.text
    # the source's stray leading quote on the revoked message is dropped
    assert not F.REVOKED.text.startswith('"')


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        ("Cannot validate chain of trust. The provided Certificate and Root CA don't match.", F.CHAIN_MISMATCH),
        ("This SSL certificate has expired and isn't considered valid.", F.EXPIRED),
        ("This certificate has been revoked by the CRL and can't be trusted for a secure connection", F.REVOKED),
        ("Certificate validation failed", F.VALIDATION_FAILED),
        ("passphrase does not match to the key", F.PASSPHRASE),
        ("something else entirely", None),
    ],
)
def test_later_wording_is_recognised(later: str, expected: F.ApplianceMessage | None) -> None:
    assert recognise(later) is expected


def test_every_appliance_message_but_one_is_used() -> None:
    used = {spec.appliance for spec in CATALOGUE.values() if spec.appliance}
    assert set(F.APPLIANCE_MESSAGES) - used == {F.CERT_DOWNLOAD}
    assert F.codes_for(F.REVOKED) == ["crl.revoked"]
