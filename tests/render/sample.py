"""Fixed reports for renderer tests: realistic, deterministic (fixed times and ids), and hostile.

`sample_report()` is a sensor at a plant seen from 198.51.100.10 with every status,
the evidence kinds the probes record, a flow id with two peer hosts and certificate
findings. `hostile_report()` puts attacker-controlled text everywhere a server could.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from netcheck.certs.findings import Finding, Severity
from netcheck.certs.verdicts import ApplianceVerdict, CertificateVerdicts, CertInputs, by_severity, severity_counts
from netcheck.model import Direction, Flow, PortRange, Reason, Report, Result, RunInfo, Status

INFO = RunInfo(
    version="0.1.0",
    run_id="5f3c9a0e2b7d4411",
    host_name="sensor-01",
    host_addresses=("198.51.100.10", "2001:db8:100::10", "fe80::a8bb:ccff:fedd:eeff", "127.0.0.1", "::1"),
    profile="sensor",
    role="sensor",
    site="plant-north",
    site_file="sites/plant-north.yaml",
    started="2026-03-02T09:15:04Z",
    finished="2026-03-02T09:15:09Z",
    options={"timeout_s": 3.0, "deadline_s": 120.0, "concurrency": 256, "per_host": 64, "udp_tries": 3,
             "strict": False},
)



def appliance(name: str, findings: list[Finding]) -> ApplianceVerdict:
    """An appliance whose certificate the appliance would refuse, with these findings."""
    return ApplianceVerdict(
        name=name, ok=False,
        inputs=CertInputs(crt=f"certs/{name}.crt", key=f"certs/{name}.key", chain="certs/chain.pem", root=None,
                          passphrase_given=False, hosts=(name,)),
        validation=True, proxy=None, error=None,
        certificate={"subject": f"CN={name}", "issuer": "CN=Plant Issuing CA", "not_after": "2026-03-23T00:00:00Z"},
        chain=(), path=(f"CN={name}", "CN=Plant Issuing CA"), crl=(),
        findings=by_severity(findings), passed=("key", "names"), counts=severity_counts(findings))


def certificates(site: str, name: str, findings: list[Finding]) -> CertificateVerdicts:
    return CertificateVerdicts(site=site, ok=False, appliances=(appliance(name, findings),), findings=(),
                               counts=severity_counts(findings))


CERTIFICATES = certificates("plant-north", "sensor-01.plant-north.example", [
    Finding("cert.expiring", Severity.WARNING, "the certificate expires in 21 days",
            "order a new certificate before 2026-03-23", None),
    Finding("crl.unreachable", Severity.ERROR,
            "the CRL at http://203.0.113.80/crl/root.crl is not reachable from this host",
            "open TCP 80 from the appliance to 203.0.113.80, or set a proxy",
            "The CRL (Certificate Revocation List) location is not reachable. "
            "Verify the URL can be accessed from this appliance"),
    Finding("name.wildcard", Severity.INFO, "wildcard name *.plant-north.example",
            "later releases need a unique CN per appliance", None),
])


def flow(flow_id: str, peer: str, host: str, protocol: str, transport: str, port: int | PortRange,
         purpose: str, direction: Direction = Direction.OUT, required: bool = True, note: str = "",
         source: str = "sensor", destination: str = "") -> Flow:
    probe = {"HTTPS": "tls", "LDAPS": "tls", "SSH": "ssh", "NTP": "ntp", "DNS": "dns", "SMTP": "smtp",
             "LDAP": "ldap", "SNMP": "snmp", "Syslog": "syslog", "HTTP": "http_crl", "HTTP proxy": "proxy"}
    return Flow(
        id=flow_id, purpose=purpose, protocol=protocol, transport=transport, port=port, direction=direction,
        peer=peer, host=host, probe="local" if direction is Direction.IN else probe.get(protocol, "tcp"),
        required=required, role="sensor", source=source, destination=destination or f"{peer} server", note=note,
    )


def result(f: Flow, status: Status, reason: Reason, detail: str, address: str | None = None,
           latency_ms: float | None = None, evidence: dict[str, Any] | None = None,
           expected: str | None = None, found: str | None = None) -> Result:
    if address is None and f.direction is Direction.OUT and f.host and "://" not in f.host:
        address = f.host
    return Result(flow=f, status=status, reason=reason, detail=detail, address=address, latency_ms=latency_ms,
                  evidence=evidence or {}, expected=expected, found=found)


def sample_results() -> list[Result]:
    console = "203.0.113.10"
    tls_cert = {"subject": "CN=console.plant-north.example,O=Plant North,C=DE",
                "issuer": "CN=Plant North Issuing CA,O=Plant North,C=DE",
                "not_after": "2027-01-31T23:59:59Z", "sha256": "4f:1c:9e:...:77",
                "san": ["console.plant-north.example"]}
    return [
        result(flow("web-https", "clients", "", "HTTPS", "tcp", 443, "Access to the sensor's web console",
                    Direction.IN, source="Client", destination="Sensor"),
               Status.PASS, Reason.LISTENING, "TCP 443: nginx listens on 0.0.0.0",
               evidence={"listeners": [{"address": "0.0.0.0", "port": 443, "process": "nginx (pid 812)"}]}),
        result(flow("cli-ssh", "clients", "", "SSH", "tcp", 22, "Access to the sensor's CLI", Direction.IN,
                    source="Client", destination="Sensor"),
               Status.PASS, Reason.LISTENING, "TCP 22: sshd listens on 0.0.0.0",
               evidence={"listeners": [{"address": "0.0.0.0", "port": 22, "process": "sshd (pid 644)"}]}),
        result(flow("console-https", "console", console, "HTTPS", "tcp", 443,
                    "Connection between the sensor and the on-premises management console"),
               Status.PASS, Reason.ANSWERED, "TLSv1.3 handshake; certificate valid for console.plant-north.example",
               latency_ms=4.21, evidence={"tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                                                  "certificate": tls_cert}}),
        result(flow("tunnel", "console", console, "Tunneling", "tcp", 9000,
                    "Tunneling to the on-premises management console (in addition to 443)",
                    note="port configurable on the console"),
               Status.FAIL, Reason.FILTERED, "TCP 9000: no answer within 3.0 s",
               evidence={"raw": {"last_hop": "198.51.100.1", "hops": [{"ttl": 1, "address": "198.51.100.1"}]}}),
        result(flow("tunnel-ssh", "console", console, "SSH", "tcp", 22,
                    "Tunneling over SSH from the sensor to the on-premises management console"),
               Status.PASS, Reason.ANSWERED, "SSH banner SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", latency_ms=3.02,
               evidence={"banner": "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"}),
        result(flow("ntp-console", "console", console, "NTP", "udp", 123,
                    "Time sync; the on-premises management console is the sensor's NTP server"),
               Status.PASS, Reason.ANSWERED, "NTP stratum 2, offset -3.2 ms", latency_ms=0.84,
               evidence={"ntp": {"stratum": 2, "offset_ms": -3.2, "reference": "PPS", "leap": "none"}},
               expected="offset <= 1 s", found="offset -0.003 s"),
        result(flow("crl", "crl", "http://203.0.113.80/crl/root.crl", "HTTP", "tcp", 80,
                    "Download the certificate revocation list to validate an uploaded certificate",
                    note="later documentation releases"),
               Status.FAIL, Reason.PROHIBITED, "TCP 80: communication administratively prohibited from 198.51.100.1",
               address="203.0.113.80", latency_ms=1.13,
               evidence={"errno": "EHOSTUNREACH", "icmp": {"origin": "icmp", "type": 3, "code": 13,
                                                            "sender": "198.51.100.1",
                                                            "text": "communication administratively prohibited"}}),
        result(flow("dns-udp", "dns", "203.0.113.53", "DNS", "udp", 53, "Name resolution"),
               Status.PASS, Reason.ANSWERED, "answered console.plant-north.example A 203.0.113.10", latency_ms=0.62,
               evidence={"query": "console.plant-north.example", "answers": ["203.0.113.10"], "rcode": "NOERROR"}),
        result(flow("dns-udp", "dns", "203.0.113.54", "DNS", "udp", 53, "Name resolution"),
               Status.FAIL, Reason.NO_RESPONSE, "UDP 53: no reply to 3 datagrams", latency_ms=None,
               evidence={"tries": 3}),
        result(flow("ldap", "ldap", "203.0.113.20", "LDAP", "tcp", 389, "Active Directory"),
               Status.PASS, Reason.ANSWERED, "RootDSE read anonymously", latency_ms=6.5,
               evidence={"rootdse": {"namingContexts": ["dc=plant-north,dc=example"],
                                     "supportedLDAPVersion": ["3"], "vendorName": "OpenLDAP"}}),
        result(flow("ldaps", "ldap", "203.0.113.20", "LDAPS", "tcp", 636, "Active Directory over TLS"),
               Status.WARN, Reason.CERT_WARNING, "TLS works; the certificate is self-signed", latency_ms=7.9,
               evidence={"tls": {"version": "TLSv1.3", "certificate": {"subject": "CN=ldap.plant-north.example",
                                                                       "self_signed": True}}}),
        result(flow("ntp-external", "ntp", "", "NTP", "udp", 123,
                    "Time sync with an external NTP server, when no on-premises management console is installed",
                    required=False),
               Status.SKIP, Reason.NOT_CONFIGURED, "the site file names no ntp host"),
        result(flow("smtp", "smtp", "203.0.113.25", "SMTP", "tcp", 25, "Email"),
               Status.PASS, Reason.ANSWERED, "220 mail.plant-north.example ESMTP OpenSMTPD", latency_ms=12.4,
               evidence={"banner": "220 mail.plant-north.example ESMTP OpenSMTPD",
                         "ehlo": ["8BITMIME", "SIZE 36700160"]}),
        result(flow("snmp", "snmp", "203.0.113.161", "SNMP", "udp", 161, "Remote SNMP collectors"),
               Status.PASS, Reason.ANSWERED, "sysDescr: Linux snmp 6.1.0-18-amd64", latency_ms=1.9,
               evidence={"sysDescr": "Linux snmp 6.1.0-18-amd64 #1 SMP Debian 6.1.76-1 x86_64", "version": "v2c"}),
        result(flow("snmp-in", "snmp", "", "SNMP", "udp", 161, "The sensor answers SNMP queries of a monitoring server",
                    Direction.IN, required=False),
               Status.WARN, Reason.NOT_LISTENING, "UDP 161: nothing listens on this host",
               evidence={"listeners": []}),
        result(flow("syslog", "syslog", "203.0.113.14", "Syslog", "udp", 514, "Logs sent to the Syslog server"),
               Status.WARN, Reason.UNCONFIRMED, "UDP 514: sent 3 datagrams, no ICMP error; syslog never answers",
               evidence={"tries": 3}),
        result(flow("wmi-rpc", "wmi", "203.0.113.30", "WMI", "tcp", 135, "Windows Endpoint Monitoring"),
               Status.FAIL, Reason.REFUSED, "TCP 135: refused (TCP reset)", latency_ms=0.71,
               evidence={"errno": "ECONNREFUSED"}),
        result(flow("wmi-dynamic", "wmi", "203.0.113.30", "WMI", "tcp", PortRange(1025, 65535),
                    "Windows Endpoint Monitoring (dynamic RPC ports)"),
               Status.ERROR, Reason.INTERNAL_ERROR, "netcheck failed: ValueError: sample",
               evidence={"traceback": "Traceback (most recent call last):\n  File \"tcp.py\", line 60\n"
                                      "ValueError: sample"}),
    ]


def sample_report() -> Report:
    return Report.build(INFO, sample_results(), CERTIFICATES)


SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("http://198.51.100.66/x","click")'
MARKDOWN = "a | b `code` *em* [link](javascript:alert(1)) <u>x</u>\nsecond line"
CONTROL = "bell\x07 esc\x1b[31m nul\x00 end"


def hostile_report() -> Report:
    """Every text a server (or a crafted saved report) controls, set to an attack."""
    base = flow("ssh-banner", "console", "203.0.113.10", "SSH", "tcp", 22, "Banner from a hostile server")
    results = [
        result(base, Status.FAIL, Reason.PROTOCOL_ERROR, f"banner {SCRIPT}",
               evidence={"banner": SCRIPT, SCRIPT: "key from the network",
                         "json": "</script><script>alert(2)</script>"}),
        result(flow("tls-cn", "console", "203.0.113.10", "HTTPS", "tcp", 443, "Certificate with a hostile CN"),
               Status.WARN, Reason.CERT_WARNING, f"certificate CN {IMG}",
               evidence={"tls": {"certificate": {"subject": f"CN={IMG}"}}},
               expected=f"issuer {SCRIPT}", found=f"issuer CN={IMG}"),
        result(flow("formula", "smtp", "203.0.113.25", "SMTP", "tcp", 25, "+purpose starting with plus"),
               Status.FAIL, Reason.PROTOCOL_ERROR, FORMULA, evidence={"banner": FORMULA}),
        result(flow("markdown", "ldap", "203.0.113.20", "LDAP", "tcp", 389, "@mention purpose"),
               Status.FAIL, Reason.AUTH_FAILED, MARKDOWN, evidence={"rootdse": {"vendorName": MARKDOWN}},
               expected=MARKDOWN, found=FORMULA),
        result(flow("control", "snmp", "203.0.113.161", "SNMP", "udp", 161, "-purpose with\ttab"),
               Status.ERROR, Reason.INTERNAL_ERROR, CONTROL, evidence={"sysDescr": CONTROL}),
        result(flow("skipped", "wmi", "", "WMI", "tcp", 135, "\tleading tab"),
               Status.SKIP, Reason.NOT_CONFIGURED, "\rleading carriage return"),
    ]
    hostile_certificates = certificates(f"site {SCRIPT}", IMG, [
        Finding("name.mismatch", Severity.ERROR, f"CN {IMG} does not match", MARKDOWN, SCRIPT),
    ])
    # Site-wide: appliance names come from the site file, so they are any text too.
    shared = Finding("site.shared-certificate", Severity.ERROR, f"{IMG}, {CONTROL} use the same certificate",
                     FORMULA, None, subject=f"{IMG}, {MARKDOWN}")
    hostile_certificates = replace(hostile_certificates, findings=(shared,),
                                   counts=severity_counts([shared, *hostile_certificates.appliances[0].findings]))
    info = replace(INFO, site=f"site {SCRIPT}", host_name=f"host{IMG}")
    return Report.build(info, results, hostile_certificates)
