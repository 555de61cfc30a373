"""Resolve a cloud endpoint with the site's DNS servers (dnspython), telling an unreachable
DNS server (no server answered at all) from a name that does not resolve (a server answered)."""

from __future__ import annotations

from netcheck.addresses import is_ip
from netcheck.model import JsonValue, Observation, Reason


async def resolve_a(name: str, servers: list[str], lifetime: float) -> list[str] | Observation:
    """The addresses of `name` asked of `servers` (the host's resolv.conf when empty): A records,
    or AAAA when the scan runs with -6 (or an IPv6 --source)."""
    import socket

    import dns.asyncresolver
    import dns.exception
    import dns.resolver

    from netcheck.egress import current

    egress = current()
    if is_ip(name):
        refused = egress.refuses(name)
        return Observation(Reason.NOT_APPLICABLE, refused) if refused else [name]
    rdtype, family = ("AAAA", "IPv6") if egress.resolve_family == socket.AF_INET6 else ("A", "IPv4")
    resolver = dns.asyncresolver.Resolver(configure=not servers)
    if servers:
        resolver.nameservers = servers
    asked = [str(server) for server in resolver.nameservers]  # addresses (Nameserver objects as their text)
    resolver.lifetime = max(lifetime, 0.1)
    resolver.timeout = max(lifetime / max(len(asked), 1), 0.1)
    evidence: dict[str, JsonValue] = {"name": name, "dns_servers": asked}
    shown = ", ".join(str(s) for s in asked) or "none"
    try:
        source = egress.source_for(str(asked[0])) if asked else None
        answer = await resolver.resolve(name, rdtype, search=False, source=source)
    except dns.resolver.NXDOMAIN:
        return Observation(Reason.NXDOMAIN, f"'{name}' does not exist (NXDOMAIN from {shown})", evidence)
    except dns.resolver.NoAnswer:
        return Observation(Reason.DNS_FAILURE, f"'{name}' has no {family} address (no {rdtype} record at {shown})",
                           evidence)
    except dns.resolver.NoNameservers as exc:
        errors = exc.kwargs.get("errors") or []
        texts = [f"{server}: {error}" for server, _tcp, _port, error, *_ in errors]
        answered = [e for e in errors if not isinstance(e[3], (OSError, EOFError))]
        evidence["errors"] = texts
        if answered or not errors:
            return Observation(Reason.DNS_ERROR, f"'{name}': the DNS server answered with an error "
                               f"({'; '.join(texts) or shown})", evidence)
        return Observation(Reason.DNS_UNREACHABLE, f"no DNS server answered for '{name}' ({'; '.join(texts)})",
                           evidence)
    except dns.exception.Timeout:
        return Observation(Reason.DNS_UNREACHABLE, f"no DNS server answered within {lifetime:.1f} s "
                           f"(asked {shown}) for '{name}'", {**evidence, "timeout_s": lifetime})
    except dns.exception.DNSException as exc:
        return Observation(Reason.DNS_ERROR, f"'{name}' did not resolve: {exc}", evidence)
    return [rdata.address for rdata in answer]
