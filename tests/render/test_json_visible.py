"""json_visible (netcheck/escape.py): every raw character a terminal or a page would obey
becomes a \\u escape, including DEL, the one such character plain ASCII text can hold."""

from __future__ import annotations

import json

import pytest

from netcheck.escape import json_visible


@pytest.mark.parametrize(("raw", "shown"), [
    ('{"a":"b"}', '{"a":"b"}'),
    ('{"a":"x\x7fy"}', '{"a":"x\\u007fy"}'),
    ('{"a":"\x85\u2028\u202e"}', '{"a":"\\u0085\\u2028\\u202e"}'),
    ('{"a":"caf\u00e9 \x7f"}', '{"a":"caf\u00e9 \\u007f"}'),
])
def test_raw_controls_become_escapes_and_the_value_stays(raw: str, shown: str) -> None:
    assert json_visible(raw) == shown
    assert json.loads(json_visible(raw)) == json.loads(raw)
