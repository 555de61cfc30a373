"""The token wire format: what the listener accepts, and what it must ignore."""

from __future__ import annotations

import pytest

from netcheck import tokens
from netcheck.errors import UsageError

RUN = "0123456789abcdef"
KEY = b"a shared key of 16+ chars"


def test_probe_round_trip_and_echo_is_the_same_size() -> None:
    probe = tokens.make_probe(RUN, "udp", 514, None)
    assert len(probe) == tokens.TOKEN_LEN == 42
    token = tokens.parse(probe, None)
    assert isinstance(token, tokens.Token)
    assert (token.kind, token.transport, token.port, token.run_id, token.keyed) == (1, "udp", 514, RUN, False)
    echo = tokens.make_echo(token, 20514, None)
    assert len(echo) == len(probe)
    checked = tokens.check_echo(echo, probe, None)
    assert isinstance(checked, tokens.Token) and checked.port == 20514 and checked.nonce == token.nonce


def test_each_probe_gets_a_fresh_nonce() -> None:
    first, second = (tokens.parse(tokens.make_probe(RUN, "tcp", 443, None), None) for _ in range(2))
    assert isinstance(first, tokens.Token) and isinstance(second, tokens.Token)
    assert first.nonce != second.nonce and first.run == second.run


@pytest.mark.parametrize("mangle, why", [
    (lambda b: b[:-1], tokens.MALFORMED),  # truncated
    (lambda b: b + b"\x00", tokens.MALFORMED),  # trailing bytes: would make the echo look small
    (lambda b: b"XXXX" + b[4:], tokens.MALFORMED),  # wrong magic
    (lambda b: b[:4] + b"\x09" + b[5:], tokens.MALFORMED),  # unknown version
    (lambda b: b[:7] + b"x" + b[8:], tokens.MALFORMED),  # unknown transport
    (lambda b: b[:12] + bytes([b[12] ^ 1]) + b[13:], tokens.BAD_MAC),  # a flipped run bit
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]), tokens.BAD_MAC),  # a flipped MAC bit
    (lambda b: b"", tokens.MALFORMED),
    (lambda b: b"GET / HTTP/1.0\r\n\r\n" + b"x" * 24, tokens.MALFORMED),
])
def test_malformed_or_corrupted_tokens_are_rejected(mangle, why) -> None:  # type: ignore[no-untyped-def]
    assert tokens.parse(mangle(tokens.make_probe(RUN, "udp", 161, None)), None) == why


def test_a_shared_key_separates_strangers() -> None:
    keyed = tokens.make_probe(RUN, "udp", 123, KEY)
    unkeyed = tokens.make_probe(RUN, "udp", 123, None)
    assert isinstance(tokens.parse(keyed, KEY), tokens.Token)
    assert tokens.parse(unkeyed, KEY) == tokens.UNKEYED  # a listener with a key ignores unkeyed tokens
    assert tokens.parse(keyed, None) == tokens.NO_KEY_HERE  # and one without cannot check keyed ones
    assert tokens.parse(keyed, b"another key, 16+ chars") == tokens.BAD_MAC  # a forged or foreign token


def test_an_echo_must_answer_this_very_probe() -> None:
    probe = tokens.make_probe(RUN, "tcp", 22, None)
    other = tokens.parse(tokens.make_probe(RUN, "tcp", 22, None), None)
    assert isinstance(other, tokens.Token)
    assert tokens.check_echo(tokens.make_echo(other, 22, None), probe, None) == tokens.BAD_MAC
    # a reflected probe is not an echo
    assert tokens.check_echo(probe, probe, None) == tokens.NOT_AN_ECHO


def test_any_run_id_maps_to_eight_bytes() -> None:
    assert tokens.run_bytes(RUN) == bytes.fromhex(RUN)
    assert len(tokens.run_bytes("testrun")) == 8


def test_key_from_env() -> None:
    assert tokens.key_from_env({}) is None
    assert tokens.key_from_env({tokens.KEY_ENV: "x" * 16}) == b"x" * 16
    with pytest.raises(UsageError, match="too short"):
        tokens.key_from_env({tokens.KEY_ENV: "short"})
