"""A small, hostile-server-safe HTTP/1.1 GET for CRL downloads.

Plain bytes over the network layer (net.resolve, net.sockets, net.streams) rather than an HTTP
library, because the appliance's CRL fetch is plain http (https is not a valid CRL location for
it) and because every failure must be a netcheck Reason, not an exception: DNS, refusal,
silence, an ICMP error from a router (with its sender, as every other probe reports it), a
proxy's denial, an HTTP error, an oversize or malformed answer. One overall deadline bounds
everything, so a server that drips one byte a second cannot hold the run.
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from netcheck import __version__
from netcheck.egress import current as current_egress
from netcheck.model import Observation, Reason
from netcheck.net import resolve
from netcheck.net.streams import Channel, Deadline, DeadlineHit, StreamClosed, connect

MAX_HEAD_BYTES = 64 * 1024
MAX_REDIRECTS = 5
_URL_SAFE = "/?=&;:@!$'()*+,~-._%"  # keep what is already legal or escaped in a request-target
USER_AGENT = f"netcheck/{__version__}"

_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] ([0-9]{3})(?: ([^\r\n]*))?$")


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy. `authorization` is the Proxy-Authorization value: a secret, never shown."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return _host_port(self.host, self.port)


def parse_proxy(url: str) -> Proxy:
    """Parse `http://[user:password@]host[:port]`; ValueError (without the credentials) if not."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http":
        raise ValueError("proxy URL must be http://host:port (the proxy is spoken to in plain HTTP)")
    try:
        port = parts.port or 3128
    except ValueError:
        raise ValueError("proxy URL has an invalid port") from None
    if not parts.hostname:
        raise ValueError("proxy URL has no host")
    auth = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return Proxy(parts.hostname, port, auth)


@dataclass(frozen=True)
class FetchResult:
    """What one GET saw.

    error              None on success (a 2xx answer read completely), else the Reason
    detail             one human line
    status, status_line, headers   the final HTTP answer, when one arrived
    body               the body of a 2xx answer (empty otherwise)
    proxy              "host:port" of the proxy used, None when direct
    proxy_status_line  the proxy's own status line when the proxy, not the server, said no
    hop                which hop failed: "proxy" or "server" (None on success)
    address            the IP address connected to (the proxy's when proxied)
    redirects          the URLs redirected to, in order
    connect_ms, first_byte_ms, total_ms   timings from the start of the fetch
    network            when connecting failed: the socket layer's facts, as the tcp probe reports
                       them (errno; icmp: origin, type, code, sender, text; timeout_s)
    """

    url: str
    error: Reason | None
    detail: str
    status: int | None = None
    status_line: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    proxy: str | None = None
    proxy_status_line: str | None = None
    hop: str | None = None
    address: str | None = None
    redirects: tuple[str, ...] = ()
    connect_ms: float | None = None
    first_byte_ms: float | None = None
    total_ms: float | None = None
    network: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def evidence(self) -> dict[str, Any]:
        """JSON-safe facts for reports (the body is summarised, never included)."""
        return {
            "url": self.url,
            "reason": self.error.value if self.error else None,
            "detail": self.detail,
            "status_line": self.status_line,
            "proxy": self.proxy,
            "proxy_status_line": self.proxy_status_line,
            "hop": self.hop,
            "address": self.address,
            "redirects": list(self.redirects),
            "bytes": len(self.body),
            "connect_ms": self.connect_ms,
            "first_byte_ms": self.first_byte_ms,
            "total_ms": self.total_ms,
            **self.network,
        }


@dataclass(frozen=True)
class _Target:
    url: str
    host: str
    port: int
    request_target: str  # origin-form path?query
    absolute: str  # absolute-form for proxies

    @property
    def host_header(self) -> str:
        return _host_port(self.host, self.port, default=80)


class _Failure(Exception):
    """Internal: ends one attempt with a reason. Never escapes fetch()."""

    def __init__(self, reason: Reason, detail: str, hop: str | None = None,
                 network: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.hop = hop
        self.network = network or {}


def _host_port(host: str, port: int, default: int | None = None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == default else f"{shown}:{port}"


def parse_http_url(url: str) -> _Target:
    """Split an http:// URL; _Failure(PROTOCOL_ERROR) for https, other schemes or nonsense."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise _Failure(Reason.PROTOCOL_ERROR, f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme == "https":
        raise _Failure(
            Reason.PROTOCOL_ERROR,
            "https:// is not a valid CRL location: the appliance fetches CRLs over plain http://",
        )
    if scheme != "http" or not parts.hostname:
        raise _Failure(Reason.PROTOCOL_ERROR, f"not an http:// URL: {url!r}")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url.strip()):  # no header injection
        raise _Failure(Reason.PROTOCOL_ERROR, f"the URL contains spaces or control characters: {url!r}")
    port = port or 80
    # non-ASCII (IRI) parts go on the wire as IDNA and %-escapes, as browsers send them
    path = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=_URL_SAFE)
    try:
        host = parts.hostname if parts.hostname.isascii() else parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise _Failure(Reason.PROTOCOL_ERROR, f"the URL's host name is not valid IDNA: {url!r}") from None
    absolute = f"http://{_host_port(host, port, default=80)}{path}"
    return _Target(url=url, host=host, port=port, request_target=path, absolute=absolute)


async def fetch(
    url: str,
    *,
    proxy: str | Proxy | None,
    timeout: float,
    max_bytes: int,
) -> FetchResult:
    """GET `url` (http:// only), directly or through an HTTP proxy, within `timeout` seconds.

    Never raises for network or protocol trouble: the result carries a Reason instead.
    Redirects (to http:// only) are followed up to MAX_REDIRECTS within the same deadline.
    A bad `proxy` string raises ValueError: that is the caller's input, not the network.
    """
    deadline = Deadline(timeout)
    proxy_obj = parse_proxy(proxy) if isinstance(proxy, str) else proxy
    redirects: list[str] = []
    current = url
    while True:
        result = await _attempt(current, url, proxy_obj, deadline, max_bytes, redirects)
        location = result.header("location") if result.status in (301, 302, 303, 307, 308) else None
        if result.error is not Reason.HTTP_ERROR or location is None:
            return result
        if len(redirects) >= MAX_REDIRECTS:
            return _replace_detail(result, f"more than {MAX_REDIRECTS} redirects")
        current = urljoin(current, location)
        redirects.append(current)


def _replace_detail(result: FetchResult, detail: str) -> FetchResult:
    return replace(result, detail=detail)


async def _attempt(
    url: str,
    original: str,
    proxy: Proxy | None,
    deadline: Deadline,
    max_bytes: int,
    redirects: list[str],
) -> FetchResult:
    facts: dict[str, Any] = {
        "url": original,
        "proxy": str(proxy) if proxy else None,
        "redirects": tuple(redirects),
    }
    try:
        target = parse_http_url(url)
        head, body = await _exchange(target, proxy, deadline, max_bytes, facts)
    except _Failure as failure:
        return FetchResult(
            error=failure.reason,
            detail=failure.detail,
            hop=failure.hop,
            total_ms=deadline.elapsed_ms(),
            network=failure.network,
            **facts,
        )
    return _judge(head, body, proxy, facts, deadline.elapsed_ms())


@dataclass(frozen=True)
class _Head:
    status: int
    status_line: str
    headers: tuple[tuple[str, str], ...]


def _judge(
    head: _Head,
    body: bytes,
    proxy: Proxy | None,
    facts: dict[str, Any],
    total_ms: float,
) -> FetchResult:
    common: dict[str, Any] = {
        "status": head.status,
        "status_line": head.status_line,
        "headers": head.headers,
        "total_ms": total_ms,
        **facts,
    }
    if 200 <= head.status < 300:
        return FetchResult(
            error=None,
            detail=f"{head.status_line} ({len(body)} bytes)",
            body=body,
            **common,
        )
    if 300 <= head.status < 400:
        location = _header(head, "location")
        where = f" to {location}" if location else " without a Location"
        return FetchResult(
            error=Reason.HTTP_ERROR,
            detail=f"server redirected{where}",
            hop="server",
            **common,
        )
    if proxy is not None and _proxy_generated(head):
        return FetchResult(
            error=Reason.PROXY_DENIED,
            detail=f"proxy {proxy} answered {head.status_line}: {_proxy_meaning(head.status)}",
            proxy_status_line=head.status_line,
            hop="proxy",
            **common,
        )
    return FetchResult(
        error=Reason.HTTP_ERROR,
        detail=f"server answered {head.status_line}",
        hop="server",
        **common,
    )


# Statuses a proxy produces itself (policy, credentials, upstream trouble); tinyproxy says
# "500 Unable to connect" and answers wrong credentials with 401.
PROXY_OWN_STATUSES = frozenset({401, 403, 407, 500, 502, 503, 504})


def _proxy_generated(head: _Head) -> bool:
    """Whether an error answer came from the proxy itself rather than the origin.

    Proxies add Via to what they relay but not (tinyproxy) to their own error pages;
    Squid marks its own with X-Squid-Error; 407 is by definition the proxy's. Some proxies
    strip Via altogether, so only statuses a proxy produces itself count as its own.
    """
    names = {key.lower() for key, _ in head.headers}
    if head.status == 407 or "x-squid-error" in names or "proxy-authenticate" in names:
        return True
    return "via" not in names and head.status in PROXY_OWN_STATUSES


def _proxy_meaning(status: int) -> str:
    if status in (401, 407):  # tinyproxy answers wrong credentials with 401
        return "the proxy requires credentials (give them in --proxy http://user:pass@host:port)"
    if status in (500, 502, 503, 504):  # tinyproxy says "500 Unable to connect"
        return "the proxy could not reach the server"
    if status == 403:
        return "the proxy's policy forbids this URL or this client"
    return "the proxy refused the request"


async def _exchange(
    target: _Target,
    proxy: Proxy | None,
    deadline: Deadline,
    max_bytes: int,
    facts: dict[str, Any],
) -> tuple[_Head, bytes]:
    hop = "proxy" if proxy else "server"
    host, port = (proxy.host, proxy.port) if proxy else (target.host, target.port)
    addresses = await _resolve(host, port, deadline, hop)
    channel, address = await _connect(addresses, port, deadline, hop)
    facts["address"] = address
    facts["connect_ms"] = deadline.elapsed_ms()
    try:
        await channel.send(_request(target, proxy))
        head = await _read_head(channel)
        facts["first_byte_ms"] = deadline.elapsed_ms()
        body = await _read_body(channel, head, max_bytes) if 200 <= head.status < 300 else b""
    except DeadlineHit:
        got = f" after {channel.received} bytes" if channel.received else " before any answer"
        raise _Failure(
            Reason.TIMEOUT,
            f"connected to {address}, but no complete answer{got} before the deadline",
            hop,
        ) from None
    except OSError as exc:
        raise _Failure(
            Reason.PROTOCOL_ERROR,
            f"connection to {address} broke after {channel.received} bytes: {exc}",
            hop,
        ) from None
    finally:
        channel.close()
    return head, body


def _request(target: _Target, proxy: Proxy | None) -> bytes:
    lines = [
        f"GET {target.absolute if proxy else target.request_target} HTTP/1.1",
        f"Host: {target.host_header}",
        f"User-Agent: {USER_AGENT}",
        "Accept: */*",
        "Connection: close",
    ]
    if proxy and proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    head = "\r\n".join(lines)
    if not head.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in head.replace("\r\n", "")):
        raise _Failure(Reason.PROTOCOL_ERROR, "refused to send a request with control characters or non-ASCII "
                                              "bytes (from the URL or the proxy settings)")
    return (head + "\r\n\r\n").encode("ascii")


async def _resolve(host: str, port: int, deadline: Deadline, hop: str) -> list[tuple[int, str]]:
    """(family, address) pairs this run may use (-4 / -6 / --source). IP literals skip the resolver."""
    what = "proxy name" if hop == "proxy" else "name"
    try:
        found = await resolve.addresses(host, port, deadline.remaining())
    except TimeoutError:
        raise _Failure(Reason.DNS_FAILURE, f"{what} {host!r} did not resolve before the deadline", hop) from None
    except (socket.gaierror, UnicodeError) as exc:
        text = getattr(exc, "strerror", None) or str(exc)
        raise _Failure(Reason.DNS_FAILURE, f"{what} {host!r} does not resolve ({text})", hop) from None
    return _in_scope(found, hop)


def _in_scope(addresses: list[tuple[int, str]], hop: str) -> list[tuple[int, str]]:
    """The addresses of the run's family and source; none left is out of scope, not a failure."""
    egress = current_egress()
    kept = [pair for pair in addresses if egress.refuses(pair[1]) is None]
    if not kept:
        raise _Failure(Reason.NOT_APPLICABLE, str(egress.refuses(addresses[0][1])), hop)
    return kept


async def _connect(addresses: list[tuple[int, str]], port: int, deadline: Deadline,
                   hop: str) -> tuple[Channel, str]:
    """Try each address in turn, each with an equal share of the time left. A failure keeps the
    socket layer's reason and facts (an ICMP error names the router that sent it)."""
    failure: _Failure | None = None
    for index, (_family, address) in enumerate(addresses):
        remaining = deadline.remaining()
        if remaining <= 0:
            break
        what = f"TCP to {'the proxy ' if hop == 'proxy' else ''}{_host_port(address, port)}"
        opened = await connect(address, port, deadline, within=remaining / (len(addresses) - index), what=what)
        if not isinstance(opened, Observation):
            return opened, address
        failure = _Failure(opened.reason, opened.detail, hop, dict(opened.evidence))
    raise failure or _Failure(Reason.FILTERED, "deadline passed before connecting", hop)


async def _more(channel: Channel) -> None:
    """Read one more chunk into the buffer; at the end of the stream, channel.eof turns True."""
    with contextlib.suppress(StreamClosed):
        await channel.fill()


async def _read_head(stream: Channel) -> _Head:
    while True:  # skip interim 1xx answers
        head = await _read_one_head(stream)
        if not 100 <= head.status < 200:
            return head


async def _read_one_head(stream: Channel) -> _Head:
    while True:
        if len(stream.buffer) >= 5 and not stream.buffer.startswith(b"HTTP/"):
            raise _Failure(
                Reason.PROTOCOL_ERROR,
                f"not HTTP: the answer starts {bytes(stream.buffer[:24])!r}",
            )
        end = stream.buffer.find(b"\r\n\r\n")
        if end >= 0:
            raw = _take(stream, end + 4)[:-4]
            break
        if len(stream.buffer) > MAX_HEAD_BYTES:
            raise _Failure(Reason.PROTOCOL_ERROR, f"HTTP header longer than {MAX_HEAD_BYTES} bytes")
        if stream.eof:
            if not stream.received:
                raise _Failure(
                    Reason.PROTOCOL_ERROR,
                    "the server closed the connection without answering",
                )
            raise _Failure(
                Reason.PROTOCOL_ERROR,
                f"the answer ended inside the HTTP header: {bytes(stream.buffer[:24])!r}",
            )
        await _more(stream)
    lines = raw.split(b"\r\n")
    match = _STATUS_LINE.match(lines[0])
    if not match:
        raise _Failure(Reason.PROTOCOL_ERROR, f"malformed HTTP status line {lines[0][:60]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name.strip() or name != name.strip():
            raise _Failure(Reason.PROTOCOL_ERROR, f"malformed HTTP header line {line[:60]!r}")
        headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    return _Head(int(match.group(1)), lines[0].decode("latin-1"), tuple(headers))


def _header(head: _Head, name: str) -> str | None:
    return next((value for key, value in head.headers if key.lower() == name), None)


async def _read_body(stream: Channel, head: _Head, max_bytes: int) -> bytes:
    if head.status in (204, 304):
        return b""
    encoding = (_header(head, "transfer-encoding") or "").lower()
    if encoding:
        if encoding != "chunked":
            raise _Failure(Reason.PROTOCOL_ERROR, f"unsupported Transfer-Encoding {encoding!r}")
        return await _read_chunked(stream, max_bytes)
    length_text = _header(head, "content-length")
    if length_text is None:
        return await _read_to_eof(stream, max_bytes)
    if not length_text.isdigit():
        raise _Failure(Reason.PROTOCOL_ERROR, f"invalid Content-Length {length_text!r}")
    length = int(length_text)
    if length > max_bytes:
        raise _Failure(
            Reason.TOO_LARGE,
            f"Content-Length {length} exceeds the {max_bytes}-byte cap",
        )
    return await _read_exact(stream, length, "body")


async def _read_exact(stream: Channel, count: int, what: str) -> bytes:
    while len(stream.buffer) < count:
        if stream.eof:
            raise _Failure(
                Reason.PROTOCOL_ERROR,
                f"the connection closed after {len(stream.buffer)} of {count} {what} bytes",
            )
        await _more(stream)
    return _take(stream, count)


async def _read_to_eof(stream: Channel, max_bytes: int) -> bytes:
    while not stream.eof:
        if len(stream.buffer) > max_bytes:
            raise _Failure(Reason.TOO_LARGE, f"the body exceeds the {max_bytes}-byte cap")
        await _more(stream)
    if len(stream.buffer) > max_bytes:
        raise _Failure(Reason.TOO_LARGE, f"the body exceeds the {max_bytes}-byte cap")
    return _take(stream, len(stream.buffer))


async def _read_line(stream: Channel, limit: int = 4096) -> bytes:
    while (end := stream.buffer.find(b"\r\n")) < 0:
        if len(stream.buffer) > limit or stream.eof:
            raise _Failure(Reason.PROTOCOL_ERROR, "malformed chunked encoding")
        await _more(stream)
    return _take(stream, end + 2)[:-2]


async def _read_chunked(stream: Channel, max_bytes: int) -> bytes:
    body = bytearray()
    while True:
        size_text = (await _read_line(stream)).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _Failure(Reason.PROTOCOL_ERROR, f"malformed chunk size {size_text[:20]!r}") from None
        if size == 0:
            while await _read_line(stream):  # trailers up to the empty line
                pass
            return bytes(body)
        if len(body) + size > max_bytes:
            raise _Failure(Reason.TOO_LARGE, f"the body exceeds the {max_bytes}-byte cap")
        body += await _read_exact(stream, size, "chunk")
        if await _read_line(stream) != b"":
            raise _Failure(Reason.PROTOCOL_ERROR, "malformed chunked encoding")


def _take(stream: Channel, count: int) -> bytes:
    data = bytes(stream.buffer[:count])
    del stream.buffer[:count]
    return data
