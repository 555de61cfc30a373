"""Drive a certificate check: load the files, download the CRLs (all of them at once,
bounded by --crl-timeout), analyse. The only module here that touches files and network
together; checks stay pure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from netcheck.certs import crl as crl_mod
from netcheck.certs.checks import Analysis, CheckOptions, analyse, passphrase_ok_for_later
from netcheck.certs.downloads import CrlDownloads
from netcheck.certs.facts import certificate_facts, fingerprint_sha256, name_text, quietly
from netcheck.certs.findings import Finding, Severity, finding
from netcheck.certs.load import Material, load_material
from netcheck.certs.site import ApplianceCert
from netcheck.certs.verdicts import (
    ApplianceVerdict,
    CertificateVerdicts,
    CertInputs,
    JsonObject,
    by_severity,
    severity_counts,
)
from netcheck.errors import ConfigError, UsageError
from netcheck.httpfetch import FetchResult, Proxy

MAX_CRL_BYTES = 32 * 1024 * 1024  # large public-CA CRLs run to megabytes; beyond this is not a CRL


@dataclass(frozen=True)
class CheckInput:
    """One certificate to check. `passphrase` is a secret: it is never rendered."""

    crt: Path
    key: Path | None = None
    chain: Path | None = None
    root: Path | None = None
    passphrase: str | None = field(default=None, repr=False)
    hosts: tuple[str, ...] = ()
    name: str | None = None  # the appliance's name in site mode


@dataclass(frozen=True)
class CertReport:
    """One checked certificate: what was given, and the analysis (None if the input was unusable)."""

    input: CheckInput
    material: Material | None
    analysis: Analysis | None
    validate: bool
    proxy: str | None
    error: str | None = None  # the unusable-input line (site mode continues past it)

    @property
    def ok(self) -> bool:
        return self.analysis is not None and self.analysis.ok


@dataclass(frozen=True)
class SiteReport:
    site: str
    reports: list[CertReport]
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports) and not any(f.severity is Severity.ERROR for f in self.findings)

    @property
    def unusable(self) -> bool:
        return any(r.analysis is None for r in self.reports)


async def download_all(urls: Iterable[str], proxy: Proxy | None, timeout: float,
                       downloads: CrlDownloads | None = None) -> dict[str, FetchResult]:
    """Every URL at once, each once; through `downloads` when the scan shares its CRL downloads
    with the http-crl flows (see CrlDownloads for which requests share a GET)."""
    shared = downloads or CrlDownloads()
    unique = list(dict.fromkeys(urls))
    results = await asyncio.gather(
        *(shared.get(url, proxy=proxy, timeout=timeout, max_bytes=MAX_CRL_BYTES) for url in unique)
    )
    return dict(zip(unique, results, strict=True))


def _options(item: CheckInput, validate: bool, expiry_warn_days: int) -> CheckOptions:
    return CheckOptions(
        hosts=item.hosts,
        expiry_warn_days=expiry_warn_days,
        validate=validate,
        passphrase_ok_for_later=passphrase_ok_for_later(item.passphrase),
    )


def _load(item: CheckInput) -> Material:
    return load_material(item.crt, item.key, item.chain, item.passphrase, item.root)


def check_one(
    item: CheckInput,
    *,
    proxy: Proxy | None,
    crl_timeout: float,
    validate: bool = True,
    expiry_warn_days: int = 30,
    now: datetime | None = None,
) -> CertReport:
    """`check_one_async` in an event loop of its own."""
    return asyncio.run(check_one_async(item, proxy=proxy, crl_timeout=crl_timeout, validate=validate,
                                       expiry_warn_days=expiry_warn_days, now=now))


async def check_one_async(
    item: CheckInput,
    *,
    proxy: Proxy | None,
    crl_timeout: float,
    validate: bool = True,
    expiry_warn_days: int = 30,
    now: datetime | None = None,
) -> CertReport:
    """Check one certificate. Unusable input raises ConfigError/UsageError (exit 2)."""
    material = _load(item)
    downloads = await download_all(crl_mod.plan(material.leaf).fetch, proxy, crl_timeout)
    analysis = analyse(
        material,
        now=now or datetime.now(UTC),
        options=_options(item, validate, expiry_warn_days),
        downloads=downloads,
    )
    return CertReport(item, material, analysis, validate, str(proxy) if proxy else None)


def check_site(
    site: str,
    items: list[CheckInput],
    *,
    proxy: Proxy | None,
    crl_timeout: float,
    validate: bool = True,
    expiry_warn_days: int = 30,
    now: datetime | None = None,
) -> SiteReport:
    """`check_site_async` in an event loop of its own."""
    return asyncio.run(check_site_async(site, items, proxy=proxy, crl_timeout=crl_timeout, validate=validate,
                                        expiry_warn_days=expiry_warn_days, now=now))


async def check_site_async(
    site: str,
    items: list[CheckInput],
    *,
    proxy: Proxy | None,
    crl_timeout: float,
    validate: bool = True,
    expiry_warn_days: int = 30,
    now: datetime | None = None,
    downloads: CrlDownloads | None = None,
) -> SiteReport:
    """Check every appliance's certificate; one appliance's unusable files do not stop the others.
    Awaitable in a running loop (a scan checks certificates beside its probes, sharing the run's
    CRL `downloads` with its http-crl flows)."""
    moment = now or datetime.now(UTC)
    loaded: list[tuple[CheckInput, Material | None, str | None]] = []
    for item in items:
        try:
            loaded.append((item, _load(item), None))
        except UsageError as exc:  # ConfigError included
            loaded.append((item, None, exc.one_line()))
    urls = [url for _, material, _ in loaded if material for url in crl_mod.plan(material.leaf).fetch]
    fetched = await download_all(urls, proxy, crl_timeout, downloads)
    shown_proxy = str(proxy) if proxy else None
    reports: list[CertReport] = []
    for item, material, error in loaded:
        if material is None:
            reports.append(CertReport(item, None, None, validate, shown_proxy, error))
            continue
        options = _options(item, validate, expiry_warn_days)
        analysis = analyse(material, now=moment, options=options, downloads=fetched)
        reports.append(CertReport(item, material, analysis, validate, shown_proxy))
    return SiteReport(site, reports, shared_findings(reports))


def shared_findings(reports: list[CertReport]) -> list[Finding]:
    """Each sensor, console and HA console needs its own certificate and key."""
    by_cert: dict[str, list[str]] = {}
    by_key: dict[bytes, list[str]] = {}
    for report in reports:
        if report.material is None:
            continue
        name = report.input.name or str(report.input.crt)
        leaf = report.material.leaf
        by_cert.setdefault(fingerprint_sha256(leaf), []).append(name)
        key = quietly(leaf.public_key)  # None for a key type cryptography does not know
        if key is not None:
            by_key.setdefault(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo), []).append(name)
    findings: list[Finding] = []
    shared_cert_groups = [names for names in by_cert.values() if len(names) > 1]
    for names in shared_cert_groups:
        findings.append(
            finding(
                "site.shared-certificate",
                f"{', '.join(names)} use the same certificate; each appliance needs its own",
                "issue a certificate (and key) per appliance, with its own CN",
                subject=", ".join(names),
            )
        )
    for names in by_key.values():
        if len(names) > 1 and names not in shared_cert_groups:
            findings.append(
                finding(
                    "site.shared-key",
                    f"{', '.join(names)} use the same private key (in different certificates); "
                    "each appliance needs its own key",
                    "create a new key and CSR per appliance with `netcheck cert csr`",
                    subject=", ".join(names),
                )
            )
    return findings


def inputs_from_site(entries: list[ApplianceCert], env: Mapping[str, str]) -> list[CheckInput]:
    """Resolve each appliance's pass_env now, so a missing variable is one clear line."""
    items: list[CheckInput] = []
    for entry in entries:
        passphrase = None
        if entry.pass_env:
            passphrase = env.get(entry.pass_env)
            if passphrase is None:
                raise ConfigError(
                    entry.source,
                    f"environment variable {entry.pass_env} is not set",
                    key=f"certificates.{entry.name}.pass_env",
                    expected="the variable to hold the key's passphrase",
                )
        items.append(CheckInput(entry.crt, entry.key, entry.chain, entry.root, passphrase, entry.hosts, entry.name))
    return items


def summary_counts(findings: list[Finding]) -> dict[str, int]:
    return severity_counts(findings)


def appliance_verdict(report: CertReport) -> ApplianceVerdict:
    """One checked certificate as a report carries it."""
    item = report.input
    inputs = CertInputs(crt=str(item.crt), key=str(item.key) if item.key else None,
                        chain=str(item.chain) if item.chain else None, root=str(item.root) if item.root else None,
                        passphrase_given=item.passphrase is not None, hosts=tuple(item.hosts))
    if report.material is None or report.analysis is None:
        return ApplianceVerdict(name=item.name, ok=report.ok, inputs=inputs, validation=report.validate,
                                proxy=report.proxy, error=report.error, certificate=None, chain=(), path=(), crl=(),
                                findings=(), passed=(), counts=severity_counts([]))
    analysis = report.analysis
    return ApplianceVerdict(
        name=item.name, ok=report.ok, inputs=inputs, validation=report.validate, proxy=report.proxy,
        error=report.error, certificate=_json(certificate_facts(report.material.leaf)),
        chain=tuple(_json(certificate_facts(cert)) for cert in report.material.chain),
        path=tuple(name_text(cert, "subject") for cert in analysis.path),
        crl=tuple(_json(entry) for entry in analysis.crl),
        findings=by_severity(analysis.findings), passed=tuple(analysis.passed),
        counts=severity_counts(analysis.findings),
    )


def site_verdicts(site: SiteReport) -> CertificateVerdicts:
    """The site's checked certificates as a scan report carries them (Report.certificates)."""
    every = [f for r in site.reports if r.analysis for f in r.analysis.findings] + site.findings
    return CertificateVerdicts(site=site.site, ok=site.ok,
                               appliances=tuple(appliance_verdict(report) for report in site.reports),
                               findings=by_severity(site.findings), counts=severity_counts(every))


def _json(facts: Mapping[str, object]) -> JsonObject:
    """Facts the certificate modules built from JSON-safe values only (their contract)."""
    return cast(JsonObject, facts)
