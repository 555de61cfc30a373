"""Downloaded endpoint lists and service-tag files of any shape: parsed, or refused with a
ConfigError (one line at the CLI), never another exception."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from netcheck.cloud.endpoints import parse_list
from netcheck.cloud.servicetags import parse
from netcheck.errors import ConfigError

NAMES = st.sampled_from(["hub.example.net", "HUB.example.net:5671", "https://b.example.net/x", "*.example.net",
                         "[::1]:443", "a..b", "x", "", " ", "endpoint", "port", "443", "ä.example", "\x00"])
JSON_VALUES: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | NAMES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["endpoint", "endpoints", "host", "port", "ports", "values", "properties", "url", "name",
                         "addressPrefixes", "x"]), inner, max_size=4),
    max_leaves=12)


def _parsed_or_refused(text: str) -> None:
    try:
        found = parse_list(text, "list")
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert found and all(0 < e.port < 65536 and "*" not in e.name for e in found)


@given(JSON_VALUES)
def test_json_shapes(value: Any) -> None:
    _parsed_or_refused(json.dumps(value))


@given(st.lists(st.lists(NAMES, max_size=3), max_size=5), st.sampled_from([",", ";", "\t", " "]))
def test_csv_and_line_shapes(rows: list[list[str]], separator: str) -> None:
    _parsed_or_refused("\n".join(separator.join(row) for row in rows))


@given(st.text(max_size=200))
def test_any_text(text: str) -> None:
    _parsed_or_refused(text)


@given(JSON_VALUES)
def test_service_tag_shapes(value: Any) -> None:
    with contextlib.suppress(ConfigError):
        parse(value, "tags.json")
