"""The table on a real terminal: tmux at 80x24 (a serial or iDRAC console) and at 200 columns.

tmux runs `netcheck report -f table` on its own pseudo-terminal, so netcheck sees a TTY, takes
the width from it and colours the status. `capture-pane -J` joins lines the terminal wrapped, so
a line wider than the window shows up as one long line. Each test starts its own tmux server on a
private socket and kills it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from netcheck.model import Reason, Report, Result, Status
from netcheck.serialize import dumps
from tests.render.sample import sample_report

ROOT = Path(__file__).resolve().parents[2]
DONE = "NETCHECK-TMUX-DONE"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt package tmux)")


class Tmux:
    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.sessions = 0

    def __call__(self, *args: str) -> str:
        run = subprocess.run(["tmux", "-S", str(self.socket), "-f", "/dev/null", *args], capture_output=True,
                             text=True, timeout=30)
        assert run.returncode == 0, run.stderr
        return run.stdout

    def run_in_window(self, width: int, height: int, command: str, env: dict[str, str]) -> tuple[str, str]:
        """Run `command` in a new width x height session; the joined text and the text with attributes."""
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        script = f"unset COLUMNS LINES; export {exports}; {command}; echo {DONE}; sleep 60"
        self.sessions += 1
        name = f"t{self.sessions}"
        self("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), "sh", "-c", script)
        deadline = time.monotonic() + 60
        while True:
            text = self("capture-pane", "-p", "-J", "-S", "-", "-t", name)
            if DONE in text:
                break
            assert time.monotonic() < deadline, f"netcheck did not finish in tmux:\n{text}"
            time.sleep(0.2)
        return text, self("capture-pane", "-p", "-e", "-S", "-", "-t", name)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    server = Tmux(tmp_path / "tmux.sock")
    try:
        yield server
    finally:
        subprocess.run(["tmux", "-S", str(server.socket), "kill-server"], capture_output=True, timeout=30)


def saved(tmp_path: Path, report: Report) -> Path:
    path = tmp_path / "report.json"
    path.write_text(dumps(report), encoding="utf-8")
    return path


def command(path: Path, *args: str) -> str:
    argv = [sys.executable, "-m", "netcheck", "report", str(path), "-f", "table", *args]
    return " ".join(shlex.quote(arg) for arg in argv) + " 2>&1"


def base_env() -> dict[str, str]:
    return {"PYTHONPATH": str(ROOT), "TERM": "tmux-256color" if os.path.exists(
        "/usr/share/terminfo/t/tmux-256color") else "screen", "LANG": "C.UTF-8"}


def output_lines(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[:lines.index(DONE)]


def test_80x24_gets_the_compact_layout_and_no_line_wraps(tmux: Tmux, tmp_path: Path) -> None:
    text, attributes = tmux.run_in_window(80, 24, command(saved(tmp_path, sample_report())), base_env())
    lines = output_lines(text)
    assert max(len(line) for line in lines) <= 80, "\n".join(line for line in lines if len(line) > 80)
    assert any(re.match(r"^Status +Flow +Port +Peer +Reason$", line) for line in lines)
    tunnel = next(i for i, line in enumerate(lines) if line.startswith("FAIL    tunnel "))
    assert lines[tunnel + 1].strip() == "TCP 9000: no answer within 3.0 s"
    assert lines[-2].startswith("18 flows: 9 pass") and lines[-1] == "failed)"  # the summary, wrapped
    # A terminal gets colour: tmux reports the red of FAIL among the cell attributes.
    before_fail = re.findall(r"((?:\x1b\[[0-9;]*m)+)FAIL", attributes)
    assert any(re.search(r"\[(?:[0-9;]*;)?31[;m]", codes) for codes in before_fail), before_fail


def test_200_columns_get_the_full_table(tmux: Tmux, tmp_path: Path) -> None:
    text, _ = tmux.run_in_window(200, 50, command(saved(tmp_path, sample_report())), base_env())
    lines = output_lines(text)
    assert max(len(line) for line in lines) <= 200
    assert any(re.match(r"^Status +Flow +Proto +Port +Source -> Destination +Reason +ms +Detail$", line)
               for line in lines)
    row = next(line for line in lines if line.startswith("PASS    tunnel-ssh"))
    assert "SSH banner SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3" in row


def test_no_color_and_the_option_turn_colour_off(tmux: Tmux, tmp_path: Path) -> None:
    path = saved(tmp_path, sample_report())
    _, attributes = tmux.run_in_window(100, 40, command(path), {**base_env(), "NO_COLOR": "1"})
    assert "FAIL" in attributes and not re.search(r"\x1b\[[0-9;]*m", attributes)
    _, attributes = tmux.run_in_window(100, 40, command(path, "--no-color"), base_env())
    assert "FAIL" in attributes and not re.search(r"\x1b\[[0-9;]*m", attributes)


def test_hostile_names_and_escape_sequences_print_literally(tmux: Tmux, tmp_path: Path) -> None:
    report = sample_report()
    first = report.results[0]
    hostile = Result(replace(first.flow, id="[/]", purpose="[bold]x[/bold]"), Status.FAIL, Reason.REFUSED,
                     "reset \x1b[2J\x1b[31mred\x1b]0;title\x07 end", "203.0.113.10")
    report = Report.build(replace(report.info, site="[/]"), [hostile, *report.results[1:]])
    text, _ = tmux.run_in_window(80, 24, command(saved(tmp_path, report)), base_env())
    lines = output_lines(text)
    # Given a clear-screen sequence in a detail, When printed on a terminal, Then the screen was not
    # cleared (the title line is still there) and the sequence shows as text.
    assert lines[0].startswith("netcheck 0.1.0 - profile sensor (sensor) at site [/] from sensor-01")
    assert "        reset \\x1b[2J\\x1b[31mred\\x1b]0;title\\x07 end" in lines
    assert any(line.startswith("FAIL    [/] ") for line in lines)
    assert max(len(line) for line in lines) <= 80
