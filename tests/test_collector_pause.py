"""The cyclic collector, paused while big reports are built and rendered, is always given back."""

from __future__ import annotations

import gc
from collections.abc import Generator
from typing import cast

import pytest

from netcheck.gcpause import collector_paused
from netcheck.render.html import render_html
from netcheck.render.terminal import terminal_lines
from tests.render.sample import sample_report


def test_paused_inside_restored_after_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_caller_that_disabled_it_keeps_it_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_terminal_lines_give_it_back_when_done_or_closed() -> None:
    report = sample_report()
    lines = terminal_lines(report, view="all")
    assert next(lines)
    assert not gc.isenabled()  # paused while the caller takes the lines
    cast(Generator[str, None, None], lines).close()  # a caller that stops early (a closed pipe)
    assert gc.isenabled()
    assert list(terminal_lines(report, view="summary"))
    assert gc.isenabled()


def test_render_html_gives_it_back() -> None:
    assert "<html" in render_html(sample_report())
    assert gc.isenabled()
