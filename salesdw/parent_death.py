"""Make a step process die with the run that started it.

A run's steps run in child processes (``salesdw.worker``, ``salesdw.dbt_runner``). When
the run itself is killed (SIGKILL by a scheduler, the out-of-memory killer), nothing in
it runs any more to end them, and a child waiting for its next step would live on,
holding memory and, worse, touching the files of the next run. Each child therefore
calls :func:`die_with_parent` first thing: on Linux the kernel sends it SIGKILL when its
parent ends (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread ends it within a second.

The kernel's signal is tied to the parent *thread* that started the child: the run
starts its children from its main thread or from its step thread pool, both of which
live until the children are closed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

#: from <linux/prctl.h>
PR_SET_PDEATHSIG = 1

#: the environment variable that tells a child started with ``subprocess`` the pid of
#: the run that started it
PARENT_PID_ENV = "SALESDW_PARENT_PID"


def die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` (its parent) ends; at once when it already
    has (this process was then re-parented before it got here)."""
    if not _kernel_signal():
        threading.Thread(target=_watch, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:
        os._exit(1)


def _kernel_signal() -> bool:
    """Ask Linux for SIGKILL when the parent ends; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1)
    os._exit(1)
