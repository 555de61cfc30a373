"""The fast paths of netcheck/jsonload.py against its exact ones: the compiled schema accepter
(netcheck/schema_fast.py) accepts exactly what the exact checker accepts, and parse_json's cheap
"maybe" checks (bad-number flag, surrogate escape search, container depth) never let through what
the full value walk refuses, with the same message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from netcheck import jsonload
from netcheck.errors import ConfigError
from netcheck.jsonload import check_schema, parse_json
from netcheck.saved_schemas import receipt_schema, report_schema
from netcheck.schema_fast import Reject, compiled
from tests.fuzz.strategies import mutated_json, report_seeds, scaled


def _fast_accepts(data: Any, schema: dict[str, Any]) -> bool:
    try:
        compiled(schema, jsonload._accepts, jsonload._IGNORED, jsonload._KNOWN)(data)
    except Reject:
        return False
    return True


def _outcome(call: Any) -> str:
    try:
        call()
    except ConfigError as refusal:
        return refusal.one_line()
    return "accepted"


def _reference_parse(text: str) -> Any:
    """parse_json as it was before the fast paths: always the full value walk."""
    numbers = jsonload._Numbers()
    try:
        data = json.loads(text, parse_int=numbers.parse_int, parse_float=numbers.parse_float,
                          parse_constant=numbers.bad)
    except (json.JSONDecodeError, RecursionError):
        return None
    jsonload._check_values(data, "x.json")
    return data


def _receipt() -> dict[str, Any]:
    from tests.test_input_safety import receipt_json

    return receipt_json(report_seeds()[0])


def _agree(text: str, schema: dict[str, Any]) -> None:
    ours = _outcome(lambda: parse_json(text, "x.json", "JSON"))
    reference = _outcome(lambda: _reference_parse(text))
    if "invalid JSON" in ours or "JSON nested deeper" in ours:
        return  # json.loads itself refused: no value walk on either side
    assert ours == reference
    if ours == "accepted":
        data = parse_json(text, "x.json", "JSON")
        exact = jsonload._accepts(data, schema, schema)
        assert _fast_accepts(data, schema) == exact, json.dumps(data)[:300]


@settings(max_examples=scaled(0.5), suppress_health_check=list(HealthCheck))
@given(mutated_json(report_seeds()))
def test_fast_paths_agree_with_the_exact_ones_on_reports(text: str) -> None:
    _agree(text, report_schema())


@settings(max_examples=scaled(0.3), suppress_health_check=list(HealthCheck))
@given(mutated_json([_receipt()]))
def test_fast_paths_agree_with_the_exact_ones_on_receipts(text: str) -> None:
    _agree(text, receipt_schema())


def test_valid_reports_and_receipts_never_meet_the_exact_checker(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any) -> None:
        raise AssertionError("the exact checker ran on valid data")

    monkeypatch.setattr(jsonload._Checker, "check", refuse)
    for report in report_seeds():
        check_schema(parse_json(json.dumps(report), "r.json", "a report"), report_schema(), "r.json")
    check_schema(parse_json(json.dumps(_receipt()), "x.json", "a receipt"), receipt_schema(), "x.json")


def test_what_the_fast_accepter_does_not_know_is_left_to_the_exact_checker() -> None:
    """A str subclass where an enum is due: not JSON's own type, valid all the same."""
    class Kind(str):
        pass

    schema = {"type": "object", "properties": {"names": {"type": "array", "items": {"enum": ["a", "b"]}}}}
    data = {"names": [Kind("a"), "b"]}
    assert not _fast_accepts(data, schema)
    check_schema(data, schema, "x.json")
    with pytest.raises(ConfigError, match=r"x.json: names\[1\]: is a string \('c'\)"):
        check_schema({"names": ["a", Kind("c")]}, schema, "x.json")


def test_a_schema_is_compiled_once_and_not_changed_by_its_caller_later() -> None:
    schema: dict[str, Any] = {"type": "object", "required": ["a"]}
    check_schema({"a": 1}, schema, "x.json")
    schema["required"] = ["b"]  # a new content is a new compilation, the old one is untouched
    with pytest.raises(ConfigError, match="missing key 'b'"):
        check_schema({"a": 1}, schema, "x.json")
    check_schema({"a": 1}, {"type": "object", "required": ["a"]}, "x.json")
    with pytest.raises(ValueError, match="unsupported JSON Schema keywords"):
        check_schema({}, {"type": "object", "properties": {"a": {"format": "date"}}}, "x.json")


@pytest.mark.parametrize(("text", "refusal"), [
    ("[" * 64 + "1" + "]" * 64, None),
    ("[" * 65 + "]" * 65, None),
    ("[" * 65 + "1" + "]" * 65, "nested deeper than 64 levels"),
    ('{"a": ["\\ud83d\\ude00"]}', None),
    ('{"a": ["x\\uDC00"]}', "a[0]: the text holds a lone surrogate"),
    ('{"a\\ud800": 1}', "a key holds a lone surrogate"),
    ('{"a": "\\\\ud800"}', None),
    ('{"a": "\ud800"}', "a: the text holds a lone surrogate"),
    ('{"a": [1, 2, -Infinity]}', "a[2]: -Infinity is out of range"),
    ('{"a": {"b": 9223372036854775808}}', "a.b: 9223372036854775808 is out of range"),
    ('{"a": {"b": 9223372036854775807.0}}', None),
])
def test_values_are_walked_when_a_cheap_check_says_maybe(text: str, refusal: str | None) -> None:
    outcome = _outcome(lambda: parse_json(text, "x.json", "JSON"))
    assert outcome == _outcome(lambda: _reference_parse(text))
    if refusal is None:
        assert outcome == "accepted"
    else:
        assert refusal in outcome
