"""StepWorker: steps in a child process, with the run context, progress, logs and errors
passed back as if they had run in the caller."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from salesdw.worker import StepProcessError, StepWorker, isolated


@dataclass
class Ctx:
    pids: list[int] = field(default_factory=list)
    note: str = ""


class NotPicklableError(Exception):
    def __init__(self, code: int, detail: str) -> None:  # pickling calls it with 1 arg
        super().__init__(f"{code}: {detail}")


def record_pid(ctx: Ctx, progress: Callable[[str], None]) -> int:
    ctx.pids.append(os.getpid())
    progress(f"working in {os.getpid()}")
    logging.getLogger("salesdw.test").warning("a warning from the step")
    return len(ctx.pids)


def fail(ctx: Ctx, progress: Callable[[str], None]) -> None:
    ctx.note = "changed before failing"
    raise ValueError("bad input in row 7")


def fail_oddly(ctx: Ctx, progress: Callable[[str], None]) -> None:
    raise NotPicklableError(3, "odd")


def die(ctx: Ctx, progress: Callable[[str], None]) -> None:
    os._exit(9)


def test_steps_run_in_one_child_until_closed(caplog: pytest.LogCaptureFixture) -> None:
    ctx = Ctx()
    messages: list[str] = []
    with caplog.at_level(logging.WARNING, logger="salesdw"), StepWorker() as worker:
        assert worker.run(record_pid, ctx, messages.append) == 1
        assert worker.run(record_pid, ctx, messages.append) == 2
        worker.close()
        assert worker.run(record_pid, ctx, messages.append) == 3
    first, second, third = ctx.pids  # the changes to ctx came back each time
    assert first == second != third  # same child until closed, then a new one
    assert os.getpid() not in ctx.pids
    assert messages == [f"working in {pid}" for pid in ctx.pids]
    assert [r.getMessage() for r in caplog.records if r.name == "salesdw.test"] == [
        "a warning from the step"
    ] * 3


def test_an_error_in_the_step_is_raised_in_the_caller() -> None:
    ctx = Ctx()
    with StepWorker() as worker:
        with pytest.raises(ValueError, match="bad input in row 7") as raised:
            worker.run(fail, ctx, print)
        assert "in the step's process" in "".join(raised.value.__notes__)
        assert ctx.note == ""  # a failed step changes nothing
        # the child survives an exception and serves the next step
        assert worker.run(record_pid, ctx, lambda _: None) == 1
        with pytest.raises(StepProcessError, match="NotPicklableError: 3: odd"):
            worker.run(fail_oddly, ctx, print)


def test_a_child_that_dies_is_reported_and_replaced() -> None:
    ctx = Ctx()
    with StepWorker() as worker:
        with pytest.raises(StepProcessError, match="exit code 9"):
            worker.run(die, ctx, print)
        assert worker.run(record_pid, ctx, lambda _: None) == 1


def test_steps_run_in_the_caller_when_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESDW_STEP_PROCESS", "0")
    ctx = Ctx()
    with StepWorker() as worker:
        worker.run(record_pid, ctx, lambda _: None)
    assert ctx.pids == [os.getpid()]


def imported(ctx: Ctx, progress: Callable[[str], None]) -> bool:
    import sys

    return "wave" in sys.modules  # a standard module nothing here imports


def test_a_started_worker_imports_its_preload_before_the_step() -> None:
    with StepWorker().start(("wave",)) as worker:
        assert worker.run(imported, Ctx(), print) is True
    with StepWorker() as worker:  # the check can fail: without the preload it is absent
        assert worker.run(imported, Ctx(), print) is False


def test_an_unused_started_worker_is_killed_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(60)\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned child gets sys.path
    started = time.perf_counter()
    with StepWorker().start(("slow_to_import",)):
        time.sleep(0.5)
    assert time.perf_counter() - started < 20


def test_a_released_child_ends_and_the_next_step_gets_a_new_one() -> None:
    ctx = Ctx()
    with StepWorker() as worker:
        worker.run(record_pid, ctx, lambda _: None)
        worker.release()  # returns at once; the child ends on its own
        worker.run(record_pid, ctx, lambda _: None)
        ending = list(worker._ending)
    first, second = ctx.pids
    assert first != second
    assert [p.is_alive() for p in ending] == [False]  # close() waited for it


def _niceness(_ctx: object, _progress: object) -> int:
    return os.nice(0)


def test_a_worker_with_a_niceness_runs_its_steps_at_a_lower_priority() -> None:
    if not isolated():
        pytest.skip("steps run in this process")
    here = os.nice(0)
    with StepWorker(niceness=10) as worker:
        assert worker.run(_niceness, Ctx(), lambda _m: None) == min(here + 10, 19)
    with StepWorker() as worker:
        assert worker.run(_niceness, Ctx(), lambda _m: None) == here
