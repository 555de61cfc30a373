"""The listener's wire format: a 42-byte probe token and a 42-byte echo.

    offset size
    0      4    magic b"NCHK"
    4      1    version (1)
    5      1    kind: 1 probe (scanner -> listener), 2 echo (listener -> scanner)
    6      1    flags: bit 0 = keyed (MAC made with NETCHECK_LISTENER_KEY)
    7      1    transport the scanner meant: b"t" or b"u"
    8      2    port the scanner sent to (probe) / the port it arrived on (echo), big-endian
    10     8    run: the scan's run id
    18     8    nonce: random per probe
    26     16   MAC: HMAC-SHA256 over bytes 0-25, truncated

What "spoofed" can mean:
- Without a shared key the MAC is keyed with a constant anyone can read in this file, so it is a
  checksum: it rejects junk, truncated or corrupted datagrams and other protocols, not forgery.
  Forging a token then gains nothing: the echo is never larger than the token (no amplification),
  and replies are rate-limited per source and in total.
- With the same NETCHECK_LISTENER_KEY (16+ characters) in the environment of both the listener and
  the scanner, only key holders can make tokens the listener answers, and the scanner accepts only
  echoes made with the key, so a middlebox cannot fake a confirmation. A listener with a key ignores
  unkeyed tokens; one without a key ignores keyed ones (it cannot check them).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass
from typing import Mapping

from netcheck.errors import UsageError

MAGIC = b"NCHK"
VERSION = 1
KIND_PROBE = 1
KIND_ECHO = 2
FLAG_KEYED = 0x01
KEY_ENV = "NETCHECK_LISTENER_KEY"
MIN_KEY_LENGTH = 16
# The "key" of unkeyed tokens: public, so the MAC only proves the bytes are intact.
PUBLIC_KEY = b"netcheck listener token v1 (public checksum key)"

_HEADER = struct.Struct("!4sBBBBH8s8s")
MAC_LEN = 16
TOKEN_LEN = _HEADER.size + MAC_LEN  # 42
_TRANSPORTS = {"tcp": ord("t"), "udp": ord("u")}
_TRANSPORT_NAMES = {code: name for name, code in _TRANSPORTS.items()}
_HEX_RUN = re.compile(r"^[0-9a-f]{16}$")

# Why a token was ignored; the receipt counts each.
MALFORMED = "malformed"
BAD_MAC = "bad-mac"
UNKEYED = "unkeyed"
NO_KEY_HERE = "keyed-but-no-key-here"
WRONG_TRANSPORT = "wrong-transport"
NOT_A_PROBE = "not-a-probe"
NOT_AN_ECHO = "not-an-echo"  # the scanner's side: e.g. its own probe reflected back
REJECTIONS = (MALFORMED, BAD_MAC, UNKEYED, NO_KEY_HERE, WRONG_TRANSPORT, NOT_A_PROBE)


@dataclass(frozen=True)
class Token:
    """A decoded, verified token.

    kind       KIND_PROBE or KIND_ECHO
    keyed      whether its MAC was made with a shared key
    transport  "tcp" or "udp"
    port       see the table in the module docstring
    run, nonce 8 bytes each
    """

    kind: int
    keyed: bool
    transport: str
    port: int
    run: bytes
    nonce: bytes

    @property
    def text(self) -> str:
        """How the token is printed and stored: run-nonce in hex."""
        return f"{self.run.hex()}-{self.nonce.hex()}"

    @property
    def run_id(self) -> str:
        return self.run.hex()


def run_bytes(run_id: str) -> bytes:
    """A scan's 8-byte run field: its 16-hex-digit run id, or a digest of any other id."""
    if _HEX_RUN.match(run_id):
        return bytes.fromhex(run_id)
    return hashlib.sha256(run_id.encode("utf-8")).digest()[:8]


def key_from_env(env: Mapping[str, str]) -> bytes | None:
    """The shared key from NETCHECK_LISTENER_KEY, None when unset; too short a key is a usage error."""
    value = env.get(KEY_ENV, "")
    if not value:
        return None
    if len(value) < MIN_KEY_LENGTH:
        raise UsageError(f"{KEY_ENV} is too short ({len(value)} characters)",
                         hint=f"use at least {MIN_KEY_LENGTH} random characters, the same on both sides")
    return value.encode("utf-8")


def _mac(header: bytes, key: bytes | None) -> bytes:
    return hmac.new(key or PUBLIC_KEY, header, hashlib.sha256).digest()[:MAC_LEN]


def _encode(kind: int, transport: str, port: int, run: bytes, nonce: bytes, key: bytes | None) -> bytes:
    flags = FLAG_KEYED if key else 0
    header = _HEADER.pack(MAGIC, VERSION, kind, flags, _TRANSPORTS[transport], port, run, nonce)
    return header + _mac(header, key)


def make_probe(run_id: str, transport: str, port: int, key: bytes | None, nonce: bytes | None = None) -> bytes:
    """A fresh probe token for one flow: a new random nonce unless one is given."""
    return _encode(KIND_PROBE, transport, port, run_bytes(run_id), nonce or secrets.token_bytes(8), key)


def make_echo(probe: Token, arrived_port: int, key: bytes | None) -> bytes:
    """The listener's answer: same run and nonce, the port the probe arrived on, same size as the probe."""
    return _encode(KIND_ECHO, probe.transport, arrived_port, probe.run, probe.nonce, key)


def parse(data: bytes, key: bytes | None) -> Token | str:
    """The verified token in `data`, or why it was rejected (one of REJECTIONS).

    `key` is this side's shared key (None without one). Exactly TOKEN_LEN bytes or it is
    malformed: trailing bytes would let a sender make the reply look smaller than it is.
    """
    if len(data) != TOKEN_LEN or not data.startswith(MAGIC):
        return MALFORMED
    header, mac = data[:_HEADER.size], data[_HEADER.size:]
    _magic, version, kind, flags, transport, port, run, nonce = _HEADER.unpack(header)
    if version != VERSION or kind not in (KIND_PROBE, KIND_ECHO) or transport not in _TRANSPORT_NAMES \
            or flags & ~FLAG_KEYED:
        return MALFORMED
    keyed = bool(flags & FLAG_KEYED)
    if keyed and key is None:
        return NO_KEY_HERE
    if not keyed and key is not None:
        return UNKEYED
    if not hmac.compare_digest(mac, _mac(header, key)):
        return BAD_MAC
    return Token(kind, keyed, _TRANSPORT_NAMES[transport], port, run, nonce)


def check_echo(reply: bytes, sent: bytes, key: bytes | None) -> Token | str:
    """The echo in `reply` if it answers the probe `sent` (same run, nonce and transport), else why not."""
    echo = parse(reply, key)
    if isinstance(echo, str):
        return echo
    probe = parse(sent, key)
    if isinstance(probe, str):  # pragma: no cover - we made it ourselves
        return probe
    if echo.kind != KIND_ECHO:
        return NOT_AN_ECHO
    if (echo.run, echo.nonce, echo.transport) != (probe.run, probe.nonce, probe.transport):
        return BAD_MAC
    return echo
