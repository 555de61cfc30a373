"""The terminal table: it fits the width it is given, switches to the compact layout when the full
table does not fit, shows the summary first for long reports, and prints hostile text inert."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from netcheck.model import Direction, Flow, Reason, Report, Result, Status
from netcheck.render.terminal import (
    NARROWEST,
    PIPE_WIDTH,
    cells,
    render_plain,
    render_terminal,
    wrap,
)
from netcheck.serialize import dumps
from netcheck.table_cli import SUMMARY_ABOVE, choose_view, table_width, use_color, write_table
from tests.render.sample import INFO, hostile_report, sample_report

ROOT = Path(__file__).resolve().parents[2]
# The only escape sequences the table writes itself: SGR colour on and off.
OWN_SGR = re.compile(r"\x1b\[(?:1;3[1-5]|2|1|0)m")
FULL_HEADER = re.compile(r"^Status +Flow +Proto +Port +Source -> Destination +Reason +ms +Detail$")
COMPACT_HEADER = re.compile(r"^Status +Flow +Port +Peer +Reason$")


def visible(line: str) -> str:
    return OWN_SGR.sub("", line)


def widest(text: str) -> int:
    return max(cells(visible(line)) for line in text.splitlines())


def weird_report() -> Report:
    """Rich markup, escape sequences, wide characters and a word longer than any column."""
    flow = Flow(id="[/]", purpose="[bold red]not markup[/] 漢字の目的", protocol="TCP", transport="tcp", port=8443,
                direction=Direction.OUT, peer="[/]", host="203.0.113.7", probe="tcp")
    results = [
        Result(flow, Status.FAIL, Reason.REFUSED, "reset \x1b[2J\x1b]0;owned\x07 by \u202egnp.exe \x9b31m",
               "203.0.113.7", 1.5),
        Result(replace(flow, id="x" * 150, port=1), Status.PASS, Reason.OPEN, "ｗｉｄｅ " * 30, "203.0.113.7", 0.4),
    ]
    return Report.build(replace(INFO, site="[/]", host_name="[red]h[/red]"), results)


REPORTS = {"sample": sample_report, "hostile": hostile_report, "weird": weird_report}


@pytest.mark.parametrize("width", [80, 100, 120, 132, 160, 200])
@pytest.mark.parametrize("view", ["all", "summary"])
@pytest.mark.parametrize("name", sorted(REPORTS))
@pytest.mark.parametrize("color", [False, True])
def test_no_line_is_wider_than_the_width(name: str, view: str, width: int, color: bool) -> None:
    text = render_terminal(REPORTS[name](), width=width, view=view, color=color)
    assert widest(text) <= width


def test_80_columns_get_the_compact_layout_with_the_detail_on_its_own_line() -> None:
    lines = render_terminal(sample_report(), width=80).splitlines()
    assert any(COMPACT_HEADER.match(line) for line in lines)
    assert not any(FULL_HEADER.match(line) for line in lines)
    tunnel = next(i for i, line in enumerate(lines) if line.startswith("FAIL    tunnel "))
    assert lines[tunnel].split() == ["FAIL", "tunnel", "tcp/9000", "console", "203.0.113.10", "filtered"]
    assert lines[tunnel + 1].strip() == "TCP 9000: no answer within 3.0 s"
    assert lines[tunnel + 1].startswith("        ")  # under the flow, not under the status


def test_wide_terminals_get_the_full_table() -> None:
    for width in (160, 200):
        lines = render_terminal(sample_report(), width=width).splitlines()
        assert any(FULL_HEADER.match(line) for line in lines), width
        row = next(line for line in lines if line.startswith("PASS    console-https"))
        assert "HTTPS" in row and "answered" in row and "TLSv1.3 handshake" in row


def test_the_file_format_is_every_flow_at_the_fixed_pipe_width() -> None:
    text = render_plain(sample_report())
    assert text == render_terminal(sample_report(), width=PIPE_WIDTH, view="all")
    assert widest(text) <= PIPE_WIDTH == 160
    assert "\x1b" not in text


def test_every_result_appears_once_in_either_layout() -> None:
    report = sample_report()
    for width in (80, 200):
        text = render_terminal(report, width=width)
        starts = [line.split()[0] for line in text.splitlines() if re.match(r"^(PASS|WARN|FAIL|SKIP|ERROR) ", line)]
        assert len(starts) == len(report.results)


def test_summary_view_counts_first_then_only_the_flows_that_did_not_pass() -> None:
    report = sample_report()
    text = render_terminal(report, width=120, view="summary")
    by_reason = text.index("By status and reason")
    by_peer = text.index("By peer")
    flagged = text.index("Flows that did not pass (8 of 18")
    assert by_reason < by_peer < flagged
    assert re.search(r"^FAIL +refused +1 +the host answered with a TCP reset", text, re.M)
    assert re.search(r"^PASS +answered +7 ", text, re.M)
    assert re.search(r"^console +4 +3 +1$", text, re.M)  # 4 flows: 3 pass, 1 fail
    rows = text[flagged:].splitlines()
    assert not any(row.startswith("PASS ") or row.startswith("SKIP ") for row in rows)
    assert sum(1 for row in rows if re.match(r"^(FAIL|ERROR|WARN) ", row)) == 8
    assert text.rstrip().endswith("-> FAIL (a required flow failed)")


def test_hostile_text_prints_literally_and_never_reaches_the_terminal_raw() -> None:
    for color in (False, True):
        text = render_terminal(weird_report(), width=100, color=color, view="all")
        # Given ESC, OSC, BEL, C1 CSI and a bidi override in a detail, When printed,
        # Then each shows as a visible escape and no byte of it reaches the terminal.
        assert "\\x1b[2J" in text and "\\x1b]0;owned\\x07" in text and "\\u202e" in text and "\\x9b31m" in text
        assert "\x07" not in text and "\x9b" not in text and "\u202e" not in text
        assert "\x1b" not in OWN_SGR.sub("", text)
        # Rich markup in names is plain text: "[/]" does not crash, "[bold red]" is not a style.
        assert "site [/] from [red]h[/red]" in text and "[/]" in text
    plain = render_terminal(weird_report(), width=200, view="all")
    assert "[bold red]not markup[/] 漢字の目的" in plain


def test_hostile_report_has_no_control_bytes_in_the_table() -> None:
    text = render_terminal(hostile_report(), width=160)
    assert "\x1b" not in text and "\x00" not in text and "\x07" not in text and "\r" not in text
    assert "bell\\x07 esc\\x1b[31m nul\\x00 end" in text


def test_colour_is_sgr_on_the_status_word_only_when_asked() -> None:
    coloured = render_terminal(sample_report(), width=200, color=True)
    assert "\x1b[1;31mFAIL\x1b[0m" in coloured and "\x1b[1;32mPASS\x1b[0m" in coloured
    assert set(re.findall(r"\x1b\[[0-9;]*m", coloured)) <= {"\x1b[1;31m", "\x1b[1;32m", "\x1b[1;33m",
                                                              "\x1b[2m", "\x1b[1;35m", "\x1b[1m", "\x1b[0m"}
    assert "\x1b" not in render_terminal(sample_report(), width=200, color=False)
    assert visible(coloured) .replace(" ", "") == render_terminal(sample_report(), width=200).replace(" ", "")


def test_wrap_counts_wide_characters_and_breaks_long_words() -> None:
    assert cells("漢字") == 4 and cells("abc") == 3
    assert wrap("漢字漢字漢字", 5) == ("漢字", "漢字", "漢字")
    assert wrap("a" * 25, 10) == ("a" * 10, "a" * 10, "a" * 5)
    assert wrap("one two three", 7) == ("one two", "three")
    # leading spaces stay on the first line; the rest is wrapped to what is left after them
    assert wrap("  indented text here", 10) == ("  indented", "text", "here")


# ---------------------------------------------------------------- the command-line side

class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_width_comes_from_columns_then_the_terminal_then_the_fixed_pipe_width() -> None:
    assert table_width(io.StringIO(), {"COLUMNS": "80"}) == 80
    assert table_width(io.StringIO(), {"COLUMNS": "200"}) == 200
    assert table_width(io.StringIO(), {}) == PIPE_WIDTH
    assert table_width(io.StringIO(), {"COLUMNS": "wide"}) == PIPE_WIDTH
    assert table_width(io.StringIO(), {"COLUMNS": "0"}) == PIPE_WIDTH


def test_colour_needs_a_terminal_and_yields_to_no_color() -> None:
    assert use_color(FakeTty(), {}) is True
    assert use_color(io.StringIO(), {}) is False
    assert use_color(FakeTty(), {"NO_COLOR": "1"}) is False
    assert use_color(FakeTty(), {"NO_COLOR": ""}) is True  # no-color.org: only a non-empty value counts
    assert use_color(FakeTty(), {}, no_color=True) is False
    assert use_color(FakeTty(), {"TERM": "dumb"}) is False


def test_write_table_streams_what_render_terminal_returns() -> None:
    out = FakeTty()
    write_table(sample_report(), "all", stream=out, env={"COLUMNS": "80"})
    assert out.getvalue() == render_terminal(sample_report(), width=80, color=True, view="all")
    out = FakeTty()
    write_table(sample_report(), "all", no_color=True, stream=out, env={"COLUMNS": "80"})
    assert "\x1b" not in out.getvalue()


def big_report(count: int) -> Report:
    base = sample_report().results
    results = [replace(base[i % len(base)], flow=replace(base[i % len(base)].flow, id=f"flow-{i}"))
               for i in range(count)]
    return Report.build(INFO, results)


def test_a_long_report_starts_with_the_summary_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert choose_view(big_report(SUMMARY_ABOVE), None) == "all"
    assert capsys.readouterr().err == ""
    assert choose_view(big_report(SUMMARY_ABOVE + 1), None) == "summary"
    err = capsys.readouterr().err
    assert err.startswith("netcheck: ") and "--all lists every flow" in err and len(err.splitlines()) == 1
    assert choose_view(big_report(SUMMARY_ABOVE + 1), "all") == "all"


def run_report(path: Path, *args: str, columns: str | None = None, no_color: str | None = None,
               ) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    if columns:
        env["COLUMNS"] = columns
    if no_color is not None:
        env["NO_COLOR"] = no_color
    return subprocess.run([sys.executable, "-m", "netcheck", "report", str(path), "-f", "table", *args],
                          capture_output=True, text=True, env=env, timeout=60)


def test_report_table_in_a_pipe_respects_columns(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(dumps(sample_report()), encoding="utf-8")
    narrow = run_report(path, columns="80")
    assert narrow.returncode == 0, narrow.stderr
    assert widest(narrow.stdout) <= 80 and any(COMPACT_HEADER.match(line) for line in narrow.stdout.splitlines())
    piped = run_report(path)
    assert widest(piped.stdout) <= PIPE_WIDTH and any(FULL_HEADER.match(line) for line in piped.stdout.splitlines())
    assert "\x1b" not in piped.stdout  # a pipe never gets colour
    summary = run_report(path, "--summary", columns="100")
    assert "By status and reason" in summary.stdout and widest(summary.stdout) <= 100


def test_report_help_documents_the_table_options() -> None:
    run = subprocess.run([sys.executable, "-m", "netcheck", "report", "--help"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "200"}, timeout=60)
    for option in ("--all", "--summary", "--no-color"):
        assert option in run.stdout
    assert f"above {SUMMARY_ABOVE} flows" in run.stdout and "NO_COLOR" in run.stdout
    scan = subprocess.run([sys.executable, "-m", "netcheck", "scan", "--help"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "200"}, timeout=60)
    assert "--summary" in scan.stdout and "--no-color" in scan.stdout


def test_all_and_summary_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(dumps(sample_report()), encoding="utf-8")
    run = run_report(path, "--all", "--summary")
    assert run.returncode == 2 and "not allowed with" in run.stderr and "Traceback" not in run.stderr


def test_readme_states_the_width_rule_and_the_summary_threshold() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"a fixed {PIPE_WIDTH} columns" in readme
    assert f"nothing gets fewer than {NARROWEST})" in readme
    assert f"Up to {SUMMARY_ABOVE:,} flows the table lists every flow" in readme
    assert "`--no-color`, a non-empty `NO_COLOR`" in readme


def test_report_command_shows_a_long_report_summary_first(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from netcheck.cli import main

    monkeypatch.setenv("COLUMNS", "100")
    path = tmp_path / "big.json"
    path.write_text(dumps(big_report(SUMMARY_ABOVE + 200)), encoding="utf-8")
    assert main(["report", str(path), "-f", "table"]) == 0
    out, err = capsys.readouterr()
    assert "the table shows the summary" in err and "--all lists every flow" in err
    assert out.index("By status and reason") < out.index("By peer") < out.index("Flows that did not pass")
    assert widest(out) <= 100
    flagged = sum(1 for result in big_report(SUMMARY_ABOVE + 200).results if result.status.value in
                  ("fail", "error", "warn"))
    assert f"Flows that did not pass ({flagged} of {SUMMARY_ABOVE + 200};" in out
    assert main(["report", str(path), "-f", "table", "--all"]) == 0
    out, err = capsys.readouterr()
    assert "By peer" not in out and err == ""
    rows = [line for line in out.splitlines() if re.match(r"^(PASS|WARN|FAIL|SKIP|ERROR) ", line)]
    assert len(rows) == SUMMARY_ABOVE + 200


def test_a_huge_detail_wraps_quickly_within_the_width() -> None:
    import time

    flow = sample_report().results[0].flow
    huge = Result(flow, Status.FAIL, Reason.PROTOCOL_ERROR, "banner " + "#" * 200_000 + " end", "203.0.113.10")
    started = time.process_time()
    for width in (80, 200):
        text = render_terminal(Report.build(INFO, [huge]), width=width)
        assert widest(text) <= width and text.count("#") == 200_000
    assert time.process_time() - started < 5  # generous: it takes well under a second
