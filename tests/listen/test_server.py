"""The listener against real sockets on loopback: it echoes verified tokens and nothing else,
never replies with more bytes than it got, rate-limits, bounds its memory and its time."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import tracemalloc

from netcheck import tokens
from netcheck.listen.server import Endpoint, ListenerLimits, RateLimiter
from tests.listen.helpers import free_port, running, udp_exchange

RUN = "00112233445566aa"
KEY = b"listener test key 1234"


def test_udp_token_is_echoed_with_the_same_size() -> None:
    port = free_port("udp")

    async def scenario() -> tuple[bytes, bytes | None, int]:
        async with running([Endpoint("udp", port, ("syslog",))]) as listener:
            probe = tokens.make_probe(RUN, "udp", port, None)
            reply = await udp_exchange(port, probe)
            return probe, reply, len(listener.ledger.records)

    probe, reply, records = asyncio.run(scenario())
    assert reply is not None and len(reply) == len(probe)
    echo = tokens.check_echo(reply, probe, None)
    assert isinstance(echo, tokens.Token) and echo.port == port
    assert records == 1


def test_no_answer_to_malformed_spoofed_or_foreign_tokens() -> None:
    port = free_port("udp")
    good = tokens.make_probe(RUN, "udp", port, KEY)
    hostile = {
        "junk": b"\x00" * 42,
        "empty": b"",
        "oversized": good + b"A" * 1400,  # a valid token inside a big datagram must not be answered
        "truncated": good[:-1],
        "unkeyed": tokens.make_probe(RUN, "udp", port, None),
        "forged": tokens.make_probe(RUN, "udp", port, b"not the listener's key!"),
        "flipped": good[:20] + bytes([good[20] ^ 0xFF]) + good[21:],
        "tcp token on udp": tokens.make_probe(RUN, "tcp", port, KEY),
        "an echo": tokens.make_echo(tokens.parse(good, KEY), port, KEY),  # type: ignore[arg-type]
    }

    async def scenario() -> tuple[dict[str, bytes | None], bytes | None, dict[str, int]]:
        async with running([Endpoint("udp", port)], key=KEY) as listener:
            replies = {name: await udp_exchange(port, data, wait=0.15) for name, data in hostile.items()}
            answered = await udp_exchange(port, good)
            return replies, answered, dict(listener.ledger.rejected)

    replies, answered, rejected = asyncio.run(scenario())
    assert replies == dict.fromkeys(hostile)  # silence for every hostile datagram
    assert answered is not None and len(answered) <= len(good)  # while a good token is answered
    assert rejected == {"malformed": 4, "unkeyed": 1, "bad-mac": 2, "wrong-transport": 1, "not-a-probe": 1}


def test_tcp_echo_garbage_and_bare_handshakes() -> None:
    port = free_port("tcp")

    async def exchange(payload: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        try:
            async with asyncio.timeout(2):
                return await reader.read(1000)
        finally:
            writer.close()

    async def scenario() -> tuple[bytes, bytes, bytes, int]:
        limits = ListenerLimits(tcp_read_s=0.3)
        async with running([Endpoint("tcp", port)], limits=limits) as listener:
            probe = tokens.make_probe(RUN, "tcp", port, None)
            echo = await exchange(probe)
            garbage = await exchange(b"SSH-2.0-OpenSSH_9.2\r\n" + b"x" * 40)
            partial = await exchange(probe[:10])  # then silence: closed after tcp_read_s
            _r, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await asyncio.sleep(0.2)
            return echo, garbage, partial, listener.ledger.handshakes_without_token

    echo, garbage, partial, bare = asyncio.run(scenario())
    assert len(echo) == tokens.TOKEN_LEN and echo[5] == tokens.KIND_ECHO
    assert garbage == b"" and partial == b""
    assert bare == 1


def test_tcp_connections_are_bounded() -> None:
    port = free_port("tcp")

    async def scenario() -> int:
        limits = ListenerLimits(max_tcp_connections=2, tcp_read_s=2)
        async with running([Endpoint("tcp", port)], limits=limits) as listener:
            idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(6)]
            await asyncio.sleep(0.3)
            for _reader, writer in idle:
                writer.close()
            return listener.ledger.busy_refusals

    assert asyncio.run(scenario()) == 4


def test_per_source_rate_limit() -> None:
    port = free_port("udp")

    async def scenario() -> tuple[int, int]:
        limits = ListenerLimits(per_source_rate=1, per_source_burst=5)
        async with running([Endpoint("udp", port)], limits=limits) as listener:
            answers = 0
            for _ in range(30):
                if await udp_exchange(port, tokens.make_probe(RUN, "udp", port, None), wait=0.02):
                    answers += 1
            other = await udp_exchange(port, tokens.make_probe(RUN, "udp", port, None), source="127.0.0.2")
            limited = sum(r.rate_limited for r in listener.ledger.records.values())
            return answers + (1 if other else 0) * 100, limited

    answers, limited = asyncio.run(scenario())
    assert 5 <= answers % 100 <= 7  # the burst, plus what refilled during the run
    assert answers >= 100  # another source still gets its answer
    assert limited >= 23


def test_rate_limiter_state_is_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(ListenerLimits(max_sources=100), clock=lambda: now[0])
    for index in range(10_000):
        limiter.allow(f"10.{index // 65536}.{index // 256 % 256}.{index % 256}")
    assert limiter.tracked == 100
    # the global bucket holds too: 10,000 sources cannot get more than the global burst at once
    allowed = sum(limiter.allow(f"198.18.0.{i}") for i in range(2000))
    assert allowed == 0


def test_stops_at_its_duration() -> None:
    port = free_port("udp")

    async def scenario() -> float:
        async with running([Endpoint("udp", port)]) as listener:
            started = time.monotonic()
            await listener.serve(0.4)
            return time.monotonic() - started

    assert 0.35 <= asyncio.run(scenario()) < 1.0


def test_port_in_use_is_reported_not_fatal() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]

        async def scenario() -> list[tuple[str, str]]:
            async with running([Endpoint("tcp", port), Endpoint("udp", port)]) as listener:
                return [(o.transport, o.state) for o in listener.outcomes]

        outcomes = asyncio.run(scenario())
    assert outcomes == [("tcp", "in-use"), ("udp", "listening")]


def test_junk_flood_from_many_sources_does_not_grow_memory() -> None:
    """20,000 junk datagrams and 2,000 valid tokens from 250 source addresses: bounded state."""
    port = free_port("udp")
    limits = ListenerLimits(max_records=500, max_rejecting_sources=64, max_sources=128)

    async def flood(count: int, sources: list[socket.socket], valid: bool) -> None:
        for index in range(count):
            sock = sources[index % len(sources)]
            payload = tokens.make_probe(RUN, "udp", port, None) if valid else bytes([index % 256]) * (1 + index % 1400)
            sock.send(payload)
            await asyncio.sleep(0)  # the listener reads one datagram per loop turn: let it keep up

    async def scenario() -> tuple[int, int, int, int, float]:
        sources = []
        for host in range(2, 252):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((f"127.0.0.{host}", 0))
            sock.connect(("127.0.0.1", port))
            sock.setblocking(False)
            sources.append(sock)
        try:
            async with running([Endpoint("udp", port)], limits=limits) as listener:
                # warm-up: every structure (records, per-source maps) reaches its bound
                await flood(2000, sources, valid=False)
                await flood(1000, sources, valid=True)
                await asyncio.sleep(0.2)
                gc.collect()
                tracemalloc.start()
                baseline = tracemalloc.get_traced_memory()[0]
                started = time.monotonic()
                await flood(20_000, sources, valid=False)
                await flood(2_000, sources, valid=True)
                await asyncio.sleep(0.3)
                elapsed = time.monotonic() - started
                gc.collect()
                grown = tracemalloc.get_traced_memory()[0] - baseline
                tracemalloc.stop()
                ledger = listener.ledger
                return (grown, len(ledger.records), len(ledger.rejected_by_source), sum(ledger.rejected.values()),
                        elapsed)
        finally:
            for sock in sources:
                sock.close()

    grown, records, rejecting, rejected, elapsed = asyncio.run(scenario())
    assert records <= 500 and rejecting <= 64
    assert rejected > 10_000  # the junk did arrive (some may be dropped by the socket buffer)
    assert grown < 100_000, f"memory grew by {grown} bytes"
    assert elapsed < 20
