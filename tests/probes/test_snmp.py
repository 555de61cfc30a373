"""SNMP probe: a real snmpd on loopback (v2c and v3), and hostile UDP servers in-process."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from netcheck.judges import as_verdict
from netcheck.model import Observation, Reason, Status
from netcheck.probes import ProbeContext, get
from tests.conftest import make_flow

from .hostile_udp import HostileUdp
from .loopback_daemons import daemon, free_port, need

COMMUNITY = "lab-Community-42"
AUTH_KEY = "auth-Key-5b1e9"
PRIV_KEY = "priv-Key-c4d70"
SECRETS = {"SNMP_COMMUNITY": COMMUNITY, "SNMP_AUTH": AUTH_KEY, "SNMP_PRIV": PRIV_KEY, "WRONG": "wrong-Secret-000"}
SYS_DESCR = "netcheck loopback snmpd"
V3 = {"version": "3", "user": "labuser", "auth_protocol": "SHA256", "auth_key_env": "SNMP_AUTH",
      "priv_protocol": "AES", "priv_key_env": "SNMP_PRIV"}


def observe(port: int, timeout: float = 1.5, tries: int = 2, env: dict[str, str] | None = None,
            **options: Any) -> tuple[Observation, Status, float]:
    flow = make_flow(port, transport="udp", probe="snmp", peer="snmp", options=options)
    probe = get("snmp")
    ctx = ProbeContext(timeout=timeout, run_id="snmptest", udp_tries=tries, env=SECRETS if env is None else env)
    started = time.monotonic()
    observation = asyncio.run(probe.observe(flow, "127.0.0.1", ctx))
    return observation, as_verdict(probe.judge(flow, observation)).status, time.monotonic() - started


def shows_no_secret(observation: Observation) -> bool:
    text = observation.detail + json.dumps(observation.evidence, default=str)
    return not any(secret in text for secret in SECRETS.values())


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    binary = need("snmpd")
    folder = tmp_path_factory.mktemp("snmpd")
    port = free_port()
    conf = folder / "snmpd.conf"
    conf.write_text(f"""agentAddress udp:127.0.0.1:{port}
rocommunity {COMMUNITY} 127.0.0.1
createUser labuser SHA-256 "{AUTH_KEY}" AES "{PRIV_KEY}"
rouser labuser priv
sysDescr {SYS_DESCR}
""")
    # -C: only this config; -f: foreground; MIBS empty: no MIB parsing noise.
    argv = [binary, "-f", "-C", "-c", str(conf), "-Lf", str(folder / "snmpd-own.log"), "-p", str(folder / "pid")]
    with daemon(argv, [("udp", port)], folder / "snmpd.log",
                env={"SNMP_PERSISTENT_DIR": str(folder / "persist"), "MIBS": ""}):
        yield port


def test_v2c_reads_sysdescr_and_uptime(snmpd: int) -> None:
    observation, status, _ = observe(snmpd, community_env="SNMP_COMMUNITY")
    assert (status, observation.reason) == (Status.PASS, Reason.ANSWERED), observation.detail
    assert observation.evidence["sys_descr"] == SYS_DESCR
    assert isinstance(observation.evidence["sys_uptime_ticks"], int)
    assert f"sysDescr '{SYS_DESCR}'" in observation.detail
    assert shows_no_secret(observation)


def test_a_wrong_community_is_silence_with_the_explanation(snmpd: int) -> None:
    observation, status, elapsed = observe(snmpd, timeout=1.0, community_env="WRONG")
    assert (status, observation.reason) == (Status.FAIL, Reason.NO_RESPONSE)
    assert "wrong credentials" in observation.detail and "firewall" in observation.detail
    assert elapsed < 1.0 + 0.3
    assert shows_no_secret(observation)


def test_v3_authpriv_reads_sysdescr(snmpd: int) -> None:
    observation, status, _ = observe(snmpd, **V3)
    assert (status, observation.reason) == (Status.PASS, Reason.ANSWERED), observation.detail
    assert observation.evidence["sys_descr"] == SYS_DESCR
    assert observation.evidence["snmp"] == {"version": "3", "user": "labuser", "security_level": "authPriv",
                                            "auth_protocol": "SHA256", "priv_protocol": "AES"}
    assert shows_no_secret(observation)
    verdict = as_verdict(get("snmp").judge(make_flow(snmpd, transport="udp", probe="snmp", peer="snmp"),
                                           observation))
    assert verdict.expected == "GET sysDescr.0 answered with v3 user labuser authPriv (SHA256/AES)"
    assert verdict.found == f"sysDescr '{SYS_DESCR}'"


@pytest.mark.parametrize(("options", "indication"), [
    ({**V3, "user": "nobody"}, "UnknownUserName"),
    ({**V3, "auth_key_env": "WRONG"}, "WrongDigest"),
])
def test_v3_reports_are_auth_failed(snmpd: int, options: dict[str, str], indication: str) -> None:
    observation, status, elapsed = observe(snmpd, **options)
    assert (status, observation.reason) == (Status.FAIL, Reason.AUTH_FAILED), observation.detail
    assert observation.evidence["error_indication"] == indication
    assert elapsed < 1.0
    verdict = as_verdict(get("snmp").judge(make_flow(snmpd, transport="udp", probe="snmp", peer="snmp"),
                                           observation))
    assert verdict.found == f"rejected: {indication}"
    assert shows_no_secret(observation)


@pytest.mark.parametrize(("options", "words"), [
    ({}, "set settings.snmp.community_env"),
    ({"community_env": "UNSET_VARIABLE"}, "UNSET_VARIABLE (settings.snmp.community_env) is not set"),
    ({**V3, "priv_key_env": "UNSET_VARIABLE"}, "authPriv privacy key is missing"),
    ({**V3, "auth_protocol": "ROT13"}, "'ROT13' is not one of"),
    ({"version": "1"}, 'is not "2c" or "3"'),
])
def test_missing_or_invalid_settings_are_named_not_sent(options: dict[str, str], words: str) -> None:
    with HostileUdp(lambda request: []) as server:
        observation, status, _ = observe(server.port, **options)
        sent = len(server.received)
    assert (status, observation.reason) == (Status.SKIP, Reason.NOT_CONFIGURED)
    assert words in observation.detail
    assert sent == 0


def test_a_closed_port_is_refused_with_the_icmp_sender() -> None:
    observation, status, elapsed = observe(free_port(), community_env="SNMP_COMMUNITY")
    assert (status, observation.reason) == (Status.FAIL, Reason.REFUSED)
    assert observation.evidence["icmp"]["sender"] == "127.0.0.1"
    assert elapsed < 1.0
    assert shows_no_secret(observation)


@pytest.mark.parametrize(("respond", "reason"), [
    (lambda request: [], Reason.NO_RESPONSE),
    (lambda request: [b"\x30\x03\x02\x01\x01garbage"], Reason.PROTOCOL_ERROR),
    (lambda request: [request], Reason.PROTOCOL_ERROR),  # an echo service
    (lambda request: [b"\xff" * 60000], Reason.PROTOCOL_ERROR),
])
def test_hostile_servers_end_within_the_deadline(respond: Callable[[bytes], list[bytes]], reason: Reason) -> None:
    with HostileUdp(respond) as server:
        observation, status, elapsed = observe(server.port, timeout=1.0, community_env="SNMP_COMMUNITY")
        datagrams = list(server.received)
    assert (status, observation.reason) == (Status.FAIL, reason), observation.detail
    assert elapsed < 1.0 + 0.3
    # the community travels in the SNMP request, as it must, but never into the report
    assert any(COMMUNITY.encode() in d for d in datagrams)
    assert shows_no_secret(observation)
