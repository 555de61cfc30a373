"""Which ports a role's listener opens, and where."""

from __future__ import annotations

from pathlib import Path

import pytest

from netcheck.errors import UsageError
from netcheck.listen.endpoints import check_addresses, default_addresses, role_endpoints
from netcheck.profiles import load_profile, load_site


def test_console_listens_for_its_inbound_flows_after_site_overrides(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("name: s\npeers:\n  console: 203.0.113.10\nports:\n  tunnel: 9443\n")
    profile = load_profile("console")
    plan = role_endpoints(profile, load_site(site, profile))
    opened = {(e.transport, e.port) for e in plan.endpoints}
    inbound = {(f.transport, 9443 if f.id == "tunnel" else f.port) for f in profile.flows if f.direction.value == "in"}
    assert opened == inbound
    assert ("tcp", 9000) not in opened and ("tcp", 9443) in opened
    https = next(e for e in plan.endpoints if (e.transport, e.port) == ("tcp", 443))
    assert "sensor-https-in" in https.flows and "web-https" in https.flows  # one socket, every flow named


def test_a_port_range_binds_the_sample_a_scan_probes(tmp_path: Path) -> None:
    profile_file = tmp_path / "p.yaml"
    profile_file.write_text(
        "name: p\nrole: console\nflows:\n  - {id: rpc, purpose: x, protocol: WMI, transport: tcp, "
        "port: 1025-65535, direction: in, peer: sensors, probe: local-listener}\n")
    plan = role_endpoints(load_profile(str(profile_file)), None)
    from netcheck.model import PortRange
    from netcheck.probes.tcp import DEFAULT_SAMPLE, sample_ports

    assert [e.port for e in plan.endpoints] == sample_ports(PortRange(1025, 65535), DEFAULT_SAMPLE)
    assert "is a range" in plan.notes[0]


def test_default_addresses_are_the_roles_own(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("name: s\npeers:\n  console: [203.0.113.10, 127.0.0.1]\n")
    loaded = load_site(site)
    assert default_addresses("console", loaded, ("127.0.0.1", "198.51.100.99")) == ["127.0.0.1"]
    with pytest.raises(UsageError, match="lists no address of this host under 'console'"):
        default_addresses("console", loaded, ("198.51.100.10",))
    with pytest.raises(UsageError, match="no --site given"):
        default_addresses("console", None, ("127.0.0.1",))


def test_bind_addresses_must_be_ips() -> None:
    assert check_addresses(["127.0.0.1", "::1", "127.0.0.1"]) == ["127.0.0.1", "::1"]
    with pytest.raises(UsageError):
        check_addresses(["console.example"])
