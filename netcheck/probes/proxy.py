"""HTTP proxy: TCP to the proxy, then a GET through it to each of the site's CRL URLs and,
when configured, a CONNECT to each `connect_targets` entry (the documentation says the
appliance's proxy must support CONNECT). A proxy that says no is proxy-denied, with its
status line in the detail.

GETs go through the run's shared CRL downloads (netcheck.certs.downloads), keyed on the proxy as
the site names it plus its credentials: the key of the via_proxy http-crl flow and of the certificate
check, so a scan fetches each CRL through the proxy once. CONNECT is a few lines over net/streams
because net.http only does GET.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from netcheck import __version__, values
from netcheck.model import Flow, Observation, PortRange, Reason
from netcheck.net.streams import Deadline, DeadlineHit, LineTooLong, StreamClosed, connect
from netcheck.probes import ProbeContext, register
from netcheck.probes._tls import printable
from netcheck.probes.tcp import handshake

if TYPE_CHECKING:
    from netcheck.net.http import Proxy

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_HEADER_LINE = 8192
MAX_HEADER_LINES = 100
NETWORK_FACTS = ("errno", "icmp")  # what net.sockets records about a failed connect
STATUS_LINE = re.compile(r"^HTTP/1\.[01] ([0-9]{3})(?: (.*))?$")


@dataclass(frozen=True)
class ProxySettings:
    """Where the proxy is and how to authenticate; `authorization` is a secret, never shown."""

    url: str
    user: str | None
    authorization: str | None


def proxy_credentials(options: Mapping[str, Any], ctx: ProbeContext) -> tuple[str | None, str | None] | Observation:
    """(user, Proxy-Authorization value) from `user` + `password_env`, or why not."""
    user = options.get("user")
    variable = options.get("password_env")
    if not user:
        return None, None
    values.wire_text(str(user), "proxy user")
    password = ctx.env.get(variable) if isinstance(variable, str) else None
    if isinstance(variable, str) and password is None:
        return Observation(Reason.NOT_CONFIGURED,
                           f"proxy user '{user}' is set, but the environment variable {variable} "
                           "(settings.proxy.password_env) is not")
    token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
    return str(user), f"Basic {token}"


def site_proxy(ctx: ProbeContext) -> ProxySettings | Observation:
    """The site's proxy (peers.proxy) with the credentials of settings.proxy."""
    urls = (ctx.settings.get("peers") or {}).get("proxy") or ()
    url = urls[0] if isinstance(urls, (list, tuple)) and urls else urls if isinstance(urls, str) else None
    if not url:
        return Observation(Reason.NOT_CONFIGURED, "via_proxy is set, but the site file names no proxy (peers.proxy)")
    site = ctx.settings.get("site")
    options = dict(getattr(site, "settings", {}).get("proxy", {})) if site is not None else {}
    credentials = proxy_credentials(options, ctx)
    if isinstance(credentials, Observation):
        return credentials
    return ProxySettings(url, credentials[0], credentials[1])


@register("proxy")
async def observe_proxy(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "a proxy listens on one port, not a range")
    deadline = Deadline(ctx.timeout)
    credentials = proxy_credentials(flow.options, ctx)
    if isinstance(credentials, Observation):
        return credentials
    _user, authorization = credentials
    reached = await handshake(address, flow.port, deadline.remaining())
    if reached.reason is not Reason.OPEN:
        return Observation(reached.reason, f"proxy {_shown(flow.host)}: {reached.detail}", reached.evidence,
                           reached.latency_ms)
    peers = ctx.settings.get("peers") or {}
    urls = [u for u in peers.get("crl", ()) if isinstance(u, str)]
    targets = expand_targets(flow.texts_option("connect_targets") or [], peers)
    if not urls and not targets:
        return Observation(Reason.OPEN, f"proxy {_shown(flow.host)}: TCP handshake completed; no CRL URL "
                           "(peers.crl) or connect_targets to request through it", reached.evidence,
                           reached.latency_ms)
    max_bytes = flow.int_option("max_bytes", DEFAULT_MAX_BYTES)
    proxy = named_proxy(flow.host, flow.port, address, authorization)
    checks = [_get(url, proxy, deadline, max_bytes, ctx) for url in urls]
    checks += [_connect(target, address, flow.port, authorization, deadline) for target in targets]
    outcomes = await asyncio.gather(*checks)
    return _combine(flow, outcomes, reached.latency_ms)


def named_proxy(peer: str, port: int, address: str, authorization: str | None) -> Proxy:
    """The proxy as the site names it (the peers.proxy URL's host, lowercased as net.http.parse_proxy
    reads it) with the flow's port and credentials. Not the resolved `address`: the via_proxy http-crl
    flow and the certificate check name it this way, and the shared CRL downloads are keyed on it."""
    from netcheck.net.http import Proxy

    host = urlsplit(peer).hostname if "://" in peer else peer
    return Proxy(host or address, port, authorization)


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


def expand_targets(raw: list[Any], peers: Any) -> list[str]:
    """'console:443' -> one target per console host; 'host:port' stays as given."""
    targets: list[str] = []
    for item in raw:
        text = str(item).strip()
        name, sep, port = text.rpartition(":")
        hosts = peers.get(name) if sep and name in peers else None
        if hosts and isinstance(hosts, (list, tuple)) and port.isdigit():
            targets += [f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in hosts if isinstance(h, str)]
        elif text:
            targets.append(text)
    return list(dict.fromkeys(targets))


@dataclass(frozen=True)
class Outcome:
    """One request through the proxy. `relayed`: the proxy did its part."""

    what: str
    relayed: bool
    reason: Reason
    detail: str
    evidence: dict[str, Any]


async def _get(url: str, proxy: Proxy, deadline: Deadline, max_bytes: int, ctx: ProbeContext) -> Outcome:
    from netcheck.certs.downloads import CrlDownloads

    what = f"GET {url}"
    if urlsplit(url).scheme.lower() != "http":
        return Outcome(what, True, Reason.NOT_APPLICABLE, "not an http:// URL: not fetched (see the crl flow)", {})
    # The run's shared download: the via_proxy crl flow and the certificate check read the same GET.
    downloads = ctx.crl_downloads or CrlDownloads()
    result = await downloads.get(url, proxy=proxy, timeout=max(deadline.remaining(), 0.05), max_bytes=max_bytes)
    evidence = result.evidence()
    if result.ok:
        return Outcome(what, True, Reason.ANSWERED, result.status_line or "answered", evidence)
    if result.error is Reason.HTTP_ERROR or result.error is Reason.TOO_LARGE:
        # The proxy relayed; what the origin said is the crl flow's business.
        return Outcome(what, True, Reason.ANSWERED, f"relayed; the server said: {result.detail}", evidence)
    return Outcome(what, False, result.error or Reason.PROTOCOL_ERROR, result.detail, evidence)


async def _connect(target: str, address: str, port: int, authorization: str | None,
                   deadline: Deadline) -> Outcome:
    what = f"CONNECT {target}"
    values.wire_text(target, "connect_targets entry")
    channel = await connect(address, port, deadline)
    if isinstance(channel, Observation):
        return Outcome(what, False, channel.reason, channel.detail, dict(channel.evidence))
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}", f"User-Agent: netcheck/{__version__}"]
    if authorization:
        lines.append(f"Proxy-Authorization: {authorization}")
    try:
        await channel.send(b"".join(values.wire_text(line, "the CONNECT request") + b"\r\n" for line in lines)
                           + b"\r\n")
        status_line = (await channel.read_line(MAX_HEADER_LINE)).decode("latin-1")
        if STATUS_LINE.match(status_line) is None:  # not HTTP: no headers worth waiting for
            return _judge_connect(what, status_line)
        for _ in range(MAX_HEADER_LINES):
            if not await channel.read_line(MAX_HEADER_LINE):
                break
    except DeadlineHit:
        return Outcome(what, False, Reason.TIMEOUT, "no complete answer from the proxy before the deadline",
                       {"bytes_received": channel.received})
    except (StreamClosed, LineTooLong, OSError) as exc:
        seen = printable(bytes(channel.buffer[:40]))
        why = "closed the connection" if isinstance(exc, StreamClosed) else "sent no valid HTTP answer"
        return Outcome(what, False, Reason.PROTOCOL_ERROR, f"the proxy {why}" + (f": '{seen}'" if seen else ""),
                       {"bytes_received": channel.received})
    finally:
        channel.close()
    return _judge_connect(what, status_line)


def _judge_connect(what: str, status_line: str) -> Outcome:
    evidence = {"status_line": printable(status_line.encode("latin-1"), 200)}
    match = STATUS_LINE.match(status_line)
    if match is None:
        return Outcome(what, False, Reason.PROTOCOL_ERROR,
                       f"not an HTTP answer: '{printable(status_line.encode('latin-1'), 60)}'", evidence)
    status = int(match.group(1))
    if 200 <= status < 300:
        return Outcome(what, True, Reason.ANSWERED, status_line, evidence)
    meaning = {407: "the proxy requires credentials (settings.proxy.user and password_env)",
               403: "the proxy's policy forbids this target or this client",
               502: "the proxy could not reach the target", 503: "the proxy could not reach the target",
               504: "the proxy could not reach the target in time"}.get(status, "the proxy refused the tunnel")
    return Outcome(what, False, Reason.PROXY_DENIED, f"{status_line}: {meaning}", evidence)


def _combine(flow: Flow, outcomes: list[Outcome], latency: float | None) -> Observation:
    evidence = {"requests": {o.what: {"reason": o.reason.value, "detail": o.detail, **o.evidence} for o in outcomes}}
    listing = "; ".join(f"{o.what}: {o.detail}" for o in outcomes)
    failed = [o for o in outcomes if not o.relayed]
    if failed:
        first = failed[0]
        # errno and the ICMP error (with the router that sent it) where the tcp probe has them
        evidence.update({key: first.evidence[key] for key in NETWORK_FACTS if key in first.evidence})
        return Observation(first.reason, f"proxy {_shown(flow.host)}: {first.what} failed: {first.detail}"
                           + (f" (all: {listing})" if len(outcomes) > 1 else ""), evidence, latency)
    return Observation(Reason.ANSWERED, f"proxy {_shown(flow.host)} relayed: {listing}", evidence, latency)
