"""The cloud probe against hostile proxies on 127.0.0.1: every misbehaviour ends as a failed
flow with a reason and the sensor's category, before the engine's deadline, never a hang.
(Real proxy behaviour is tested against tinyproxy and squid in tests/lab/test_cloud_lab.py.)"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from netcheck.cloud.categories import PROXY_SERVER, SECURE
from netcheck.model import Direction, Flow, Observation, Reason
from netcheck.probes import ProbeContext
from netcheck.probes.cloud import observe_cloud
from tests.probes.hostile import ENGINE_GRACE_S, Handler, close_at_once, drip, flood, hostile_server, script, silent

TIMEOUT_S = 1.0
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
# An address as endpoint: nothing is ever resolved, so no DNS query leaves the host.
FLOW = Flow(id="cloud-https", purpose="p", protocol="HTTPS", transport="tcp", port=443, direction=Direction.OUT,
            peer="cloud", host="127.0.0.1", probe="cloud", options={"via_proxy": True})


def through_proxy(handler: Handler) -> tuple[Observation, float]:
    async def main() -> tuple[Observation, float]:
        async with hostile_server(handler) as port:
            ctx = ProbeContext(timeout=TIMEOUT_S, run_id="t", settings={
                "peers": {"proxy": (f"http://127.0.0.1:{port}",)}, "site": SimpleNamespace(settings={})})
            started = time.monotonic()
            observation = await observe_cloud(FLOW, None, ctx)
            return observation, time.monotonic() - started

    return asyncio.run(main())


@pytest.mark.parametrize(("handler", "reason", "category"), [
    (silent, Reason.TIMEOUT, PROXY_SERVER),
    (drip(b"HTTP/1.1 200 OK"), Reason.TIMEOUT, PROXY_SERVER),
    (flood(), Reason.PROTOCOL_ERROR, PROXY_SERVER),
    (close_at_once, Reason.PROTOCOL_ERROR, PROXY_SERVER),
    (script(None, b"SSH-2.0-OpenSSH_9.2\r\n"), Reason.PROTOCOL_ERROR, PROXY_SERVER),
    (script(None, ESTABLISHED), Reason.TIMEOUT, SECURE),  # tunnel opened, then TLS silence
    (script(None, ESTABLISHED, None, b"\x15\x03\x03\x00\x02\x02\x28"), Reason.TLS_ERROR, SECURE),  # alert 40
    (script(None, ESTABLISHED, None, b"HTTP/1.1 400 Bad Request\r\n\r\n"), Reason.PROTOCOL_ERROR, SECURE),
])
def test_hostile_proxies_fail_in_time_with_a_category(handler: Handler, reason: Reason, category: str) -> None:
    observation, took = through_proxy(handler)
    assert (observation.reason, observation.category) == (reason, category), observation.detail
    assert took < TIMEOUT_S + ENGINE_GRACE_S


def test_missing_proxy_and_missing_password_are_not_configured() -> None:
    async def main() -> tuple[Observation, Observation]:
        no_proxy = ProbeContext(timeout=TIMEOUT_S, run_id="t", settings={"peers": {}, "site": None})
        site = SimpleNamespace(settings={"proxy": {"user": "sensor", "password_env": "NETCHECK_TEST_UNSET"}})
        no_password = ProbeContext(timeout=TIMEOUT_S, run_id="t", env={}, settings={
            "peers": {"proxy": ("http://127.0.0.1:9",)}, "site": site})
        return await observe_cloud(FLOW, None, no_proxy), await observe_cloud(FLOW, None, no_password)

    no_proxy, no_password = asyncio.run(main())
    assert no_proxy.reason is Reason.NOT_CONFIGURED and "peers.proxy" in no_proxy.detail
    assert no_password.reason is Reason.NOT_CONFIGURED and "NETCHECK_TEST_UNSET" in no_password.detail
