"""Run pipeline steps in a separate process, so that their memory goes back to the system.

DuckDB, pandas and polars keep much of the memory a step used after it ends (their
allocators cache it), and a long nightly run would carry each step's peak into the next:
at 10 million order lines the KPI step started on top of the gigabytes ingestion and
validation had left. A :class:`StepWorker` runs steps in a child process instead; the
flow restarts it between steps that share nothing (``close``), and the child's memory
is then freed.

A worker can be started ahead of its step with modules to import (``start(preload)``):
the nightly job starts the validation worker, which imports Great Expectations (about 5
CPU seconds), while ingestion runs in another. A worker that never ran a step is killed
on ``close`` rather than waited for.

The child gets the run context and returns it with the step's changes, which are copied
back; its progress messages and log records are relayed to the parent as they happen, so
the run's log reads as before. The child dies with the run (``salesdw.parent_death``):
a killed run leaves no worker behind. An exception in the step is raised again in the parent,
with the child's traceback as a note. ``SALESDW_STEP_PROCESS=0`` runs the steps in the
calling process (for a debugger).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import multiprocessing
import os
import pickle
import queue
import traceback
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any, TypeVar

from salesdw.errors import SalesdwError
from salesdw.parent_death import die_with_parent

T = TypeVar("T")
Step = Callable[[Any, Callable[[str], None]], T]

#: the loggers whose records the child relays (the parent's handlers print them)
RELAYED_LOGGERS = ("salesdw", "kpis")


class StepProcessError(SalesdwError):
    """The step's process died without reporting (killed, or out of memory), or its
    exception could not be passed back."""


def isolated() -> bool:
    """Whether steps run in a child process (``SALESDW_STEP_PROCESS``, default on)."""
    return os.environ.get("SALESDW_STEP_PROCESS", "1") not in ("0", "false", "no")


class _RelayHandler(logging.Handler):
    def __init__(self, results: Queue[Any]) -> None:
        super().__init__()
        self.results = results

    def emit(self, record: logging.LogRecord) -> None:
        record.msg = record.getMessage()  # args may not pickle: send the text
        record.args = None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self.results.put(("log", record))


def _passable(exc: BaseException) -> BaseException:
    """``exc`` with the child's traceback as a note, or a StepProcessError carrying its
    text when ``exc`` does not survive pickling."""
    text = "".join(traceback.format_exception(exc))
    try:
        exc.add_note("in the step's process:\n" + text)
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # any failure to pickle: pass the text instead
        return StepProcessError(text)


def _serve(
    tasks: Queue[Any],
    results: Queue[Any],
    preload: tuple[str, ...],
    niceness: int = 0,
    parent_pid: int | None = None,
) -> None:
    """The child's loop: die with ``parent_pid`` (the run), lower its priority by
    ``niceness``, import ``preload``, then run (step, ctx) items until None arrives."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    if niceness:
        os.nice(niceness)
    for module in preload:
        with contextlib.suppress(Exception):  # the step's own import raises it again
            importlib.import_module(module)
    handler = _RelayHandler(results)
    for name in RELAYED_LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    while (item := tasks.get()) is not None:
        step, ctx = item
        try:
            result = step(ctx, lambda message: results.put(("progress", message)))
            results.put(("done", result, ctx))
        except BaseException as exc:  # everything goes back to the parent
            results.put(("error", _passable(exc)))


class StepWorker:
    """A child process that runs pipeline steps one at a time (started on first use)."""

    def __init__(self, niceness: int = 0) -> None:
        """``niceness``: the child runs at that much lower a priority (``os.nice``): a
        worker that runs alongside the run's critical path (validation during the dbt
        build) then takes only the CPU the other processes leave."""
        self._niceness = niceness
        self._context = multiprocessing.get_context("spawn")  # no inherited memory
        self._process: BaseProcess | None = None
        self._tasks: Queue[Any] | None = None
        self._results: Queue[Any] | None = None
        self._ran = False  # whether the current child ran a step
        self._ending: list[BaseProcess] = []  # released children not yet joined

    def start(self, preload: tuple[str, ...] = ()) -> StepWorker:
        """Start the child now (it imports ``preload`` before it waits for a step); a
        no-op when it runs already or steps run in this process."""
        if isolated():
            self._start(preload)
        return self

    def run(self, step: Step[T], ctx: Any, progress: Callable[[str], None]) -> T:
        """``step(ctx, progress)`` in the child; ``ctx`` gets the step's changes."""
        if not isolated():
            return step(ctx, progress)
        tasks, results, process = self._start()
        self._ran = True
        tasks.put((step, ctx))
        while True:
            try:
                message = results.get(timeout=0.5)
            except queue.Empty:
                if not process.is_alive():
                    self._reset()
                    raise StepProcessError(
                        f"the process of step {step.__name__} ended without a result "
                        f"(exit code {process.exitcode}; killed, or out of memory?)"
                    ) from None
                continue
            kind = message[0]
            if kind == "progress":
                progress(message[1])
            elif kind == "log":
                logging.getLogger(message[1].name).handle(message[1])
            elif kind == "done":
                _, result, changed = message
                for f in dataclasses.fields(ctx):
                    setattr(ctx, f.name, getattr(changed, f.name))
                return result  # type: ignore[no-any-return]
            else:
                raise message[1]

    def release(self) -> None:
        """Tell the child to end without waiting for it (it frees its memory as it
        exits, in parallel with the next step); ``close`` waits for it. The next ``run``
        starts a new child."""
        if self._process is not None and self._tasks is not None:
            if self._ran:
                self._tasks.put(None)
            else:  # it may still be importing its preload
                self._process.kill()
            self._ending.append(self._process)
        self._reset()

    def close(self) -> None:
        """End the child (its memory is freed) and wait for it; the next ``run`` starts
        a new one. A child that ran no step is killed."""
        self.release()
        for process in self._ending:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
        self._ending.clear()

    def __enter__(self) -> StepWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self, preload: tuple[str, ...] = ()) -> tuple[Queue[Any], Queue[Any], BaseProcess]:
        if self._process is None or not self._process.is_alive():
            self._tasks = self._context.Queue()
            self._results = self._context.Queue()
            self._process = self._context.Process(
                target=_serve,
                args=(self._tasks, self._results, preload, self._niceness, os.getpid()),
                name="salesdw-step",
            )
            self._process.start()
            self._ran = False
        assert self._tasks is not None and self._results is not None
        return self._tasks, self._results, self._process

    def _reset(self) -> None:
        self._process = self._tasks = self._results = None
