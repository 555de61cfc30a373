"""The result model: what a flow is, what a probe observed, what netcheck concluded.

Everything here is a frozen dataclass or an enum so that judges and renderers can
be pure functions of these values.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from netcheck.certs.verdicts import CertificateVerdicts

# A value JSON can hold: what options and evidence are made of (the serializer writes them as they are).
JsonValue: TypeAlias = "str | int | float | bool | None | Sequence[JsonValue] | Mapping[str, JsonValue]"


class Status(str, enum.Enum):
    """The verdict on one flow. `error` is netcheck's own failure, never a network verdict."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


class Reason(str, enum.Enum):
    """Why a flow got its status. Every value is documented in REASON_TEXT."""

    # reached / answered
    OPEN = "open"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    LISTENING = "listening"
    REACHABLE = "reachable"
    # blocked on the way
    REFUSED = "refused"
    FILTERED = "filtered"
    PROHIBITED = "prohibited"
    UNREACHABLE = "unreachable"
    NO_RESPONSE = "no-response"
    BLOCKED = "blocked"
    TIMEOUT = "timeout"
    # got there, but the service is wrong or unhappy
    UNCONFIRMED = "unconfirmed"
    DNS_FAILURE = "dns-failure"
    DNS_ERROR = "dns-error"
    NXDOMAIN = "nxdomain"
    TLS_ERROR = "tls-error"
    CERT_WARNING = "certificate-warning"
    INTERCEPTED = "intercepted"
    PROTOCOL_ERROR = "protocol-error"
    AUTH_FAILED = "auth-failed"
    HTTP_ERROR = "http-error"
    PROXY_DENIED = "proxy-denied"
    PROXY_AUTH_REQUIRED = "proxy-auth-required"
    PROXY_AUTH_UNSUPPORTED = "proxy-auth-unsupported"
    DNS_UNREACHABLE = "dns-unreachable"
    NOT_A_CRL = "not-a-crl"
    STALE = "stale"
    UNSYNCHRONISED = "unsynchronised"
    CLOCK_OFFSET = "clock-offset"
    TOO_LARGE = "too-large"
    NOT_LISTENING = "not-listening"
    # failed this way, but the need is met another way (a run-level judge decided)
    SATISFIED_ELSEWHERE = "satisfied-elsewhere"
    # not tested
    NOT_CONFIGURED = "not-configured"
    NOT_APPLICABLE = "not-applicable"
    # netcheck's own trouble
    INTERNAL_ERROR = "internal-error"
    NO_PRIVILEGE = "no-privilege"
    RUN_DEADLINE = "run-deadline"
    INTERRUPTED = "interrupted"


REASON_TEXT: Mapping[Reason, str] = {
    Reason.OPEN: "TCP handshake completed",
    Reason.ANSWERED: "the service answered in its own protocol",
    Reason.CONFIRMED: "the far-side listener echoed this run's token",
    Reason.LISTENING: "something listens on this host's port (inbound flow)",
    Reason.REACHABLE: "every sampled port of a range was reached (open or reset by the host)",
    Reason.REFUSED: "the host answered with a TCP reset or ICMP port unreachable: nothing listens there",
    Reason.FILTERED: "no answer at all until the timeout: a firewall drops the packets, or the host is down",
    Reason.PROHIBITED: "a router or firewall answered ICMP administratively prohibited",
    Reason.UNREACHABLE: "ICMP host or network unreachable, or no route",
    Reason.NO_RESPONSE: "UDP datagrams got no reply and no ICMP error: dropped, or the service ignores them",
    Reason.BLOCKED: "the far-side listener runs but never saw this run's token",
    Reason.TIMEOUT: "connected, but the service did not finish its protocol before the deadline",
    Reason.UNCONFIRMED: "sent, but the protocol never answers, so arrival cannot be known from this side",
    Reason.DNS_FAILURE: "the peer's name does not resolve",
    Reason.DNS_ERROR: "the DNS server answered with an error (REFUSED, SERVFAIL, ...)",
    Reason.NXDOMAIN: "the DNS server says a listed name does not exist",
    Reason.TLS_ERROR: "the TLS handshake failed",
    Reason.CERT_WARNING: "TLS works, but the certificate is self-signed, expired or does not match the planned name",
    Reason.INTERCEPTED: "the certificate's issuer is not the one the site expects: an intercepting middlebox?",
    Reason.PROTOCOL_ERROR: "something answered, but not the expected protocol",
    Reason.AUTH_FAILED: "the service refused the configured credentials",
    Reason.HTTP_ERROR: "the HTTP server answered with an error status",
    Reason.PROXY_DENIED: "the proxy refused the request",
    Reason.PROXY_AUTH_REQUIRED: "the proxy demands authentication (407): no or wrong credentials were given",
    Reason.PROXY_AUTH_UNSUPPORTED: "the proxy offers only NTLM/Negotiate authentication, which the appliance "
                                   "cannot do (Basic only)",
    Reason.DNS_UNREACHABLE: "no DNS server of the site answered at all",
    Reason.NOT_A_CRL: "the download is not a certificate revocation list",
    Reason.STALE: "the CRL is out of date: its nextUpdate is in the past (or its thisUpdate in the future)",
    Reason.UNSYNCHRONISED: "the NTP server is unsynchronised (stratum 16 or leap alarm)",
    Reason.CLOCK_OFFSET: "the NTP server's time differs from this host's by more than the threshold",
    Reason.TOO_LARGE: "the answer exceeded netcheck's size cap",
    Reason.NOT_LISTENING: "nothing listens on this host's port (inbound flow)",
    Reason.SATISFIED_ELSEWHERE: "this path failed, but another flow of the run meets the same need (e.g. the CRL "
                                "downloads through the site's proxy); the failure is kept in the evidence",
    Reason.NOT_CONFIGURED: "the site file names no host for this peer",
    Reason.NOT_APPLICABLE: "the flow does not apply to this host or site",
    Reason.INTERNAL_ERROR: "netcheck itself failed (a bug): the traceback is in the evidence",
    Reason.NO_PRIVILEGE: "netcheck lacks a privilege it needs for this check",
    Reason.RUN_DEADLINE: "the whole-run deadline ended the probe before it finished",
    Reason.INTERRUPTED: "SIGINT (Ctrl-C) or SIGTERM stopped the scan before this probe finished",
}


class Direction(str, enum.Enum):
    """Relative to the role the profile describes."""

    OUT = "out"  # this host initiates
    IN = "in"  # this host must accept


@dataclass(frozen=True)
class PortRange:
    """An inclusive port range such as 1025-65535."""

    first: int
    last: int

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


Port = int | PortRange


@dataclass(frozen=True)
class Flow:
    """One documented flow applied to one concrete peer host.

    id         the profile's flow id (unique within a profile)
    purpose    what the flow is for, in the documentation's words
    protocol   the application protocol (HTTPS, NTP, ...)
    transport  "tcp" or "udp"
    port       the port after site overrides (a PortRange for dynamic ranges)
    direction  out: this host initiates; in: this host must accept
    peer       the site-file peer key (console, ntp, ...)
    host       the peer host as written in the site file ("" when not configured);
               for URL peers (crl, proxy) the URL
    probe      the registered probe kind that tests it
    required   whether a failure fails the run
    role       the role of the profile (sensor, console, client, ...)
    source, destination   the documentation's wording
    note       extra context from the profile (e.g. which documentation release added it)
    options    probe options: profile flow options merged with the site's settings for the peer (JSON values;
               read them typed with int_option, float_option, text_option, texts_option)
    """

    id: str
    purpose: str
    protocol: str
    transport: str
    port: Port
    direction: Direction
    peer: str
    host: str
    probe: str
    required: bool = True
    role: str = ""
    source: str = ""
    destination: str = ""
    note: str = ""
    options: Mapping[str, JsonValue] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """Sort and identity key: flow id, peer host, port."""
        return (self.id, self.host, str(self.port))

    # Typed reads of `options`, whose types profiles.py checked against each probe's OptionSpec.

    def int_option(self, name: str, default: int) -> int:
        """The option as an integer, or `default` when it is not given (None or absent)."""
        value = self.options.get(name)
        return default if value is None else int(_number(name, value))

    def float_option(self, name: str, default: float) -> float:
        """The option as a number, or `default` when it is not given (None or absent)."""
        value = self.options.get(name)
        return default if value is None else float(_number(name, value))

    def text_option(self, name: str) -> str | None:
        """The option when it is text, else None."""
        value = self.options.get(name)
        return value if isinstance(value, str) else None

    def texts_option(self, name: str) -> list[str] | None:
        """The option's list as text items (a scalar is a list of one), or None when it is not given."""
        value = self.options.get(name)
        if value is None:
            return None
        return [str(item) for item in value] if isinstance(value, list | tuple) else [str(value)]


@dataclass(frozen=True)
class Facts:
    """Base of the typed facts a probe fills for its judge (NtpFacts, DnsFacts, TlsFacts, ...):
    frozen dataclasses beside the JSON `evidence`, so a judge compares typed values, not strings."""


@dataclass(frozen=True)
class Observation:
    """Raw facts a probe saw. `reason` is the probe's reading of the wire; the judge decides the status.

    facts    the probe's typed facts for its judge (None when the probe records none)
    address  the IP the probe itself connected to, for probes the engine does not resolve for
             (URL peers such as crl); None otherwise

    `evidence` holds JSON values only (the report carries it as it is).
    """

    reason: Reason
    detail: str
    evidence: Mapping[str, JsonValue] = field(default_factory=dict)
    latency_ms: float | None = None
    category: str | None = None
    facts: Facts | None = None
    address: str | None = None


@dataclass(frozen=True)
class Result:
    """The verdict on one flow.

    address     the IP actually used (None when none was needed or resolution failed)
    latency_ms  time to the decisive answer (handshake, reply, error), None if there was none
    detail      one human line; evidence holds the raw facts
    category    for cloud flows, the appliance's own troubleshooting category of a failure
                (netcheck.cloud.categories, names verbatim), None otherwise
    expected    the rule the judge applied, in words ("offset <= 1 s", "issuer CN=Lab CA"), None when
                the judge applied no site expectation
    found       what the probe found against that rule ("offset +1.730 s"), None with `expected`
    """

    flow: Flow
    status: Status
    reason: Reason
    detail: str
    address: str | None = None
    latency_ms: float | None = None
    evidence: Mapping[str, JsonValue] = field(default_factory=dict)
    category: str | None = None
    expected: str | None = None
    found: str | None = None


@dataclass(frozen=True)
class RunInfo:
    """Metadata of one scan."""

    version: str
    run_id: str
    host_name: str
    host_addresses: tuple[str, ...]
    profile: str
    role: str
    site: str
    site_file: str
    started: str  # ISO 8601 UTC
    finished: str
    options: Mapping[str, JsonValue] = field(default_factory=dict)


def _number(name: str, value: JsonValue) -> str | int | float:
    if isinstance(value, str | int | float):
        return value
    raise TypeError(f"flow option {name}: expected a number, not {type(value).__name__}")


def result_sort_key(result: Result) -> tuple[str, str, str, str]:
    return (result.flow.peer, result.flow.id, result.flow.host, str(result.flow.port))


@dataclass(frozen=True)
class Report:
    """A finished scan: metadata plus results in a deterministic order.

    certificates  the site's certificate verdicts (netcheck.certs.verdicts) when the site file
                  lists appliance certificates, else None
    """

    info: RunInfo
    results: tuple[Result, ...]
    certificates: CertificateVerdicts | None = None

    @staticmethod
    def build(info: RunInfo, results: list[Result], certificates: CertificateVerdicts | None = None) -> "Report":
        return Report(info=info, results=tuple(sorted(results, key=result_sort_key)), certificates=certificates)

    def counts(self) -> dict[str, int]:
        # Counter over the members, words once per status: Enum.value per result was most of its cost.
        tally = collections.Counter(result.status for result in self.results)
        return {status.value: tally[status] for status in Status}

    def verdict(self, strict: bool | None = None) -> Status:
        """fail if a required flow failed (or warned, when strict); error if netcheck failed; else pass.

        `strict` defaults to the run's own --strict option."""
        if strict is None:
            strict = bool(self.info.options.get("strict", False))
        required = [r for r in self.results if r.flow.required]
        if any(r.status is Status.FAIL or (strict and r.status is Status.WARN) for r in required):
            return Status.FAIL
        if self.certificates is not None and not self.certificates.ok:
            return Status.FAIL  # the appliance would refuse a certificate
        if any(r.status is Status.ERROR for r in self.results):
            return Status.ERROR
        return Status.PASS
