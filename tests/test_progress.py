"""The live progress bar hears of finished flows at most every UPDATE_EVERY_S, and of all of them by the end."""

from __future__ import annotations

from netcheck.model import Direction, Flow, Reason, Result, Status
from netcheck.progress import UPDATE_EVERY_S, TtyProgress


def result(status: Status) -> Result:
    flow = Flow(id="f", purpose="p", protocol="TCP", transport="tcp", port=1, direction=Direction.OUT, peer="console",
                host="127.0.0.1", probe="tcp")
    return Result(flow=flow, status=status, reason=Reason.OPEN if status is Status.PASS else Reason.REFUSED, detail="")


def test_a_burst_of_results_reaches_the_bar_once_and_all_of_it_at_stop() -> None:
    now = [100.0]
    progress = TtyProgress(clock=lambda: now[0])
    progress.start(total=1_000)
    try:
        task = progress._progress.tasks[0]
        for index in range(999):  # all within one instant: the first one is shown, the rest wait
            progress.advance(result(Status.PASS if index % 10 == 0 else Status.FAIL))
        assert task.completed == 1
        now[0] += 2 * UPDATE_EVERY_S  # time passes: the next result brings the bar up to date
        progress.advance(result(Status.FAIL))
        assert task.completed == 1_000 and task.fields["counts"] == "100 pass 900 fail"
        progress.advance(result(Status.FAIL))  # within the interval again: held back ...
        assert task.completed == 1_000
    finally:
        progress.stop()
    assert task.completed == 1_001  # ... and shown before the bar goes away
