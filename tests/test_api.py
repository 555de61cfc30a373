"""The library surface: `import netcheck` is light, `netcheck.scan` works from a script and
`netcheck.scan_async` from a running event loop (certificates included), options are typed."""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import netcheck
from netcheck.errors import ConfigError, UsageError
from netcheck.listen.server import Endpoint
from netcheck.model import Reason, Report, Status
from netcheck.scanner import ScanKeywords, loopback_site_path
from tests.certs.daemons import nginx
from tests.listen.helpers import free_port, running
from tests.test_scan_certificates import write_site

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("yaml", "rich", "cryptography", "jinja2", "scapy", "pysnmp", "ldap3", "dns")


def imported_modules(*argv: str) -> set[str]:
    """Every module a fresh interpreter imports for `argv`, from -X importtime."""
    run = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    lines = [line.split("|")[-1] for line in run.stderr.splitlines() if line.startswith("import time:")]
    return {line.strip() for line in lines[1:]}  # the first line is the column header


@pytest.mark.parametrize(("argv", "heavy"), [
    (("-c", "import netcheck; netcheck.__version__"), (*HEAVY, "asyncio", "netcheck.profiles")),
    (("-m", "netcheck", "--help"), HEAVY),
])
def test_import_and_help_stay_light(argv: tuple[str, ...], heavy: tuple[str, ...]) -> None:
    modules = imported_modules(*argv)
    assert "netcheck" in modules  # the measurement saw the import at all
    loaded = sorted(m for m in modules if m in heavy or m.split(".")[0] in heavy)
    assert loaded == []


def test_all_is_static_and_every_name_resolves() -> None:
    source = (ROOT / "netcheck" / "__init__.py").read_text()
    assert "__all__ = [" in source
    for name in netcheck.__all__:
        assert getattr(netcheck, name) is not None, name
    assert set(netcheck.__all__) <= set(dir(netcheck))
    assert netcheck.Status is Status and netcheck.Report is Report
    assert callable(netcheck.scan) and inspect.iscoroutinefunction(netcheck.scan_async)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        netcheck.nothing_here  # noqa: B018


def test_no_submodule_shadows_a_public_name() -> None:
    """Importing netcheck/<name>.py sets the package attribute <name> to that module, so a
    submodule named like a public function (scan.py) would replace the function."""
    import netcheck.cli
    import netcheck.demo
    import netcheck.scanner

    assert netcheck.cli and netcheck.demo
    shadowing = [name for name in netcheck.__all__ if (ROOT / "netcheck" / f"{name}.py").exists()
                 or (ROOT / "netcheck" / name).is_dir()]
    assert shadowing == []
    assert netcheck.scan is netcheck.scanner.scan


def test_py_typed_ships_with_the_package() -> None:
    assert (ROOT / "netcheck" / "py.typed").is_file()
    assert '"netcheck" = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()


def test_scan_keywords_match_scan_async() -> None:
    keyword_only = {name for name, parameter in inspect.signature(netcheck.scan_async).parameters.items()
                    if parameter.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keyword_only == set(ScanKeywords.__annotations__)


def check_loopback_report(report: Report) -> None:
    assert isinstance(report, Report)
    assert report.info.site_file == str(loopback_site_path())
    assert report.info.profile == "sensor" and report.info.options["timeout_s"] == 1
    assert {r.flow.id for r in report.results} == {spec.id for spec in netcheck.load_profile("sensor").flows}
    assert all(isinstance(r.status, Status) for r in report.results)
    assert all(r.address in (None, "127.0.0.1") for r in report.results)  # the sample site is loopback only


def test_scan_from_a_script_defaults_to_the_loopback_sample() -> None:
    report = netcheck.scan(netcheck.load_profile("sensor"), None, timeout=1, raw=False)
    check_loopback_report(report)
    assert isinstance(report.results[0].status, Status)


def test_scan_async_inside_a_running_loop() -> None:
    async def application() -> tuple[Report, int]:
        ticks = 0

        async def ticker() -> None:  # the application's own work keeps running during the scan
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        report = await netcheck.scan_async("sensor", None, timeout=1, raw=False)
        task.cancel()
        return report, ticks

    report, ticks = asyncio.run(application())
    check_loopback_report(report)
    assert ticks > 0


def test_scan_inside_a_running_loop_says_to_await_scan_async() -> None:
    async def wrong() -> None:
        netcheck.scan("sensor", timeout=1)

    with pytest.raises(RuntimeError, match="running event loop"):
        asyncio.run(wrong())


def test_load_site_takes_a_path_or_text() -> None:
    profile = netcheck.load_profile("sensor")
    by_text = netcheck.load_site(str(loopback_site_path()), profile)
    assert by_text == netcheck.load_site(loopback_site_path())
    assert by_text.peers["console"] == ("127.0.0.1",)


def test_bad_input_raises_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.yaml"):
        netcheck.scan("sensor", tmp_path / "missing.yaml", timeout=1)
    with pytest.raises(UsageError, match="unknown peer 'consle'"):
        netcheck.scan("sensor", None, timeout=1, listener_peers=["consle"])
    for bad in ({"timeout": 0}, {"deadline": -1.0}, {"concurrency": True}, {"udp_tries": float("nan")}):
        with pytest.raises(UsageError, match="must be a positive number"):
            netcheck.scan("sensor", None, **bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="family must be 4, 6"):
        netcheck.scan("sensor", None, family=5)


@pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx (Debian nginx-light)")
def test_certificates_are_checked_in_the_running_loop(tmp_path: Path) -> None:
    port = free_port("tcp")
    url = f"http://127.0.0.1:{port}/issuing.crl"
    site = write_site(tmp_path, url, revoked=True)

    async def application() -> Report:
        return await netcheck.scan_async("console", site, timeout=2, raw=False)

    certs = tmp_path / "certs"
    one = netcheck.CheckInput(crt=certs / "console.crt", key=certs / "console.key", chain=certs / "chain.pem",
                              hosts=("console.plant.example",))

    async def check_one() -> netcheck.CertReport:
        return await netcheck.check_certificate_async(one, proxy=None, crl_timeout=2)

    with nginx(tmp_path / "www", tmp_path / "nginx", port=port):
        report = asyncio.run(application())
        alone = asyncio.run(check_one())
    assert alone.analysis is not None and not alone.ok
    assert [f.code for f in alone.analysis.findings if "revoked" in (f.appliance_message or "")]  # the same CRL
    [crl_flow] = [r for r in report.results if r.flow.id == "crl"]
    assert (crl_flow.flow.host, crl_flow.status) == (url, Status.PASS)
    assert report.certificates is not None and report.certificates.ok is False
    findings = [f for a in report.certificates.appliances for f in a.findings]
    assert any("revoked" in (finding.appliance_message or "") for finding in findings), findings


def test_listener_peers_is_a_typed_option(tmp_path: Path) -> None:
    """The far-side listener runs in the application's own loop; the scan awaits beside it."""
    tcp, udp = free_port("tcp"), free_port("udp")
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        "name: two-sided\nrole: sensor\nflows:\n"
        f"  - {{id: to-console, purpose: p, protocol: TCP, transport: tcp, port: {tcp}, direction: out,"
        " peer: console, probe: tcp}\n"
        f"  - {{id: to-syslog, purpose: p, protocol: syslog, transport: udp, port: {udp}, direction: out,"
        " peer: syslog, probe: udp}\n")
    site = tmp_path / "site.yaml"
    site.write_text("name: lo\npeers:\n  console: 127.0.0.1\n  syslog: 127.0.0.1\n")

    async def application(peers: list[str]) -> dict[str, Reason]:
        async with running([Endpoint("tcp", tcp), Endpoint("udp", udp)]):
            report = await netcheck.scan_async(str(profile), site, timeout=1, raw=False, env={},
                                               listener_peers=peers)
        return {r.flow.id: r.reason for r in report.results}

    # Only the named peer's flow goes through the listener: the syslog flow keeps its plain UDP
    # probe, an empty datagram the listener ignores.
    assert asyncio.run(application(["console"])) == {"to-console": Reason.CONFIRMED, "to-syslog": Reason.NO_RESPONSE}
    assert asyncio.run(application(["*"])) == {"to-console": Reason.CONFIRMED, "to-syslog": Reason.CONFIRMED}


def test_address_family_is_a_typed_option() -> None:
    report = netcheck.scan("sensor", None, timeout=1, raw=False, family=6)
    # Every outbound flow, the http-crl probe's own fetch (httpfetch) included, keeps to IPv6
    outbound = [r for r in report.results if r.flow.direction.value == "out" and r.flow.host]
    assert any(r.flow.probe == "http-crl" for r in outbound)
    assert outbound and {r.reason for r in outbound} == {Reason.NOT_APPLICABLE}  # the sample site is IPv4 only
    assert all("-6" in r.detail for r in outbound)
    assert report.info.options["family"] == "ipv6"
    with pytest.raises(UsageError, match="not an IP address"):
        netcheck.scan("sensor", None, source="not-an-address")


def test_a_cancelled_scan_leaves_nothing_running_in_the_callers_loop(tmp_path: Path) -> None:
    """A peer that accepts and never speaks keeps the ssh probe waiting; the application cancels
    the scan: the probe's task ends and its connection is closed, the application's task lives on."""
    profile = tmp_path / "profile.yaml"
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        profile.write_text(
            "name: stoppable\nrole: sensor\nflows:\n"
            f"  - {{id: slow-ssh, purpose: p, protocol: SSH, transport: tcp, port: {port}, direction: out,"
            " peer: console, probe: ssh}\n")
        site = tmp_path / "site.yaml"
        site.write_text("name: lo\npeers:\n  console: 127.0.0.1\n")
        server.settimeout(10)

        async def application() -> tuple[list[str], bool]:
            keeper = asyncio.create_task(asyncio.sleep(60))  # the application's own work
            scanning = asyncio.create_task(netcheck.scan_async(str(profile), site, timeout=30, raw=False))
            connection, _ = await asyncio.to_thread(server.accept)  # the probe is now waiting for a banner
            scanning.cancel()
            with pytest.raises(asyncio.CancelledError):
                await scanning
            left = [repr(task.get_coro()) for task in asyncio.all_tasks()
                    if task is not asyncio.current_task() and task is not keeper and not task.done()]
            connection.settimeout(5)
            closed = await asyncio.to_thread(connection.recv, 1) == b""  # EOF: the probe closed its socket
            connection.close()
            alive = not keeper.done()
            keeper.cancel()
            return left, closed and alive

        left, closed_and_alive = asyncio.run(application())
    assert left == []
    assert closed_and_alive
