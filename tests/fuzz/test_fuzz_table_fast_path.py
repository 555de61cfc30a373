"""The terminal table's fast layout (one %-format per line, when every cell is plain ASCII that fits its
column) writes exactly the lines of the general path (a pass per cell: wrap, pad, paint), for any cells."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from netcheck.render.terminal import FULL_COLUMNS, Cell, Column, column_widths, full_row, plain_layout, table_lines
from tests.render.sample import sample_report

# Mostly printable ASCII (the fast path's case), now and then a wide, combining or non-ASCII character.
texts = st.lists(st.sampled_from(["a", "b", " ", "-", "%", "%s", "{}", "\\", "漢", "e\u0301", "ü", "x" * 12]),
                 max_size=12).map("".join)
cells = st.lists(st.tuples(texts, st.sampled_from(["", "2", "1;31"])), min_size=1, max_size=3).map(tuple)


@given(rights=st.lists(st.booleans(), min_size=1, max_size=6), data=st.data(), color=st.booleans(),
       slack=st.integers(min_value=-2, max_value=3))
def test_the_fast_layout_writes_the_general_paths_lines(rights: list[bool], data: st.DataObject, color: bool,
                                                        slack: int) -> None:
    columns = [Column(f"c{index}", right=right) for index, right in enumerate(rights)]
    rows: list[list[Cell]] = data.draw(st.lists(st.lists(cells, min_size=len(columns), max_size=len(columns)),
                                                max_size=8))
    # widths around the widest text of each column: sometimes all fits (fast path), sometimes not
    widths = [max(2, max((len(text) for row in rows for text, _ in row[index]), default=0) + slack)
              for index in range(len(columns))]
    fast = list(table_lines(columns, widths, rows, color))
    general = list(table_lines(columns, widths, iter(rows), color))  # read once: no fast layout
    assert fast == general


def test_a_plain_report_table_takes_the_fast_layout() -> None:
    # Given the rows of a report whose texts are short ASCII (a big scan's refused flows, say)
    results = [replace(result, flow=replace(result.flow, id="p80", purpose="bench", host="127.0.0.1"),
                       address=None, detail="TCP 80: refused (TCP reset)") for result in sample_report().results]
    rows = [full_row(result) for result in results]
    widths = column_widths(FULL_COLUMNS, rows, 160)
    assert widths is not None
    assert plain_layout(FULL_COLUMNS, widths, rows, color=False) is not None
    assert plain_layout(FULL_COLUMNS, widths, rows, color=True) is None  # the status words are painted
