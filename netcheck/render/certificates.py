"""The hook for certificate findings in scan reports.

A scan whose site file lists appliance certificates carries the certificate module's JSON
(schema netcheck.cert/1, site mode: ``{"appliances": [...]}``) in ``Report.certificates``.
Older reports may carry it in ``RunInfo.options["certificates"]``: one document, a list of
documents (one per appliance), or ``{"appliances": [...]}``.
Each document has ``ok`` and ``findings`` (objects with code, severity, message,
appliance_message, fix) and may name its appliance in ``appliance``, ``host``, ``name``
or ``file``. Anything else there is ignored rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netcheck.model import Report

CERT_SCHEMA = "netcheck.cert/1"
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class CertFinding:
    """One finding of netcheck.cert/1, every field as text ("" when absent)."""

    code: str
    severity: str  # error / warning / info
    message: str
    appliance_message: str  # the appliance's own words, "" when it has none
    fix: str


@dataclass(frozen=True)
class CertSection:
    """The findings of one certificate (one appliance)."""

    label: str
    ok: bool | None  # would the appliance accept it; None when the document does not say
    findings: tuple[CertFinding, ...]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _section(document: Mapping[str, Any], index: int) -> CertSection | None:
    findings = document.get("findings")
    if not isinstance(findings, list):
        return None
    parsed = [
        CertFinding(
            code=_text(item.get("code")), severity=_text(item.get("severity")) or "info",
            message=_text(item.get("message")), appliance_message=_text(item.get("appliance_message")),
            fix=_text(item.get("fix")),
        )
        for item in findings if isinstance(item, Mapping)
    ]
    parsed.sort(key=lambda finding: SEVERITY_ORDER.get(finding.severity, 3))
    label = next((_text(document[key]) for key in ("appliance", "host", "name", "file") if document.get(key)),
                 f"certificate {index + 1}")
    ok = document.get("ok")
    return CertSection(label=label, ok=ok if isinstance(ok, bool) else None, findings=tuple(parsed))


def certificate_sections(report: Report) -> list[CertSection]:
    """The certificate findings a report carries, or [] when it carries none."""
    raw = report.certificates if report.certificates is not None else report.info.options.get("certificates")
    if isinstance(raw, Mapping) and isinstance(raw.get("appliances"), list):
        raw = raw["appliances"]
    documents = raw if isinstance(raw, list) else [raw] if isinstance(raw, Mapping) else []
    sections = [_section(document, index) for index, document in enumerate(documents)
                if isinstance(document, Mapping)]
    return [section for section in sections if section is not None]
