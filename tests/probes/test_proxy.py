"""proxy probe: a real tinyproxy with Basic authentication in front of a real nginx on
loopback (the lab's tinyproxy: tests/lab/test_protocol_probes_lab.py), the secret's handling, and
hostile proxies."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from netcheck.certs.downloads import CrlDownloads
from netcheck.model import Observation, Reason
from netcheck.net.http import Proxy
from netcheck.probes import ProbeContext
from netcheck.probes.http_crl import observe_http_crl
from netcheck.probes.proxy import Outcome, _combine, expand_targets, named_proxy, observe_proxy
from tests.conftest import make_flow
from tests.probes.hostile import (
    ENGINE_GRACE_S,
    Handler,
    drip,
    flood,
    hostile_server,
    make_cert,
    make_crl,
    run_probe,
    script,
    silent,
)

CTX = ProbeContext(timeout=1.2, run_id="proxy-test")


def proxy_flow(port: int, **options: Any) -> Any:
    return make_flow(port, probe="proxy", peer="proxy", host=f"http://127.0.0.1:{port}", options=options)


# --- pure ----------------------------------------------------------------------------------------

def test_connect_targets_expand_peer_keys() -> None:
    peers = {"console": ("console.example", "fd00::1"), "crl": ("http://crl/x.crl",)}
    assert expand_targets(["console:443", "other.example:8443", "console:443"], peers) == [
        "console.example:443", "[fd00::1]:443", "other.example:8443"]


def test_crl_gets_name_the_proxy_as_the_site_does() -> None:
    """The key of the run's shared CRL downloads: the via_proxy crl flow reads peers.proxy with
    net.http.parse_proxy, so the proxy flow names it the same way, not by its resolved address."""
    named = named_proxy("http://Proxy.Plant.example:3128", 3128, "198.51.100.3", "x")
    assert named == Proxy("proxy.plant.example", 3128, "x")
    assert named_proxy("http://[2001:db8::3]:3128", 3128, "2001:db8::3", None) == Proxy("2001:db8::3", 3128, None)
    assert named != Proxy("proxy.plant.example", 3128, "other credentials")


def test_a_request_that_fails_on_the_network_carries_the_socket_facts_on_top() -> None:
    """Like the tcp probe (evidence["icmp"], evidence["errno"]), so the remediation names the router."""
    icmp = {"origin": "icmp", "type": 3, "code": 13, "sender": "198.51.100.1",
            "text": "communication administratively prohibited"}
    outcomes = [Outcome("GET http://crl.plant.example/x.crl", True, Reason.ANSWERED, "HTTP/1.1 200 OK", {}),
                Outcome("CONNECT console.plant.example:443", False, Reason.PROHIBITED,
                        "TCP 3128: communication administratively prohibited from 198.51.100.1",
                        {"errno": "EHOSTUNREACH", "icmp": icmp})]
    observation = _combine(make_flow(3128, probe="proxy", host="http://198.51.100.3:3128"), outcomes, 1.5)
    assert observation.reason is Reason.PROHIBITED
    assert observation.evidence["icmp"] == icmp and observation.evidence["errno"] == "EHOSTUNREACH"
    assert observation.evidence["requests"]["CONNECT console.plant.example:443"]["icmp"] == icmp
    relayed = _combine(make_flow(3128, probe="proxy"), outcomes[:1], 1.5)
    assert relayed.reason is Reason.ANSWERED and "icmp" not in relayed.evidence


def test_missing_password_variable_is_not_configured() -> None:
    flow = proxy_flow(3128, user="netcheck", password_env="NETCHECK_TEST_NO_SUCH_VARIABLE")
    observation = asyncio.run(observe_proxy(flow, "127.0.0.1", replace(CTX, env={})))
    assert observation.reason is Reason.NOT_CONFIGURED and "NETCHECK_TEST_NO_SUCH_VARIABLE" in observation.detail


def test_without_targets_the_tcp_handshake_is_the_result() -> None:
    async def main() -> Observation:
        async with hostile_server(silent) as port:
            return await observe_proxy(proxy_flow(port), "127.0.0.1", CTX)

    observation = asyncio.run(main())
    assert observation.reason is Reason.OPEN and "no CRL URL" in observation.detail


# --- hostile proxies -------------------------------------------------------------------------------

TARGETS = {"connect_targets": ["console.example:443"]}


@pytest.mark.parametrize(
    "handler, reason, words",
    [
        (script(None, b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"),
         Reason.PROXY_DENIED, "407 Proxy Authentication Required: the proxy requires credentials"),
        (script(None, b"HTTP/1.0 403 Forbidden\r\n\r\n"), Reason.PROXY_DENIED, "HTTP/1.0 403 Forbidden"),
        (script(None, b"SSH-2.0-OpenSSH_9.2\r\n"), Reason.PROTOCOL_ERROR, "not an HTTP answer"),
        (flood(b"x" * 65536, after_request=True), Reason.PROTOCOL_ERROR, "no valid HTTP answer"),
        (drip(b"HTTP/1.1 200 Connection established\r\n\r\n"), Reason.TIMEOUT, "before the deadline"),
        (silent, Reason.TIMEOUT, "before the deadline"),
    ],
)
def test_hostile_proxies(handler: Handler, reason: Reason, words: str) -> None:
    observation, took = run_probe(observe_proxy, proxy_flow(3128, **TARGETS), CTX, handler)
    assert observation.reason is reason, observation.detail
    assert words in observation.detail
    assert took < CTX.timeout + ENGINE_GRACE_S


# --- real tinyproxy + nginx on loopback ------------------------------------------------------------

@dataclass(frozen=True)
class Proxied:
    proxy_port: int
    origin_port: int
    password: str
    crl_url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _wait(port: int, procs: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            pytest.fail("daemon exited: " + " | ".join(log.read_text(errors="replace")[-800:] for log in logs))
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def proxied() -> Iterator[Proxied]:
    if os.geteuid() != 0 or not shutil.which("tinyproxy") or not shutil.which("nginx"):
        pytest.skip("needs root, tinyproxy and nginx")
    d = Path(tempfile.mkdtemp(prefix="netcheck-proxy-test-"))
    d.chmod(0o755)  # tinyproxy runs as nobody; nginx workers read www/
    www = d / "www"
    www.mkdir()
    ca = make_cert("Proxy Test CA", ca=True)
    (www / "ca.crl").write_bytes(make_crl(ca, revoked=(3,)).public_bytes(Encoding.DER))
    (www / "ca.crl").chmod(0o644)
    origin, proxy, password = _free_port(), _free_port(), secrets.token_urlsafe(12)
    (d / "nginx.conf").write_text(f"""worker_processes 1; pid {d}/nginx.pid; error_log {d}/nginx.err;
events {{ worker_connections 32; }}
http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
  uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
  server {{ listen 127.0.0.1:{origin}; root {www}; }} }}
""")
    (d / "tinyproxy.conf").write_text(f"""User nobody
Group nogroup
Port {proxy}
Listen 127.0.0.1
Timeout 10
PidFile "{d}/tinyproxy.pid"
MaxClients 10
Allow 127.0.0.1
BasicAuth netcheck {password}
ConnectPort {origin}
""")
    logs = [d / "nginx.out", d / "tinyproxy.out"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for argv, log in (([shutil.which("nginx") or "nginx", "-c", str(d / "nginx.conf"), "-e", str(d / "nginx.err"),
                            "-g", "daemon off;"], logs[0]),
                          ([shutil.which("tinyproxy") or "tinyproxy", "-d", "-c", str(d / "tinyproxy.conf")], logs[1])):
            with open(log, "wb") as out:
                procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        _wait(origin, procs, logs)
        _wait(proxy, procs, logs)
        yield Proxied(proxy, origin, password, f"http://127.0.0.1:{origin}/ca.crl")
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(5)
        shutil.rmtree(d, ignore_errors=True)


def _ctx(proxied: Proxied, **proxy_settings: Any) -> ProbeContext:
    site = SimpleNamespace(settings={"proxy": proxy_settings})
    peers = {"crl": (proxied.crl_url, f"http://127.0.0.1:{proxied.origin_port}/missing.crl"),
             "proxy": (f"http://127.0.0.1:{proxied.proxy_port}",)}
    return replace(CTX, env={"NETCHECK_PROXY_PASSWORD": proxied.password}, settings={"peers": peers, "site": site})


def test_real_proxy_with_credentials_relays_get_and_connect(proxied: Proxied) -> None:
    options = {"user": "netcheck", "password_env": "NETCHECK_PROXY_PASSWORD",
               "connect_targets": [f"127.0.0.1:{proxied.origin_port}"]}
    observation = asyncio.run(observe_proxy(proxy_flow(proxied.proxy_port, **options), "127.0.0.1", _ctx(proxied)))
    assert observation.reason is Reason.ANSWERED, observation.detail
    requests = observation.evidence["requests"]
    assert requests[f"GET {proxied.crl_url}"]["status_line"] == "HTTP/1.1 200 OK"
    assert "404" in requests[f"GET http://127.0.0.1:{proxied.origin_port}/missing.crl"]["detail"]  # relayed
    assert requests[f"CONNECT 127.0.0.1:{proxied.origin_port}"]["reason"] == "answered"
    # The secret never shows, neither as is nor as the Basic token.
    shown = json.dumps([observation.detail, observation.evidence, repr(observation)])
    token = base64.b64encode(f"netcheck:{proxied.password}".encode()).decode()
    assert proxied.password not in shown and token not in shown


def test_real_proxy_without_credentials_is_proxy_denied(proxied: Proxied) -> None:
    observation = asyncio.run(observe_proxy(proxy_flow(proxied.proxy_port), "127.0.0.1", _ctx(proxied)))
    assert observation.reason is Reason.PROXY_DENIED
    assert "407" in observation.detail


def test_real_proxy_denies_connect_to_other_ports(proxied: Proxied) -> None:
    options = {"user": "netcheck", "password_env": "NETCHECK_PROXY_PASSWORD", "connect_targets": ["127.0.0.1:9"]}
    observation = asyncio.run(observe_proxy(proxy_flow(proxied.proxy_port, **options), "127.0.0.1", _ctx(proxied)))
    assert observation.reason is Reason.PROXY_DENIED
    assert "CONNECT 127.0.0.1:9 failed: HTTP/1.1 403" in observation.detail


def test_crl_via_the_real_proxy_uses_the_sites_proxy_credentials(proxied: Proxied) -> None:
    ctx = _ctx(proxied, user="netcheck", password_env="NETCHECK_PROXY_PASSWORD")
    flow = make_flow(proxied.origin_port, probe="http-crl", peer="crl", host=proxied.crl_url,
                     options={"via_proxy": True})
    observation = asyncio.run(observe_http_crl(flow, None, ctx))
    assert observation.reason is Reason.ANSWERED, observation.detail
    assert observation.evidence["crl"]["revoked_count"] == 1
    assert observation.evidence["download"]["proxy"] == f"127.0.0.1:{proxied.proxy_port}"
    assert proxied.password not in json.dumps(observation.evidence)
    denied = asyncio.run(observe_http_crl(flow, None, _ctx(proxied)))  # no credentials
    assert denied.reason is Reason.PROXY_DENIED and "407" in denied.detail


def test_a_via_less_proxy_relays_the_origins_404_and_the_crl_flow_shares_each_get(tmp_path: Path) -> None:
    """net.http alone tells a proxy's own refusal from an origin's answer (statuses proxies do not
    produce are the origin's, with or without Via), for the proxy flow and the via_proxy crl flow alike."""
    from tests.certs.daemons import nginx, tinyproxy

    if os.geteuid() != 0 or not shutil.which("tinyproxy") or not shutil.which("nginx"):
        pytest.skip("needs root, tinyproxy and nginx")
    www = tmp_path / "www"
    www.mkdir()
    (www / "ca.crl").write_bytes(make_crl(make_cert("Via-less CA", ca=True)).public_bytes(Encoding.DER))
    downloads = CrlDownloads()
    # Given tinyproxy without Via headers in front of nginx, which has ca.crl but no missing.crl,
    with nginx(www, tmp_path / "nginx") as origin, tinyproxy(tmp_path / "proxy", disable_via=True) as proxy_port:
        urls = (f"http://127.0.0.1:{origin}/ca.crl", f"http://127.0.0.1:{origin}/missing.crl")
        ctx = replace(CTX, timeout=3, crl_downloads=downloads,
                      settings={"peers": {"crl": urls, "proxy": (f"http://127.0.0.1:{proxy_port}",)}})

        async def together() -> list[Observation]:
            crl_flows = [make_flow(origin, probe="http-crl", peer="crl", host=url, options={"via_proxy": True})
                         for url in urls]
            return await asyncio.gather(observe_proxy(proxy_flow(proxy_port), "127.0.0.1", ctx),
                                        *(observe_http_crl(flow, None, ctx) for flow in crl_flows))

        # When the proxy flow and the via_proxy crl flows run at once,
        proxied, good, missing = asyncio.run(together())
    # Then the 404 is the origin's: relayed for the proxy flow, http-error (not proxy-denied) for the crl flow,
    assert proxied.reason is Reason.ANSWERED, proxied.detail
    assert f"GET {urls[1]}: relayed; the server said: server answered HTTP/1.1 404" in proxied.detail
    assert (good.reason, missing.reason) == (Reason.ANSWERED, Reason.HTTP_ERROR), (good.detail, missing.detail)
    assert "404" in missing.detail and "proxy-denied" not in missing.detail
    # and each URL crossed the proxy once for both flows.
    assert downloads.started == 2
    log = (tmp_path / "nginx" / "access.log").read_text()
    assert (log.count('"GET /ca.crl HTTP/'), log.count('"GET /missing.crl HTTP/')) == (1, 1)
