"""yamldoc's fast paths (plain scalars that cannot be anything but text, decimal integers read
directly) give exactly what the loader's own resolution and constructors give."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netcheck.errors import ConfigError
from netcheck.yamldoc import INT_LIMIT, _Loader, parse_yaml

# Characters that start or make up YAML 1.1 ints, floats, bools and nulls, plus some plain text.
SCALAR_TEXT = st.text(alphabet="0123456789+-._~:eExXoObBaAnNyYtTfFlsuLSU ", min_size=0, max_size=8)


def reference(text: str) -> Any:
    """What the loader itself builds (no limits): None when it refuses the document."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (CSafeLoader without dates)
    except yaml.YAMLError:
        return None


def plain_and_in_range(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -INT_LIMIT < value < INT_LIMIT
    return isinstance(value, float) and math.isfinite(value)


@settings(max_examples=400, deadline=None)
@given(SCALAR_TEXT, st.sampled_from(["{}", "'{}'", "[{}]", "{{k: {}}}"]))
def test_scalars_read_as_the_loader_reads_them(scalar: str, shape: str) -> None:
    text = "a: " + shape.format(scalar) + "\n"
    expected = reference(text)
    if expected is None:
        return
    inner = expected["a"]
    leaf = inner
    if isinstance(inner, list | dict):
        leaf = next(iter(inner.values() if isinstance(inner, dict) else inner), None)
    try:
        got = parse_yaml(text, "f.yaml", "x").data
    except ConfigError:
        # refused: only what the limits refuse (out-of-range ints, inf/nan, merge keys, other tags)
        assert not plain_and_in_range(leaf) or scalar.strip() == "<<" or leaf is None and scalar.startswith("<")
        return
    assert got == expected and type(got["a"]) is type(expected["a"])


@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("-0", 0), ("+12", 12), ("0755", 493), ("0x1F", 31), ("1_000", 1000),
    ("9223372036854775807", 2**63 - 1), ("-9223372036854775807", -(2**63) + 1), ("12.5", 12.5), ("yes", True),
    ("~", None), ("", None), ("2024-01-01", "2024-01-01"), ("=", "="), ("text", "text"), ("'12'", "12"),
])
def test_known_scalars(text: str, value: Any) -> None:
    assert parse_yaml(f"a: {text}\n", "f.yaml", "x").data == {"a": value}


@pytest.mark.parametrize("text", ["9223372036854775808", "-9223372036854775808", ".inf", "1.0e+400", "!!binary aGk=",
                                  "9" * 5000])
def test_refused_scalars_name_the_line(text: str) -> None:
    with pytest.raises(ConfigError, match=r"f\.yaml:2: b"):
        parse_yaml(f"a: 1\nb: {text}\n", "f.yaml", "x")
