"""JUnit XML, so CI systems show each flow as a test: classname = peer, name = flow id.

fail -> <failure>, error (netcheck's own trouble) -> <error>, skip -> <skipped>;
warn passes (with a note in system-out) unless the run was --strict, when it fails.
A flow id that occurs for several peer hosts gets the host appended to its name
("dns-udp -> 203.0.113.53") so every testcase name is unique. The layout follows the
common Ant/Jenkins schema: testsuites > testsuite (properties, testcase*, system-out,
system-err).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from netcheck.escape import xml_text
from netcheck.model import Report, Result, Status
from netcheck.remediation import remediation
from netcheck.render.terminal import path_text
from netcheck.render.views import duplicated_flow_ids, port_label


def _seconds(result: Result) -> str:
    return f"{(result.latency_ms or 0.0) / 1000:.3f}"


def _case_name(result: Result, duplicated: set[str]) -> str:
    flow = result.flow
    return f"{flow.id} -> {flow.host}" if flow.id in duplicated and flow.host else flow.id


def _describe(result: Result, fix: str | None) -> str:
    flow = result.flow
    lines = [
        f"{result.status.value.upper()} {flow.id}: {flow.purpose}",
        f"{flow.protocol} {port_label(flow)} {path_text(result)}",
        f"reason: {result.reason.value}",
        f"detail: {result.detail}",
    ]
    if fix:
        lines.append(f"fix: {fix}")
    if result.evidence:
        lines.append("evidence: " + json.dumps(result.evidence, sort_keys=True, default=str))
    return xml_text("\n".join(lines))


def _testcase(parent: ET.Element, result: Result, report: Report, duplicated: set[str], strict: bool) -> None:
    flow = result.flow
    case = ET.SubElement(parent, "testcase", {
        "classname": xml_text(flow.peer), "name": xml_text(_case_name(result, duplicated)), "time": _seconds(result),
    })
    fix = remediation(result, report.info)
    message = xml_text(f"{result.reason.value}: {result.detail}")
    text = _describe(result, fix)
    if result.status is Status.FAIL or (strict and result.status is Status.WARN):
        ET.SubElement(case, "failure", {"message": message, "type": result.reason.value}).text = text
    elif result.status is Status.ERROR:
        ET.SubElement(case, "error", {"message": message, "type": result.reason.value}).text = text
    elif result.status is Status.SKIP:
        ET.SubElement(case, "skipped", {"message": message})
    ET.SubElement(case, "system-out").text = text


def render_junit(report: Report) -> str:
    info = report.info
    strict = bool(info.options.get("strict", False))
    counts = report.counts()
    failures = counts["fail"] + (counts["warn"] if strict else 0)
    total_seconds = f"{sum((r.latency_ms or 0.0) for r in report.results) / 1000:.3f}"
    totals = {"tests": str(len(report.results)), "failures": str(failures), "errors": str(counts["error"]),
              "skipped": str(counts["skip"]), "time": total_seconds}
    root = ET.Element("testsuites", {"name": "netcheck", **totals})
    suite = ET.SubElement(root, "testsuite", {
        "name": xml_text(f"netcheck {info.profile} at {info.site}"), "package": "netcheck", "id": "0",
        "hostname": xml_text(info.host_name), "timestamp": xml_text(info.started.removesuffix("Z")), **totals,
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("site", info.site), ("site_file", info.site_file), ("profile", info.profile),
                        ("role", info.role), ("host_addresses", " ".join(info.host_addresses)),
                        ("run_id", info.run_id), ("netcheck_version", info.version),
                        ("started", info.started), ("finished", info.finished),
                        ("verdict", report.verdict().value)):
        ET.SubElement(properties, "property", {"name": name, "value": xml_text(value)})
    duplicated = duplicated_flow_ids(report)
    for result in report.results:
        _testcase(suite, result, report, duplicated, strict)
    ET.SubElement(suite, "system-out").text = xml_text(f"netcheck {info.version}: {len(report.results)} flows")
    ET.SubElement(suite, "system-err")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
