"""Work handed to other processes: what a run may use, and how they are started.

Planning a million files is CPU-bound Python, which threads do not spread over cores. The few
steps that gain from more cores (reading a large manifest, statting every file of a re-run)
run in processes started here. Each is an optimisation: where a process cannot be started, or
dies, the caller does the work itself. multiprocessing is imported only when one is: at every
start it cost ~25 ms (`python -X importtime`) of the ~0.4 s of imports before a download's
first request.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.context import BaseContext

_PR_SET_PDEATHSIG = 1


def processes_available() -> int:
    if hasattr(os, "sched_getaffinity"):
        # The CPUs this process may run on: a Slurm task's --cpus-per-task, not the node's.
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def fork_is_safe() -> bool:
    """A fork copies no thread but the caller's: only safe when it is the only one (a lock
    another thread held would stay held in the child)."""
    return sys.platform == "linux" and threading.active_count() == 1


def context() -> BaseContext:
    """Fork where it is safe (the child shares the parent's memory, nothing is imported
    again), a fresh interpreter otherwise."""
    import multiprocessing

    return multiprocessing.get_context("fork" if fork_is_safe() else "spawn")


def pool(workers: int) -> ProcessPoolExecutor | None:
    """Workers for pieces of work; None when none can be started (no /dev/shm for its
    semaphores, a sandbox): the caller does the work itself. A worker that dies breaks the
    pool (BrokenProcessPool on its results) instead of leaving them unanswered."""
    from concurrent.futures import ProcessPoolExecutor

    try:
        return ProcessPoolExecutor(workers, mp_context=context(), initializer=child_start)
    except OSError:
        return None


def child_start() -> None:
    """Where each child begins. Ctrl-C and SIGTERM reach every process of the terminal's or
    the job's group: the parent decides what they mean, and stops its children. A child dies
    with its parent (a second Ctrl-C, a SIGKILL), instead of holding the output's lock, which
    it inherited, for seconds after it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform == "linux":
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # without it, a child outlives its parent by the rest of its piece
