"""The hook for certificate findings in scan reports: one section per appliance of
`Report.certificates` (netcheck.certs.verdicts), then one for the site-wide findings (a certificate or
key shared between appliances) when there are any; findings errors first, each field as text.
Renderers escape every text as they do the other certificate texts (hostile names reach these fields).
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


SITE_WIDE_LABEL = "site-wide (across the appliances)"


@dataclass(frozen=True)
class CertSection:
    """The findings of one certificate (one appliance), or the site-wide ones.

    ok         one appliance's: would the appliance accept it; site-wide: no finding is an error
    site_wide  the findings across the site's appliances (they fail the report as an appliance's errors do)
    """

    label: str
    ok: bool
    findings: tuple[CertFinding, ...]
    site_wide: bool = False

    @property
    def verdict_word(self) -> str:
        """The verdict in one word, for the terminal's column."""
        if self.site_wide:
            return "OK" if self.ok else "FAIL"
        return "ACCEPT" if self.ok else "REFUSE"

    @property
    def verdict_text(self) -> str:
        """The verdict in words, for headings."""
        if self.site_wide:
            return "no site-wide error" if self.ok else "fails the report"
        return "would be accepted" if self.ok else "would be refused"


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
    sections = [_section(appliance, index) for index, appliance in enumerate(report.certificates.appliances)]
    shared = report.certificates.findings  # errors first already (netcheck.certs.verdicts.by_severity)
    if shared:
        sections.append(CertSection(label=SITE_WIDE_LABEL, ok=not any(f.severity.value == "error" for f in shared),
                                    findings=tuple(_finding(finding) for finding in shared), site_wide=True))
    return sections
