"""The hook for certificate findings in scan reports: one section per appliance of
`Report.certificates` (netcheck.certs.verdicts), findings errors first, each field as text.
"""

from __future__ import annotations

from dataclasses import dataclass

from netcheck.certs.findings import Finding
from netcheck.certs.verdicts import ApplianceVerdict
from netcheck.model import Report


@dataclass(frozen=True)
class CertFinding:
    """One finding, every field as text ("" when absent)."""

    code: str
    severity: str  # error / warning / info
    message: str
    appliance_message: str  # the appliance's own words, "" when it has none
    fix: str


@dataclass(frozen=True)
class CertSection:
    """The findings of one certificate (one appliance)."""

    label: str
    ok: bool  # would the appliance accept it
    findings: tuple[CertFinding, ...]


def _finding(finding: Finding) -> CertFinding:
    return CertFinding(code=finding.code, severity=finding.severity.value, message=finding.message,
                       appliance_message=finding.appliance_message or "", fix=finding.fix or "")


def _section(appliance: ApplianceVerdict, index: int) -> CertSection:
    # The verdicts hold findings errors first already (netcheck.certs.verdicts.by_severity).
    return CertSection(label=appliance.name or f"certificate {index + 1}", ok=appliance.ok,
                       findings=tuple(_finding(finding) for finding in appliance.findings))


def certificate_sections(report: Report) -> list[CertSection]:
    """The certificate findings a report carries, or [] when it carries none."""
    if report.certificates is None:
        return []
    return [_section(appliance, index) for index, appliance in enumerate(report.certificates.appliances)]
