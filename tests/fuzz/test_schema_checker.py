"""netcheck's schema checker (netcheck/jsonload.py) against the reference `jsonschema` package,
on mutated reports and receipts: it never accepts what jsonschema refuses, and it refuses
what jsonschema accepts only for integral floats (1.0 where an integer is due: stricter on purpose)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings

from netcheck.errors import ConfigError
from netcheck.jsonload import check_schema, parse_json
from netcheck.saved_schemas import receipt_schema, report_schema
from tests.fuzz.strategies import mutated_json, report_seeds, scaled, schema_valid_reports


def _agree(data: Any, schema: dict[str, Any]) -> None:
    reference = jsonschema.Draft202012Validator(schema)
    theirs = reference.is_valid(data)
    try:
        check_schema(data, schema, "x.json")
        ours, why = True, ""
    except ConfigError as refusal:
        ours, why = False, refusal.one_line()
    assert not (ours and not theirs), list(reference.iter_errors(data))[:1]
    if theirs and not ours:
        # An integral float where an integer is due: 3.0, or 1e+16 (str() of a float that large).
        number = re.search(r"is a number \(([^)]*)\)", why)
        assert number and any(mark in number[1] for mark in ".e") and float(number[1]).is_integer(), why


def _data(text: str) -> Any:
    try:
        return parse_json(text, "x.json", "JSON")
    except ConfigError:
        return None


@settings(max_examples=scaled(0.5), suppress_health_check=list(HealthCheck))
@given(mutated_json(report_seeds()))
def test_report_checks_agree_with_jsonschema(text: str) -> None:
    data = _data(text)
    if data is not None:
        _agree(data, report_schema())


@settings(max_examples=scaled(0.3), suppress_health_check=list(HealthCheck))
@given(schema_valid_reports())
def test_schema_valid_mutations_are_valid_for_both(text: str) -> None:
    data = json.loads(text)
    assert jsonschema.Draft202012Validator(report_schema()).is_valid(data)
    check_schema(data, report_schema(), "x.json")


def _receipt() -> dict[str, Any]:
    from tests.test_input_safety import receipt_json

    return receipt_json(report_seeds()[0])


@settings(max_examples=scaled(0.3), suppress_health_check=list(HealthCheck))
@given(mutated_json([_receipt()]))
def test_receipt_checks_agree_with_jsonschema(text: str) -> None:
    data = _data(text)
    if data is not None:
        _agree(data, receipt_schema())


def test_both_published_schemas_are_valid_json_schema() -> None:
    for schema in (report_schema(), receipt_schema()):
        jsonschema.Draft202012Validator.check_schema(schema)
