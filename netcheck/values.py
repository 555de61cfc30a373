"""Content rules for setting values: what a host name, an environment-variable name, a DNS
name or a number in range looks like. The site and profile validator applies them through
each option's `check` (probes' OptionSpec), and probes apply `wire_text` again where a
setting is written to a socket. Each check returns None when the value is fine, else a short
text saying what is wrong with it (the validator adds the file, line and key).

All patterns are matched whole (re.fullmatch): `$` would accept a trailing newline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from netcheck.addresses import is_ip

Check = Callable[[Any], "str | None"]

# C0, DEL, C1 and the Unicode line and paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")  # _ldap._tcp and friends
PEER_KEY = re.compile(r"[a-z][a-z0-9_]*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
WIRE_TEXT = re.compile(r"[\x20-\x7e]*")
MAX_DOWNLOAD = 256 << 20  # bytes, held in memory: a large CRL is a few dozen MiB
MAX_SAMPLE = 256  # ports sampled from a range: each costs a probe, and two sockets on the listener


class UnsafeForWire(ValueError):
    """A setting would put a control character or a non-ASCII byte onto the wire; probes turn it
    into an error result naming the setting (the validator refuses such values first)."""


def describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def has_control(text: str) -> bool:
    return CONTROL.search(text) is not None


def is_env_name(text: str) -> bool:
    return ENV_NAME.fullmatch(text) is not None


def is_host_name(text: str) -> bool:
    """An RFC 1123 host name in ASCII (a trailing dot allowed; the last label not all digits)."""
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    return all(HOST_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def is_dns_name(text: str) -> bool:
    """A name a DNS query may carry: like a host name, but labels may hold underscores."""
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253:
        return False
    return all(DNS_LABEL.fullmatch(label) for label in name.split("."))


def is_host(text: str) -> bool:
    """An IP address or an RFC 1123 host name."""
    return is_host_name(text) or (is_ip(text) and text.isascii() and not has_control(text))


def wire_text(value: str, setting: str) -> bytes:
    """`value` as ASCII bytes for a text protocol, or UnsafeForWire: never CR, LF, other control
    characters or non-ASCII bytes from a setting onto a socket."""
    if WIRE_TEXT.fullmatch(value) is None:
        raise UnsafeForWire(f"refused to send {setting} {describe(value)}: only printable ASCII may go on the wire")
    return value.encode("ascii")


def is_http_url(text: str) -> bool:
    """An http:// URL in printable ASCII without spaces, with a valid host and port."""
    from urllib.parse import urlsplit

    if WIRE_TEXT.fullmatch(text) is None or " " in text:
        return False
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        return False
    return parts.scheme == "http" and bool(parts.hostname) and is_host(parts.hostname or "") and port != 0


# ---------------------------------------------------------------- checks for OptionSpec

def host_name(value: Any) -> str | None:
    if isinstance(value, str) and is_host_name(value):
        return None
    return f"{describe(value)} is not a valid host name (ASCII letters, digits, dashes and dots)"


def host_or_address(value: Any) -> str | None:
    if isinstance(value, str) and is_host(value):
        return None
    return f"{describe(value)} is not an IP address or a valid host name"


def env_name(value: Any) -> str | None:
    if isinstance(value, str) and is_env_name(value):
        return None
    return f"{describe(value)} is not an environment variable name (letters, digits, _; never the secret itself)"


def printable_ascii(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() and WIRE_TEXT.fullmatch(value):
        return None
    return f"{describe(value)} must be printable ASCII (no control characters; escape other characters)"


def proxy_user(value: Any) -> str | None:
    """A Basic-authentication user id: printable ASCII without ':' (RFC 7617)."""
    if printable_ascii(value) is None and ":" not in value:
        return None
    return f"{describe(value)} must be printable ASCII without ':'"


def plain_text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() and not has_control(value):
        return None
    return f"{describe(value)} must be non-empty text without control characters"


def number(low: float, high: float) -> Check:
    """A finite number in [low, high] (no .nan, no .inf)."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{describe(value)} is not a number"
        if not math.isfinite(value) or not low <= value <= high:
            return f"{describe(value)} is out of range ({low:g} to {high:g})"
        return None

    return check


def one_of(choices: Sequence[str], *, fold_case: bool = True) -> Check:
    folded = {c.lower() if fold_case else c for c in choices}

    def check(value: Any) -> str | None:
        if isinstance(value, str) and (value.lower() if fold_case else value) in folded:
            return None
        return f"{describe(value)} is not one of {', '.join(choices)}"

    return check


def list_of(item: Check, *, max_items: int = 256) -> Check:
    """A list of at most `max_items` values, each passing `item`."""

    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return "is not a list"
        if len(value) > max_items:
            return f"has {len(value)} entries (at most {max_items})"
        for index, entry in enumerate(value):
            problem = item(entry)
            if problem:
                return f"entry {index}: {problem}"
        return None

    return check


def dns_name(value: Any) -> str | None:
    if isinstance(value, str) and is_dns_name(value) and not is_ip(value):
        return None
    return f"{describe(value)} is not a DNS name"


def ip_address(value: Any) -> str | None:
    if isinstance(value, str) and is_ip(value) and value.isascii() and not has_control(value):
        return None
    return f"{describe(value)} is not an IP address"


def certificate_name(value: Any) -> str | None:
    """A name a certificate may hold: a host name, a wildcard such as *.example.com, or an IP."""
    if isinstance(value, str) and (is_host(value) or (value.startswith("*.") and is_host_name(value[2:]))):
        return None
    return f"{describe(value)} is not a host name, a wildcard name or an IP address"


def file_path(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() and not has_control(value) and len(value) <= 4096:
        return None
    return f"{describe(value)} is not a file path"


def host_port(value: Any) -> str | None:
    """host:port, [v6]:port, or peer:port (a site-file peer key)."""
    if not isinstance(value, str):
        return f"{describe(value)} is not host:port"
    host, sep, port = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not is_ip(host):
            return f"{describe(value)}: {host!r} is not an IPv6 address"
    if not sep or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{describe(value)} is not host:port with a port 1-65535"
    if not (is_host(host) or PEER_KEY.fullmatch(host)):
        return f"{describe(value)}: {describe(host)} is not a host name, an IP address or a peer key"
    return None
