"""SSH probe: identification parsing and hostile servers (real OpenSSH: tests/lab/test_protocol_probes_lab.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from netcheck.model import Observation, Reason
from netcheck.probes import ProbeContext
from netcheck.probes.ssh import observe_ssh
from tests.conftest import make_flow
from tests.probes.hostile import (
    ENGINE_GRACE_S,
    close_at_once,
    drip,
    flood,
    hold,
    hostile_server,
    run_probe,
    script,
    send_then_hold,
    silent,
)

CTX = ProbeContext(timeout=1.2, run_id="ssh-test")
FLOW = make_flow(22, probe="ssh")


def test_identification_with_lines_before_it_and_comments() -> None:
    # RFC 4253 4.2: other lines may precede the identification.
    handler = send_then_hold(b"Welcome to the jump host\r\nSSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    observation, _ = run_probe(observe_ssh, FLOW, CTX, handler)
    assert observation.reason is Reason.ANSWERED, observation.detail
    assert observation.evidence["software"] == "OpenSSH_9.2p1"
    assert observation.evidence["comments"] == "Debian-2+deb12u3"
    assert observation.evidence["lines_before"] == ["Welcome to the jump host"]
    assert observation.latency_ms is not None


def test_client_sends_its_identification_and_nothing_else() -> None:
    async def main() -> tuple[Observation, bytes]:
        received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"SSH-1.99-Cisco-1.25\r\n")
            await writer.drain()
            received.set_result(await reader.read(4096))
            await hold(reader)

        async with hostile_server(handler) as port:
            observation = await observe_ssh(replace(FLOW, port=port), "127.0.0.1", CTX)
            return observation, await asyncio.wait_for(received, 2)

    observation, sent = asyncio.run(main())
    assert observation.reason is Reason.ANSWERED  # 1.99 is SSH-2 with a fallback; '-' in software tolerated
    assert observation.evidence["software"] == "Cisco-1.25"
    assert sent.startswith(b"SSH-2.0-netcheck_") and sent.endswith(b"\r\n")
    assert sent.count(b"\n") == 1  # no key exchange, no authentication


@pytest.mark.parametrize(
    "name, handler, reason, words",
    [
        ("ssh1-only", send_then_hold(b"SSH-1.5-OldServer\r\n"), Reason.PROTOCOL_ERROR, "only SSH protocol 1.5"),
        ("smtp", send_then_hold(b"220 mail.example ESMTP\r\n"), Reason.PROTOCOL_ERROR, "220 mail.example ESMTP"),
        ("garbage", send_then_hold(b"\x00\x01\x02\xff\r\n"), Reason.PROTOCOL_ERROR, "not an SSH server"),
        ("too-many-lines", send_then_hold(b"hello\r\n" * 20), Reason.PROTOCOL_ERROR, "lines without an SSH"),
        ("oversized", flood(b"x" * 4096), Reason.PROTOCOL_ERROR, "longer than 255 bytes"),
        ("drip-banner", drip(b"SSH-2.0-slow\r\n"), Reason.TIMEOUT, "did not finish before the deadline"),
        ("drip-garbage", drip(b"GET / HTTP"), Reason.PROTOCOL_ERROR, "no SSH identification before the deadline"),
        ("silent", silent, Reason.TIMEOUT, "sent nothing"),
        ("closes", close_at_once, Reason.PROTOCOL_ERROR, "without sending anything"),
        ("malformed", script(b"SSH-2.0\r\n"), Reason.PROTOCOL_ERROR, "malformed identification"),
    ],
)
def test_hostile_servers(name: str, handler: object, reason: Reason, words: str) -> None:
    observation, took = run_probe(observe_ssh, FLOW, CTX, handler)  # type: ignore[arg-type]
    assert observation.reason is reason, observation.detail
    assert words in observation.detail
    assert took < CTX.timeout + ENGINE_GRACE_S
