"""What to do about a flow that did not pass, in one plain sentence, from the evidence.

Pure functions of a Result and the run's host information: the HTML, Markdown and
CSV reports and the firewall change request all say the same thing.

Evidence read here (all optional):
  evidence["icmp"]["sender"]  the router or host that sent an ICMP error (net/sockets.py)
  evidence["raw"]             raw-packet diagnosis (netcheck/raw): raw["last_hop"], the farthest
                              router that answered before the flow died, else the last of
                              raw["hops"] a router answered; raw["icmp"]["sender"]
  evidence["errno"]           EPERM/EACCES: this host's own firewall refused the packet
  evidence["satisfied_through"]["proxy"]  the proxy a run-level judge found the need met through
  result.expected / found     a judge's rule and finding, quoted after a service fix
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from netcheck.model import Direction, Reason, Result, RunInfo, Status

# The service answered in its own protocol, so the firewall path is open: these need a
# change on the service, not a firewall rule.
SERVICE_REASONS = frozenset({
    Reason.OPEN, Reason.ANSWERED, Reason.CONFIRMED, Reason.LISTENING, Reason.REACHABLE,
    Reason.TIMEOUT, Reason.DNS_ERROR, Reason.NXDOMAIN, Reason.TLS_ERROR, Reason.CERT_WARNING,
    Reason.INTERCEPTED, Reason.PROTOCOL_ERROR, Reason.AUTH_FAILED, Reason.HTTP_ERROR, Reason.PROXY_DENIED,
    Reason.PROXY_AUTH_REQUIRED, Reason.PROXY_AUTH_UNSUPPORTED,
    Reason.NOT_A_CRL, Reason.STALE, Reason.UNSYNCHRONISED, Reason.CLOCK_OFFSET, Reason.TOO_LARGE,
})
# A setting as details name it: settings.snmp.community_env
SETTING_IN_TEXT = re.compile(r"\bsettings\.[a-z_]+\.[a-z_]+\b")
# Sent, but arrival cannot be known from this side: the rule must be confirmed.
UNCONFIRMED_REASONS = frozenset({Reason.UNCONFIRMED, Reason.NO_RESPONSE, Reason.BLOCKED})


def needs_firewall_rule(result: Result) -> bool:
    """A failed flow whose path was not proven open, or a flow whose arrival is unconfirmed.

    A refusal keeps its rule in the request although its fix is the service: a firewall may
    send the reset on the host's behalf (remediation() says so)."""
    if result.reason in UNCONFIRMED_REASONS and result.status in (Status.FAIL, Status.WARN):
        return True
    if result.reason is Reason.DNS_UNREACHABLE:  # the path to the DNS server, not to this destination
        return False
    return result.status is Status.FAIL and result.reason not in SERVICE_REASONS


def _refused_on_the_way(result: Result) -> bool:
    sender = icmp_sender(result.evidence)
    return bool(sender and sender != result.address)


def _usable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return not ip.is_link_local


def source_addresses(info: RunInfo, destination: str | None = None) -> tuple[str, ...]:
    """This host's addresses a firewall rule toward `destination` would name.

    Loopback and link-local addresses never appear in a firewall rule, unless the
    destination is loopback itself; when the destination is an address, only the
    addresses of its family are kept.
    """
    return _source_addresses(tuple(info.host_addresses), destination)


@functools.lru_cache(maxsize=4096)  # a 50,000-flow report asks this for every failed flow
def _source_addresses(host_addresses: tuple[str, ...], destination: str | None) -> tuple[str, ...]:
    family: int | None = None
    loopback = False
    if destination:
        try:
            target = ipaddress.ip_address(destination)
            family, loopback = target.version, target.is_loopback
        except ValueError:
            pass
    chosen = []
    for address in host_addresses:
        if not _usable(address):
            continue
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_loopback is not loopback or (family is not None and ip.version != family):
            continue
        chosen.append(address)
    return tuple(chosen)


def destination_of(result: Result) -> str:
    """The address used, else the host as written in the site file (the host part of a URL:
    a rule names addresses and ports, never URLs), else the peer key."""
    return result.address or host_of(result.flow.host) or f"the {result.flow.peer} host"


def host_of(host: str) -> str:
    """The host of a site-file entry: a URL's host name or address, anything else as written."""
    if "://" not in host:
        return host
    try:
        return urlsplit(host).hostname or ""
    except ValueError:
        return ""


def _settings_named(result: Result) -> list[str]:
    """The site-file settings the fix should point at: those the detail names, then the
    credentials and identities the flow ran with (their names, never their values)."""
    keys = ("user", "bind_dn", "password_env", "community_env", "auth_key_env", "priv_key_env")
    named = SETTING_IN_TEXT.findall(result.detail)
    named += [f"settings.{result.flow.peer}.{key}" for key in keys if result.flow.options.get(key)]
    return list(dict.fromkeys(named))


def _with_proxy_credentials(result: Result) -> str:
    """The settings a proxy's 407 asks for: what the detail names, and the proxy's user and password."""
    named = [*_settings_named(result), "settings.proxy.user", "settings.proxy.password_env"]
    return ", ".join(dict.fromkeys(named))


def _rule_found(result: Result) -> str:
    """"(expected X, found Y)" when a judge held the result to a site expectation."""
    if result.expected is None:
        return ""
    return f" (expected {result.expected}; found {result.found or 'nothing'})"


def icmp_sender(evidence: Mapping[str, Any]) -> str | None:
    """Who sent the ICMP error: the kernel's (IP_RECVERR) or the raw probe's."""
    raw = evidence.get("raw")
    for icmp in (evidence.get("icmp"), raw.get("icmp") if isinstance(raw, Mapping) else None):
        if isinstance(icmp, Mapping) and isinstance(icmp.get("sender"), str) and icmp["sender"]:
            return str(icmp["sender"])
    return None


def last_hop(evidence: Mapping[str, Any]) -> str | None:
    """The farthest router that answered before the flow died (raw-packet diagnosis), if known.

    raw["last_hop"] is authoritative when present (None: no router answered); otherwise
    the last of raw["hops"] that a router answered (answer "time-exceeded", when given).
    """
    raw = evidence.get("raw")
    if not isinstance(raw, Mapping):
        return None
    if "last_hop" in raw:
        candidate = raw["last_hop"]
    else:
        hops = raw.get("hops")
        routers = [hop for hop in hops if not isinstance(hop, Mapping)
                   or hop.get("answer", "time-exceeded") == "time-exceeded"] if isinstance(hops, list) else []
        candidate = routers[-1] if routers else None
    if isinstance(candidate, Mapping):
        candidate = candidate.get("address") or candidate.get("ip")
    return candidate if isinstance(candidate, str) and candidate else None


def _rule(result: Result, info: RunInfo) -> str:
    """"allow TCP 443 from 198.51.100.10 to 203.0.113.10" from this host's point of view."""
    flow = result.flow
    what = f"{flow.transport.upper()} {flow.port}"
    if flow.direction is Direction.IN:
        here = " / ".join(source_addresses(info)) or info.host_name
        return f"allow {what} from the {flow.peer} host(s) to this host ({here})"
    destination = destination_of(result)
    sources = " / ".join(source_addresses(info, destination)) or info.host_name
    return f"allow {what} from {sources} to {destination}"


def _where(result: Result) -> str:
    """" on the firewall at X" when the evidence names the device that dropped or rejected it."""
    sender = icmp_sender(result.evidence)
    if sender and sender != result.address:
        return f" on the firewall at {sender}"
    hop = last_hop(result.evidence)
    if hop and hop != result.address:
        return f" on the firewall at or just after {hop} (the last hop that answered)"
    return ""


def _icmp_text(evidence: Mapping[str, Any]) -> str:
    raw = evidence.get("raw")
    for icmp in (evidence.get("icmp"), raw.get("icmp") if isinstance(raw, Mapping) else None):
        if isinstance(icmp, Mapping) and icmp.get("text"):
            return str(icmp["text"])
    return ""


def remediation(result: Result, info: RunInfo) -> str | None:
    """One sentence for whoever must fix the flow; None when it passed or does not apply."""
    if result.status is Status.PASS or result.reason is Reason.NOT_APPLICABLE:
        return None
    if result.reason is Reason.SATISFIED_ELSEWHERE:
        # Nothing is needed; the direct rule only if the appliance should stop depending on the other way.
        through = result.evidence.get("satisfied_through")
        proxy = through.get("proxy") if isinstance(through, Mapping) else None
        how = f"satisfied through the proxy {proxy}" if proxy else "satisfied by another flow of this run"
        return f"none needed: {how}; only to fetch it directly as well: {_rule(result, info)}"
    if result.category:  # a cloud flow: the fix the sensor's own troubleshooting category calls for
        from netcheck.cloud.categories import fix_for

        fix = fix_for(result.category)
        if fix:
            return f"{result.category}: {fix}"
    flow = result.flow
    reason = result.reason
    destination = destination_of(result)
    service = f"the {flow.protocol} service on {destination} port {flow.port}"
    rule = _rule(result, info)
    where = _where(result)
    udp = flow.transport == "udp"
    sender = icmp_sender(result.evidence)

    if reason is Reason.FILTERED:
        silence = "the datagrams got no answer" if udp else "the handshake got no answer"
        return f"{rule}{where}; {silence}"
    if reason is Reason.PROHIBITED:
        if not sender and result.evidence.get("errno") in ("EPERM", "EACCES"):
            return f"{rule} in this host's own firewall (its output rules refused the packet)"
        who = "it" if where else sender or "a firewall"
        return f"{rule}{where}; {who} answered ICMP administratively prohibited"
    if reason is Reason.REFUSED:
        if _refused_on_the_way(result):
            return f"{rule}{where}; it rejected the packets ({_icmp_text(result.evidence) or 'ICMP error'})"
        how = "ICMP port unreachable" if udp else "a TCP reset"
        return (f"start {service} or correct the port in the site file; the host answered with {how}, "
                f"so the path is open but nothing listens there (unless a firewall answers on its behalf)")
    if reason is Reason.UNREACHABLE:
        if sender:
            told = _icmp_text(result.evidence) or "unreachable"
            return f"{rule}{where}, or fix the route to {destination}; {sender} answered {told}"
        return f"fix the route from this host to {destination}: the kernel has no way there"
    if reason is Reason.NO_RESPONSE:
        return (f"{rule}{where}, and check that {service} answers; the datagrams got neither a reply "
                f"nor an ICMP error")
    if reason is Reason.UNCONFIRMED:
        return (f"confirm that the firewall allows it ({rule}); {flow.protocol} never answers, so arrival "
                f"cannot be seen from this side: run 'netcheck listen' on the far side or check its log")
    if reason is Reason.BLOCKED:
        return f"{rule}{where}; the far-side listener ran but never saw this run's token"
    if reason is Reason.NOT_LISTENING:
        # Nothing listens: a firewall rule would open a door to nothing; start the service first.
        return (f"start the {flow.protocol} service on this host ({flow.transport.upper()} {flow.port}): nothing "
                f"listens there, so no {flow.peer} host can reach it; then test the path from the {flow.peer} host(s)")
    if reason is Reason.NOT_CONFIGURED and flow.host:
        # The peer is named; what the probe still lacks (a community variable, a proxy) is in its own detail.
        return f"complete the site file's settings for this flow: {result.detail}"
    if reason is Reason.NOT_CONFIGURED and flow.peer == "cloud":
        return "list the cloud endpoints in the site file's endpoints: (netcheck endpoints import FILE --site SITE)"
    if reason is Reason.NOT_CONFIGURED:
        return f"name the {flow.peer} host(s) in the site file's peers to test this flow"
    return _service_remediation(result, service, destination)


def _stale_crl(result: Result, where: str) -> str:
    """Which way the CRL is out of date, from the facts the http-crl probe recorded (evidence["crl"]:
    currency as netcheck.certs.crl.crl_currency judged it, this_update, next_update)."""
    crl = result.evidence.get("crl")
    facts: Mapping[str, Any] = crl if isinstance(crl, Mapping) else {}
    if facts.get("currency") == "not-yet-valid":
        dated = f"dated {facts['this_update']}" if isinstance(facts.get("this_update"), str) else "dated"
        return (f"check the CA's clock (and this host's): the CRL at {where} is {dated}, in the future "
                f"(thisUpdate), so the appliance cannot use it yet")
    if facts.get("currency") == "stale" or (facts.get("next_update") and "currency" not in facts):
        expired = f" ({facts['next_update']})" if isinstance(facts.get("next_update"), str) else ""
        return f"have the CA publish a current CRL at {where}: its nextUpdate{expired} has passed"
    # Without the facts to tell which (a report saved before they were recorded): both ways.
    return (f"have the CA publish a current CRL at {where}, and check the CA's clock: its nextUpdate has passed "
            f"or its thisUpdate is in the future")


def _service_remediation(result: Result, service: str, destination: str) -> str:
    """The path is open (or never tried): the fix is on the service, the site file or netcheck."""
    flow = result.flow
    reason = result.reason
    host = host_of(flow.host) or destination
    url = flow.host if "://" in flow.host else host  # CRL content is named by its URL (not a rule)
    settings = ", ".join(_settings_named(result)) or f"the {flow.peer} settings"
    if reason is Reason.STALE:  # which way it is out of date comes from the result's own facts
        return _stale_crl(result, f"{url} (server {destination} port {flow.port})") + _rule_found(result)
    texts: dict[Reason, str] = {
        Reason.TIMEOUT: f"check {service}: it accepted the connection but did not finish its protocol in time "
                        f"(raise --timeout if the link is slow)",
        Reason.DNS_FAILURE: f"make '{host}' resolvable from this host, or name the {flow.peer} by address "
                            f"in the site file",
        Reason.DNS_ERROR: f"fix the DNS server {destination}: it answered with an error",
        Reason.NXDOMAIN: f"add the missing names to the DNS server {destination}",
        Reason.TLS_ERROR: f"check the TLS configuration of {service}: the handshake failed",
        Reason.CERT_WARNING: f"install a CA-issued certificate for the planned name on {destination} "
                             f"(check it first with 'netcheck cert')",
        Reason.INTERCEPTED: f"exempt {destination} port {flow.port} from TLS inspection on the proxy or firewall "
                            f"in between: the certificate's issuer is not the site's",
        Reason.PROTOCOL_ERROR: f"make sure {destination} port {flow.port} runs {flow.protocol}: "
                               f"something else answered",
        Reason.AUTH_FAILED: f"correct {settings} in the site file (or the account on {destination}): "
                            f"the service refused the credentials",
        Reason.HTTP_ERROR: f"fix {url} on the web server {destination} port {flow.port}: it answered with an "
                           f"error status",
        Reason.PROXY_DENIED: f"change the proxy's policy so it relays this host's requests to {host}: "
                             f"the proxy refused the request",
        Reason.PROXY_AUTH_REQUIRED: f"set {_with_proxy_credentials(result)} in the site file: the proxy demands "
                                    f"authentication",
        Reason.PROXY_AUTH_UNSUPPORTED: "let the appliance through the proxy with Basic authentication or none: "
                                       "it cannot do NTLM or Negotiate",
        Reason.DNS_UNREACHABLE: f"make the DNS server reachable from this host (UDP and TCP 53) for '{host}'",
        Reason.NOT_A_CRL: f"publish the certificate revocation list at {url} (server {destination} port "
                          f"{flow.port}): the download is not a CRL",
        Reason.UNSYNCHRONISED: f"synchronise the NTP server {destination} to a reliable time source",
        Reason.CLOCK_OFFSET: f"correct the clock of this host or of the NTP server {destination}",
        Reason.TOO_LARGE: f"check what {destination} port {flow.port} sends: the answer exceeded the size cap",
        Reason.INTERNAL_ERROR: "netcheck failed on this flow (a bug): rerun with --debug and report it "
                               "with the evidence",
        Reason.NO_PRIVILEGE: "run netcheck as root (or with CAP_NET_RAW) for this check",
        Reason.RUN_DEADLINE: "raise --deadline: the whole run ended before this probe finished",
        Reason.INTERRUPTED: "rerun the scan to completion: it was stopped before this probe finished",
    }
    # A probe's own judge may fail a flow that reached its service (e.g. an unexpected answer).
    return texts.get(reason, f"review {service}: {result.detail or result.reason.value}") + _rule_found(result)
