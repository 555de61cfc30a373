"""The CRL download and the proxy, rejected by the lab's real router: the ICMP sender is kept.

For this module the router's policy rejects the CRL host's TCP 80 and the proxy's TCP 3128 with
ICMP admin-prohibited (nftables `reject with icmp type admin-prohibited`); the default policy is
loaded back afterwards. One `netcheck scan` from the client namespace runs the http-crl probe
(directly, and through the proxy), the proxy probe and, as the reference, the tcp probe on the
same ports. The CRL and proxy flows must report the ICMP error and its sender exactly as the tcp
probe does (evidence["icmp"], evidence["errno"]), so that the remediation names the router.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from netcheck.remediation import remediation
from netcheck.serialize import loads

from .daemons import Lab
from .test_profiles_lab import TIMEOUT_S, scan
from .topology import FIREWALL_POLICY, lab_ruleset

REJECTED = {("crl", 80), ("proxy", 3128)}

# id, probe, port, peer, options
FLOWS: list[tuple[str, str, int, str, dict[str, Any]]] = [
    ("tcp-crl", "tcp", 80, "crl", {}),
    ("crl-direct", "http-crl", 80, "crl", {}),
    ("crl-via-proxy", "http-crl", 80, "crl", {"via_proxy": True}),
    ("tcp-proxy", "tcp", 3128, "proxy", {}),
    ("proxy", "proxy", 3128, "proxy", {}),
]


def profile_yaml() -> str:
    lines = ["name: router-rejects-http", "role: sensor", "flows:"]
    for flow_id, probe, port, peer, options in FLOWS:
        lines += [f"  - id: {flow_id}", "    purpose: a router rejects the CRL and proxy ports",
                  f"    protocol: {probe}", "    transport: tcp", f"    port: {port}", "    direction: out",
                  f"    peer: {peer}", f"    probe: {probe}"]
        if options:
            lines.append(f"    options: {json.dumps(options)}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def rejecting(lab: Lab) -> Iterator[None]:
    """The lab policy with the CRL and proxy ports turned from accept into reject."""
    policy = tuple(dataclasses.replace(rule, verdict="reject") if (rule.peer, rule.port) in REJECTED else rule
                   for rule in FIREWALL_POLICY)
    assert sum(rule.verdict == "reject" for rule in policy) == sum(
        rule.verdict == "reject" for rule in FIREWALL_POLICY) + len(REJECTED)
    lab.topo.nft(lab_ruleset(policy))
    try:
        yield
    finally:
        lab.reset_firewall()


@pytest.fixture(scope="module")
def report(lab: Lab, rejecting: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("router-rejects-http")
    folder.chmod(0o755)
    (folder / "profile.yaml").write_text(profile_yaml())
    site = {"name": "router-rejects-http", "peers": {"crl": [lab.crl_urls["lab"]], "proxy": lab.proxy_url}}
    (folder / "site.yaml").write_text(json.dumps(site))
    started = time.monotonic()
    run = scan(lab, str(folder / "profile.yaml"), folder / "site.yaml", "--no-raw")
    elapsed = time.monotonic() - started
    assert run.returncode == 1, run.stderr
    results = {r["flow"]: r for r in json.loads(run.stdout)["results"]}
    return {"elapsed": elapsed, "text": run.stdout, "results": results}


def test_every_flow_is_prohibited_by_the_router(lab: Lab, report: dict[str, Any]) -> None:
    results = report["results"]
    assert set(results) == {flow[0] for flow in FLOWS}
    for flow, result in results.items():
        assert (result["status"], result["reason"]) == ("fail", "prohibited"), (flow, result["detail"])
    # ICMP answers at once: nothing waits for the timeout
    assert report["elapsed"] < TIMEOUT_S + 4, report["elapsed"]


def test_crl_and_proxy_carry_the_icmp_sender_like_the_tcp_probe(lab: Lab, report: dict[str, Any]) -> None:
    results = report["results"]
    router = lab.addresses["router_client"]
    reference = results["tcp-crl"]["evidence"]
    assert reference["icmp"]["sender"] == router and reference["icmp"]["code"] == 13
    for flow in ("crl-direct", "crl-via-proxy", "proxy"):
        evidence = results[flow]["evidence"]
        assert evidence["icmp"] == reference["icmp"], flow
        assert evidence["errno"] == reference["errno"], flow
        assert f"communication administratively prohibited from {router}" in results[flow]["detail"], flow
    assert results["crl-direct"]["evidence"]["download"]["hop"] == "server"
    via_proxy = results["crl-via-proxy"]["evidence"]["download"]
    assert via_proxy["hop"] == "proxy" and via_proxy["proxy"] == f"{lab.addresses['proxy']}:3128"
    assert f"TCP to the proxy {lab.addresses['proxy']}:3128" in results["crl-via-proxy"]["detail"]


def test_the_remediation_names_the_router(lab: Lab, report: dict[str, Any]) -> None:
    router = lab.addresses["router_client"]
    parsed = loads(report["text"], "scan output")
    fixes = {result.flow.id: remediation(result, parsed.info) for result in parsed.results}
    for flow, fix in fixes.items():
        assert fix is not None and f"on the firewall at {router}" in fix, (flow, fix)
        assert "administratively prohibited" in fix, (flow, fix)
