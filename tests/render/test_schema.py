"""schema/report.schema.json describes what serialize.py writes: a real scan's JSON validates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netcheck.model import Reason, Status
from netcheck.render import FORMATS
from netcheck.serialize import dumps, loads
from tests.render.sample import hostile_report, sample_report

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schema" / "report.schema.json").read_text())


def validator() -> object:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA)


@pytest.fixture(scope="module")
def real_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real scan of the built-in loopback sample site (127.0.0.1 only)."""
    out = tmp_path_factory.mktemp("scan") / "loopback.json"
    done = subprocess.run([sys.executable, "-m", "netcheck", "scan", "--timeout", "1", "--format", "json",
                           "--output", str(out), "--no-progress"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode in (0, 1), done.stderr
    return out


def test_a_real_scan_report_validates(real_report: Path) -> None:
    data = json.loads(real_report.read_text())
    errors = sorted(validator().iter_errors(data), key=str)  # type: ignore[attr-defined]
    assert errors == []
    assert len(data["results"]) > 5


def test_a_real_report_renders_in_every_format(real_report: Path) -> None:
    report = loads(real_report.read_text(), str(real_report))
    for fmt in FORMATS.values():
        assert fmt.renderer()(report)


def test_fixture_reports_validate_and_round_trip() -> None:
    for report in (sample_report(), hostile_report()):
        data = json.loads(dumps(report))
        assert list(validator().iter_errors(data)) == []  # type: ignore[attr-defined]
        assert loads(dumps(report), "x") == report


def test_schema_enums_follow_the_model() -> None:
    result = SCHEMA["$defs"]["result"]["properties"]
    assert result["reason"]["enum"] == [r.value for r in Reason]
    assert result["status"]["enum"] == [s.value for s in Status]


def test_schema_rejects_what_serialize_never_writes() -> None:
    data = json.loads(dumps(sample_report()))
    data["results"][0]["status"] = "maybe"
    del data["results"][1]["reason"]
    data["results"][2]["port"] = "443/tcp"
    assert len(list(validator().iter_errors(data))) == 3  # type: ignore[attr-defined]
