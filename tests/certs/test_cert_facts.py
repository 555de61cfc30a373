"""certificate_facts and name_matches: the functions the TLS probe imports."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes

from netcheck.certs.facts import certificate_facts, dns_name_matches, name_matches
from tests.certs.pkifactory import DAY, NOW, ec_key, make_leaf, standard


def test_facts_are_json_safe_and_complete() -> None:
    pki = standard()
    leaf, _ = make_leaf(pki.intermediate, dns=("sensor-1.plant.example", "*.ot.example"),
                        ips=("198.51.100.23", "fd00::5"))
    facts = certificate_facts(leaf)
    json.dumps(facts)  # JSON-safe
    assert facts["subject"] == "CN=sensor-1.plant.example,OU=OT Labs,O=Contoso Inc.,C=US"
    assert facts["issuer"] == "CN=Contoso Issuing CA,OU=OT Labs,O=Contoso Inc.,C=US"
    assert facts["subject_cn"] == "sensor-1.plant.example"
    assert facts["san_dns"] == ["sensor-1.plant.example", "*.ot.example"]
    assert facts["san_ip"] == ["198.51.100.23", "fd00::5"]
    assert facts["not_before"] == (NOW - DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert str(facts["not_after"]).endswith("Z")
    assert facts["serial"] == format(leaf.serial_number, "x")
    assert (facts["key_type"], facts["key_size"], facts["key_curve"]) == ("RSA", 2048, None)
    assert facts["signature_algorithm"] == "sha256WithRSAEncryption"
    assert facts["signature_hash"] == "sha256"
    assert facts["crl_urls"] == ["http://crl.plant.example/issuing.crl"]
    assert facts["self_signed"] is False and facts["is_ca"] is False
    assert len(str(facts["sha256"]).split(":")) == 32


def test_facts_of_self_signed_ec_certificate() -> None:
    leaf, _ = make_leaf(None, key=ec_key("facts"), crl_urls=(), hash_alg=hashes.SHA384())
    facts = certificate_facts(leaf)
    assert facts["self_signed"] is True
    assert (facts["key_type"], facts["key_size"], facts["key_curve"]) == ("EC", 256, "secp256r1")
    assert facts["signature_algorithm"] == "ecdsa-with-SHA384"
    assert facts["crl_urls"] == []


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("sensor.contoso.com", "SENSOR.contoso.com.", True),
        ("*.contoso.com", "sensor.contoso.com", True),
        ("*.contoso.com", "a.b.contoso.com", False),  # one label only
        ("*.contoso.com", "contoso.com", False),
        ("*.com", "contoso.com", False),  # never a bare TLD wildcard
        ("s*.contoso.com", "sensor.contoso.com", False),  # partial-label wildcards are not honoured
        ("*.*.contoso.com", "a.b.contoso.com", False),
        ("xn--bcher-kva.example", "bücher.example", True),  # IDNA U-label vs A-label
    ],
)
def test_dns_name_rules(pattern: str, host: str, expected: bool) -> None:
    assert dns_name_matches(pattern, host) is expected


def test_name_matches_san_ip_and_dns() -> None:
    pki = standard()
    leaf, _ = make_leaf(pki.intermediate, cn="sensor-1.plant.example", ips=("198.51.100.23", "fd00::5"))
    assert name_matches(leaf, "sensor-1.plant.example")
    assert name_matches(leaf, "198.51.100.23")
    assert name_matches(leaf, "fd00:0::5")
    assert name_matches(leaf, "[fd00::5]")
    assert not name_matches(leaf, "198.51.100.24")
    assert not name_matches(leaf, "sensor-2.plant.example")


def test_cn_is_ignored_when_a_san_exists() -> None:
    pki = standard()
    leaf, _ = make_leaf(pki.intermediate, cn="sensor-1.plant.example", dns=("other.plant.example",), ips=())
    assert not name_matches(leaf, "sensor-1.plant.example")
    assert name_matches(leaf, "other.plant.example")


def test_cn_fallback_without_san() -> None:
    pki = standard()
    leaf, _ = make_leaf(pki.intermediate, cn="*.plant.example", san=False)
    assert name_matches(leaf, "sensor-9.plant.example")
    ip_leaf, _ = make_leaf(pki.intermediate, cn="198.51.100.99", san=False)
    assert name_matches(ip_leaf, "198.51.100.99")
    assert not name_matches(ip_leaf, "198.51.100.98")
