"""The probe catalogue: what each probe kind is, without importing the code that runs it.

Profiles, the planner and the JSON Schema generator read this table only; the engine imports
a kind's implementing module (`module`) when a run has a flow of that kind, and the module
registers its observe function under the same name (netcheck.probes.register). Keep this
module pure data plus netcheck.values checks: importing it must import no probe module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from netcheck import values
from netcheck.model import Reason

LOCAL_LISTENER = "local-listener"  # the kind that tests inbound rows (direction: in) on this host


@dataclass(frozen=True)
class OptionSpec:
    """One option a probe accepts from a profile flow's `options` or the site's `settings`.

    type        the YAML types accepted
    help        what the option means (error messages, the JSON Schema)
    secret_env  the value names an environment variable holding a secret (checked as such a name)
    check       content rule beyond the type (netcheck.values): None when fine, else what is wrong
    """

    type: type | tuple[type, ...]
    help: str
    secret_env: bool = False
    check: Callable[[Any], str | None] | None = None


@dataclass(frozen=True, eq=False)  # one object per kind: compared and hashed by identity
class KindInfo:
    """One probe kind as profiles and the engine see it before its code is loaded.

    module       the module whose @register implements the kind (imported on first use)
    transports   which transports it can test
    options      the option keys it accepts (validated before any probing)
    on_timeout   the reason recorded when the engine's deadline ends the probe
    resolve      whether the engine resolves flow.host to an address first
    imports      heavy modules the probe imports lazily; the engine loads them before any
                 probe's clock starts, so an import never stalls other probes' timings
    inbound      it tests inbound rows (on this host); every other kind tests outbound rows
    """

    name: str
    module: str
    transports: frozenset[str]
    summary: str
    options: Mapping[str, OptionSpec]
    on_timeout: Reason = Reason.TIMEOUT
    resolve: bool = True
    imports: tuple[str, ...] = ()
    inbound: bool = False


# Option choices the probes check again when they build a request (probes/snmp.py, probes/smtp.py).
SNMP_AUTH_PROTOCOLS = ("NONE", "MD5", "SHA", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512")
SNMP_PRIV_PROTOCOLS = ("NONE", "DES", "3DES", "AES", "AES128", "AES192", "AES256")
SNMP_SECURITY_LEVELS = ("noAuthNoPriv", "authNoPriv", "authPriv")
DEFAULT_EHLO = "netcheck.invalid"  # RFC 2606: says "test client", resolves nowhere

SAMPLE = OptionSpec(int, "how many ports of a port range to try (default 8)", check=values.number(1, values.MAX_SAMPLE))
# The options of every probe that speaks TLS (tls, smtp's STARTTLS, syslog over TLS).
TLS_OPTIONS = {
    "server_name": OptionSpec(str, "SNI name to send (default: the peer host when it is a DNS name)",
                              check=values.host_name),
    "expect_names": OptionSpec(list, "more DNS names or IPs the certificate must be valid for",
                               check=values.list_of(values.certificate_name)),
    "expected_issuer": OptionSpec(str, "issuer DN or CN the site's certificates come from; another issuer is "
                                       "'intercepted'", check=values.plain_text),
    "ca_file": OptionSpec(str, "PEM file with the site CA certificate(s) the presented chain must lead to",
                          check=values.file_path),
}
LDAP_OPTIONS = {
    "bind_dn": OptionSpec(str, "DN for a simple bind (without it only the RootDSE is read, anonymously); "
                               "printable ASCII, other characters escaped as in RFC 4514 (\\c3\\bc)",
                          check=values.printable_ascii),
    "password_env": OptionSpec(str, "environment variable holding the bind password", secret_env=True),
    "ca_file": OptionSpec(str, "PEM file of CAs to verify the server certificate with", check=values.file_path),
}
LDAP_IMPORTS = ("ldap3", "cryptography.x509", "netcheck.certs.facts")
CERT_IMPORTS = ("cryptography.x509", "netcheck.certs.facts")


def _kind(name: str, module: str, transports: tuple[str, ...], summary: str,
          options: Mapping[str, OptionSpec] | None = None, **more: Any) -> KindInfo:
    return KindInfo(name, f"netcheck.probes.{module}", frozenset(transports), summary, dict(options or {}), **more)


CATALOGUE: Mapping[str, KindInfo] = {kind.name: kind for kind in (
    _kind("cloud", "cloud", ("tcp",),
          "cloud endpoint: resolve with the site's DNS, connect direct or via proxies (CONNECT), TLS 1.2+ "
          "with SNI, chain judged against the host's trust store; failures carry the sensor's category",
          {
              "via_proxy": OptionSpec(bool, "reach the endpoints through the site's proxy (peers.proxy, credentials "
                                            "from settings.proxy)"),
              "proxy_chain": OptionSpec(list, "further proxies (http://host:port) reached by CONNECT through the one "
                                              "before, in order; the last one connects to the endpoint"),
              "ca_file": OptionSpec(str, "PEM file with CA certificates trusted besides the host's store "
                                         "(e.g. an inspecting proxy's CA)"),
              "expected_issuer": OptionSpec(str, "issuer DN or CN the endpoints' certificates must come from"),
          },
          resolve=False, imports=("dns.asyncresolver", "cryptography.x509", "ntplib")),
    _kind("dns", "dns", ("udp", "tcp"),
          "DNS queries over the flow's transport for the site's names and appliance PTRs; "
          "fails on silence, REFUSED or SERVFAIL, warns on NXDOMAIN",
          {
              "names": OptionSpec(list, "host names to resolve (default: every peer host name in the site file)",
                                  check=values.list_of(values.dns_name)),
              "reverse": OptionSpec(list, "IP addresses to look up PTR records for "
                                          "(default: the console, ha_console and sensors IPs)",
                                    check=values.list_of(values.ip_address)),
          },
          on_timeout=Reason.NO_RESPONSE, imports=("dns.asyncquery", "dns.message", "dns.reversename")),
    _kind("http-crl", "http_crl", ("tcp",),
          "GET the CRL URL (http:// only), directly or via the site's proxy; parse it; "
          "not-a-crl fails, a passed nextUpdate (or a future thisUpdate) is stale",
          {
              "via_proxy": OptionSpec(bool, "fetch through the site's proxy (peers.proxy, credentials from "
                                            "settings.proxy)"),
              "max_bytes": OptionSpec(int, "download cap in bytes (default 10 MiB)",
                                      check=values.number(1, values.MAX_DOWNLOAD)),
          },
          resolve=False, imports=("netcheck.net.http", "netcheck.certs.crl", "netcheck.certs.downloads")),
    _kind("ldap", "ldap", ("tcp",),
          "LDAP: reads the RootDSE (naming contexts, versions, vendor); optional simple bind and StartTLS",
          {**LDAP_OPTIONS,
           "starttls": OptionSpec(bool, "upgrade with StartTLS before reading and binding (default false)")},
          imports=LDAP_IMPORTS),
    _kind("ldaps", "ldap", ("tcp",),
          "LDAPS: TLS handshake (certificate facts), then the RootDSE and an optional simple bind",
          LDAP_OPTIONS, imports=LDAP_IMPORTS),
    _kind("listener", "listener", ("tcp", "udp"),
          "token echoed by `netcheck listen` on the far side: confirmed end to end, silence is blocked",
          {"sample": SAMPLE}, on_timeout=Reason.BLOCKED),
    _kind(LOCAL_LISTENER, "local", ("tcp", "udp"),
          "inbound row: something on this host listens on the port (the process when visible); whether "
          "peers get through is tested from their side", resolve=False, inbound=True),
    _kind("ntp", "ntp", ("udp",),
          "NTP client request: stratum, offset, delay, reference id, leap; warns when unsynchronised "
          "or the clock is off",
          {"max_offset_s": OptionSpec((int, float), "largest acceptable |offset| in seconds (default 1.0)",
                                      check=values.number(0, 86_400))},
          on_timeout=Reason.NO_RESPONSE, imports=("ntplib",)),
    _kind("proxy", "proxy", ("tcp",),
          "HTTP proxy: TCP, a GET of each CRL URL through it, CONNECT to configured targets; "
          "a refusal is proxy-denied with the proxy's status line",
          {
              "user": OptionSpec(str, "proxy user name (Basic authentication)", check=values.proxy_user),
              "password_env": OptionSpec(str, "environment variable holding the proxy password", secret_env=True),
              "connect_targets": OptionSpec(list, "host:port targets to CONNECT through the proxy; a peer key "
                                                  "(e.g. console:443) stands for that peer's hosts",
                                            check=values.list_of(values.host_port)),
              "max_bytes": OptionSpec(int, "cap for each download through the proxy (default 10 MiB)",
                                      check=values.number(1, values.MAX_DOWNLOAD)),
          },
          imports=("netcheck.net.http",)),
    _kind("rpc", "rpc", ("tcp",),
          "DCE/RPC bind to the endpoint mapper (bind_ack passes); optional endpoint lookup and "
          "dynamic-port sample",
          {
              "lookup": OptionSpec(bool, "ask the endpoint mapper for registered TCP endpoints and test their ports"),
              "dynamic_sample": OptionSpec(int, "also test this many ports of 1025-65535 with TCP handshakes",
                                           check=values.number(0, values.MAX_SAMPLE)),
          }),
    _kind("smtp", "smtp", ("tcp",),
          "SMTP greeting, EHLO extensions and STARTTLS certificate; never sends mail",
          {
              "ehlo_name": OptionSpec(str, f"name given in EHLO (default {DEFAULT_EHLO}): an ASCII host name",
                                      check=values.host_name),
              "starttls": OptionSpec(bool, "upgrade with STARTTLS when the server offers it (default true)"),
              "require_starttls": OptionSpec(bool, "fail (tls-error) when the server does not offer STARTTLS"),
              **TLS_OPTIONS,
          },
          imports=CERT_IMPORTS),
    _kind("snmp", "snmp", ("udp",),
          "SNMP GET sysDescr.0 and sysUpTime.0 (v2c or v3); silence is no-response, v3 reports are auth-failed",
          {
              "version": OptionSpec(str, 'SNMP version: "2c" (default) or "3"',
                                    check=values.one_of(("2c", "3", "v2c", "v3", "2"))),
              "community_env": OptionSpec(str, "environment variable holding the v2c community", secret_env=True),
              "user": OptionSpec(str, "SNMPv3 user name", check=values.printable_ascii),
              "auth_protocol": OptionSpec(str, "SNMPv3 authentication: " + ", ".join(SNMP_AUTH_PROTOCOLS),
                                          check=values.one_of(SNMP_AUTH_PROTOCOLS)),
              "auth_key_env": OptionSpec(str, "environment variable holding the v3 authentication pass phrase",
                                         secret_env=True),
              "priv_protocol": OptionSpec(str, "SNMPv3 privacy: " + ", ".join(SNMP_PRIV_PROTOCOLS),
                                          check=values.one_of(SNMP_PRIV_PROTOCOLS)),
              "priv_key_env": OptionSpec(str, "environment variable holding the v3 privacy pass phrase",
                                         secret_env=True),
              "security_level": OptionSpec(str, "SNMPv3 level: " + ", ".join(SNMP_SECURITY_LEVELS)
                                                + " (default: from the keys given)",
                                           check=values.one_of(SNMP_SECURITY_LEVELS, fold_case=False)),
          },
          on_timeout=Reason.NO_RESPONSE, imports=("pysnmp.hlapi.v3arch.asyncio",)),
    _kind("ssh", "ssh", ("tcp",),
          "SSH identification line (SSH-2.0-...): a port that answers anything else is protocol-error"),
    _kind("syslog", "syslog", ("udp", "tcp"),
          "one labelled RFC 5424 test message with the run id: UDP unconfirmed (warn) unless ICMP refuses; "
          "TCP/TLS when the site asks",
          {
              "transport": OptionSpec(str, "udp or tcp (default: the flow's transport)",
                                      check=values.one_of(("udp", "tcp"))),
              "tls": OptionSpec(bool, "syslog over TLS (RFC 5425; implies tcp; set the port, usually 6514, in ports:)"),
              **TLS_OPTIONS,
          },
          on_timeout=Reason.UNCONFIRMED, imports=CERT_IMPORTS),
    _kind("tcp", "tcp", ("tcp",),
          "TCP handshake: open, refused (RST), filtered (silence), prohibited or unreachable (ICMP)",
          {"sample": SAMPLE}, on_timeout=Reason.FILTERED),
    _kind("tls", "tls", ("tcp",),
          "TLS handshake: protocol, cipher, certificate chain; warns on self-signed, expired, "
          "wrong-name or unexpected-issuer certificates",
          TLS_OPTIONS, imports=CERT_IMPORTS),
    _kind("udp", "udp", ("udp",),
          "UDP datagram: a reply passes; ICMP port unreachable is refused; silence is no-response",
          on_timeout=Reason.NO_RESPONSE),
)}


def options_of(names: list[str] | set[str] | tuple[str, ...]) -> dict[str, OptionSpec]:
    """The options of several kinds merged (in the order given; a later kind's text wins)."""
    merged: dict[str, OptionSpec] = {}
    for name in names:
        merged.update(CATALOGUE[name].options)
    return merged
