"""LDAP 389 (optionally StartTLS) and LDAPS 636: read the RootDSE, optionally bind.

A connect_tcp pre-check keeps refused/filtered/prohibited precise; ldap3 then runs in
a thread with its socket timeouts set to the time left, and the probe shuts the socket
down at its own deadline so that a server dripping bytes cannot hold the thread.
Every ldap3 exception becomes a reason; the bind password never leaves this module.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from netcheck import values
from netcheck.addresses import is_ip
from netcheck.egress import current as current_egress
from netcheck.judges import Verdict, joined
from netcheck.model import Facts, Flow, Observation, PortRange, Reason, Status
from netcheck.net.sockets import connect_tcp, elapsed_ms
from netcheck.probes import ProbeContext, default_judge, register

ROOT_DSE_ATTRIBUTES = ("namingContexts", "defaultNamingContext", "supportedLDAPVersion", "vendorName",
                       "vendorVersion", "supportedControl", "supportedSASLMechanisms", "supportedExtension")
STARTTLS_OID = "1.3.6.1.4.1.1466.20037"
# Leave the probe this much of its deadline to shut the session down and report.
MARGIN_S = 0.15

@dataclass
class Plan:
    """What one LDAP session does. `password` is a secret: never logged, never in evidence."""

    address: str
    port: int
    host: str
    use_ssl: bool
    starttls: bool
    ca_file: str | None
    bind_dn: str | None
    password: str | None = field(repr=False)
    timeout: float


class RecordingSocket:
    """Delegates to the session's socket, keeping the first bytes the server sent: when a
    step times out, bytes that cannot start an LDAP message (a BER SEQUENCE, 0x30) show
    that something else answers on the port."""

    HEAD = 64

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.head = b""

    def recv(self, size: int, *flags: int) -> bytes:
        data: bytes = self._sock.recv(size, *flags)
        if len(self.head) < self.HEAD:
            self.head += data[: self.HEAD - len(self.head)]
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@dataclass
class Session:
    """What the session saw, filled in as it goes so a failure keeps the earlier facts."""

    stage: str = "connect"
    tls: dict[str, Any] | None = None
    certificate: dict[str, Any] | None = None
    root_dse: dict[str, Any] | None = None
    bind: dict[str, Any] | None = None
    failure: tuple[Reason, str] | None = None
    recorder: RecordingSocket | None = None
    connection: Any = None  # the ldap3 Connection, so the deadline can shut its socket

    def abort(self) -> None:
        sock = getattr(self.connection, "socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


async def observe_ldap(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "LDAP is tested on a single port, not a range")
    started = time.monotonic()
    budget = max(0.2, ctx.timeout - MARGIN_S)
    connected = await connect_tcp(address, flow.port, budget)
    if isinstance(connected, Observation):
        return connected
    handshake_ms = elapsed_ms(started)
    connected.close()
    plan = Plan(
        address=address, port=flow.port, host=flow.host or address,
        use_ssl=flow.probe == "ldaps", starttls=bool(flow.options.get("starttls", False)) and flow.probe == "ldap",
        ca_file=_text_option(flow, "ca_file"), bind_dn=_text_option(flow, "bind_dn"),
        password=ctx.secret(flow, "password_env"), timeout=budget - (time.monotonic() - started),
    )
    if plan.bind_dn:
        values.wire_text(plan.bind_dn, "bind_dn")
    if plan.ca_file:  # through the input gate first: ssl would block for ever on a FIFO
        from netcheck.errors import ConfigError
        from netcheck.inputs import CAP_CERTIFICATE, read_file

        try:
            read_file(plan.ca_file, "a PEM file of CA certificates", CAP_CERTIFICATE)
        except ConfigError as problem:
            return Observation(Reason.TLS_ERROR, f"cannot use ca_file: {problem.one_line()}",
                               {"ca_file": plan.ca_file}, handshake_ms)
    if plan.bind_dn and plan.password is None:
        name = flow.options.get("password_env")
        hint = f"environment variable {name} is not set" if name else "no password_env option names one"
        return Observation(Reason.AUTH_FAILED, f"cannot bind as {plan.bind_dn}: no password ({hint})",
                           {"bind_dn": plan.bind_dn}, handshake_ms)
    session = Session()
    worker = asyncio.ensure_future(asyncio.to_thread(run_session, plan, session))
    try:
        async with asyncio.timeout(max(0.05, plan.timeout)):
            await asyncio.shield(worker)
    except TimeoutError:
        # Record the verdict first: the aborted thread's own error must not replace it.
        session.failure = (Reason.TIMEOUT, f"the server did not finish the {session.stage} step "
                                           f"within {ctx.timeout:g} s")
        session.abort()
    except asyncio.CancelledError:  # the scan was stopped (Ctrl-C, SIGTERM): free the thread now
        session.abort()
        raise
    return _observation(flow, plan, session, handshake_ms)


def _text_option(flow: Flow, name: str) -> str | None:
    value = flow.options.get(name)
    return str(value) if value else None


def run_session(plan: Plan, session: Session) -> None:
    """The blocking ldap3 conversation (runs in a thread). Records into `session`; never raises."""
    try:
        _converse(plan, session)
    except Exception as exc:  # ldap3 and pyasn1 raise many kinds on a hostile peer: all are reasons
        if session.failure is None:
            session.failure = translate(exc, session.stage, plan, session.recorder)
    finally:
        connection = session.connection
        if connection is not None:
            with contextlib.suppress(Exception):  # the session is over either way
                connection.unbind()


def _converse(plan: Plan, session: Session) -> None:
    import ldap3

    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED if plan.ca_file else ssl.CERT_NONE,
        ca_certs_file=plan.ca_file,
        # Name checks are done on the certificate facts (a warning, like the TLS probe), not by ldap3.
        valid_names=["*"],
        sni=plan.host if not is_ip(plan.host) else None,
    )
    # ldap3 packs receive_timeout as a C long: whole seconds; the probe's own deadline is finer.
    seconds = max(1, int(plan.timeout))
    server = ldap3.Server(plan.address, port=plan.port, use_ssl=plan.use_ssl, tls=tls, get_info=ldap3.NONE,
                          connect_timeout=seconds)
    connection = ldap3.Connection(server, receive_timeout=seconds, raise_exceptions=False, read_only=True,
                                  auto_referrals=False,  # ldap3 binds an address, not a device:
                                  source_address=current_egress().source_for(plan.address))
    session.connection = connection
    session.stage = "TLS handshake" if plan.use_ssl else "connect"
    connection.open(read_server_info=False)
    if plan.starttls:
        session.stage = "StartTLS"
        connection.start_tls(read_server_info=False)
    if plan.use_ssl or plan.starttls:
        session.tls, session.certificate = tls_facts(connection.socket)
    # Installed only now: ldap3's StartTLS must wrap the real socket.
    session.recorder = connection.socket = RecordingSocket(connection.socket)
    session.stage = "RootDSE read"
    if connection.search("", "(objectClass=*)", ldap3.BASE, attributes=list(ROOT_DSE_ATTRIBUTES)):
        session.root_dse = root_dse_facts(connection.response)
    else:
        session.root_dse = {"error": str(connection.result.get("description"))}
    if plan.bind_dn:
        session.stage = "bind"
        ok = connection.rebind(user=plan.bind_dn, password=plan.password, authentication=ldap3.SIMPLE,
                               read_server_info=False)
        result = connection.result or {}
        session.bind = {"dn": plan.bind_dn, "result": str(result.get("description", "")),
                        "message": _scrub(str(result.get("message", "")), plan)}
        if not ok:
            session.failure = (Reason.AUTH_FAILED, f"simple bind as {plan.bind_dn} refused: "
                                                   f"{session.bind['result']} {session.bind['message']}".strip())


def tls_facts(sock: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    from cryptography import x509

    from netcheck.certs.facts import certificate_facts

    tls = {"version": sock.version(), "cipher": (sock.cipher() or ("",))[0]}
    der = sock.getpeercert(binary_form=True)
    if not der:
        return tls, None
    try:
        return tls, certificate_facts(x509.load_der_x509_certificate(der))
    except ValueError as exc:
        return tls, {"error": f"unreadable certificate: {exc}"}


def root_dse_facts(response: Any) -> dict[str, Any]:
    entries = [e for e in response or [] if e.get("type") == "searchResEntry"]
    if not entries:
        return {}
    raw = {k.lower(): v for k, v in dict(entries[0].get("attributes", {})).items()}

    def values(name: str) -> list[str]:
        found = raw.get(name.lower(), [])
        return [str(v) for v in (found if isinstance(found, list) else [found])]

    def first(name: str) -> str | None:
        found = values(name)
        return found[0] if found else None

    return {
        "naming_contexts": values("namingContexts"),
        "default_naming_context": first("defaultNamingContext"),
        "ldap_versions": values("supportedLDAPVersion"),
        "vendor_name": first("vendorName"),
        "vendor_version": first("vendorVersion"),
        "supported_controls": len(values("supportedControl")),
        "sasl_mechanisms": values("supportedSASLMechanisms"),
        "starttls_offered": STARTTLS_OID in values("supportedExtension"),
    }


def translate(exc: BaseException, stage: str, plan: Plan,
              recorder: RecordingSocket | None = None) -> tuple[Reason, str]:
    """An ldap3 (or decoder) exception -> reason and one line, with the password scrubbed."""
    from ldap3.core import exceptions as lx

    text = _scrub(exception_text(exc), plan)
    lowered = text.lower()
    if recorder is not None and recorder.head and recorder.head[0] != 0x30:
        shown = recorder.head[:24].decode("ascii", "backslashreplace")
        return Reason.PROTOCOL_ERROR, f"the server answered the {stage} step with bytes that are not LDAP: {shown!r}"
    if isinstance(exc, lx.LDAPInvalidCredentialsResult | lx.LDAPBindError):
        return Reason.AUTH_FAILED, f"bind refused: {text}"
    if isinstance(exc, lx.LDAPStartTLSError | lx.LDAPCertificateError | lx.LDAPSSLConfigurationError | ssl.SSLError):
        return Reason.TLS_ERROR, f"{stage} failed: {text}"
    if "timed out" in lowered or isinstance(exc, TimeoutError | socket.timeout):
        return Reason.TIMEOUT, f"connected, but the server did not answer the {stage} step in time"
    if isinstance(exc, lx.LDAPSocketOpenError) and stage == "TLS handshake":
        return Reason.TLS_ERROR, f"TLS handshake failed: {text}"
    if isinstance(exc, lx.LDAPSessionTerminatedByServerError | lx.LDAPSocketReceiveError):
        return Reason.PROTOCOL_ERROR, f"the server ended the session during the {stage} step: {text}"
    if isinstance(exc, lx.LDAPSocketOpenError | lx.LDAPSocketSendError | OSError):
        return Reason.PROTOCOL_ERROR, f"the connection failed during the {stage} step: {text}"
    return Reason.PROTOCOL_ERROR, f"not an LDAP answer during the {stage} step ({type(exc).__name__}: {text})"


def exception_text(exc: BaseException) -> str:
    """ldap3 nests messages as reprs of tuples ("('socket ssl wrapping error: ...',)"): unwrap them,
    and drop OpenSSL's source locations."""
    text = str(exc)
    for _ in range(4):
        try:
            inner = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            break
        if not isinstance(inner, tuple) or not inner:
            break
        text = str(inner[0])
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text) or type(exc).__name__


def _scrub(text: str, plan: Plan) -> str:
    return text.replace(plan.password, "***") if plan.password else text



def certificate_problems(cert: dict[str, Any], host: str, now: datetime) -> list[str]:
    """What the TLS probe warns about too: self-signed, outside validity, name mismatch."""
    problems: list[str] = []
    if cert.get("error"):
        return [str(cert["error"])]
    if cert.get("self_signed"):
        problems.append("self-signed")
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if str(cert.get("not_after", "")) < stamp:
        problems.append(f"expired {cert.get('not_after')}")
    if str(cert.get("not_before", "")) > stamp:
        problems.append(f"not valid before {cert.get('not_before')}")
    if not _name_in(cert, host):
        problems.append(f"does not name {host}")
    return problems


def _name_in(cert: dict[str, Any], host: str) -> bool:
    from netcheck.certs.facts import dns_name_matches

    if is_ip(host):
        return host in cert.get("san_ip", [])
    names = list(cert.get("san_dns", [])) or ([cert["subject_cn"]] if cert.get("subject_cn") else [])
    return any(dns_name_matches(name, host) for name in names)


@dataclass(frozen=True)
class LdapFacts(Facts):
    """What the site's LDAP expectations are held against.

    bind_dn       the DN the site asks to bind as (None: anonymous RootDSE read only)
    bind_result   what the server said to that bind ("success", "invalidCredentials: ...");
                  None when no bind was tried
    host          the planned host the certificate must name
    certificate   the server certificate's subject (None: no TLS); certificate_problems what is wrong
    """

    bind_dn: str | None
    bind_result: str | None
    host: str
    certificate: str | None = None
    certificate_problems: tuple[str, ...] = ()


def judge_ldap(flow: Flow, observation: Observation) -> Status | Verdict:
    """The site's bind DN must bind, and a TLS certificate must be valid for the planned host;
    the status stays the reason's (auth-failed fails, certificate-warning warns)."""
    facts = observation.facts
    status = default_judge(flow, observation)
    if not isinstance(facts, LdapFacts) or (facts.bind_dn is None and facts.certificate is None):
        return status
    expected, found = [], []
    if facts.bind_dn is not None:
        expected.append(f"simple bind as {facts.bind_dn} succeeds")
        found.append(f"bind: {facts.bind_result}" if facts.bind_result else "bind not reached")
    if facts.certificate is not None:
        expected.append(f"certificate valid for {facts.host}, CA-issued, in its validity period")
        found.append(f"certificate {facts.certificate}: " + (", ".join(facts.certificate_problems) or "valid"))
    return Verdict(status, joined(expected), joined(found))


def _ldap_facts(plan: Plan, session: Session) -> LdapFacts:
    bind_result: str | None = None
    if session.bind:
        bind_result = f"{session.bind['result']} {session.bind['message']}".strip() or "answered"
    elif session.failure and session.stage == "bind":
        bind_result = session.failure[1]
    subject = problems = None
    if session.certificate:
        subject = str(session.certificate.get("subject", "?"))
        problems = tuple(certificate_problems(session.certificate, plan.host, datetime.now(UTC)))
    return LdapFacts(plan.bind_dn, bind_result, plan.host, subject, problems or ())


def _observation(flow: Flow, plan: Plan, session: Session, handshake_ms: float) -> Observation:
    observation = _read_session(flow, plan, session, handshake_ms)
    return Observation(observation.reason, observation.detail, observation.evidence, observation.latency_ms,
                       facts=_ldap_facts(plan, session))


def _read_session(flow: Flow, plan: Plan, session: Session, handshake_ms: float) -> Observation:
    evidence: dict[str, Any] = {"handshake_ms": handshake_ms}
    if session.tls:
        evidence["tls"] = session.tls
    if session.certificate:
        evidence["certificate"] = session.certificate
    if session.root_dse is not None:
        evidence["root_dse"] = session.root_dse
    if session.bind:
        evidence["bind"] = session.bind
    name = "LDAPS" if plan.use_ssl else ("LDAP+StartTLS" if plan.starttls else "LDAP")
    if session.failure:
        reason, detail = session.failure
        return Observation(reason, f"{name} {flow.port}: {detail}", evidence, handshake_ms)
    dse = session.root_dse or {}
    contexts = ", ".join(dse.get("naming_contexts", [])) or "none published"
    vendor = " ".join(v for v in (dse.get("vendor_name"), dse.get("vendor_version")) if v)
    summary = f"RootDSE: naming contexts {contexts}" + (f"; {vendor}" if vendor else "")
    if session.bind:
        summary += f"; bound as {plan.bind_dn}"
    if session.certificate:
        problems = certificate_problems(session.certificate, plan.host, datetime.now(UTC))
        subject = session.certificate.get("subject", "?")
        if problems:
            return Observation(Reason.CERT_WARNING,
                               f"{name} {flow.port}: certificate {subject}: {', '.join(problems)}; {summary}",
                               evidence, handshake_ms)
        summary += f"; certificate {subject}"
    return Observation(Reason.ANSWERED, f"{name} {flow.port}: {summary}", evidence, handshake_ms)


register("ldap", judge=judge_ldap)(observe_ldap)
register("ldaps", judge=judge_ldap)(observe_ldap)
