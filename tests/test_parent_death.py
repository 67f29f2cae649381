"""A run's step processes die with it: a run killed with SIGKILL (which it cannot catch)
leaves no worker or dbt process behind to disturb the next run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil

from tests.e2e_helpers import ROOT

#: a stand-in for `salesdw run`: starts its step processes as a run does (a worker with
#: a step done, an idle worker, the dbt process waiting for its command), prints their
#: pids, then waits to be killed
RUN = """
import os, sys, time
from salesdw.worker import StepWorker
from salesdw.dbt_runner import DbtProcess
from tests.test_worker import Ctx, record_pid

busy = StepWorker()
ctx = Ctx()
busy.run(record_pid, ctx, lambda _m: None)
pid = ctx.pids[0]
idle = StepWorker().start(("json",))
dbt = DbtProcess().start()
print(pid, idle._process.pid, dbt._proc.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_step_processes_die_when_the_run_is_killed() -> None:
    run = subprocess.Popen(
        [sys.executable, "-c", RUN],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        assert run.stdout is not None
        children = [int(pid) for pid in run.stdout.readline().split()]
        assert len(children) == 3
        assert all(_alive(pid) for pid in children)
        # they are the run's children: only the run is killed, as a scheduler would
        assert {p.pid for p in psutil.Process(run.pid).children()} >= set(children)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in children if _alive(pid)] == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)


def test_a_child_whose_parent_is_already_gone_exits_at_once() -> None:
    """The parent died before the child asked to die with it: the child sees that it was
    re-parented and exits instead of waiting forever."""
    code = (
        "import os; from salesdw.parent_death import die_with_parent; "
        "die_with_parent(os.getppid() + 1); print('still here')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 1 and "still here" not in done.stdout
