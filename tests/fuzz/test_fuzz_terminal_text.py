"""Property tests of the terminal sanitiser and the stdout writers: whatever text comes in, nothing a
terminal obeys comes out, line structure is kept, JSON stays the same JSON, and the sanitised
error line is one line. In-process (no subprocess), so the budget goes to many inputs."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from netcheck.errors import ConfigError
from netcheck.escape import BIDI_CONTROLS, terminal_text
from netcheck.outputs import json_stdout_text, stdout_text
from netcheck.progress import counts_column

RAW = re.compile(f"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}]|\r(?!\n)")
SURROGATE = re.compile("[\ud800-\udfff]")
# Text biased toward what attacks use: controls, C1, bidi, line breaks, markup brackets.
NASTY = st.text(alphabet=st.one_of(
    st.sampled_from(list("\x00\x07\x08\x1b\x7f\x85\x9b\r\n\t[]/\\;") + list(BIDI_CONTROLS) + ["\u2028", "\ud800"]),
    st.characters(),
), max_size=80)


@given(NASTY)
def test_terminal_text_leaves_nothing_raw_and_one_line(text: str) -> None:
    shown = terminal_text(text)
    assert not RAW.search(shown) and "\n" not in shown and "\r" not in shown
    assert terminal_text(text, keep_newlines=True).count("\n") == text.count("\n")


@given(NASTY)
def test_stdout_text_keeps_line_breaks_only(text: str) -> None:
    shown = stdout_text(text)
    assert not RAW.search(shown)
    assert shown.count("\n") == text.count("\n")
    if not RAW.search(text) and not SURROGATE.search(text) and "\t" not in text:
        assert shown == text  # clean text passes unchanged


@given(NASTY)
def test_the_progress_counts_column_shows_text_literally(text: str) -> None:
    import io

    from rich.console import Console
    from rich.progress import Progress

    column = counts_column()
    progress = Progress(column, console=Console(file=io.StringIO()), auto_refresh=False)
    progress.add_task("scan", total=1, counts=terminal_text(text))
    shown = column.render(progress.tasks[0])
    assert shown.plain == terminal_text(text)  # "[/]", "\\[" and ":smile:" stay as typed, never raise


@given(st.recursive(st.none() | st.booleans() | NASTY, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(NASTY, inner, max_size=3), max_leaves=8))
def test_json_for_stdout_is_the_same_json(value: object) -> None:
    try:
        text = json.dumps(value, ensure_ascii=False, indent=2)
    except UnicodeEncodeError:
        return
    shown = json_stdout_text(text)
    assert json.loads(shown) == value
    assert not RAW.search(shown.replace("\n", ""))


@given(NASTY, NASTY)
def test_an_error_message_is_one_line(problem: str, source: str) -> None:
    line = terminal_text(f"netcheck: error: {ConfigError(source, problem, expected=problem).one_line()}")
    assert len(line.splitlines()) == 1 and not RAW.search(line)
