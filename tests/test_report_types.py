"""A saved report whose fields carry the wrong JSON type is refused with one line naming the field,
also after the fast path that checks well-typed results in one expression."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netcheck.cli import main
from netcheck.serialize import dumps
from tests.render.sample import sample_report

CASES: dict[str, tuple[str, Any, str]] = {
    "purpose": ("purpose", 7, "purpose is not text"),
    "destination": ("destination", ["x"], "destination is not text"),
    "note": ("note", None, "note is not text"),
    "detail": ("detail", {"a": 1}, "detail is not text"),
    "address": ("address", 5, "address is not text or null"),
    "latency": ("latency_ms", "fast", "latency_ms is not a number or null"),
    "latency bool": ("latency_ms", True, "latency_ms is not a number or null"),
    "evidence": ("evidence", [], "evidence is not an object"),
    "options": ("options", "x", "options is not an object"),
    "required": ("required", "yes", "required is not true/false"),
    "category": ("category", 5, "category is not text or null"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrongly_typed_field_is_named(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, value, problem = CASES[case]
    data = json.loads(dumps(sample_report()))
    data["results"][5][key] = value
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["report", str(path), "-f", "table"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and problem in err[0] and "results[" in err[0], err


def test_a_well_typed_report_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.json"
    path.write_text(dumps(sample_report()), encoding="utf-8")
    assert main(["report", str(path), "-f", "table", "--summary"]) == 0
    assert "By status and reason" in capsys.readouterr().out
