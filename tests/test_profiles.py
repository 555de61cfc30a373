"""The built-in profiles encode the documented table; plans apply a site; schemas stay in step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from netcheck.model import Direction, PortRange
from netcheck.plan import plan
from netcheck.probes import load_all
from netcheck.profiles import builtin_profiles, data_dir, load_profile, load_site, site_from_doc
from netcheck.schema import SCHEMAS, schema_text
from netcheck.yamldoc import parse_yaml

ROOT = Path(__file__).resolve().parents[1]


def rows(profile_name: str) -> set[tuple[str, str, str, str]]:
    profile = load_profile(profile_name)
    return {(f.transport, str(f.port), f.direction.value, f.peer) for f in profile.flows}


def test_builtin_profiles_are_the_three_roles_and_the_current_generation() -> None:
    assert set(builtin_profiles("2021")) == {"sensor", "console", "client"}
    assert set(builtin_profiles("current")) == {"current/sensor", "current/sensor-cloud", "current/client"}
    assert set(builtin_profiles()) == set(builtin_profiles("2021")) | set(builtin_profiles("current"))


def test_sensor_profile_covers_the_documented_table_and_later_rows() -> None:
    sensor = rows("sensor")
    expected = {
        ("tcp", "443", "out", "console"), ("tcp", "443", "in", "console"),   # SSL sensor <-> console
        ("tcp", "443", "in", "clients"), ("tcp", "22", "in", "clients"),     # web console, CLI
        ("udp", "123", "out", "console"),                                   # NTP: the console is the time source
        ("udp", "123", "out", "ntp"),                                       # external NTP without console
        ("tcp", "25", "out", "smtp"), ("udp", "514", "out", "syslog"),
        ("udp", "53", "out", "dns"), ("tcp", "53", "out", "dns"),           # DNS is TCP and UDP
        ("tcp", "389", "out", "ldap"), ("tcp", "636", "out", "ldap"),
        ("udp", "161", "out", "snmp"), ("udp", "161", "in", "snmp"),        # SNMP both ways
        ("tcp", "135", "out", "wmi"), ("tcp", "1025-65535", "out", "wmi"), ("udp", "135", "out", "wmi"),
        ("tcp", "9000", "out", "console"), ("tcp", "22", "out", "console"),  # tunnel + SSH to console
        ("tcp", "80", "out", "crl"), ("tcp", "3128", "out", "proxy"),
    }
    assert expected <= sensor


def test_console_and_client_profiles() -> None:
    console = rows("console")
    assert {("tcp", "443", "out", "ha_console"), ("tcp", "443", "in", "ha_console"),
            ("udp", "123", "in", "sensors"), ("tcp", "9000", "in", "sensors"),
            ("tcp", "443", "in", "sensors"), ("tcp", "80", "out", "crl")} <= console
    assert ("tcp", "135", "out", "wmi") not in console  # WMI is the sensor's
    client = rows("client")
    assert {("tcp", "443", "out", "sensors"), ("tcp", "22", "out", "sensors"), ("tcp", "443", "out", "console"),
            ("tcp", "9000", "out", "console")} <= client


def test_old_udp_wmi_row_is_optional() -> None:
    wmi_udp = next(f for f in load_profile("sensor").flows if f.id == "wmi-udp")
    assert wmi_udp.required is False


def test_every_probe_kind_in_profiles_is_registered_and_documented() -> None:
    registry = load_all()
    for name in builtin_profiles():
        for flow in load_profile(name).flows:
            assert flow.probe in registry
            assert flow.transport in registry[flow.probe].transports
    for kind in registry.values():
        if not kind.name.startswith("test-"):
            assert kind.summary and kind.transports


def test_plan_applies_site_overrides_and_url_ports(tmp_path: Path) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(
        "name: s\npeers:\n  console: 127.0.0.1\n  sensors: [127.0.0.2, 127.0.0.3]\n"
        "  crl: [http://127.0.0.1:8080/x.crl, http://127.0.0.1/y.crl]\n  proxy: http://127.0.0.1\n"
        "ports:\n  tunnel: 9100\n"
    )
    profile = load_profile("console")
    flows = plan(profile, load_site(site_file, profile))
    by_id: dict[str, list] = {}  # type: ignore[type-arg]
    for flow in flows:
        by_id.setdefault(flow.id, []).append(flow)
    assert [f.port for f in by_id["tunnel"]] == [9100]
    assert [f.port for f in by_id["crl"]] == [8080, 80]
    assert [f.port for f in by_id["proxy"]] == [3128]
    assert [f.host for f in by_id["sensor-https"]] == ["127.0.0.2", "127.0.0.3"]
    assert [f.host for f in by_id["smtp"]] == [""]  # not configured -> one skipped flow
    assert all(f.host == "" for f in flows if f.direction is Direction.IN)
    wmi = load_profile("sensor").flows
    assert isinstance(next(f for f in wmi if f.id == "wmi-dynamic").port, PortRange)


def test_shipped_examples_are_valid() -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for name in builtin_profiles():
            load_site(path, load_profile(name))
    assert data_dir("examples") == ROOT / "examples"


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_committed_schema_matches_the_validator(kind: str) -> None:
    committed = (ROOT / "schema" / f"{kind}.schema.json").read_text()
    assert committed == schema_text(kind), f"regenerate: netcheck schema {kind} > schema/{kind}.schema.json"


def test_json_schema_accepts_shipped_files_and_rejects_bad_ones() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    profile_schema = json.loads(schema_text("profile"))
    site_schema = json.loads(schema_text("site"))
    for path in builtin_profiles().values():
        jsonschema.validate(yaml.safe_load(path.read_text()), profile_schema)
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), site_schema)
    bad = yaml.safe_load(builtin_profiles()["sensor"].read_text())
    bad["flows"][0]["port"] = 70000
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, profile_schema)


def test_site_without_profile_accepts_any_registered_option() -> None:
    doc = parse_yaml("name: s\npeers:\n  console: 127.0.0.1\nsettings:\n  wmi: {sample: 4}\n", "t", "site")
    assert site_from_doc(doc).settings["wmi"] == {"sample": 4}
