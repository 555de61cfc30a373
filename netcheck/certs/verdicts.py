"""The certificate verdicts a scan report carries (`Report.certificates`): typed, frozen, and light
(no cryptography), so the model, the serializer and the renderers can use them at any time.

netcheck/certs/run.py builds them from a checked site; netcheck/serialize.py alone turns them into
JSON (schema netcheck.cert/1, site mode) and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from netcheck.certs.findings import Finding, Severity

CERT_SCHEMA = "netcheck.cert/1"
# What certificate facts and CRL evidence hold: plain JSON values, kept as they were recorded.
JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"
JsonObject: TypeAlias = Mapping[str, JsonValue]


@dataclass(frozen=True)
class CertInputs:
    """The files one appliance's certificate was checked from (never the passphrase itself)."""

    crt: str
    key: str | None
    chain: str | None
    root: str | None
    passphrase_given: bool
    hosts: tuple[str, ...]  # the names and addresses the certificate must cover


@dataclass(frozen=True)
class ApplianceVerdict:
    """One appliance's certificate: would the appliance accept it, and why (not).

    name         the appliance's name in the site file
    ok           the appliance would accept the certificate
    inputs       the files checked
    validation   certificate validation was on (off: errors were reported as warnings)
    proxy        "host:port" of the proxy the CRLs were fetched through, None when direct
    error        why the files could not be used at all (then certificate is None and lists are empty)
    certificate  facts of the leaf (subject, issuer, validity, names, key, sha256, ...)
    chain        facts of each certificate given as chain
    path         subjects from the leaf to the last issuer found
    crl          per distribution point: url, download evidence, CRL facts, usable
    findings     what the checks found, errors first
    passed       the checks that found nothing
    counts       findings per severity (error, warning, info)
    """

    name: str | None
    ok: bool
    inputs: CertInputs
    validation: bool
    proxy: str | None
    error: str | None
    certificate: JsonObject | None
    chain: tuple[JsonObject, ...]
    path: tuple[str, ...]
    crl: tuple[JsonObject, ...]
    findings: tuple[Finding, ...]
    passed: tuple[str, ...]
    counts: Mapping[str, int]


@dataclass(frozen=True)
class CertificateVerdicts:
    """The site's certificates as one scan checked them.

    site        the site's name
    ok          every appliance would accept its certificate and no site-wide finding is an error
    appliances  one verdict per appliance, in the site file's order
    findings    across the site (a certificate or key shared between appliances), errors first
    counts      every finding (appliances' and site-wide) per severity
    """

    site: str
    ok: bool
    appliances: tuple[ApplianceVerdict, ...]
    findings: tuple[Finding, ...]
    counts: Mapping[str, int]


def severity_counts(findings: tuple[Finding, ...] | list[Finding]) -> dict[str, int]:
    return {severity.value: sum(1 for f in findings if f.severity is severity) for severity in Severity}


def by_severity(findings: list[Finding] | tuple[Finding, ...]) -> tuple[Finding, ...]:
    """Errors, then warnings, then notes; stable within a severity."""
    order = list(Severity)
    return tuple(sorted(findings, key=lambda f: order.index(f.severity)))
