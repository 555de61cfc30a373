"""The command-line contract every hostile input must keep, and ways to run netcheck under it.

- exit 0, 1 or 2 (3 is netcheck's own failure: never for bad input);
- on exit 2 exactly one line on stderr;
- no raw control bytes (other than line ends and tabs) on stdout or stderr;
- bounded time (and, in-process, bounded memory).

`run_cli` calls netcheck.cli.main in this process with captured streams (fast); `run_subprocess`
runs `python3 -m netcheck` for the cases that need a real process (FIFOs, /dev/zero, memory).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from netcheck.cli import main

ROOT = Path(__file__).resolve().parents[2]
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ALLOWED_EXITS = (0, 1, 2)
MAX_PEAK_BYTES = 100 * 1024 * 1024  # Python allocations of one in-process case
SUBPROCESS_ADDRESS_SPACE = 2 << 30  # a real process is stopped (MemoryError: exit 3) beyond this


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (SUBPROCESS_ADDRESS_SPACE, SUBPROCESS_ADDRESS_SPACE))


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str
    seconds: float
    peak_bytes: int = 0

    def describe(self) -> str:
        return (f"exit {self.code} after {self.seconds:.2f} s, peak {self.peak_bytes >> 20} MiB\n"
                f"stdout: {self.out[-400:]!r}\nstderr: {self.err[-800:]!r}")


def run_cli(*args: str, memory: bool = False) -> Outcome:
    """netcheck.cli.main(args) in this process, stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    if memory:
        tracemalloc.start()
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] if memory else 0
        if memory:
            tracemalloc.stop()
    return Outcome(code, out.getvalue(), err.getvalue(), seconds, peak)


def run_subprocess(*args: str, timeout: float = 30.0, cwd: Path | None = None) -> Outcome:
    """`python3 -m netcheck args` with this checkout's code (PYTHONPATH), bytes decoded leniently."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "netcheck", *args], capture_output=True, timeout=timeout,
                          env=env, cwd=cwd or ROOT, stdin=subprocess.DEVNULL, preexec_fn=_limit_memory)
    return Outcome(done.returncode, done.stdout.decode("utf-8", "backslashreplace"),
                   done.stderr.decode("utf-8", "backslashreplace"), time.monotonic() - started)


def assert_contract(outcome: Outcome, *, max_seconds: float = 20.0, check_stdout: bool = True) -> None:
    """The contract above; the message shows the whole outcome when it breaks."""
    assert outcome.code in ALLOWED_EXITS, outcome.describe()
    if outcome.code == 2:
        lines = outcome.err.splitlines()
        assert len(lines) == 1 and outcome.err.endswith("\n"), outcome.describe()
        assert "Traceback" not in outcome.err, outcome.describe()
    assert not RAW_CONTROL.search(outcome.err), outcome.describe()
    if check_stdout:
        assert not RAW_CONTROL.search(outcome.out), outcome.describe()
    assert outcome.seconds < max_seconds, outcome.describe()
    assert outcome.peak_bytes < MAX_PEAK_BYTES, outcome.describe()


def assert_refused(outcome: Outcome, *words: str) -> str:
    """Exit 2 with one stderr line holding every one of `words`; returns that line."""
    assert_contract(outcome)
    assert outcome.code == 2, outcome.describe()
    line = outcome.err.strip()
    for word in words:
        assert word in line, outcome.describe()
    return line
