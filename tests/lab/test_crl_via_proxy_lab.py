"""Run-level judgement through the lab's real router, nginx and tinyproxy: the CRL that the
router drops on port 80 but that downloads through the site's proxy.

Given the router drops the client's TCP 80 to the CRL server (everything else as in the lab's
policy), a scan with the crl and proxy flows must not fail: the direct crl flow becomes
skip / satisfied-elsewhere naming the proxy, with the direct failure kept in its evidence.
Without the proxy flow the same drop fails the run, and its fix and firewall request name
the CRL server's address and port, never the URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from netcheck.remediation import remediation
from netcheck.render.firewall import firewall_rules
from netcheck.serialize import loads

from .daemons import Lab
from .test_profiles_lab import scan
from .topology import FIREWALL_POLICY, lab_ruleset

CRL_FLOW = """  - id: crl
    purpose: Download the certificate revocation list
    protocol: HTTP
    transport: tcp
    port: 80
    direction: out
    peer: crl
    probe: http-crl
"""
PROXY_FLOW = """  - id: proxy
    purpose: Reach the CRL through the site's proxy
    protocol: HTTP proxy
    transport: tcp
    port: 3128
    direction: out
    peer: proxy
    probe: proxy
"""


@pytest.fixture(scope="module")
def crl_port_dropped(lab: Lab) -> Iterator[Lab]:
    crl = lab.addresses["crl"]
    policy = tuple(replace(rule, verdict="drop") if (rule.address, rule.port) == (crl, 80) else rule
                   for rule in FIREWALL_POLICY)
    assert policy != FIREWALL_POLICY
    lab.topo.nft(lab_ruleset(policy))
    try:
        yield lab
    finally:
        lab.reset_firewall()


def _scan(lab: Lab, folder: Path, flows: str) -> tuple[int, dict[str, Any], str]:
    (folder / "profile.yaml").write_text("name: crl-proxy\nrole: sensor\nflows:\n" + flows)
    site = {"name": "lab-crl-proxy", "peers": {"crl": lab.crl_urls["lab"], "proxy": lab.proxy_url}}
    (folder / "site.yaml").write_text(json.dumps(site))
    run = scan(lab, str(folder / "profile.yaml"), folder / "site.yaml", "--no-raw")
    return run.returncode, json.loads(run.stdout), run.stdout


def test_a_crl_dropped_on_port_80_but_fetched_through_the_proxy_does_not_fail_the_run(
        crl_port_dropped: Lab, tmp_path: Path) -> None:
    lab = crl_port_dropped
    code, data, _ = _scan(lab, tmp_path, CRL_FLOW + PROXY_FLOW)
    results = {r["flow"]: r for r in data["results"]}
    proxy = f"{lab.addresses['proxy']}:3128"
    assert results["proxy"]["status"] == "pass", results["proxy"]["detail"]
    crl = results["crl"]
    assert (crl["status"], crl["reason"]) == ("skip", "satisfied-elsewhere"), crl["detail"]
    assert f"satisfied through the proxy {proxy}" in crl["detail"]
    assert crl["evidence"]["direct"]["reason"] == "filtered"  # the direct failure is kept
    assert crl["address"] == lab.addresses["crl"]
    assert (code, data["summary"]["verdict"]) == (0, "pass")


def test_without_the_proxy_the_drop_fails_and_the_fix_names_address_and_port(crl_port_dropped: Lab,
                                                                              tmp_path: Path) -> None:
    lab = crl_port_dropped
    code, data, text = _scan(lab, tmp_path, CRL_FLOW)
    crl = data["results"][0]
    assert (code, crl["status"], crl["reason"]) == (1, "fail", "filtered"), crl["detail"]
    report = loads(text, "scan output")
    fix = remediation(report.results[0], report.info) or ""
    assert fix.startswith(f"allow TCP 80 from {lab.addresses['client']} to {lab.addresses['crl']}"), fix
    assert "://" not in fix
    rules = firewall_rules(report)
    assert [(rule.destination, rule.port) for rule in rules] == [(lab.addresses["crl"], "80")]
