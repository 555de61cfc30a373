"""JUnit XML accepted by a parser and shaped like the common Ant/Jenkins JUnit schema.

No JUnit XSD ships with Debian's Python and none is downloaded, so the schema's rules
that CI systems rely on are checked structurally here.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

from netcheck.model import Report, Status
from netcheck.render.junit import render_junit

SUITE_ATTRIBUTES = {"name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname", "id",
                    "package"}
CASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err"}
ISO_NO_ZONE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
DECIMAL = re.compile(r"^\d+(\.\d+)?$")


def check_junit_schema(root: ET.Element) -> None:
    """The Ant JUnit schema's rules (testsuites > testsuite > properties, testcase*, system-out, system-err)."""
    assert root.tag == "testsuites"
    for suite in root:
        assert suite.tag == "testsuite"
        assert set(suite.attrib) >= SUITE_ATTRIBUTES, SUITE_ATTRIBUTES - set(suite.attrib)
        assert ISO_NO_ZONE.match(suite.get("timestamp", "")), suite.get("timestamp")
        assert DECIMAL.match(suite.get("time", ""))
        children = [child.tag for child in suite]
        assert children[0] == "properties" and children[-2:] == ["system-out", "system-err"]
        assert set(children[1:-2]) <= {"testcase"}
        for prop in suite.find("properties") or []:
            assert prop.tag == "property" and {"name", "value"} <= set(prop.attrib)
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(cases)
        assert int(suite.get("failures", "-1")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(suite.get("errors", "-1")) == sum(1 for c in cases if c.find("error") is not None)
        assert int(suite.get("skipped", "-1")) == sum(1 for c in cases if c.find("skipped") is not None)
        for case in cases:
            assert {"name", "classname", "time"} <= set(case.attrib)
            assert DECIMAL.match(case.get("time", ""))
            tags = [child.tag for child in case]
            assert set(tags) <= CASE_CHILDREN
            assert sum(tags.count(t) for t in ("skipped", "error", "failure")) <= 1
            for outcome in ("error", "failure"):
                element = case.find(outcome)
                if element is not None:
                    assert element.get("message") and element.get("type")


def test_junit_one_testcase_per_flow_with_distinct_outcomes(report: Report) -> None:
    root = ET.fromstring(render_junit(report))
    check_junit_schema(root)
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(report.results)
    outcome = {Status.FAIL: "failure", Status.ERROR: "error", Status.SKIP: "skipped"}
    for case, result in zip(cases, report.results, strict=True):
        assert case.get("classname") == result.flow.peer
        assert case.get("name", "").split(" -> ")[0] == result.flow.id
        expected = outcome.get(result.status)
        found = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        assert found == ([expected] if expected else []), (result.flow.id, found)


def test_junit_names_are_unique_when_a_flow_has_two_peer_hosts(report: Report) -> None:
    names = [(c.get("classname"), c.get("name")) for c in ET.fromstring(render_junit(report)).iter("testcase")]
    assert len(names) == len(set(names))
    assert ("dns", "dns-udp -> 203.0.113.54") in names


def test_junit_failure_carries_the_remediation(report: Report) -> None:
    root = ET.fromstring(render_junit(report))
    tunnel = next(c for c in root.iter("testcase") if c.get("name") == "tunnel")
    failure = tunnel.find("failure")
    assert failure is not None and failure.get("type") == "filtered"
    assert "fix: allow TCP 9000 from 198.51.100.10 to 203.0.113.10" in (failure.text or "")


def test_junit_strict_runs_fail_warnings(report: Report) -> None:
    strict = Report.build(replace(report.info, options={**report.info.options, "strict": True}), list(report.results))
    root = ET.fromstring(render_junit(strict))
    check_junit_schema(root)
    warned = [r.flow.id for r in report.results if r.status is Status.WARN]
    failed_names = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert set(warned) <= set(failed_names)
