"""http-crl probe: CRL judgement (pure), https refused without traffic, proxy settings,
and hostile HTTP servers (real nginx and tinyproxy: tests/lab/test_protocol_probes_lab.py and
tests/probes/test_proxy.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from netcheck.judges import as_verdict
from netcheck.model import Observation, Reason, Status
from netcheck.probes import ProbeContext, get
from netcheck.probes.http_crl import judge_crl, observe_http_crl
from tests.conftest import make_flow
from tests.probes.hostile import (
    ENGINE_GRACE_S,
    Handler,
    drip,
    flood,
    hostile_server,
    http_response,
    make_cert,
    make_crl,
    script,
    send_then_hold,
    silent,
)

CTX = ProbeContext(timeout=1.2, run_id="crl-test")
CA = make_cert("CRL Test CA", ca=True, days=(-10, 365))
GOOD = make_crl(CA, revoked=(7, 9))
STALE = make_crl(CA, days=(-20, -3))


def crl_flow(url: str, **options: Any) -> Any:
    return make_flow(80, probe="http-crl", peer="crl", host=url, options=options)


def observe_url(handler: Handler, path: str = "/ca.crl", ctx: ProbeContext = CTX, **options: Any
                ) -> tuple[Observation, float]:
    async def main() -> tuple[Observation, float]:
        async with hostile_server(handler) as port:
            started = time.monotonic()
            observation = await observe_http_crl(crl_flow(f"http://127.0.0.1:{port}{path}", **options), None, ctx)
            return observation, time.monotonic() - started

    return asyncio.run(main())


# --- judgement (pure) ---------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", [Encoding.DER, Encoding.PEM])
def test_current_crl_in_der_or_pem(encoding: Encoding) -> None:
    observation = judge_crl("http://x/ca.crl", GOOD.public_bytes(encoding), "application/pkix-crl", {}, 1.0)
    assert observation.reason is Reason.ANSWERED, observation.detail
    facts = observation.evidence["crl"]
    assert facts["issuer"] == "CN=CRL Test CA" and facts["revoked_count"] == 2
    assert facts["signature_algorithm"] == "ecdsa-with-SHA256"
    assert facts["next_update"] and facts["this_update"]
    assert "issuer CN=CRL Test CA, 2 entries" in observation.detail


def test_stale_crl_warns() -> None:
    observation = judge_crl("http://x/ca.crl", STALE.public_bytes(Encoding.DER), None, {}, None)
    assert observation.reason is Reason.STALE and "the CRL expired at" in observation.detail


@pytest.mark.parametrize(("crl", "status"), [(GOOD, Status.PASS), (STALE, Status.WARN)])
def test_the_judge_names_the_rule_and_the_next_update(crl: Any, status: Status) -> None:
    observation = judge_crl("http://x/ca.crl", crl.public_bytes(Encoding.DER), None, {}, None)
    verdict = as_verdict(get("http-crl").judge(crl_flow("http://x/ca.crl"), observation))
    next_update = f"{crl.next_update_utc:%Y-%m-%d %H:%M} UTC"
    assert (verdict.status, verdict.expected) == (
        status, "a current CRL (nextUpdate not passed, thisUpdate not in the future)")
    assert verdict.found is not None and verdict.found.startswith(f"nextUpdate {next_update}, issuer CN=CRL Test CA")
    # a stale CRL's finding says what is wrong, in the words of the certificate verdict's rule
    assert (";" in verdict.found) is (status is Status.WARN)


@pytest.mark.parametrize("body", [b"<html>Not here</html>", b"", b"0\x82\x01\x00garbage",
                                  CA[0].public_bytes(Encoding.PEM)])
def test_anything_else_is_not_a_crl(body: bytes) -> None:
    observation = judge_crl("http://x/ca.crl", body, "text/html", {}, None)
    assert observation.reason is Reason.NOT_A_CRL
    assert f"{len(body)} bytes (text/html)" in observation.detail


def test_https_location_is_invalid_for_the_appliance_and_not_fetched() -> None:
    observation = asyncio.run(observe_http_crl(crl_flow("https://crl.example/ca.crl"), None, CTX))
    assert observation.reason is Reason.PROTOCOL_ERROR
    assert "only http:// CRL locations are valid" in observation.detail
    assert observation.evidence["valid_for_appliance"] is False


def test_a_refused_download_reports_the_socket_facts_like_the_tcp_probe() -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    observation = asyncio.run(observe_http_crl(crl_flow(f"http://127.0.0.1:{port}/ca.crl"), None, CTX))
    assert observation.reason is Reason.REFUSED
    assert observation.evidence["errno"] == "ECONNREFUSED"
    assert observation.evidence["download"]["errno"] == "ECONNREFUSED"
    assert observation.detail.endswith(f"TCP to 127.0.0.1:{port}: refused (TCP reset)")


def test_via_proxy_without_a_proxy_is_not_configured() -> None:
    ctx = replace(CTX, settings={"peers": {}})
    observation = asyncio.run(observe_http_crl(crl_flow("http://crl.example/ca.crl", via_proxy=True), None, ctx))
    assert observation.reason is Reason.NOT_CONFIGURED and "peers.proxy" in observation.detail


def test_via_proxy_goes_to_the_proxy_with_an_absolute_url() -> None:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.read(4096))
        writer.write(http_response(GOOD.public_bytes(Encoding.DER)))
        await writer.drain()

    async def main() -> Observation:
        async with hostile_server(proxy) as port:
            ctx = replace(CTX, settings={"peers": {"proxy": (f"http://127.0.0.1:{port}",)}})
            return await observe_http_crl(crl_flow("http://crl.invalid/ca.crl", via_proxy=True), None, ctx)

    observation = asyncio.run(main())
    assert observation.reason is Reason.ANSWERED, observation.detail
    # The CRL host never resolves here (.invalid): the proxy does that.
    assert seen[0].startswith(b"GET http://crl.invalid/ca.crl HTTP/1.1\r\n")


# --- hostile servers ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "handler, options, reason, words",
    [
        (script(None, http_response(b"<html>hi</html>", content_type="text/html")), {}, Reason.NOT_A_CRL,
         "(text/html) that are not a CRL"),
        (script(None, http_response(b"nope", "404 Not Found")), {}, Reason.HTTP_ERROR, "404 Not Found"),
        (send_then_hold(b"\x00\x01garbage\r\n\r\n", after_request=True), {}, Reason.PROTOCOL_ERROR, "not HTTP"),
        (drip(http_response(GOOD.public_bytes(Encoding.DER))), {}, Reason.TIMEOUT, "before the deadline"),
        (silent, {}, Reason.TIMEOUT, "before any answer"),
        (script(None, b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n"), {"max_bytes": 1000},
         Reason.TOO_LARGE, "exceeds the 1000-byte cap"),
        (flood(b"HTTP/1.1 200 OK\r\n\r\n" + b"A" * 65536, after_request=True), {"max_bytes": 100000},
         Reason.TOO_LARGE, "cap"),
    ],
)
def test_hostile_servers(handler: Handler, options: dict[str, Any], reason: Reason, words: str) -> None:
    observation, took = observe_url(handler, **options)
    assert observation.reason is reason, observation.detail
    assert words in observation.detail
    assert took < CTX.timeout + ENGINE_GRACE_S
