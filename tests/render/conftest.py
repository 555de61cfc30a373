"""Fixtures of the renderer tests: the fixed sample report and the hostile one."""

from __future__ import annotations

import pytest

from netcheck.model import Report
from tests.render.sample import hostile_report, sample_report


@pytest.fixture
def report() -> Report:
    return sample_report()


@pytest.fixture
def hostile() -> Report:
    return hostile_report()
