"""The chain: order, missing intermediate, another root, strays, CA validity."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from netcheck.certs import links
from netcheck.certs.chain import analyse_chain
from netcheck.certs.findings import Finding
from tests.certs import der
from tests.certs.conftest import codes, material, run_analysis
from tests.certs.pkifactory import DAY, NOW, Pki, make_intermediate, make_leaf, make_root

CHAIN_MISMATCH = "Cannot validate chain of trust.The provided Certificate and Root CA do not match."


def chain_codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_documented_order_is_complete(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (pki.intermediate.cert, pki.root.cert), NOW)
    assert result.complete and result.findings == []
    assert result.path == (leaf, pki.intermediate.cert, pki.root.cert)
    assert result.issuer == pki.intermediate.cert


def test_wrong_order_names_the_right_order(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (pki.root.cert, pki.intermediate.cert), NOW)
    assert result.complete  # the path is still buildable ...
    assert chain_codes(result.findings) == ["chain.order"]  # ... but not in the documented order
    assert "Contoso Issuing CA -> Contoso Root CA" in str(result.findings[0].fix)


def test_three_level_order(pki: Pki) -> None:
    policy_ca = make_intermediate(pki.root, "Contoso Policy CA", "policy-ca", path_length=1)
    second = make_intermediate(policy_ca, "Contoso Plant CA", "plant-ca")
    leaf, _ = make_leaf(second)
    ok = analyse_chain(leaf, (second.cert, policy_ca.cert, pki.root.cert), NOW)
    assert ok.findings == [] and len(ok.path) == 4
    swapped = analyse_chain(leaf, (policy_ca.cert, second.cert, pki.root.cert), NOW)
    assert chain_codes(swapped.findings) == ["chain.order"]


def test_path_length_exceeded_is_refused(pki: Pki) -> None:
    # Given an issuing CA with pathLenConstraint 0 that issued another CA
    second = make_intermediate(pki.intermediate, "Contoso Plant CA", "plant-ca")
    leaf, _ = make_leaf(second)
    result = analyse_chain(leaf, (second.cert, pki.intermediate.cert, pki.root.cert), NOW)
    # Then the path is complete but RFC 5280 refuses it, naming the constraint
    assert result.complete and chain_codes(result.findings) == ["chain.path-length"]
    assert "Contoso Issuing CA allows 0 intermediate CA(s) below it" in result.findings[0].message


def test_missing_intermediate(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (pki.root.cert,), NOW)
    assert not result.complete
    assert chain_codes(result.findings) == ["chain.missing-issuer"]
    assert result.findings[0].appliance_message == CHAIN_MISMATCH
    assert "Contoso Issuing CA" in result.findings[0].message
    assert result.issuer is None


def test_missing_root(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (pki.intermediate.cert,), NOW)
    assert chain_codes(result.findings) == ["chain.missing-issuer"]
    assert "Contoso Root CA" in result.findings[0].message
    assert result.issuer == pki.intermediate.cert  # the CRL signature can still be checked


def test_missing_root_that_root_file_has(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (pki.intermediate.cert,), NOW, roots=(pki.root.cert,))
    assert "add Contoso Root CA to the end of the chain file" in result.findings[0].message


def test_unrelated_root(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (pki.intermediate.cert, pki.other_root.cert), NOW)
    assert chain_codes(result.findings) == ["chain.root-mismatch"]
    assert result.findings[0].appliance_message == CHAIN_MISMATCH
    assert "Fabrikam Root CA" in result.findings[0].message


def test_root_with_the_same_name_but_another_key(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (pki.intermediate.cert, pki.impostor_root.cert), NOW)
    assert chain_codes(result.findings) == ["chain.root-mismatch"]
    assert "different key" in result.findings[0].message


def test_chain_of_another_pki(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (pki.other_intermediate.cert, pki.other_root.cert), NOW)
    assert chain_codes(result.findings) == ["chain.missing-issuer"]
    assert "Fabrikam Issuing CA, Fabrikam Root CA" in result.findings[0].message


def test_explicit_root_must_match(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (pki.intermediate.cert, pki.root.cert), NOW, roots=(pki.other_root.cert,))
    assert chain_codes(result.findings) == ["chain.untrusted-root"]
    trusted = analyse_chain(leaf, (pki.intermediate.cert, pki.root.cert), NOW, roots=(pki.root.cert,))
    assert trusted.findings == []


def test_no_chain_for_a_ca_issued_certificate(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (), NOW)
    assert chain_codes(result.findings) == ["chain.absent"]
    assert result.findings[0].appliance_message == "Cannot download chain certificates."


def test_chain_repeating_the_leaf_and_strays(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (leaf, pki.intermediate.cert, pki.root.cert, pki.other_root.cert), NOW)
    # the repeated leaf is its own finding, not an order error
    assert chain_codes(result.findings) == ["chain.contains-leaf", "chain.unused"]
    assert "Fabrikam Root CA" in result.findings[1].message


def test_duplicates_are_tolerated(pki: Pki) -> None:
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (pki.intermediate.cert, pki.root.cert, pki.root.cert), NOW)
    assert result.complete and result.findings == []


def test_expired_intermediate(pki: Pki) -> None:
    old = make_intermediate(pki.root, "Contoso Old CA", "old-ca", not_before=NOW - 900 * DAY, not_after=NOW - 2 * DAY)
    leaf, _ = make_leaf(old)
    result = analyse_chain(leaf, (old.cert, pki.root.cert), NOW)
    assert chain_codes(result.findings) == ["chain.ca-expired"]
    assert result.findings[0].appliance_message == "This SSL certificate has expired and is not considered valid."


def test_issuer_that_is_not_a_ca(pki: Pki) -> None:
    fake = make_intermediate(pki.root, "Contoso Not A CA", "not-ca", ca=False)
    leaf, _ = make_leaf(fake)
    result = analyse_chain(leaf, (fake.cert, pki.root.cert), NOW)
    assert "chain.not-ca" in chain_codes(result.findings)


def test_self_signed_leaf_needs_no_chain() -> None:
    leaf, _ = make_leaf(None, crl_urls=())
    result = analyse_chain(leaf, (), NOW)
    assert result.complete and result.findings == [] and result.issuer == leaf


def test_chain_findings_reach_the_analysis(pki: Pki) -> None:
    leaf, key = make_leaf(pki.intermediate, crl_urls=())
    analysis = run_analysis(material(leaf, key, (pki.intermediate.cert, make_root("Lonely Root", "lonely").cert)))
    assert "chain.root-mismatch" in codes(analysis, "error")
    assert not analysis.ok


def test_unknown_issuer_key_is_unchecked_not_a_different_key(pki: Pki) -> None:
    # Given an issuing CA whose key is of a type cryptography cannot use (GOST)
    tree = der.parse(pki.intermediate.cert.public_bytes(Encoding.DER))
    tree[der.TBS][der.SPKI].children[0] = der.seq(der.oid("1.2.643.7.1.1.1.1"), der.seq(der.oid("1.2.643.7.1.2.1.1.1")))
    gost_ca = x509.load_der_x509_certificate(tree.encode())
    leaf, _ = make_leaf(pki.intermediate)
    result = analyse_chain(leaf, (gost_ca, pki.root.cert), NOW)
    # Then the chain stops there, saying the signature could not be checked (no false claim)
    assert "chain.signature-unchecked" in chain_codes(result.findings)
    assert all("different key" not in f.message for f in result.findings)


def test_rfc5280_name_matching() -> None:
    utf8, printable = x509.name._ASN1Type.UTF8String, x509.name._ASN1Type.PrintableString

    def cn(text: str, kind: x509.name._ASN1Type = utf8) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text, kind)])

    assert links.same_name(cn("Contoso Issuing CA"), cn("  contoso   ISSUING\tca "))
    assert links.same_name(cn("Contoso Issuing CA"), cn("Contoso Issuing CA", printable))
    assert not links.same_name(cn("Contoso Issuing CA"), cn("Contoso Issuing CA 2"))
    assert not links.same_name(cn("Ärger CA"), cn("ärger CA"))  # OpenSSL folds ASCII letters only
    two = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"), x509.NameAttribute(NameOID.COMMON_NAME, "A")])
    swapped = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "A"), x509.NameAttribute(NameOID.COUNTRY_NAME, "US")])
    assert not links.same_name(two, swapped)  # RDN order matters
