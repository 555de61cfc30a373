"""The terminal table under arbitrary text: whatever a server or a crafted report puts in a name,
purpose, host or detail, no line is wider than the width, no control character reaches the
terminal, and every result still gets its row."""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from netcheck.model import Reason, Report, Result, Status
from netcheck.render.terminal import cells, render_terminal
from tests.render.sample import INFO, sample_report

OWN_SGR = re.compile(r"\x1b\[(?:1;3[1-5]|2|1|0)m")
# What terminal_text turns into visible escapes: C0, DEL, C1, lone surrogates and bidi controls.
RAW_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Pieces rather than single characters, so markup, escape sequences and long words come up often.
texts = st.lists(st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
    ["\x1b[2J", "[/]", "[bold]", "\u202e", "\x9b", "\n", "\t", "漢字", "e\u0301", " ", "-" * 40]),
    max_size=40).map("".join)


@given(flow_id=texts, purpose=texts, peer=texts, host=texts, detail=texts, site=texts,
       width=st.integers(min_value=40, max_value=220), view=st.sampled_from(["all", "summary"]),
       color=st.booleans())
def test_any_text_keeps_the_table_inside_the_width(flow_id: str, purpose: str, peer: str, host: str, detail: str,
                                                   site: str, width: int, view: str, color: bool) -> None:
    base = sample_report().results[3]
    odd = Result(replace(base.flow, id=flow_id, purpose=purpose, peer=peer, host=host), Status.FAIL,
                 Reason.FILTERED, detail, host or None, 2.5)
    report = Report.build(replace(INFO, site=site), [odd, *sample_report().results[:3]])
    text = render_terminal(report, width=width, view=view, color=color)
    plain = OWN_SGR.sub("", text)
    assert not RAW_CONTROL.search(plain.replace("\n", ""))
    assert max(cells(line) for line in plain.splitlines()) <= width
    rows = plain[plain.index("Flows that did"):] if view == "summary" else plain  # after the count tables
    statuses = re.findall(r"^(PASS|FAIL)\s{2,}", rows, re.M)  # a status cell, not a wrapped summary line
    assert statuses.count("FAIL") == 1 and statuses.count("PASS") == (3 if view == "all" else 0)
