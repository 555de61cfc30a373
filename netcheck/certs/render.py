"""Render certificate reports: a terminal text and JSON ("schema": "netcheck.cert/1").

Names and messages in certificates are attacker-chosen: the text passes the terminal sanitiser.

Pure functions of a report. Passphrases never reach a report, so they cannot reach here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from netcheck.certs.chain import label
from netcheck.certs.facts import certificate_facts, san_dns, san_ip
from netcheck.certs.findings import Finding, Severity
from netcheck.certs.run import CertReport, SiteReport, appliance_verdict, site_verdicts, summary_counts
from netcheck.render.escape import terminal_text
from netcheck.serialize import appliance_to_dict, certificates_to_dict

SCHEMA = "netcheck.cert/1"
_MARK = {Severity.ERROR: "ERROR", Severity.WARNING: "WARN ", Severity.INFO: "info "}
_HEADINGS = {Severity.ERROR: "Errors", Severity.WARNING: "Warnings", Severity.INFO: "Notes"}


def report_json(report: CertReport) -> dict[str, Any]:
    return appliance_to_dict(appliance_verdict(report))


def single_json(report: CertReport) -> dict[str, Any]:
    return {"schema": SCHEMA, "mode": "single", **report_json(report)}


def site_json(site: SiteReport) -> dict[str, Any]:
    return certificates_to_dict(site_verdicts(site))


# json.dumps escapes C0 controls but, with ensure_ascii=False, leaves DEL, C1 controls
# (U+009B is a terminal's CSI) and line/paragraph separators raw; escape them as JSON does.
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029]")


def dumps(data: dict[str, Any]) -> str:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def single_text(report: CertReport) -> str:
    lines = [f"netcheck cert {report.input.crt}", *_report_lines(report)]
    lines.append("")
    lines.append(_verdict(report.ok, report.analysis.findings if report.analysis else [], report.validate))
    return terminal_text("\n".join(lines), keep_newlines=True) + "\n"


def site_text(site: SiteReport) -> str:
    lines = [f"netcheck cert --site {site.site}", ""]
    for report in site.reports:
        verdict = "would accept" if report.ok else "would REFUSE" if report.analysis else "unusable input"
        lines += [f"== {report.input.name} ==", *_report_lines(report), "", f"  {report.input.name}: {verdict}", ""]
    if site.findings:
        lines.append("Across the site")
        lines += _finding_lines(site.findings)
        lines.append("")
    refused = [r.input.name or "" for r in site.reports if not r.ok]
    if site.ok:
        lines.append(f"VERDICT: all {len(site.reports)} certificates would be accepted")
    else:
        who = ", ".join(refused) if refused else "the site (shared certificates or keys)"
        lines.append(f"VERDICT: would be REFUSED: {who}")
    return terminal_text("\n".join(lines), keep_newlines=True) + "\n"


def _report_lines(report: CertReport) -> list[str]:
    if report.material is None or report.analysis is None:
        return [f"  unusable input: {report.error}"]
    leaf = report.material.leaf
    facts = certificate_facts(leaf)
    analysis = report.analysis
    names = [f"DNS:{n}" for n in san_dns(leaf)] + [f"IP:{n}" for n in san_ip(leaf)]
    key = f"{facts['key_type']} {facts['key_size'] or ''}".strip()
    chain = " -> ".join(label(c) for c in analysis.path[1:]) or "(none)"
    lines = [
        f"  certificate  {facts['subject']}",
        f"  issuer       {facts['issuer']}",
        f"  valid        {facts['not_before']} to {facts['not_after']}",
        f"  key          {key}, {facts['signature_algorithm']}",
        f"  names        {' '.join(names) or '(no SAN)'}",
        f"  chain        {chain}",
    ]
    for entry in analysis.crl:
        download = entry["download"]
        how = f" via {download['proxy']}" if download.get("proxy") else ""
        state = download["status_line"] or download["reason"]
        lines.append(f"  CRL          {entry['url']}{how}: {state} ({download['total_ms']} ms)")
    if report.input.hosts:
        lines.append(f"  planned      {' '.join(report.input.hosts)}")
    lines += _finding_lines(analysis.findings)
    if analysis.passed:
        lines += ["", f"  passed: {', '.join(analysis.passed)}"]
    return lines


def _finding_lines(findings: list[Finding]) -> list[str]:
    lines: list[str] = []
    for severity in Severity:
        group = [f for f in findings if f.severity is severity]
        if not group:
            continue
        lines += ["", f"  {_HEADINGS[severity]} ({len(group)})"]
        for item in group:
            lines.append(f"  {_MARK[item.severity]} {item.code}: {item.message}")
            if item.appliance_message:
                lines.append(f'        appliance says: "{item.appliance_message}"')
            if item.fix:
                lines.append(f"        fix: {item.fix}")
            if item.downgraded:
                lines.append("        (an error, reported as a warning because validation is disabled)")
    return lines


def _verdict(ok: bool, findings: list[Finding], validate: bool) -> str:
    counts = summary_counts(findings)
    tally = f"{counts['error']} errors, {counts['warning']} warnings"
    suffix = " (certificate validation disabled)" if not validate else ""
    if ok:
        return f"VERDICT: the appliance would accept this certificate ({tally}){suffix}"
    return f"VERDICT: the appliance would REFUSE this certificate ({tally}){suffix}"
