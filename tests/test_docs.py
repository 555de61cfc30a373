"""README, --help and CI stay in step with the code."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netcheck.cli import build_parser
from netcheck.model import REASON_TEXT, Reason
from netcheck.render import FORMATS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def first_screen_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block, "README must open with a sh block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_first_screen_has_exactly_the_two_setup_commands() -> None:
    run_it, test_it = first_screen_commands()
    assert run_it == "pip install -e . && netcheck demo"
    assert test_it == "bash .ci/setup && python3 -m pytest"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    setup, command = first_screen_commands()[1].split(" && ")
    assert setup in ci and command in ci


def test_every_subcommand_and_format_is_documented() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands.choices:
        assert f"netcheck {name}" in README, f"README does not show `netcheck {name}`"
    for name in FORMATS:
        assert f"`{name}`" in README, f"README does not name the format `{name}`"


def test_every_reason_is_documented() -> None:
    assert set(REASON_TEXT) == set(Reason)
    for reason in Reason:
        assert f"| `{reason.value}` |" in README, f"README's reason table lacks {reason.value}"


@pytest.mark.parametrize("command", ["scan", "cert", "report", "diff", "merge", "listen", "demo", "validate"])
def test_help_of_every_command_works(command: str) -> None:
    run = subprocess.run([sys.executable, "-m", "netcheck", command, "--help"], capture_output=True, text=True,
                         cwd=ROOT)
    assert run.returncode == 0 and "usage: netcheck" in run.stdout
