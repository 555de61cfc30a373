"""Loading a saved report gives back the Report a scan made: every field, in declaration order,
of the same types, and the objects stay frozen; the cyclic collector, paused while a big report is
parsed and built (netcheck/gcpause.py), is given back."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from netcheck.errors import ConfigError
from netcheck.model import Flow, Report, Result
from netcheck.serialize import dumps, load, loads
from tests.render.sample import hostile_report, sample_report


def with_every_field() -> Report:
    """The sample report, one result with every optional field set (category, options, note)."""
    report = sample_report()
    first = report.results[0]
    rich = replace(first, category="General connection errors", evidence={"errno": "ECONNREFUSED", "tries": [1, 2]},
                   flow=replace(first.flow, note="a note", options={"community": "public", "retries": 2}))
    return Report(report.info, (rich, *report.results[1:]), report.certificates)


@pytest.mark.parametrize("make", [sample_report, hostile_report, with_every_field])
def test_loaded_results_equal_the_constructed_ones(make: Callable[[], Report]) -> None:
    report = make()
    loaded = loads(dumps(report), "r.json")
    assert loaded == report
    for mine, theirs in zip(loaded.results, report.results, strict=True):
        # Every field set, in declaration order, as the generated __init__ sets them.
        assert list(vars(mine)) == [field.name for field in dataclasses.fields(Result)]
        assert list(vars(mine.flow)) == [field.name for field in dataclasses.fields(Flow)]
        assert type(mine.status) is type(theirs.status) and type(mine.flow.direction) is type(theirs.flow.direction)
        assert type(mine.flow.port) is type(theirs.flow.port)
    assert dumps(loaded) == dumps(report)


def test_loaded_results_stay_frozen() -> None:
    loaded = loads(dumps(sample_report()), "r.json")
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.results[0].detail = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.results[0].flow.port = 1  # type: ignore[misc]


def test_the_collector_is_restored_after_a_load_and_a_refusal() -> None:
    assert gc.isenabled()
    loads(dumps(sample_report()), "r.json")
    assert gc.isenabled()
    with pytest.raises(ConfigError):
        loads('{"schema": "netcheck.report/1"}', "r.json")
    assert gc.isenabled()
    gc.disable()
    try:
        loads(dumps(sample_report()), "r.json")
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


def test_load_reads_through_the_gate(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(dumps(sample_report()), encoding="utf-8")
    assert load(path) == sample_report()
