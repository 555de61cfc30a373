"""The sensor's own six troubleshooting categories for its cloud connection (23.1.3+), named
verbatim, and which netcheck reasons map onto each, with the fix the category calls for.

A cloud failure's category depends on where the path broke (the DNS server, the proxy, the
endpoint), not on the reason alone: a refused TCP handshake to the proxy is an unreachable
proxy, the same reason at the endpoint a general connection error. `categorise` is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from netcheck.model import Reason, Result

SECURE = "Errors establishing secure connections"
GENERAL = "General connection errors"
DNS_SERVER = "Unreachable DNS server errors"
PROXY_AUTH = "Proxy authentication issues"
NAME = "Name resolution failures"
PROXY_SERVER = "Unreachable proxy server errors"
CATEGORIES: tuple[str, ...] = (SECURE, GENERAL, DNS_SERVER, PROXY_AUTH, NAME, PROXY_SERVER)
CONNECTED = "The sensor is connected to cloud successfully"

# Where on the path a failure happened.
Stage = Literal["dns", "proxy", "tunnel", "endpoint", "tls"]

FIXES: Mapping[str, str] = {
    SECURE: "make the sensor trust the endpoint's certificate: correct the sensor's clock (NTP), or exempt the "
            "cloud endpoints from TLS inspection on the proxy or firewall (or upload the inspecting CA's "
            "certificate to the sensor, 22.3.8+)",
    GENERAL: "allow outbound HTTPS (TCP 443) from the sensor to the endpoint on every firewall and proxy policy "
             "in between",
    DNS_SERVER: "make the sensor's DNS server reachable (UDP and TCP 53) or correct the DNS server in the "
                "sensor's network settings",
    PROXY_AUTH: "set the proxy user and password on the sensor (Basic authentication; NTLM and Kerberos are not "
                "supported), or exempt the sensor from proxy authentication",
    NAME: "make the DNS server resolve the endpoint's name (or forward it to a resolver that can)",
    PROXY_SERVER: "correct the proxy host and port in the sensor's settings, and allow the sensor to reach the "
                  "proxy",
}

# The reasons each category is reached from, and where on the path (a test keeps the README table in step).
CATEGORY_REASONS: Mapping[str, tuple[tuple[str, ...], str]] = {
    SECURE: (("tls-error", "intercepted", "certificate-warning", "clock-offset", "timeout", "protocol-error"),
             "the TLS handshake or the chain"),
    GENERAL: (("refused", "filtered", "prohibited", "unreachable", "proxy-denied"),
              "the endpoint, directly or as the last proxy saw it"),
    DNS_SERVER: (("dns-unreachable",), "the site's DNS servers"),
    PROXY_AUTH: (("proxy-auth-required", "proxy-auth-unsupported", "auth-failed"), "the proxy"),
    NAME: (("nxdomain", "dns-error", "dns-failure"), "the endpoint's name"),
    PROXY_SERVER: (("refused", "filtered", "prohibited", "unreachable", "timeout", "protocol-error", "dns-failure"),
                   "the proxy (or the next proxy of a chain)"),
}

_TLS_REASONS = frozenset({Reason.TLS_ERROR, Reason.INTERCEPTED, Reason.CERT_WARNING, Reason.CLOCK_OFFSET})
_AUTH_REASONS = frozenset({Reason.PROXY_AUTH_REQUIRED, Reason.PROXY_AUTH_UNSUPPORTED, Reason.AUTH_FAILED})
_NAME_REASONS = frozenset({Reason.NXDOMAIN, Reason.DNS_ERROR, Reason.DNS_FAILURE})
_PASSED = frozenset({Reason.ANSWERED, Reason.OPEN, Reason.NOT_CONFIGURED, Reason.NOT_APPLICABLE,
                     Reason.INTERNAL_ERROR, Reason.RUN_DEADLINE, Reason.NO_PRIVILEGE})


def categorise(reason: Reason, stage: Stage) -> str | None:
    """The sensor's category for a failure with `reason` at `stage`; None when nothing failed
    (or netcheck itself failed, which the sensor would never see)."""
    if reason in _PASSED:
        return None
    if reason is Reason.DNS_UNREACHABLE:
        return DNS_SERVER
    if reason in _AUTH_REASONS:
        return PROXY_AUTH
    if stage == "dns":
        return NAME if reason in _NAME_REASONS else DNS_SERVER
    if stage == "proxy":
        return PROXY_SERVER
    if reason in _TLS_REASONS or stage == "tls":
        return SECURE
    return GENERAL


def fix_for(category: str) -> str | None:
    return FIXES.get(category)


@dataclass(frozen=True)
class PaneRow:
    """One category of the sensor's troubleshooting pane: the endpoints it holds and the fix."""

    category: str
    fix: str
    endpoints: tuple[str, ...]


@dataclass(frozen=True)
class Pane:
    """The cloud flows of a report the way the sensor's own pane shows them."""

    connected: tuple[str, ...]
    failures: tuple[PaneRow, ...]

    @property
    def headline(self) -> str:
        if not self.failures:
            return f"{CONNECTED} ({len(self.connected)} endpoint{'s' if len(self.connected) != 1 else ''})"
        failing = sum(len(row.endpoints) for row in self.failures)
        return f"{failing} of {failing + len(self.connected)} endpoints cannot be reached the way the sensor needs"


def pane(results: Iterable[Result]) -> Pane | None:
    """The troubleshooting pane of the cloud flows in `results`, in the sensor's category order;
    None when the report has no tested cloud flow. Pure."""
    cloud = [r for r in results if r.flow.probe == "cloud" and r.flow.host]
    if not cloud:
        return None
    connected = tuple(_endpoint(r) for r in cloud if r.category is None and r.reason is Reason.ANSWERED)
    rows = []
    for category in CATEGORIES:
        endpoints = tuple(_endpoint(r) for r in cloud if r.category == category)
        if endpoints:
            rows.append(PaneRow(category, FIXES[category], endpoints))
    return Pane(connected, tuple(rows))


def _endpoint(result: Result) -> str:
    return result.flow.host if result.flow.port == 443 else f"{result.flow.host}:{result.flow.port}"
