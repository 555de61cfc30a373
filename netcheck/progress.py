"""Live progress on a TTY (stderr); silent in a pipe."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from netcheck.escape import terminal_text
from netcheck.model import Result, Status

if TYPE_CHECKING:
    from rich.progress import ProgressColumn


def counts_column() -> "ProgressColumn":
    """The running counts, as plain text: rich never parses it as markup or emoji codes."""
    from rich.progress import TextColumn

    return TextColumn("{task.fields[counts]}", markup=False)


class TtyProgress:
    """A rich progress bar with running counts; construct only when stderr is a TTY."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), counts_column(),
            TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True,
        )
        self._task: Any = None
        self._counts = {status: 0 for status in Status}

    def start(self, total: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("scan", total=total, counts="")

    def advance(self, result: Result) -> None:
        self._counts[result.status] += 1
        text = " ".join(f"{n} {s.value}" for s, n in self._counts.items() if n)
        # The column is plain text (markup off); whatever reaches it still goes through the one sanitiser.
        self._progress.update(self._task, advance=1, counts=terminal_text(text))

    def stop(self) -> None:
        self._progress.stop()
