"""SMTP: greeting, EHLO, advertised extensions, STARTTLS with the certificate, QUIT.
Never MAIL FROM, RCPT or DATA: no mail is ever sent.

Hand-written over net/streams rather than smtplib in a thread: smtplib's timeout is
per socket operation, so a server dripping a byte a second keeps it alive forever and a
thread cannot be cancelled; here one deadline bounds the whole conversation, replies
are capped, and STARTTLS reuses the TLS probe's handshake and certificate judgement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from netcheck import values
from netcheck.catalogue import DEFAULT_EHLO
from netcheck.judges import Verdict
from netcheck.model import Facts, Flow, Observation, PortRange, Reason, Status
from netcheck.net.streams import Channel, Deadline, DeadlineHit, LineTooLong, StreamClosed, connect
from netcheck.probes import ProbeContext, default_judge, register
from netcheck.probes._tls import (
    TlsFacts,
    TlsSession,
    certificate_observation,
    default_server_name,
    expectation_for,
    judge_certificate,
    negotiate,
    printable,
)

MAX_LINE = 2048  # RFC 5321 allows 512 for reply lines; be lenient, but bounded
MAX_REPLY_LINES = 100
QUIT_WAIT_S = 1.0
REPLY_LINE = re.compile(rb"^([2-5][0-9]{2})([ -])(.*)$")


class SmtpTrouble(Exception):
    """The server answered something that is not SMTP."""


@dataclass
class Conversation:
    """What was said, for the evidence (client lines and server replies, in order)."""

    transcript: list[str] = field(default_factory=list)
    stage: str = "connect"

    def said(self, line: str) -> None:
        if len(self.transcript) < 200:
            self.transcript.append(line)


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return f"{self.code} {self.lines[0]}" if self.lines else str(self.code)


@dataclass(frozen=True)
class SmtpFacts(Facts):
    """What the site may expect of an SMTP server without TLS: whether it offers STARTTLS."""

    starttls_offered: bool
    require_starttls: bool


def judge_smtp(flow: Flow, observation: Observation) -> Status | Verdict:
    """After STARTTLS the certificate is judged like the TLS probe's; without it, a site that
    requires STARTTLS holds the server to offering it."""
    facts = observation.facts
    if isinstance(facts, TlsFacts):
        return judge_certificate(flow, observation)
    if isinstance(facts, SmtpFacts) and facts.require_starttls:
        status = Status.PASS if facts.starttls_offered else Status.FAIL
        return Verdict(status, "STARTTLS offered (require_starttls)",
                       "STARTTLS offered" if facts.starttls_offered else "STARTTLS not offered")
    return default_judge(flow, observation)


@register("smtp", judge=judge_smtp)
async def observe_smtp(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "an SMTP session needs one port, not a range")
    deadline = Deadline(ctx.timeout)
    channel = await connect(address, flow.port, deadline)
    if isinstance(channel, Observation):
        return channel
    talk = Conversation()
    try:
        observation = await _session(channel, flow, talk)
    except DeadlineHit:
        observation = _failure(Reason.TIMEOUT, flow.port, talk,
                               f"no complete answer at stage {talk.stage} before the deadline")
    except SmtpTrouble as trouble:
        observation = _failure(Reason.PROTOCOL_ERROR, flow.port, talk, str(trouble))
    except LineTooLong:
        observation = _failure(Reason.PROTOCOL_ERROR, flow.port, talk,
                               f"a reply line longer than {MAX_LINE} bytes at stage {talk.stage}: not SMTP")
    except StreamClosed:
        observation = _failure(Reason.PROTOCOL_ERROR, flow.port, talk,
                               f"the server closed the connection at stage {talk.stage}")
    except OSError as exc:
        observation = _failure(Reason.PROTOCOL_ERROR, flow.port, talk,
                               f"the connection broke at stage {talk.stage} ({exc.strerror or exc})")
    finally:
        channel.close()
    return observation


def _failure(reason: Reason, port: int, talk: Conversation, why: str) -> Observation:
    last = next((line for line in reversed(talk.transcript) if line.startswith("S: ")), None)
    shown = f" (last reply '{last[3:]}')" if last else ""
    return Observation(reason, f"SMTP {port}: {why}{shown}", {"stage": talk.stage, "transcript": talk.transcript})


async def read_reply(channel: Channel, talk: Conversation) -> Reply:
    """One SMTP reply, multi-line replies joined (RFC 5321 4.2)."""
    lines: list[str] = []
    code: bytes | None = None
    while len(lines) < MAX_REPLY_LINES:
        raw = await channel.read_line(MAX_LINE)
        match = REPLY_LINE.match(raw)
        if match is None or (code is not None and match.group(1) != code):
            shown = printable(raw, 60)
            talk.said(f"S: {shown}")
            raise SmtpTrouble(f"not an SMTP reply at stage {talk.stage}: '{shown}'")
        code = match.group(1)
        text = printable(match.group(3), MAX_LINE)
        lines.append(text)
        talk.said(f"S: {code.decode()}{match.group(2).decode()}{text}")
        if match.group(2) == b" ":
            return Reply(int(code), tuple(lines))
    raise SmtpTrouble(f"a reply of more than {MAX_REPLY_LINES} lines at stage {talk.stage}")


async def command(channel: Channel, talk: Conversation, line: str) -> Reply:
    talk.stage = line.split()[0]
    talk.said(f"C: {line}")
    await channel.send(values.wire_text(line, "the SMTP command") + b"\r\n")
    return await read_reply(channel, talk)


def extensions(reply: Reply) -> list[str]:
    """EHLO keywords with their parameters (the first line is the greeting, not an extension)."""
    return list(reply.lines[1:])


def offers(extension_lines: list[str], keyword: str) -> bool:
    return any(line.split(" ", 1)[0].upper() == keyword for line in extension_lines)


async def _hello(channel: Channel, talk: Conversation, name: str) -> tuple[Reply, list[str]]:
    """EHLO, falling back to HELO when the server refuses EHLO (no extensions then)."""
    reply = await command(channel, talk, f"EHLO {name}")
    if reply.code == 250:
        return reply, extensions(reply)
    helo = await command(channel, talk, f"HELO {name}")
    if helo.code != 250:
        raise SmtpTrouble(f"the server refused both EHLO and HELO: {helo.text}")
    return helo, []


async def _session(channel: Channel, flow: Flow, talk: Conversation) -> Observation:
    port = flow.port
    assert isinstance(port, int)
    talk.stage = "greeting"
    greeting = await read_reply(channel, talk)
    latency = channel.deadline.elapsed_ms()
    evidence: dict[str, Any] = {"greeting": greeting.text, "transcript": talk.transcript}
    if greeting.code != 220:
        return Observation(Reason.PROTOCOL_ERROR,
                           f"SMTP {port}: the server refuses sessions: {greeting.text}", evidence, latency)
    name = str(flow.options.get("ehlo_name") or DEFAULT_EHLO)
    if not values.is_host_name(name):  # the validator refuses these; this is the socket's own guard
        raise values.UnsafeForWire(f"refused to send ehlo_name {values.describe(name)}: not an ASCII host name")
    hello, offered = await _hello(channel, talk, name)
    evidence["extensions"] = offered
    summary = f"SMTP {port}: {greeting.text}; EHLO: {_listing(offered)}"
    session: TlsSession | None = None
    wants_tls = flow.options.get("starttls", True) is not False
    if wants_tls and offers(offered, "STARTTLS"):
        started = await command(channel, talk, "STARTTLS")
        if started.code != 220:
            return Observation(Reason.TLS_ERROR, f"{summary}; STARTTLS refused: {started.text}", evidence, latency)
        talk.stage = "TLS handshake"
        negotiated = await negotiate(channel, default_server_name(flow), port, "SMTP STARTTLS")
        if not isinstance(negotiated, TlsSession):
            return Observation(negotiated.reason, f"{summary}; {negotiated.detail}",
                               {**evidence, **negotiated.evidence}, latency)
        session = negotiated
        _after, evidence["extensions_after_tls"] = await _hello(channel, talk, name)
    await _quit(channel, talk)
    if session is not None:
        checked = certificate_observation(session, expectation_for(flow), port, "STARTTLS", evidence)
        return Observation(checked.reason, f"{summary}; {checked.detail}", checked.evidence, latency,
                           facts=checked.facts)
    offered_tls = offers(offered, "STARTTLS")
    facts = SmtpFacts(offered_tls, flow.options.get("require_starttls") is True)
    if facts.require_starttls and not offered_tls:
        return Observation(Reason.TLS_ERROR, f"{summary}; STARTTLS is required but not offered", evidence, latency,
                           facts=facts)
    note = "STARTTLS offered, not tried (starttls: false)" if offered_tls else "STARTTLS not offered"
    return Observation(Reason.ANSWERED, f"{summary}; {note}", evidence, latency, facts=facts)


async def _quit(channel: Channel, talk: Conversation) -> None:
    """Say goodbye, but never wait long for it: the facts are already in."""
    talk.stage = "QUIT"
    talk.said("C: QUIT")
    try:
        await channel.send(b"QUIT\r\n")
        saved, channel.deadline = channel.deadline, Deadline(min(QUIT_WAIT_S, max(channel.deadline.remaining(), 0)))
        try:
            await read_reply(channel, talk)
        finally:
            channel.deadline = saved
    except (DeadlineHit, StreamClosed, LineTooLong, SmtpTrouble, OSError):
        pass


def _listing(offered: list[str]) -> str:
    if not offered:
        return "no extensions"
    keywords = [line.split(" ", 1)[0].upper() for line in offered]
    return f"{len(keywords)} extensions ({', '.join(keywords)})"
