"""DNS 53 over UDP or TCP (the flow's transport): resolve the names the site needs.

UDP queries go through udp.exchange so ICMP refused/prohibited keep their reason and
sender; TCP first gets a connect_tcp pre-check for the same precision, then dnspython
does the queries. dnspython builds and parses every message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from netcheck import values
from netcheck.addresses import is_ip
from netcheck.egress import current as current_egress
from netcheck.judges import Verdict, joined
from netcheck.model import Facts, Flow, Observation, PortRange, Reason, Status
from netcheck.net.sockets import connect_tcp, elapsed_ms
from netcheck.probes import ProbeContext, default_judge, register
from netcheck.probes.udp import exchange

# Peers whose IP addresses are the appliances themselves: their PTR records are looked up.
APPLIANCE_PEERS = ("console", "ha_console", "sensors")
# Without EDNS a server must keep UDP answers within 512 bytes (RFC 1035), and
# udp.exchange keeps exactly that much of a reply.
UDP_LIMIT = 512
TRANSPORT_FAILURES = frozenset({Reason.NO_RESPONSE, Reason.REFUSED, Reason.PROHIBITED, Reason.UNREACHABLE,
                                Reason.FILTERED})


@dataclass(frozen=True)
class Query:
    """One question to ask. `listed`: NXDOMAIN is a warning (the site said the name should exist);
    `transport_only`: the site lists no names, so any well-formed answer proves the transport."""

    name: str
    rdtype: str
    listed: bool = True
    transport_only: bool = False


@dataclass
class Outcome:
    query: Query
    reason: Reason
    detail: str
    rcode: str | None = None
    answers: list[str] = field(default_factory=list)
    ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fact(self) -> DnsAnswer:
        return DnsAnswer(self.query.name, self.query.rdtype, self.rcode, tuple(self.answers), self.reason,
                         self.query.listed, self.query.transport_only)

    def evidence(self) -> dict[str, Any]:
        row: dict[str, Any] = {"name": self.query.name, "type": self.query.rdtype, "rcode": self.rcode,
                               "answers": self.answers, "ms": self.ms, "result": self.reason.value}
        if self.reason is not Reason.ANSWERED:
            row["detail"] = self.detail
        return {**row, **self.extra}


@dataclass(frozen=True)
class DnsAnswer:
    """The answer to one query: rcode None when no DNS answer came back (then `reason` says why)."""

    name: str
    rdtype: str
    rcode: str | None
    answers: tuple[str, ...]
    reason: Reason
    listed: bool = True
    transport_only: bool = False

    @property
    def label(self) -> str:
        return f"{self.name.rstrip('.') or '.'} {self.rdtype}"

    def found(self) -> str:
        if self.rcode is None:
            return f"{self.label}: {self.reason.value}"
        if self.rcode != "NOERROR":
            return f"{self.label}: {self.rcode}"
        return f"{self.label} -> {', '.join(self.answers[:2]) or 'no records'}"


@dataclass(frozen=True)
class DnsFacts(Facts):
    """The answers per name of one DNS flow, in query order."""

    answers: tuple[DnsAnswer, ...]


def judge_dns(flow: Flow, observation: Observation) -> Status | Verdict:
    """The site's names against the server's answers: every listed name resolves (NXDOMAIN
    warns), no query fails or errs. Without a single answer the reason decides alone."""
    facts = observation.facts
    if not isinstance(facts, DnsFacts) or not any(a.rcode is not None for a in facts.answers):
        return default_judge(flow, observation)
    if facts.answers[0].transport_only:
        status = Status.WARN if observation.reason is Reason.DNS_ERROR else default_judge(flow, observation)
        # A server that refuses the root query may still resolve the site's names: the site
        # listed none, so this is a warning that asks for them, not a failure.
        return Verdict(status, "any well-formed answer (the site lists no names)", facts.answers[0].found())
    status = default_judge(flow, observation)
    shown = facts.answers[:6]
    more = f" (+{len(facts.answers) - 6} more)" if len(facts.answers) > 6 else ""
    expected = "resolve " + ", ".join(a.label for a in shown) + more
    return Verdict(status, expected, (joined(a.found() for a in shown) or "") + more)


@register("dns", judge=judge_dns)
async def observe_dns(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "DNS is tested on a single port, not a range")
    queries, skipped = plan_queries(flow, ctx)
    started = time.monotonic()
    if flow.transport == "tcp":
        connected = await connect_tcp(address, flow.port, ctx.timeout)
        if isinstance(connected, Observation):
            return connected
        connected.close()
        remaining = max(0.1, ctx.timeout - (time.monotonic() - started))
        outcomes = await asyncio.gather(*(_ask_tcp(address, flow.port, q, remaining) for q in queries))
    else:
        outcomes = await asyncio.gather(*(_ask_udp(address, flow.port, q, ctx) for q in queries))
    return summarise(flow, list(outcomes), skipped, elapsed_ms(started))


def plan_queries(flow: Flow, ctx: ProbeContext) -> tuple[list[Query], list[str]]:
    """The queries for this flow, and the configured entries that could not become one."""
    import dns.reversename

    names = flow.texts_option("names")
    if names is None:
        names = default_names(ctx.settings.get("peers", {}))
    reverse = flow.texts_option("reverse")
    reverse_listed = reverse is not None
    if reverse is None:
        reverse = default_reverse(ctx.settings.get("peers", {}))
    queries = [Query(_query_name(name), "A") for name in dict.fromkeys(names)]
    skipped: list[str] = []
    for ip in dict.fromkeys(str(r) for r in reverse):
        try:
            pointer = dns.reversename.from_address(ip).to_text()
        except (ValueError, SyntaxError):
            skipped.append(f"{ip!r} is not an IP address")
            continue
        queries.append(Query(pointer, "PTR", listed=reverse_listed))
    if not queries:
        queries.append(Query(".", "NS", listed=False, transport_only=True))
    return queries, skipped


def _query_name(name: Any) -> str:
    """A name for the wire: printable ASCII only (dnspython would carry any byte in a label)."""
    text = str(name)
    values.wire_text(text, "a DNS name to query")
    return text.rstrip(".") + "."


def default_names(peers: Any) -> list[str]:
    """Every host name (not IP) the site file gives a peer, including the hosts of URL peers."""
    found: list[str] = []
    for hosts in peers.values():
        for host in hosts:
            name = (urlsplit(host).hostname or "") if "://" in host else host
            if name and not is_ip(name):
                found.append(name)
    return list(dict.fromkeys(found))


def default_reverse(peers: Any) -> list[str]:
    return list(dict.fromkeys(h for peer in APPLIANCE_PEERS for h in peers.get(peer, ()) if is_ip(h)))



def _make(query: Query) -> Any:
    import dns.message

    return dns.message.make_query(query.name, query.rdtype, use_edns=False)


async def _ask_udp(address: str, port: int, query: Query, ctx: ProbeContext) -> Outcome:
    import dns.exception
    import dns.message

    request = _make(query)
    sent = await exchange(address, port, request.to_wire(), ctx)
    if sent.reason is not Reason.ANSWERED:
        return Outcome(query, sent.reason, sent.detail, ms=sent.latency_ms, extra=dict(sent.evidence))
    reply_len = sent.evidence.get("reply_len")
    length = reply_len if isinstance(reply_len, int) else 0
    if length > UDP_LIMIT:
        return Outcome(query, Reason.PROTOCOL_ERROR,
                       f"a {length}-byte UDP reply to a query without EDNS (DNS allows {UDP_LIMIT})",
                       ms=sent.latency_ms, extra={"reply": str(sent.evidence.get("reply", ""))[:128]})
    wire = bytes.fromhex(str(sent.evidence.get("reply", "")))
    try:
        reply = dns.message.from_wire(wire)
    except (dns.exception.DNSException, ValueError) as exc:
        return Outcome(query, Reason.PROTOCOL_ERROR, f"the reply is not a DNS message ({_describe(exc)})",
                       ms=sent.latency_ms, extra={"reply": wire[:64].hex()})
    return _read(query, request, reply, sent.latency_ms)


async def _ask_tcp(address: str, port: int, query: Query, timeout: float) -> Outcome:
    import dns.asyncquery
    import dns.exception

    request = _make(query)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout + 0.1):
            reply = await dns.asyncquery.tcp(request, address, timeout=timeout, port=port,
                                             source=current_egress().source_for(address))
    except (dns.exception.Timeout, TimeoutError):
        return Outcome(query, Reason.TIMEOUT, f"connected, but no answer within {timeout:.1f} s",
                       ms=elapsed_ms(started))
    except EOFError:
        return Outcome(query, Reason.PROTOCOL_ERROR, "the server closed the connection without an answer",
                       ms=elapsed_ms(started))
    except ConnectionRefusedError:
        return Outcome(query, Reason.REFUSED, "refused (TCP reset)", ms=elapsed_ms(started))
    except OSError as exc:
        return Outcome(query, Reason.PROTOCOL_ERROR, f"the connection failed: {exc.strerror or exc}",
                       ms=elapsed_ms(started))
    except (dns.exception.DNSException, ValueError) as exc:
        return Outcome(query, Reason.PROTOCOL_ERROR, f"the reply is not a DNS answer to the query ({_describe(exc)})",
                       ms=elapsed_ms(started))
    return _read(query, request, reply, elapsed_ms(started))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read(query: Query, request: Any, reply: Any, ms: float | None) -> Outcome:
    import dns.flags
    import dns.rcode

    if not request.is_response(reply):
        return Outcome(query, Reason.PROTOCOL_ERROR, "the reply does not answer the query (id or question differ)",
                       ms=ms)
    rcode = dns.rcode.to_text(reply.rcode())
    answers = [f"{rrset.name} {rrset.ttl} {rdata}" if rrset.name.to_text() != query.name else str(rdata)
               for rrset in reply.answer for rdata in rrset]
    extra = {"truncated": True} if reply.flags & dns.flags.TC else {}
    if rcode == "NOERROR":
        return Outcome(query, Reason.ANSWERED, "answered", rcode, answers, ms, extra)
    if rcode == "NXDOMAIN":
        return Outcome(query, Reason.NXDOMAIN, "no such name", rcode, answers, ms, extra)
    return Outcome(query, Reason.DNS_ERROR, f"the server answered {rcode}", rcode, answers, ms, extra)


def summarise(flow: Flow, outcomes: list[Outcome], skipped: list[str], ms: float) -> Observation:
    """One verdict from every query (see _summarise), with the answers per name as typed facts."""
    observation = _summarise(flow, outcomes, skipped, ms)
    return dataclasses.replace(observation, facts=DnsFacts(tuple(o.fact() for o in outcomes)))


def _summarise(flow: Flow, outcomes: list[Outcome], skipped: list[str], ms: float) -> Observation:
    """One verdict from every query: transport failures first, then server errors, then NXDOMAIN."""
    transport = flow.transport.upper()
    rows = [o.evidence() for o in outcomes]
    evidence: dict[str, Any] = {"queries": rows, "transport": flow.transport}
    if skipped:
        evidence["skipped"] = skipped
    answered = [o for o in outcomes if o.rcode is not None]
    if not answered:
        first = outcomes[0]
        return Observation(first.reason, f"DNS {first.query.name} {first.query.rdtype}: {first.detail}",
                           {**evidence, **_icmp(first)}, first.ms)
    if outcomes[0].query.transport_only:
        evidence["transport_only"] = True
    failed = [o for o in outcomes if o.rcode is None]
    latency = min(o.ms for o in answered if o.ms is not None) if any(o.ms for o in answered) else ms
    if failed:
        first = failed[0]
        reason = Reason.TIMEOUT if first.reason in TRANSPORT_FAILURES else first.reason
        return Observation(reason, f"DNS over {transport}: {len(failed)} of {len(outcomes)} queries failed; "
                                   f"{first.query.name} {first.query.rdtype}: {first.detail}", evidence, latency)
    errors = [o for o in outcomes if o.reason is Reason.DNS_ERROR]
    if errors:
        first = errors[0]
        hint = ("; the site lists no names: set settings.dns.names to the names the appliance resolves"
                if first.query.transport_only else "")
        return Observation(Reason.DNS_ERROR, f"DNS over {transport}: {first.query.name} {first.query.rdtype} "
                                             f"answered {first.rcode}{hint}", {**evidence, "rcode": first.rcode},
                           latency)
    missing = [o for o in outcomes if o.reason is Reason.NXDOMAIN and o.query.listed]
    if missing:
        names = ", ".join(o.query.name for o in missing)
        return Observation(Reason.NXDOMAIN, f"DNS over {transport}: NXDOMAIN for {names}", evidence, latency)
    return Observation(Reason.ANSWERED, f"DNS over {transport}: {_summary_line(outcomes)}", evidence, latency)


def _icmp(outcome: Outcome) -> dict[str, Any]:
    return {key: outcome.extra[key] for key in ("icmp", "errno") if key in outcome.extra}


def _summary_line(outcomes: list[Outcome]) -> str:
    parts = []
    for o in outcomes[:4]:
        shown = ", ".join(o.answers[:2]) or ("no such name" if o.reason is Reason.NXDOMAIN else "no records")
        parts.append(f"{o.query.name.rstrip('.') or '.'} {o.query.rdtype} -> {shown}")
    more = f" (+{len(outcomes) - 4} more)" if len(outcomes) > 4 else ""
    return f"{len(outcomes)} answered: " + "; ".join(parts) + more

