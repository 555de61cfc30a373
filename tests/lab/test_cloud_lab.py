"""A sensor-cloud scan in the cloud lab (tests/lab/cloud_lab.py) gives each path the sensor's
own category: direct and allowed, dropped by the router, a name that does not resolve, an
unreachable DNS server, a Basic-auth proxy (right, wrong and no credentials), an NTLM-only
proxy, an unreachable proxy, chained proxies, TLS inspection, and a skewed NTP server; plus
service tags and --source.

Each scenario is one `netcheck scan --profile sensor-cloud` run in the client namespace, as a
user runs it; only the cloud-https results are asserted here (the other flows have their own
lab tests)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netcheck.cloud.categories import DNS_SERVER, GENERAL, NAME, PROXY_AUTH, PROXY_SERVER, SECURE

from .cloud_lab import (
    AUTH_PROXY_IP,
    CHAIN_BACK_IP,
    CHAIN_FRONT_IP,
    CLIENT_MGMT_IP,
    DEAD_DNS_IP,
    DEAD_PROXY_IP,
    DNS_IP,
    NTLM_PROXY_IP,
    NTP_IP,
    PASSWORD_ENV,
    PROXY_PORT,
    PROXY_USER,
    CloudLab,
    name,
    start_cloud_lab,
    unavailable,
)

REPO = Path(__file__).resolve().parents[2]
SERVED = [name("hub"), name("blob"), name("bus")]


@pytest.fixture(scope="module")
def cloud() -> Iterator[CloudLab]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with start_cloud_lab() as lab:
        yield lab


def scan(lab: CloudLab, tmp_path: Path, endpoints: list[str], *, dns: str = DNS_IP, proxy: str | None = None,
         cloud: dict[str, Any] | None = None, proxy_settings: dict[str, Any] | None = None,
         ntp: str | None = None, password: str | None = None, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """cloud-https results of one sensor-cloud scan, keyed by endpoint name."""
    peers: dict[str, Any] = {"dns": dns}
    if proxy:
        peers["proxy"] = proxy
    if ntp:
        peers["ntp"] = ntp
    settings: dict[str, Any] = {"cloud": {"via_proxy": bool(proxy), **(cloud or {})}}
    if proxy_settings:
        settings["proxy"] = proxy_settings
    site = {"name": "cloud-lab", "peers": peers, "endpoints": endpoints, "settings": settings}
    site_file = tmp_path / "site.yaml"
    site_file.write_text(json.dumps(site))
    argv = [sys.executable, "-m", "netcheck", "scan", "--profile", "sensor-cloud", "--site", str(site_file),
            "--timeout", "2", "--format", "json", "--output", "-", "--no-progress", *extra]
    done = lab.topo.client.run(argv, check=False, cwd=REPO, timeout=120, env={**os.environ, **lab.env(password)})
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    return {r["destination"]: r for r in report["results"] if r["flow"] == "cloud-https"}


def assert_passed(results: dict[str, Any], names: list[str]) -> None:
    for host in names:
        result = results[host]
        assert (result["status"], result["reason"]) == ("pass", "answered"), result["detail"]
        assert "category" not in result
        assert result["detail"].startswith("The sensor is connected to cloud successfully")
        assert "CN=Lab Public Issuing CA 01" in result["evidence"]["certificates"][0]["issuer"]


def assert_category(result: dict[str, Any], reason: str, category: str) -> None:
    assert (result["status"], result["reason"], result.get("category")) == ("fail", reason, category), result


def test_direct_allowed_dropped_and_unknown_names(cloud: CloudLab, tmp_path: Path) -> None:
    results = scan(cloud, tmp_path, [*SERVED, name("dropped"), name("missing")])
    assert_passed(results, SERVED)
    assert results[name("hub")]["evidence"]["addresses"] == ["203.0.113.10"]
    # a direct path names the address it connected to, passed or dropped; a name that does not resolve, none
    assert results[name("hub")]["address"] == "203.0.113.10"
    assert results[name("dropped")]["address"] == results[name("dropped")]["evidence"]["addresses"][0]
    assert results[name("missing")]["address"] is None
    assert_category(results[name("dropped")], "filtered", GENERAL)
    assert_category(results[name("missing")], "nxdomain", NAME)


def test_unreachable_dns_server(cloud: CloudLab, tmp_path: Path) -> None:
    results = scan(cloud, tmp_path, SERVED, dns=DEAD_DNS_IP)
    for host in SERVED:
        assert_category(results[host], "dns-unreachable", DNS_SERVER)
        assert DEAD_DNS_IP in results[host]["detail"]


def test_basic_auth_proxy_right_wrong_and_no_credentials(cloud: CloudLab, tmp_path: Path) -> None:
    proxy = f"http://{AUTH_PROXY_IP}:{PROXY_PORT}"
    credentials = {"user": PROXY_USER, "password_env": PASSWORD_ENV}
    right = scan(cloud, tmp_path, SERVED, proxy=proxy, proxy_settings=credentials)
    assert all(result["address"] is None for result in right.values())  # the proxy resolved the names
    assert_passed(right, SERVED)
    assert right[name("hub")]["evidence"]["path"] == [f"{AUTH_PROXY_IP}:{PROXY_PORT}"]
    wrong = scan(cloud, tmp_path, SERVED, proxy=proxy, proxy_settings=credentials, password="not-the-password")
    assert_category(wrong[name("hub")], "auth-failed", PROXY_AUTH)
    none = scan(cloud, tmp_path, SERVED, proxy=proxy)
    assert_category(none[name("hub")], "proxy-auth-required", PROXY_AUTH)
    assert "407" in none[name("hub")]["detail"]
    for results in (right, wrong, none):  # the password never reaches the report
        assert cloud.proxy_password not in json.dumps(results)


def test_ntlm_only_and_unreachable_proxies(cloud: CloudLab, tmp_path: Path) -> None:
    ntlm = scan(cloud, tmp_path, [name("hub")], proxy=f"http://{NTLM_PROXY_IP}:{PROXY_PORT}")
    assert_category(ntlm[name("hub")], "proxy-auth-unsupported", PROXY_AUTH)
    assert "ntlm" in ntlm[name("hub")]["detail"]
    dead = scan(cloud, tmp_path, [name("hub")], proxy=f"http://{DEAD_PROXY_IP}:{PROXY_PORT}")
    assert_category(dead[name("hub")], "refused", PROXY_SERVER)


def test_chained_proxies(cloud: CloudLab, tmp_path: Path) -> None:
    # The proxy the sensor knows forwards to its upstream proxy itself.
    upstream = scan(cloud, tmp_path, SERVED, proxy=f"http://{CHAIN_FRONT_IP}:{PROXY_PORT}")
    assert_passed(upstream, SERVED)
    # netcheck tunnels hop by hop: CONNECT to the second proxy through the first, then to the endpoint.
    hops = scan(cloud, tmp_path, SERVED, proxy=f"http://{CHAIN_BACK_IP}:{PROXY_PORT}",
                cloud={"proxy_chain": [f"http://{CHAIN_FRONT_IP}:{PROXY_PORT}"]})
    assert_passed(hops, SERVED)
    assert hops[name("bus")]["evidence"]["path"] == [f"{CHAIN_BACK_IP}:{PROXY_PORT}", f"{CHAIN_FRONT_IP}:{PROXY_PORT}"]


def test_tls_inspection_is_named_and_its_ca_can_be_trusted(cloud: CloudLab, tmp_path: Path) -> None:
    cloud.intercept(True)
    try:
        inspected = scan(cloud, tmp_path, SERVED)
        trusted = scan(cloud, tmp_path, [name("hub")], cloud={"ca_file": str(cloud.inspection_ca)})
    finally:
        cloud.intercept(False)
    for host in SERVED:
        assert_category(inspected[host], "intercepted", SECURE)
        assert "TLS inspection" in inspected[host]["detail"]
        assert "Contoso TLS Inspection CA" in inspected[host]["detail"]
        # the judge records the rule (a chain to a trusted root) and what the inspecting proxy presented
        assert "chain to a CA of" in inspected[host]["expected"]
        assert inspected[host]["found"].startswith("valid for ") and "no chain to it" in inspected[host]["found"]
    hub = trusted[name("hub")]
    assert (hub["status"], hub["reason"]) == ("pass", "answered"), hub["detail"]
    assert "Contoso TLS Inspection CA" in hub["evidence"]["certificates"][0]["issuer"]


def test_ntp_server_hours_off_breaks_tls_only_where_it_would(cloud: CloudLab, tmp_path: Path) -> None:
    results = scan(cloud, tmp_path, [name("hub"), name("fresh")], ntp=NTP_IP)
    assert_passed(results, [name("hub")])  # valid for days either side: the skew does not matter
    fresh = results[name("fresh")]
    assert_category(fresh, "clock-offset", SECURE)
    assert "3.0 h behind" in fresh["detail"] and "not valid before" in fresh["detail"]
    assert fresh["evidence"]["clock"]["offset_s"] == pytest.approx(-10800, abs=5)


def test_service_tags_name_the_prefix_of_each_address(cloud: CloudLab, tmp_path: Path) -> None:
    tags = tmp_path / "ServiceTags_Public.json"
    tags.write_text(json.dumps({"values": [
        {"name": "AzureIoTHub", "properties": {"addressPrefixes": ["203.0.113.0/28"]}},
        {"name": "Storage", "properties": {"addressPrefixes": ["203.0.113.128/25"]}}]}))
    covered = scan(cloud, tmp_path, [name("hub")], extra=("--service-tags", str(tags)))[name("hub")]
    assert covered["status"] == "pass"
    assert "203.0.113.10 is in 203.0.113.0/28 (AzureIoTHub)" in covered["detail"]
    assert covered["evidence"]["service_tags"] == {"203.0.113.10": [{"tag": "AzureIoTHub",
                                                                     "prefix": "203.0.113.0/28"}]}
    storage_only = {"name": "Storage", "properties": {"addressPrefixes": ["203.0.113.128/25"]}}
    tags.write_text(json.dumps({"values": [storage_only]}))
    outside = scan(cloud, tmp_path, [name("hub")], extra=("--service-tags", str(tags)))[name("hub")]
    assert (outside["status"], outside["reason"]) == ("warn", "answered")
    assert "203.0.113.10 is in no service-tag prefix" in outside["detail"]


def test_source_address_picks_the_management_interface(cloud: CloudLab, tmp_path: Path) -> None:
    # The router lets only the second client address reach the "dropped" endpoint.
    dropped = name("dropped")
    assert scan(cloud, tmp_path, [dropped])[dropped]["reason"] == "filtered"
    chosen = scan(cloud, tmp_path, [dropped], extra=("--source", CLIENT_MGMT_IP))[dropped]
    assert (chosen["status"], chosen["reason"]) == ("pass", "answered"), chosen["detail"]
    assert scan(cloud, tmp_path, [dropped], extra=("-6",))[dropped]["reason"] == "dns-failure"  # no AAAA record
