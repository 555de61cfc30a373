"""Live progress on a TTY (stderr); silent in a pipe."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Callable

from netcheck.escape import terminal_text
from netcheck.model import Result, Status

if TYPE_CHECKING:
    from rich.progress import ProgressColumn


def counts_column() -> "ProgressColumn":
    """The running counts, as plain text: rich never parses it as markup or emoji codes."""
    from rich.progress import TextColumn

    return TextColumn("{task.fields[counts]}", markup=False)


# rich redraws ten times a second: handing it every finished flow (2,000 on a loopback run) cost
# more than the drawing; the bar gets the counts at most this often, and once more at the end.
UPDATE_EVERY_S = 0.05


class TtyProgress:
    """A rich progress bar with running counts; construct only when stderr is a TTY."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), counts_column(),
            TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True,
        )
        self._task: Any = None
        self._counts = {status: 0 for status in Status}
        self._clock = clock
        self._pending = 0  # flows finished since the bar last heard of them
        self._shown_at = float("-inf")

    def start(self, total: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("scan", total=total, counts="")

    def advance(self, result: Result) -> None:
        self._counts[result.status] += 1
        self._pending += 1
        if self._clock() - self._shown_at >= UPDATE_EVERY_S:
            self._show()

    def _show(self) -> None:
        text = " ".join(f"{n} {s.value}" for s, n in self._counts.items() if n)
        # The column is plain text (markup off); whatever reaches it still goes through the one sanitiser.
        self._progress.update(self._task, advance=self._pending, counts=terminal_text(text))
        self._pending = 0
        self._shown_at = self._clock()

    def stop(self) -> None:
        if self._pending:
            self._show()
        self._progress.stop()
