"""Cloud endpoints: the path a cloud-connected sensor takes to each endpoint of its list.

For each endpoint: resolve it with the site's DNS servers; connect directly, or through the
site's proxy (Basic credentials from the environment) and any further proxies of
settings.cloud.proxy_chain, each reached by HTTP CONNECT through the one before; complete a
TLS handshake with SNI; record the chain and judge it against the host's trust store (plus
settings.cloud.ca_file), the site's expected_issuer, and the clock of the site's NTP server.
Every failure gets the sensor's own category (netcheck.cloud.categories) beside the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from netcheck import __version__
from netcheck.cloud.categories import CONNECTED, Stage, categorise
from netcheck.judges import Verdict
from netcheck.model import Flow, Observation, PortRange, Reason, Status
from netcheck.net.streams import Channel, Deadline, DeadlineHit, LineTooLong, StreamClosed, connect
from netcheck.probes import ProbeContext, register
from netcheck.probes._tls import Expectation, TlsFacts, TlsSession, assess, certificate_rule, negotiate, printable
from netcheck.probes.proxy import STATUS_LINE, proxy_credentials

MAX_HEADER_LINE = 8192
MAX_HEADER_LINES = 100
OLD_TLS = frozenset({"SSLv3", "TLSv1", "TLSv1.1"})
SUPPORTED_AUTH = "basic"
# How much of the probe's deadline name resolution may take, so a silent DNS server still
# leaves the probe time to say so.
DNS_SHARE = 0.6
CLOCK_CHECK_MIN_S = 1.0
NTP_PORT = 123


def _judge(flow: Flow, observation: Observation) -> Status | Verdict:
    status = _status(observation)
    if isinstance(observation.facts, TlsFacts):  # the chain was judged: show the rule and what it met
        return Verdict(status, *certificate_rule(observation.facts))
    return status


def _status(observation: Observation) -> Status:
    if observation.reason is Reason.ANSWERED:
        return Status.PASS
    if observation.reason in (Reason.NOT_CONFIGURED, Reason.NOT_APPLICABLE):
        return Status.SKIP
    if observation.reason in (Reason.INTERNAL_ERROR, Reason.NO_PRIVILEGE, Reason.RUN_DEADLINE):
        return Status.ERROR
    return Status.FAIL  # anything else keeps the sensor off the cloud


def _failed(observation: Observation, stage: Stage, extra: dict[str, Any] | None = None) -> Observation:
    evidence = {**observation.evidence, **(extra or {}), "stage": stage}
    return dataclasses.replace(observation, evidence=evidence, category=categorise(observation.reason, stage))


@register("cloud", judge=_judge)
async def observe_cloud(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "a cloud endpoint has one port, not a range")
    deadline = Deadline(ctx.timeout)
    hops = _proxies(flow, ctx)
    if isinstance(hops, Observation):
        return hops
    credentials = proxy_credentials(_site_settings(ctx, "proxy"), ctx) if hops else (None, None)
    if isinstance(credentials, Observation):
        return credentials
    clock = asyncio.ensure_future(_site_clock_offset(ctx))
    try:
        reached = await _path(flow, hops, credentials[1], deadline, ctx)
        observation = (await _judge_certificate(flow, reached, clock, deadline) if isinstance(reached, _Connected)
                       else reached)
    finally:
        if not clock.done():
            clock.cancel()
    return _with_address(observation, hops)


def _with_address(observation: Observation, hops: list[tuple[str, int]]) -> Observation:
    """A direct path's result carries the endpoint address it connected to (the engine resolves
    nothing for cloud flows), so fixes and firewall rules name that address; through a proxy the
    proxy resolves the name and the result names none."""
    addresses = observation.evidence.get("addresses")
    if hops or observation.address is not None or not isinstance(addresses, list) or not addresses:
        return observation
    return dataclasses.replace(observation, address=str(addresses[0]))


def _site_settings(ctx: ProbeContext, peer: str) -> dict[str, Any]:
    site = ctx.settings.get("site")
    return dict(getattr(site, "settings", {}).get(peer, {})) if site is not None else {}


def _peers(ctx: ProbeContext, peer: str) -> list[str]:
    hosts = (ctx.settings.get("peers") or {}).get(peer) or ()
    return [h for h in hosts if isinstance(h, str)]


def _proxies(flow: Flow, ctx: ProbeContext) -> list[tuple[str, int]] | Observation:
    """(host, port) of each proxy on the way, first the one the sensor is configured with."""
    urls: list[str] = []
    if flow.options.get("via_proxy"):
        site_proxies = _peers(ctx, "proxy")
        if not site_proxies:
            return Observation(Reason.NOT_CONFIGURED, "settings.cloud.via_proxy is set, but the site file names no "
                                                      "proxy (peers.proxy)")
        urls.append(site_proxies[0])
    urls += flow.texts_option("proxy_chain") or []
    hops = []
    for url in urls:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        try:
            port = parts.port or 3128
        except ValueError:
            port = 0
        if not parts.hostname or not 0 < port < 65536:
            return Observation(Reason.NOT_CONFIGURED, f"proxy '{printable(url.encode(), 80)}' is not host:port "
                                                      "or http://host:port")
        hops.append((parts.hostname, port))
    return hops


def _dns_lifetime(ctx: ProbeContext, deadline: Deadline) -> float:
    return max(min(ctx.timeout * DNS_SHARE, deadline.remaining() - 0.2), 0.1)


async def _resolve(name: str, ctx: ProbeContext, deadline: Deadline) -> list[str] | Observation:
    from netcheck.cloud.resolve import resolve_a

    # dnspython asks servers by address; a DNS server named by host name is left to the host's resolver.
    servers = [server for server in _peers(ctx, "dns") if _is_ip(server)]
    return await resolve_a(name, servers, _dns_lifetime(ctx, deadline))


@dataclasses.dataclass(frozen=True)
class _Connected:
    """A TLS session with the endpoint (a live object: not evidence), and what the path to it showed."""

    session: TlsSession
    evidence: dict[str, Any]


async def _path(flow: Flow, hops: list[tuple[str, int]], authorization: str | None, deadline: Deadline,
                ctx: ProbeContext) -> Observation | _Connected:
    """Resolve, connect (direct or through the proxies) and shake hands; the session on success."""
    port = flow.port
    assert isinstance(port, int)  # observe_cloud turned ranges away
    evidence: dict[str, Any] = {"endpoint": f"{flow.host}:{flow.port}",
                                "path": [f"{h}:{p}" for h, p in hops] or "direct"}
    if not hops:
        resolved = await _resolve(flow.host, ctx, deadline)
        if isinstance(resolved, Observation):
            return _failed(resolved, "dns", evidence)
        evidence["addresses"] = resolved
        channel = await connect(resolved[0], port, deadline)
        if isinstance(channel, Observation):
            return _failed(_prefixed(channel, f"{flow.host} ({resolved[0]})"), "endpoint", evidence)
    else:
        # Through a proxy the proxy resolves the name; this host's answer only feeds service tags.
        resolved = await _resolve(flow.host, ctx, deadline)
        evidence["addresses"] = resolved if isinstance(resolved, list) else []
        if isinstance(resolved, Observation):
            evidence["local_dns"] = resolved.detail
        tunnel = await _tunnel(flow, hops, authorization, deadline, ctx, evidence)
        if isinstance(tunnel, Observation):
            return tunnel
        channel = tunnel
    try:
        session = await negotiate(channel, flow.host if not _is_ip(flow.host) else None, port)
    finally:
        channel.close()
    if isinstance(session, Observation):
        return _failed(_prefixed(session, flow.host), "tls", evidence)
    return _Connected(session, evidence)


def _is_ip(host: str) -> bool:
    from netcheck.addresses import is_ip

    return is_ip(host)


def _prefixed(observation: Observation, what: str) -> Observation:
    return dataclasses.replace(observation, detail=f"{what}: {observation.detail}")


async def _tunnel(flow: Flow, hops: list[tuple[str, int]], authorization: str | None, deadline: Deadline,
                  ctx: ProbeContext, evidence: dict[str, Any]) -> Channel | Observation:
    """A channel through every proxy to the endpoint, or the failure with its stage."""
    first_host, first_port = hops[0]
    proxy_address = await _resolve(first_host, ctx, deadline)
    if isinstance(proxy_address, Observation):
        return _failed(_prefixed(proxy_address, f"proxy {first_host}"), "proxy", evidence)
    channel = await connect(proxy_address[0], first_port, deadline)
    if isinstance(channel, Observation):
        return _failed(_prefixed(channel, f"proxy {first_host}:{first_port}"), "proxy", evidence)
    assert isinstance(flow.port, int)
    targets = [*hops[1:], (flow.host, flow.port)]
    for index, (host, port) in enumerate(targets):
        proxy = f"{hops[index][0]}:{hops[index][1]}"
        last = index == len(targets) - 1
        answer = await _connect_through(channel, host, port, authorization if index == 0 else None, deadline)
        if answer is not None:
            channel.close()
            stage: Stage = "tunnel" if last and answer.reason is Reason.PROXY_DENIED else "proxy"
            return _failed(_prefixed(answer, f"proxy {proxy}"), stage,
                           {**evidence, "hop": index + 1, "credentials_sent": bool(authorization and index == 0)})
    return channel


async def _connect_through(channel: Channel, host: str, port: int, authorization: str | None,
                           deadline: Deadline) -> Observation | None:
    """CONNECT host:port on `channel`; None when the proxy opened the tunnel, else why not."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}", f"User-Agent: netcheck/{__version__}"]
    if authorization:
        lines.append(f"Proxy-Authorization: {authorization}")
    headers: list[tuple[str, str]] = []
    try:
        await channel.send(("\r\n".join(lines) + "\r\n\r\n").encode("ascii", "replace"))
        status_line = (await channel.read_line(MAX_HEADER_LINE)).decode("latin-1")
        if STATUS_LINE.match(status_line):
            for _ in range(MAX_HEADER_LINES):
                line = (await channel.read_line(MAX_HEADER_LINE)).decode("latin-1")
                if not line:
                    break
                name, _, value = line.partition(":")
                headers.append((name.strip().lower(), value.strip()))
    except DeadlineHit:
        return Observation(Reason.TIMEOUT, f"CONNECT {target}: no complete answer before the deadline",
                           {"bytes_received": channel.received})
    except (StreamClosed, LineTooLong, OSError) as exc:
        seen = printable(bytes(channel.buffer[:40]))
        why = "closed the connection" if isinstance(exc, StreamClosed) else "sent no valid HTTP answer"
        return Observation(Reason.PROTOCOL_ERROR, f"CONNECT {target}: the proxy {why}"
                           + (f": '{seen}'" if seen else ""), {"bytes_received": channel.received})
    return judge_connect(target, status_line, headers, authorization is not None)


def judge_connect(target: str, status_line: str, headers: list[tuple[str, str]],
                  credentials_sent: bool) -> Observation | None:
    """A proxy's answer to CONNECT: None for a tunnel, else the reason. Pure.

    407 (or a 401, which only the proxy can send before a tunnel exists) is authentication;
    a proxy that offers only NTLM/Negotiate/Kerberos is reported as such (the appliance does
    Basic only); 403 is the proxy's policy; 5xx the proxy failing to reach the target."""
    shown = printable(status_line.encode("latin-1"), 120)
    evidence: dict[str, Any] = {"status_line": shown}
    match = STATUS_LINE.match(status_line)
    if match is None:
        return Observation(Reason.PROTOCOL_ERROR, f"CONNECT {target}: not an HTTP answer: '{shown[:60]}'", evidence)
    status = int(match.group(1))
    if 200 <= status < 300:
        return None
    # tinyproxy answers wrong Basic credentials with 401 and WWW-Authenticate: read both.
    offered = [value.split()[0].lower() for name, value in headers
               if name in ("proxy-authenticate", "www-authenticate") and value]
    if offered:
        evidence["proxy_authenticate"] = offered
    if status in (401, 407):
        if offered and SUPPORTED_AUTH not in offered:
            schemes = ", ".join(dict.fromkeys(offered))
            return Observation(Reason.PROXY_AUTH_UNSUPPORTED,
                               f"CONNECT {target}: {shown}: the proxy offers only {schemes} authentication, which "
                               "the appliance cannot do (Basic only)", evidence)
        if credentials_sent:
            return Observation(Reason.AUTH_FAILED, f"CONNECT {target}: {shown}: the proxy rejected the credentials "
                               "(settings.proxy.user and password_env)", evidence)
        return Observation(Reason.PROXY_AUTH_REQUIRED, f"CONNECT {target}: {shown}: the proxy requires credentials "
                           "and none were given (settings.proxy.user and password_env)", evidence)
    meaning = {403: "the proxy's policy forbids this target",
               502: "the proxy could not reach the target", 503: "the proxy could not reach the target",
               504: "the proxy could not reach the target in time",
               500: "the proxy could not reach the target"}.get(status, "the proxy refused the tunnel")
    return Observation(Reason.PROXY_DENIED, f"CONNECT {target}: {shown}: {meaning}", evidence)


# ---------------------------------------------------------------- certificate and clock

async def _judge_certificate(flow: Flow, connected: _Connected, clock: asyncio.Future[Any],
                             deadline: Deadline) -> Observation:
    from netcheck.cloud.trust import store_label, system_anchors
    from netcheck.probes._tls import read_anchors

    evidence = dict(connected.evidence)
    session = connected.session
    ca_file = flow.text_option("ca_file")
    anchors = system_anchors()
    anchor_error = None
    if ca_file:
        extra, anchor_error = read_anchors(ca_file)
        anchors += extra or ()
    issuer = flow.options.get("expected_issuer")
    expect = Expectation((flow.host,), issuer if isinstance(issuer, str) else None, anchors, anchor_error,
                         store_label(ca_file))
    evidence["tls"] = session.evidence()
    if session.protocol in OLD_TLS:
        detail = f"{flow.host}: the server negotiated {session.protocol}; the sensor requires TLS 1.2 or later"
        return Observation(Reason.TLS_ERROR, detail, {**evidence, "stage": "tls"}, session.handshake_ms,
                           categorise(Reason.TLS_ERROR, "tls"))
    assessment = assess(session.chain, expect)
    evidence.update(assessment.evidence)
    leaf = (assessment.evidence.get("certificates") or [{}])[0]
    summary = f"{session.protocol} {session.cipher}, certificate {leaf.get('subject')} issued by {leaf.get('issuer')}"
    path = "direct" if evidence.get("path") == "direct" else "via " + " -> ".join(evidence["path"])
    if assessment.reason is Reason.INTERCEPTED:
        detail = (f"{flow.host}: TLS inspection: the certificate is issued by {leaf.get('issuer')}, "
                  f"not by a root of {expect.ca_file}; " + "; ".join(assessment.problems))
        return Observation(Reason.INTERCEPTED, detail, {**evidence, "stage": "tls"}, session.handshake_ms,
                           categorise(Reason.INTERCEPTED, "tls"), facts=assessment.facts)
    if assessment.reason is not Reason.ANSWERED:
        detail = f"{flow.host}: the sensor would not trust the certificate: " + "; ".join(assessment.problems)
        return Observation(assessment.reason, detail, {**evidence, "stage": "tls"}, session.handshake_ms,
                           categorise(assessment.reason, "tls"), facts=assessment.facts)
    skew = await _clock_verdict(flow, session, expect, clock, deadline)
    if skew is not None:
        return Observation(Reason.CLOCK_OFFSET, skew[0], {**evidence, "stage": "tls", "clock": skew[1]},
                           session.handshake_ms, categorise(Reason.CLOCK_OFFSET, "tls"))
    return Observation(Reason.ANSWERED, f"{CONNECTED} ({flow.host}, {path}): {summary}", evidence,
                       session.handshake_ms, facts=assessment.facts)


async def _clock_verdict(flow: Flow, session: TlsSession, expect: Expectation, clock: asyncio.Future[Any],
                         deadline: Deadline) -> tuple[str, dict[str, Any]] | None:
    """Why the certificate would fail at the time the site's NTP server gives the sensor, or None."""
    try:
        measured = await asyncio.wait_for(asyncio.shield(clock), max(deadline.remaining(), 0.05))
    except TimeoutError:
        return None
    if measured is None:
        return None
    server, offset = measured
    if abs(offset) < CLOCK_CHECK_MIN_S:
        return None
    sensor_now = datetime.now(UTC) + timedelta(seconds=offset)
    at_sensor_time = assess(session.chain, expect, sensor_now)
    if at_sensor_time.reason is Reason.ANSWERED:
        return None
    hours = abs(offset) / 3600
    direction = "ahead of" if offset > 0 else "behind"
    amount = f"{hours:.1f} h" if hours >= 1 else f"{abs(offset):.0f} s"
    detail = (f"{flow.host}: clock skew: the site's NTP server {server} is {amount} {direction} this host; "
              f"a sensor set by it ({sensor_now:%Y-%m-%d %H:%M} UTC) would reject the certificate: "
              + "; ".join(at_sensor_time.problems))
    return detail, {"ntp_server": server, "offset_s": round(offset, 3), "sensor_time": sensor_now.isoformat()}


_CLOCKS: dict[tuple[str, str], asyncio.Future[Any]] = {}


async def _site_clock_offset(ctx: ProbeContext) -> tuple[str, float] | None:
    """(server, offset in s) of the site's NTP server against this host, asked once per run."""
    servers = _peers(ctx, "ntp")
    if not servers:
        return None
    key = (ctx.run_id, servers[0])
    if key not in _CLOCKS:
        _CLOCKS[key] = asyncio.ensure_future(_ask_ntp(servers[0], ctx))
    return await asyncio.shield(_CLOCKS[key])


async def _ask_ntp(server: str, ctx: ProbeContext) -> tuple[str, float] | None:
    from netcheck.probes.ntp import request_once

    address = server
    if not _is_ip(server):
        resolved = await _resolve(server, ctx, Deadline(ctx.timeout))
        if isinstance(resolved, Observation):
            return None
        address = resolved[0]
    for _ in range(max(1, ctx.udp_tries)):
        answer = await request_once(address, NTP_PORT, ctx.timeout / max(1, ctx.udp_tries), float("inf"))
        offset = answer.evidence.get("offset_s")
        if isinstance(offset, (int, float)):
            return server, float(offset)
        if answer.reason is not Reason.NO_RESPONSE:
            return None
    return None
