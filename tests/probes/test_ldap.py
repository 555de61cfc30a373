"""LDAP/LDAPS probes: a real slapd on loopback (RootDSE, bind, StartTLS, LDAPS certificates),
and hostile servers that stay silent, drip or send garbage."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from netcheck.judges import as_verdict
from netcheck.model import Observation, Reason, Status
from netcheck.probes import ProbeContext, get
from tests.conftest import make_flow
from tests.lab.pki import LabPKI, make_pki

from .hostile_udp import HostileTcp, drip, send_then_close, send_then_hold, silent
from .loopback_daemons import daemon, free_port, need

SUFFIX = "dc=lab,dc=example"
BIND_DN = f"cn=netcheck,{SUFFIX}"
PASSWORD = "Ldap-Secret-7f3a"  # the bind password; must never show up in any output


@dataclass(frozen=True)
class Slapd:
    ldap_port: int
    ldaps_port: int
    pki: LabPKI


def observe(kind: str, port: int, host: str = "ldap.lab.example", timeout: float = 2.0,
            env: dict[str, str] | None = None, **options: Any) -> tuple[Observation, Status, float]:
    flow = make_flow(port, probe=kind, peer="ldap", host=host, options=options)
    probe = get(kind)
    ctx = ProbeContext(timeout=timeout, run_id="ldaptest", env={"LDAP_PW": PASSWORD} if env is None else env)
    started = time.monotonic()
    observation = asyncio.run(probe.observe(flow, "127.0.0.1", ctx))
    return observation, as_verdict(probe.judge(flow, observation)).status, time.monotonic() - started


def start_slapd(folder: Path, pki: LabPKI, leaf: str) -> Iterator[Slapd]:
    if os.geteuid() != 0:
        pytest.skip("slapd is started as root here")
    binary = need("slapd")
    need("slapadd")
    hashed = subprocess.run(["slappasswd", "-s", PASSWORD], capture_output=True, text=True, check=True).stdout.strip()
    (folder / "db").mkdir()
    conf = folder / "slapd.conf"
    conf.write_text(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
TLSCertificateFile {pki.leaves[leaf].chain}
TLSCertificateKeyFile {pki.leaves[leaf].key}
database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "cn=admin,{SUFFIX}"
directory {folder}/db
""")
    (folder / "base.ldif").write_text(f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: lab
dc: lab

dn: {BIND_DN}
objectClass: inetOrgPerson
cn: netcheck
sn: netcheck
userPassword: {hashed}
""")
    subprocess.run(["slapadd", "-f", str(conf), "-l", str(folder / "base.ldif")], capture_output=True, check=True)
    ldap_port, ldaps_port = free_port(), free_port()
    urls = f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/"
    with daemon([binary, "-d", "0", "-f", str(conf), "-h", urls], [("tcp", ldap_port), ("tcp", ldaps_port)],
                folder / "slapd.log"):
        yield Slapd(ldap_port, ldaps_port, pki)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory, pki: LabPKI) -> Iterator[Slapd]:
    yield from start_slapd(tmp_path_factory.mktemp("slapd"), pki, "ldap")


@pytest.fixture(scope="module")
def selfsigned_slapd(tmp_path_factory: pytest.TempPathFactory, pki: LabPKI) -> Iterator[Slapd]:
    yield from start_slapd(tmp_path_factory.mktemp("slapd-ss"), pki, "selfsigned")


def test_rootdse_is_read_anonymously(slapd: Slapd) -> None:
    observation, status, _ = observe("ldap", slapd.ldap_port)
    assert (status, observation.reason) == (Status.PASS, Reason.ANSWERED)
    dse = observation.evidence["root_dse"]
    assert dse["naming_contexts"] == [SUFFIX]
    assert dse["ldap_versions"] == ["3"]
    assert dse["starttls_offered"] is True and dse["supported_controls"] > 0
    assert SUFFIX in observation.detail


def test_simple_bind_with_the_password_from_the_environment(slapd: Slapd) -> None:
    observation, status, _ = observe("ldap", slapd.ldap_port, bind_dn=BIND_DN, password_env="LDAP_PW")
    assert (status, observation.reason) == (Status.PASS, Reason.ANSWERED)
    assert observation.evidence["bind"]["result"] == "success"
    assert f"bound as {BIND_DN}" in observation.detail
    verdict = as_verdict(get("ldap").judge(make_flow(slapd.ldap_port, probe="ldap", peer="ldap"), observation))
    assert (verdict.expected, verdict.found) == (f"simple bind as {BIND_DN} succeeds", "bind: success")


def test_a_wrong_password_is_auth_failed_and_never_shown(slapd: Slapd) -> None:
    wrong = "Wrong-Pass-91c2"
    observation, status, _ = observe("ldap", slapd.ldap_port, env={"LDAP_PW": wrong}, bind_dn=BIND_DN,
                                     password_env="LDAP_PW")
    assert (status, observation.reason) == (Status.FAIL, Reason.AUTH_FAILED)
    assert "invalidCredentials" in observation.detail
    # the directory was reachable: the RootDSE is still in the evidence
    assert observation.evidence["root_dse"]["naming_contexts"] == [SUFFIX]
    assert wrong not in observation.detail + json.dumps(observation.evidence)
    verdict = as_verdict(get("ldap").judge(make_flow(slapd.ldap_port, probe="ldap", peer="ldap"), observation))
    assert verdict.expected == f"simple bind as {BIND_DN} succeeds"
    assert verdict.found is not None and "invalidCredentials" in verdict.found and wrong not in verdict.found


def test_a_missing_password_variable_is_named(slapd: Slapd) -> None:
    observation, status, _ = observe("ldap", slapd.ldap_port, env={}, bind_dn=BIND_DN, password_env="LDAP_PW")
    assert (status, observation.reason) == (Status.FAIL, Reason.AUTH_FAILED)
    assert "LDAP_PW is not set" in observation.detail


def test_starttls_records_the_certificate(slapd: Slapd) -> None:
    observation, status, _ = observe("ldap", slapd.ldap_port, starttls=True, ca_file=str(slapd.pki.root_cert),
                                     bind_dn=BIND_DN, password_env="LDAP_PW")
    assert (status, observation.reason) == (Status.PASS, Reason.ANSWERED), observation.detail
    assert observation.evidence["certificate"]["subject_cn"] == "ldap.lab.example"
    assert observation.evidence["tls"]["version"].startswith("TLSv1.")
    assert "LDAP+StartTLS" in observation.detail


def test_ldaps_verifies_with_the_site_ca(slapd: Slapd) -> None:
    observation, status, _ = observe("ldaps", slapd.ldaps_port, ca_file=str(slapd.pki.root_cert))
    assert (status, observation.reason) == (Status.PASS, Reason.ANSWERED), observation.detail
    cert = observation.evidence["certificate"]
    assert cert["issuer"].startswith("CN=netcheck lab issuing CA")
    assert cert["crl_urls"] == [slapd.pki.crl_url]
    assert observation.evidence["root_dse"]["naming_contexts"] == [SUFFIX]


def test_ldaps_with_another_ca_is_a_tls_error(slapd: Slapd) -> None:
    observation, status, _ = observe("ldaps", slapd.ldaps_port, ca_file=str(slapd.pki.leaves["selfsigned"].cert))
    assert (status, observation.reason) == (Status.FAIL, Reason.TLS_ERROR)
    assert "certificate verify failed" in observation.detail


def test_ldaps_certificate_not_naming_the_planned_host_is_a_warning(slapd: Slapd) -> None:
    observation, status, _ = observe("ldaps", slapd.ldaps_port, host="127.0.0.1")
    assert (status, observation.reason) == (Status.WARN, Reason.CERT_WARNING)
    assert "does not name 127.0.0.1" in observation.detail


def test_self_signed_ldaps_is_a_warning(selfsigned_slapd: Slapd) -> None:
    observation, status, _ = observe("ldaps", selfsigned_slapd.ldaps_port, host="selfsigned.lab.example")
    assert (status, observation.reason) == (Status.WARN, Reason.CERT_WARNING)
    assert "self-signed" in observation.detail


def test_wrong_protocol_on_each_port(slapd: Slapd) -> None:
    tls_on_plain, status, _ = observe("ldaps", slapd.ldap_port)
    assert (status, tls_on_plain.reason) == (Status.FAIL, Reason.TLS_ERROR)
    plain_on_tls, status, _ = observe("ldap", slapd.ldaps_port)
    assert (status, plain_on_tls.reason) == (Status.FAIL, Reason.PROTOCOL_ERROR)


def test_a_closed_port_is_refused() -> None:
    observation, status, elapsed = observe("ldap", free_port())
    assert (status, observation.reason) == (Status.FAIL, Reason.REFUSED)
    assert elapsed < 0.5


GARBAGE = b"HTTP/1.0 400 Bad Request\r\n\r\n"
# A well-formed BER SEQUENCE whose content is not an LDAP message (ldap3's decoder trips on it).
BAD_BER = b"\x30\x05\x02\x01\x01\x0a\x00"


@pytest.mark.parametrize(("kind", "behave", "reason"), [
    ("ldap", silent(seconds=6), Reason.TIMEOUT),
    ("ldaps", silent(seconds=6), Reason.TIMEOUT),
    ("ldap", drip(b"\x30\x84\x00\x00\x00\x10" + b"\x02" * 32, interval=0.2, seconds=6), Reason.TIMEOUT),
    ("ldaps", drip(b"\x16\x03\x03\x00\x40" + b"\x02" * 32, interval=0.2, seconds=6), Reason.TIMEOUT),
    ("ldap", send_then_hold(GARBAGE, seconds=6), Reason.PROTOCOL_ERROR),
    ("ldaps", send_then_hold(GARBAGE, seconds=6), Reason.TLS_ERROR),
    ("ldap", send_then_hold(BAD_BER, seconds=6), Reason.PROTOCOL_ERROR),
    ("ldap", send_then_close(GARBAGE), Reason.PROTOCOL_ERROR),
    ("ldap", send_then_close(b"", read_first=False), Reason.PROTOCOL_ERROR),
    ("ldaps", send_then_close(b"", read_first=False), Reason.TLS_ERROR),
])
def test_hostile_servers_end_within_the_deadline(kind: str, behave: Callable[..., None], reason: Reason) -> None:
    with HostileTcp(behave) as server:
        observation, status, elapsed = observe(kind, server.port, timeout=1.5)
    assert (status, observation.reason) == (Status.FAIL, reason), observation.detail
    assert elapsed < 1.5 + 0.3


def test_a_whole_run_with_hostile_peers_reports_every_flow() -> None:
    """Drip, silence and garbage on four protocols at once: each flow ends within its
    deadline with its own reason, and the one healthy flow still passes."""
    from netcheck.engine import Limits, scan

    from .hostile_udp import HostileUdp

    timeout = 1.5
    with HostileTcp(drip(b"\x30\x84\x00\x00\x00\x40" + b"\x02" * 40, interval=0.2, seconds=8)) as ldap_drip, \
            HostileTcp(silent(seconds=8)) as dns_silent, \
            HostileUdp(lambda request: [os.urandom(30)]) as ntp_garbage, \
            HostileUdp(lambda request: [b"\x30\x00"]) as snmp_garbage, \
            HostileTcp(silent(seconds=8)) as healthy:
        flows = [
            make_flow(ldap_drip.port, probe="ldap", peer="ldap", flow_id="ldap-drip"),
            make_flow(dns_silent.port, probe="dns", peer="dns", flow_id="dns-silent",
                      options={"names": ["console.lab.example"]}),
            make_flow(ntp_garbage.port, transport="udp", probe="ntp", peer="ntp", flow_id="ntp-garbage"),
            make_flow(snmp_garbage.port, transport="udp", probe="snmp", peer="snmp", flow_id="snmp-garbage",
                      options={"community_env": "COMMUNITY"}),
            make_flow(healthy.port, probe="tcp", flow_id="tcp-healthy"),
        ]
        ctx = ProbeContext(timeout=timeout, run_id="hostile", udp_tries=2, env={"COMMUNITY": "c0mmunity-Secret"})
        started = time.monotonic()
        results = asyncio.run(scan(flows, ctx, Limits(timeout=timeout, deadline=30)))
        elapsed = time.monotonic() - started
    got = {r.flow.id: (r.status.value, r.reason.value) for r in results}
    assert got == {
        "ldap-drip": ("fail", "timeout"),
        "dns-silent": ("fail", "timeout"),
        "ntp-garbage": ("fail", "protocol-error"),
        "snmp-garbage": ("fail", "protocol-error"),
        "tcp-healthy": ("pass", "open"),
    }
    # the probes' own deadlines fire first: nothing needed the engine's cancellation
    assert not [r.detail for r in results if r.detail.startswith("no answer within")]
    assert elapsed < timeout + 1.0
