"""TLS shared by the tls, smtp (STARTTLS) and syslog (TLS 6514) probes.

The handshake runs with CERT_NONE so that every certificate is recorded whatever its
state; the judgement (self-signed, expired, wrong name, unexpected issuer, not from the
site CA) is a pure function of the recorded chain, the planned names and `now`.

Chain-to-site-CA is checked offline by signature path building from the presented
chain to a certificate of `ca_file` (no second handshake, no policy checks): the
question here is "did the site's CA issue what this port presents", the appliance's
full validation rules are the certificate module's job.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from netcheck import values
from netcheck.addresses import is_ip
from netcheck.judges import Verdict, joined
from netcheck.model import Facts, Flow, Observation, Reason, Status
from netcheck.net.streams import Channel, DeadlineHit, StreamClosed
from netcheck.probes import default_judge

if TYPE_CHECKING:
    from cryptography import x509

TLS_RECORD_TYPES = range(0x14, 0x19)  # change_cipher_spec .. heartbeat: what a TLS server sends first


@dataclass(frozen=True)
class TlsSession:
    """What a completed handshake showed.

    protocol, cipher, cipher_bits   negotiated parameters
    chain        the server's certificates as DER, leaf first
    chain_source "presented": the whole chain the server sent; "leaf-only": this Python
                 cannot read the unverified chain, so only the leaf was recorded
    handshake_ms duration of the TLS handshake alone
    """

    protocol: str | None
    cipher: str | None
    cipher_bits: int | None
    chain: tuple[bytes, ...]
    chain_source: str
    server_name: str | None
    handshake_ms: float

    def evidence(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "cipher": self.cipher, "cipher_bits": self.cipher_bits,
                "server_name": self.server_name, "chain_source": self.chain_source,
                "handshake_ms": self.handshake_ms}


def client_context() -> ssl.SSLContext:
    """A client context that completes the handshake whatever the certificate (judged later)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def default_server_name(flow: Flow) -> str | None:
    """SNI: the `server_name` option, else the planned host when it is a name (never an IP)."""
    option = flow.options.get("server_name")
    if isinstance(option, str) and option:
        values.wire_text(option, "server_name")
        return option
    host = flow.host.strip("[]")
    if not host or is_ip(host):
        return None
    return host



def presented_chain(tls: ssl.SSLObject) -> tuple[tuple[bytes, ...], str]:
    """The server's certificates (DER, leaf first) and how complete that list is.

    The public get_unverified_chain() arrived in Python 3.13; 3.10-3.12 have the same
    call on the underlying _ssl object. Without either, only the leaf is available.
    """
    public = getattr(tls, "get_unverified_chain", None)
    if public is not None:
        return tuple(bytes(cert) for cert in public() or ()), "presented"
    inner = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if inner is not None:
        import _ssl

        return tuple(cert.public_bytes(_ssl.ENCODING_DER) for cert in inner() or ()), "presented"
    leaf = tls.getpeercert(binary_form=True)
    return ((leaf,) if leaf else ()), "leaf-only"


async def negotiate(channel: Channel, server_name: str | None, port: int,
                    what: str = "TLS") -> TlsSession | Observation:
    """Run the handshake on `channel`; the session facts, or an Observation saying why not."""
    started = channel.deadline.elapsed_ms()
    before = channel.received
    try:
        tls = await channel.start_tls(client_context(), server_name)
    except DeadlineHit:
        back = channel.received - before
        got = f"{back} bytes came back" if back else "nothing came back"
        return Observation(Reason.TIMEOUT,
                           f"{what} {port}: connected and sent the ClientHello, but the handshake did not finish "
                           f"before the deadline ({got})",
                           {"stage": "tls-handshake", **raw_head_evidence(channel.raw_head)})
    except StreamClosed:
        return _closed(channel.raw_head, port, what)
    except ssl.SSLError as exc:
        return handshake_failure(exc, channel.raw_head, port, what)
    except OSError as exc:
        return Observation(Reason.TLS_ERROR,
                           f"{what} {port}: the connection broke during the handshake ({exc.strerror or exc})",
                           {"stage": "tls-handshake", "error": str(exc), **raw_head_evidence(channel.raw_head)})
    cipher = tls.cipher()
    chain, source = presented_chain(tls)
    return TlsSession(
        protocol=tls.version(),
        cipher=cipher[0] if cipher else None,
        cipher_bits=cipher[2] if cipher else None,
        chain=chain,
        chain_source=source,
        server_name=server_name,
        handshake_ms=round(channel.deadline.elapsed_ms() - started, 2),
    )


def raw_head_evidence(head: bytes) -> dict[str, Any]:
    return {"first_bytes": printable(head), "first_bytes_hex": head[:32].hex()} if head else {}


def printable(data: bytes, limit: int = 64) -> str:
    """Bytes shown safely on one line: ASCII text as is, everything else escaped."""
    text = data[:limit].decode("ascii", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def looks_like(head: bytes) -> str:
    """A guess at what non-TLS service answered, for the detail line."""
    if head.startswith(b"HTTP/"):
        return "a plain-HTTP server"
    if head.startswith(b"SSH-"):
        return "an SSH server"
    if head[:3].isdigit() and head[3:4] in (b" ", b"-"):
        return "a line-based service (SMTP/FTP-like greeting)"
    return "something that is not TLS"


def _is_tls(head: bytes) -> bool:
    return bool(head) and head[0] in TLS_RECORD_TYPES


def _closed(head: bytes, port: int, what: str) -> Observation:
    evidence = {"stage": "tls-handshake", **raw_head_evidence(head)}
    if head and not _is_tls(head):
        return Observation(Reason.PROTOCOL_ERROR,
                           f"{what} {port}: {looks_like(head)} answered, not TLS: '{printable(head, 40)}'", evidence)
    if not head:
        return Observation(Reason.TLS_ERROR,
                           f"{what} {port}: the server closed the connection without answering the ClientHello",
                           evidence)
    return Observation(Reason.TLS_ERROR, f"{what} {port}: the server closed the connection during the handshake",
                       evidence)


def handshake_failure(exc: ssl.SSLError, head: bytes, port: int, what: str = "TLS") -> Observation:
    """An ssl error during the handshake: protocol-error when the peer never spoke TLS,
    else tls-error with OpenSSL's reason and the alert the server sent, if any."""
    reason_code = getattr(exc, "reason", None) or ""
    evidence: dict[str, Any] = {"stage": "tls-handshake", "ssl_reason": reason_code,
                                "ssl_library": getattr(exc, "library", None), "error": str(exc),
                                **raw_head_evidence(head)}
    if head and not _is_tls(head):
        return Observation(Reason.PROTOCOL_ERROR,
                           f"{what} {port}: {looks_like(head)} answered, not TLS: '{printable(head, 40)}'", evidence)
    alert = alert_text(reason_code)
    if alert:
        evidence["alert"] = alert
        detail = f"{what} {port}: the server sent the TLS alert '{alert}'"
    else:
        detail = f"{what} {port}: handshake failed: {reason_code.replace('_', ' ').lower() or exc}"
    return Observation(Reason.TLS_ERROR, detail, evidence)


def alert_text(reason_code: str) -> str | None:
    """'TLSV1_ALERT_PROTOCOL_VERSION' -> 'protocol version' (OpenSSL names received alerts so)."""
    if "_ALERT_" not in reason_code:
        return None
    return reason_code.split("_ALERT_", 1)[1].replace("_", " ").lower()


# -- judgement -------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """What the site expects of a certificate.

    names            planned names/IPs the leaf must be valid for
    expected_issuer  an issuer DN or CN that must appear as issuer in the presented chain
    anchors          DER of the site CA certificates the chain must lead to (None: not checked)
    anchor_error     why ca_file could not be used (then the chain is reported unverified)
    """

    names: tuple[str, ...] = ()
    expected_issuer: str | None = None
    anchors: tuple[bytes, ...] | None = None
    anchor_error: str | None = None
    ca_file: str | None = None


@dataclass(frozen=True)
class TlsFacts(Facts):
    """A presented certificate chain held against the site's expectation, typed for the judge.

    subject, issuer      the leaf's DNs (RFC 4514); "" when no certificate could be read
    names                the names the leaf is valid for, as shown to a reader
    not_after            the leaf's notAfter (YYYY-MM-DD)
    expired              one line per certificate of the chain outside its validity period
    self_signed          the leaf signs itself
    name_matches         planned name -> whether the leaf is valid for it
    expected_issuer      the site's expected issuer (None: not checked); issuer_matches its outcome
    ca_file              the site CA file (None: not checked); chain_verified its outcome
                         (None: ca_file could not be read)
    unreadable           why the chain could not be judged at all (None when it could)
    """

    subject: str = ""
    issuer: str = ""
    names: str = ""
    not_after: str = ""
    expired: tuple[str, ...] = ()
    self_signed: bool = False
    name_matches: tuple[tuple[str, bool], ...] = ()
    expected_issuer: str | None = None
    issuer_matches: bool | None = None
    ca_file: str | None = None
    chain_verified: bool | None = None
    unreadable: str | None = None


@dataclass(frozen=True)
class Assessment:
    reason: Reason
    problems: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    facts: TlsFacts | None = None


def expectation_for(flow: Flow) -> Expectation:
    """The expectation from the flow's planned host and its options (reads ca_file)."""
    names = [flow.host.strip("[]")] if flow.host else []
    extra = flow.options.get("expect_names") or []
    names += [str(name) for name in (extra if isinstance(extra, list) else [extra])]
    issuer = flow.options.get("expected_issuer")
    ca_file = flow.options.get("ca_file")
    anchors: tuple[bytes, ...] | None = None
    anchor_error = None
    if isinstance(ca_file, str) and ca_file:
        anchors, anchor_error = read_anchors(ca_file)
    return Expectation(tuple(dict.fromkeys(n for n in names if n)), issuer if isinstance(issuer, str) else None,
                       anchors, anchor_error, ca_file if isinstance(ca_file, str) else None)


def read_anchors(path: str) -> tuple[tuple[bytes, ...] | None, str | None]:
    """The DER trust anchors in a PEM/DER CA file (through the input gate), or (None, why not)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from netcheck.errors import ConfigError
    from netcheck.inputs import CAP_CERTIFICATE, read_file

    try:
        data = read_file(path, "a PEM or DER file of CA certificates", CAP_CERTIFICATE)
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ConfigError as problem:
        return None, f"cannot read ca_file: {problem.one_line()}"
    except ValueError:
        return None, f"ca_file {path} holds no PEM or DER certificate"
    return tuple(cert.public_bytes(Encoding.DER) for cert in certs), None


def assess(chain_der: tuple[bytes, ...], expect: Expectation, now: datetime | None = None) -> Assessment:
    """Judge a presented chain: intercepted > certificate-warning > answered. Pure.

    The chain comes from the server, so it may be anything: a certificate the library cannot
    read (an unknown version, a broken field) is the server's problem, a warning with the
    reason, never netcheck's internal error."""
    try:
        return _assess(chain_der, expect, now)
    except Exception as exc:  # hostile input at a boundary: cryptography raises many types
        problem = f"the server's certificate cannot be read: {type(exc).__name__}: {exc}"
        return Assessment(Reason.CERT_WARNING, [problem], facts=TlsFacts(unreadable=problem))


def _assess(chain_der: tuple[bytes, ...], expect: Expectation, now: datetime | None) -> Assessment:
    from cryptography import x509

    from netcheck.certs.facts import certificate_facts, is_self_signed, name_matches

    now = now or datetime.now(UTC)
    if not chain_der:
        problem = "the server presented no certificate"
        return Assessment(Reason.CERT_WARNING, [problem], facts=TlsFacts(unreadable=problem))
    try:
        chain = [x509.load_der_x509_certificate(der) for der in chain_der]
    except ValueError as exc:
        problem = f"the server's certificate does not parse: {exc}"
        return Assessment(Reason.CERT_WARNING, [problem], facts=TlsFacts(unreadable=problem))
    leaf = chain[0]
    evidence: dict[str, Any] = {"certificates": [certificate_facts(cert) for cert in chain]}
    problems: list[str] = []
    intercepted: list[str] = []
    expired: list[str] = []

    self_signed = is_self_signed(leaf)
    if self_signed:
        problems.append("self-signed (the source document allows that only in test environments)")
    for index, cert in enumerate(chain):
        which = "the certificate" if index == 0 else f"chain certificate {index} ({cert.subject.rfc4514_string()})"
        if cert.not_valid_after_utc < now:
            expired.append(f"{which} expired on {cert.not_valid_after_utc:%Y-%m-%d}")
        elif cert.not_valid_before_utc > now:
            expired.append(f"{which} is not valid before {cert.not_valid_before_utc:%Y-%m-%d}")
    problems += expired

    matches = {name: name_matches(leaf, name) for name in expect.names}
    evidence["name_matches"] = matches
    wrong = [name for name, ok in matches.items() if not ok]
    if wrong:
        problems.append(f"not valid for {', '.join(wrong)} (it names {_names_of(leaf)})")

    issuer_ok: bool | None = None
    if expect.expected_issuer:
        found = _issuer_names(chain)
        ok = issuer_ok = _normalise(expect.expected_issuer) in found
        evidence["issuer_matches"] = ok
        if not ok:
            intercepted.append(f"issued by {leaf.issuer.rfc4514_string()}, not by the expected "
                               f"'{expect.expected_issuer}'")

    verified: bool | None = None
    if expect.anchor_error:
        evidence["chain_verified"] = None
        problems.append(f"chain not verified: {expect.anchor_error}")
    elif expect.anchors is not None:
        anchors = [x509.load_der_x509_certificate(der) for der in expect.anchors]
        verified = chains_to_anchor(leaf, chain[1:], anchors)
        evidence["chain_verified"] = verified
        if not verified:
            text = f"does not lead to a CA of {expect.ca_file or 'ca_file'}"
            # A foreign issuer is what an inspecting proxy looks like; a self-signed
            # leaf is the appliance's default certificate, already reported above.
            (problems if self_signed else intercepted).append(
                text if self_signed else f"issued by {leaf.issuer.rfc4514_string()}, which {text}")

    facts = TlsFacts(
        subject=leaf.subject.rfc4514_string(), issuer=leaf.issuer.rfc4514_string(), names=_names_of(leaf),
        not_after=f"{leaf.not_valid_after_utc:%Y-%m-%d}", expired=tuple(expired), self_signed=self_signed,
        name_matches=tuple(matches.items()), expected_issuer=expect.expected_issuer, issuer_matches=issuer_ok,
        ca_file=(expect.ca_file or "ca_file") if (expect.anchors is not None or expect.anchor_error) else None,
        chain_verified=verified)
    if intercepted:
        return Assessment(Reason.INTERCEPTED, intercepted + problems, evidence, facts)
    if problems:
        return Assessment(Reason.CERT_WARNING, problems, evidence, facts)
    return Assessment(Reason.ANSWERED, [], evidence, facts)


def _names_of(cert: x509.Certificate) -> str:
    from netcheck.certs.facts import san_dns, san_ip, subject_cn

    names = san_dns(cert) + san_ip(cert)
    if names:
        return ", ".join(names)
    return f"CN {subject_cn(cert)}" if subject_cn(cert) else "no name"


def _normalise(text: str) -> str:
    return "".join(text.lower().split())


def _issuer_names(chain: list[x509.Certificate]) -> set[str]:
    """Every issuer in the chain, as its RFC 4514 DN and as its CN, normalised."""
    from cryptography.x509.oid import NameOID

    names: set[str] = set()
    for cert in chain:
        names.add(_normalise(cert.issuer.rfc4514_string()))
        for attr in cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME):
            value = attr.value if isinstance(attr.value, str) else attr.value.decode("utf-8", "replace")
            names.add(_normalise(value))
    return names


def chains_to_anchor(leaf: x509.Certificate, presented: list[x509.Certificate],
                     anchors: list[x509.Certificate]) -> bool:
    """Whether `leaf` leads through `presented` CAs to one of `anchors` by a path valid
    under RFC 5280: the one chain walker of netcheck.certs.chain."""
    from netcheck.certs import chain

    return chain.chains_to_anchor(leaf, presented, anchors)


def certificate_observation(session: TlsSession, expect: Expectation, port: int, what: str = "TLS",
                            extra: dict[str, Any] | None = None, now: datetime | None = None) -> Observation:
    """The Observation for a completed handshake: facts plus the certificate judgement."""
    assessment = assess(session.chain, expect, now)
    evidence = {"tls": session.evidence(), **assessment.evidence, **(extra or {})}
    leaf = assessment.evidence.get("certificates", [{}])[0] if assessment.evidence.get("certificates") else {}
    summary = f"{what} {port}: {session.protocol} {session.cipher}"
    if leaf:
        summary += f", certificate {leaf.get('subject')} issued by {leaf.get('issuer')}"
    if session.chain_source == "leaf-only":
        summary += " (leaf only: this Python cannot read the full chain)"
    if assessment.problems:
        summary += "; " + "; ".join(assessment.problems)
    return Observation(assessment.reason, summary, evidence, session.handshake_ms, facts=assessment.facts)


# Reasons a completed handshake's certificate judgement can give; others (a failed handshake,
# a protocol error after it) are judged by their reason alone.
CERTIFICATE_REASONS = frozenset({Reason.ANSWERED, Reason.CERT_WARNING, Reason.INTERCEPTED})


def judge_certificate(flow: Flow, observation: Observation) -> Status | Verdict:
    """The site's certificate expectations against the presented chain: the expected issuer,
    the planned names, a chain to the site CA, a validity period that includes now, not
    self-signed. Any miss warns (the appliance shows the same warning); a match passes."""
    facts = observation.facts
    if not isinstance(facts, TlsFacts) or observation.reason not in CERTIFICATE_REASONS:
        return default_judge(flow, observation)
    expected, found = certificate_rule(facts)
    # the extra TLS checks of some probes (smtp's require_starttls, ...) may warn on their own
    status = Status.PASS if certificate_ok(facts) and observation.reason is Reason.ANSWERED else Status.WARN
    return Verdict(status, expected, found)


def certificate_ok(facts: TlsFacts) -> bool:
    """Whether the chain meets every expectation the site set and the basic rules."""
    return (facts.unreadable is None and facts.issuer_matches is not False
            and all(match for _, match in facts.name_matches)
            and facts.chain_verified is not False and not (facts.ca_file and facts.chain_verified is None)
            and not facts.expired and not facts.self_signed)


def certificate_rule(facts: TlsFacts) -> tuple[str | None, str | None]:
    """The certificate expectations in words, and what the chain showed against each."""
    if facts.unreadable:
        return "a readable certificate", facts.unreadable
    expected = [f"issuer {facts.expected_issuer}"] if facts.expected_issuer else []
    found = [f"issuer {facts.issuer}"] if facts.expected_issuer else []
    if facts.name_matches:
        expected.append("valid for " + ", ".join(name for name, _ in facts.name_matches))
        found.append(f"valid for {facts.names}")
    if facts.ca_file:
        expected.append(f"chain to a CA of {facts.ca_file}")
        found.append({True: "chain verified", False: "no chain to it", None: "chain not verified"}[
            facts.chain_verified])
    expected.append("within its validity period, not self-signed")
    found.append(joined([*facts.expired, "self-signed" if facts.self_signed else ""])
                 or f"valid until {facts.not_after}, CA-issued")
    return joined(expected), joined(found)
