"""The model's public fields hold JSON values (netcheck.model.JsonValue), not arbitrary objects:
options and evidence go to the report as they are, so a live object there would be a bug."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import pytest

import netcheck
from netcheck.model import Direction, Flow, JsonValue


def is_json(value: object) -> bool:
    """Strictly JSON: text, finite numbers, booleans, null, lists and text-keyed mappings of those."""
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(isinstance(key, str) and is_json(item) for key, item in value.items())
    if isinstance(value, Sequence):
        return all(is_json(item) for item in value)
    return False


def flow(**options: JsonValue) -> Flow:
    return Flow(id="f", purpose="p", protocol="P", transport="tcp", port=1, direction=Direction.OUT, peer="console",
                host="127.0.0.1", probe="tcp", options=options)


def test_is_json_refuses_what_json_cannot_hold() -> None:
    assert is_json({"a": [1, 2.5, "x", None, True, {"b": ()}]})
    assert not is_json({"a": object()}) and not is_json({1: "x"}) and not is_json(float("nan"))


def test_a_scan_of_the_loopback_sample_holds_only_json_in_options_and_evidence() -> None:
    # Given the built-in loopback sample site (probes answer or fail on 127.0.0.1)
    report = netcheck.scan("sensor", None, timeout=1, raw=False)
    # Then every option and every piece of evidence is plain JSON, and dumps without a fallback
    assert report.results
    for result in report.results:
        assert is_json(result.evidence), (result.flow.id, result.evidence)
        assert is_json(result.flow.options), (result.flow.id, result.flow.options)
        json.dumps(result.evidence, allow_nan=False)
    assert is_json(report.info.options)


def test_typed_option_reads() -> None:
    given = flow(sample=4, max_offset_s=0.5, ca_file="ca.pem", names=["a", "b"], one="x", weird=[1])
    assert given.int_option("sample", 8) == 4 and given.int_option("absent", 8) == 8
    assert given.float_option("max_offset_s", 1.0) == 0.5 and given.float_option("sample", 1.0) == 4.0
    assert given.text_option("ca_file") == "ca.pem" and given.text_option("sample") is None
    assert given.texts_option("names") == ["a", "b"] and given.texts_option("one") == ["x"]
    assert given.texts_option("absent") is None
    with pytest.raises(TypeError, match="flow option weird: expected a number"):
        given.int_option("weird", 1)
