"""A saved report whose fields carry the wrong JSON type is refused with one line naming the field
(before any renderer sees it), and a well-typed one renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netcheck.cli import main
from netcheck.serialize import dumps
from tests.render.sample import sample_report

CASES: dict[str, tuple[str, Any]] = {
    "purpose": ("purpose", 7),
    "destination": ("destination", ["x"]),
    "note": ("note", None),
    "detail": ("detail", {"a": 1}),
    "address": ("address", 5),
    "latency": ("latency_ms", "fast"),
    "latency bool": ("latency_ms", True),
    "evidence": ("evidence", []),
    "options": ("options", "x"),
    "required": ("required", "yes"),
    "category": ("category", 5),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_wrongly_typed_field_is_named(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, value = CASES[case]
    data = json.loads(dumps(sample_report()))
    data["results"][5][key] = value
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["report", str(path), "-f", "table"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"results[5].{key}" in err[0], err


def test_a_well_typed_report_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.json"
    path.write_text(dumps(sample_report()), encoding="utf-8")
    assert main(["report", str(path), "-f", "table", "--summary"]) == 0
    assert "By status and reason" in capsys.readouterr().out
