"""SMTP probe: conversations with scripted and hostile servers (real Postfix with STARTTLS:
tests/lab/test_protocol_probes_lab.py). The probe must never send MAIL, RCPT or DATA."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from netcheck.model import Observation, Reason
from netcheck.probes import ProbeContext
from netcheck.probes.smtp import observe_smtp
from tests.conftest import make_flow
from tests.probes.hostile import (
    ENGINE_GRACE_S,
    close_at_once,
    drip,
    flood,
    hostile_server,
    run_probe,
    script,
    silent,
    tls_garbage,
)

CTX = ProbeContext(timeout=1.2, run_id="smtp-test")
FLOW = make_flow(25, probe="smtp", peer="smtp", host="mail.test")
EHLO_OK = b"250-mail.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"


def _recording_server(replies: dict[bytes, bytes], greeting: bytes = b"220 mail.test ESMTP\r\n"
                      ) -> tuple[object, list[bytes]]:
    """A server answering each command verb from `replies`; records every line the client sent."""
    lines: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await writer.drain()
        while line := await reader.readline():
            lines.append(line.rstrip(b"\r\n"))
            verb = line.split()[0].upper() if line.split() else b""
            writer.write(replies.get(verb, b"502 5.5.2 unknown\r\n"))
            await writer.drain()

    return handler, lines


def test_plain_session_records_extensions_and_says_only_ehlo_and_quit() -> None:
    handler, lines = _recording_server({b"EHLO": EHLO_OK, b"QUIT": b"221 2.0.0 Bye\r\n"})
    observation, _ = run_probe(observe_smtp, FLOW, CTX, handler)  # type: ignore[arg-type]
    assert observation.reason is Reason.ANSWERED, observation.detail
    assert observation.evidence["extensions"] == ["PIPELINING", "SIZE 10240000", "8BITMIME"]
    assert "STARTTLS not offered" in observation.detail
    assert lines == [b"EHLO netcheck.invalid", b"QUIT"]


def test_ehlo_name_option_and_helo_fallback() -> None:
    handler, lines = _recording_server({b"EHLO": b"500 5.5.1 no ESMTP here\r\n", b"HELO": b"250 mail.test\r\n",
                                        b"QUIT": b"221 Bye\r\n"})
    flow = replace(FLOW, options={"ehlo_name": "scanner.example"})
    observation, _ = run_probe(observe_smtp, flow, CTX, handler)  # type: ignore[arg-type]
    assert observation.reason is Reason.ANSWERED
    assert observation.evidence["extensions"] == []
    assert lines == [b"EHLO scanner.example", b"HELO scanner.example", b"QUIT"]


def test_required_starttls_missing_is_tls_error() -> None:
    handler, _ = _recording_server({b"EHLO": EHLO_OK, b"QUIT": b"221 Bye\r\n"})
    flow = replace(FLOW, options={"require_starttls": True})
    observation, _ = run_probe(observe_smtp, flow, CTX, handler)  # type: ignore[arg-type]
    assert observation.reason is Reason.TLS_ERROR
    assert "STARTTLS is required but not offered" in observation.detail


def test_starttls_refused_is_tls_error() -> None:
    handler, _ = _recording_server({b"EHLO": b"250-mail.test\r\n250 STARTTLS\r\n",
                                    b"STARTTLS": b"454 4.7.0 TLS not available\r\n"})
    observation, _ = run_probe(observe_smtp, FLOW, CTX, handler)  # type: ignore[arg-type]
    assert observation.reason is Reason.TLS_ERROR
    assert "STARTTLS refused: 454 4.7.0 TLS not available" in observation.detail


@pytest.mark.parametrize(
    "name, handler, reason, words",
    [
        ("refuses", script(b"554 5.7.1 no service for you\r\n"), Reason.PROTOCOL_ERROR, "refuses sessions: 554"),
        ("garbage", script(b"\x00\xff\xfe garbage\r\n"), Reason.PROTOCOL_ERROR, "not an SMTP reply at stage greeting"),
        ("ssh", script(b"SSH-2.0-OpenSSH_9.2\r\n"), Reason.PROTOCOL_ERROR, "SSH-2.0-OpenSSH_9.2"),
        ("mixed-codes", script(b"220-mail.test\r\n250 oops\r\n"), Reason.PROTOCOL_ERROR, "not an SMTP reply"),
        ("oversized", flood(b"220-" + b"x" * 8192), Reason.PROTOCOL_ERROR, "longer than 2048 bytes"),
        ("drip", drip(b"220 mail.test ESMTP ready\r\n"), Reason.TIMEOUT, "at stage greeting"),
        ("silent", silent, Reason.TIMEOUT, "at stage greeting"),
        ("half-open-after-ehlo", script(b"220 mail.test\r\n"), Reason.TIMEOUT, "at stage EHLO"),
        ("closes", close_at_once, Reason.PROTOCOL_ERROR, "closed the connection at stage greeting"),
        ("starttls-then-garbage", script(b"220 mail.test\r\n", None, b"250-mail.test\r\n250 STARTTLS\r\n", None,
                                         b"220 go ahead\r\n", None, b"\x16\x03\x03\x00\x20" + b"\xff" * 32),
         Reason.TLS_ERROR, "STARTTLS"),
        ("starttls-then-plaintext", script(b"220 mail.test\r\n", None, b"250-mail.test\r\n250 STARTTLS\r\n", None,
                                           b"220 go ahead\r\n", None, b"500 what?\r\n"),
         Reason.PROTOCOL_ERROR, "not TLS"),
        ("starttls-then-silence", script(b"220 mail.test\r\n", None, b"250-mail.test\r\n250 STARTTLS\r\n", None,
                                         b"220 go ahead\r\n"), Reason.TIMEOUT, "handshake did not finish"),
        ("tls-garbage-greeting", tls_garbage(), Reason.TIMEOUT, "at stage greeting"),
    ],
)
def test_hostile_servers(name: str, handler: object, reason: Reason, words: str) -> None:
    observation, took = run_probe(observe_smtp, FLOW, CTX, handler)  # type: ignore[arg-type]
    assert observation.reason is reason, observation.detail
    assert words in observation.detail
    assert took < CTX.timeout + ENGINE_GRACE_S


def test_quit_does_not_wait_for_a_server_that_never_says_goodbye() -> None:
    async def main() -> tuple[Observation, float]:
        handler, _ = _recording_server({b"EHLO": EHLO_OK})  # QUIT gets "502" ... then nothing else
        async with hostile_server(handler) as port:  # type: ignore[arg-type]
            loop = asyncio.get_running_loop()
            started = loop.time()
            observation = await observe_smtp(replace(FLOW, port=port), "127.0.0.1", CTX)
            return observation, loop.time() - started

    observation, took = asyncio.run(main())
    assert observation.reason is Reason.ANSWERED
    assert took < 1.0
