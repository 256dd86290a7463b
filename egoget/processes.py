"""Work handed to other processes: what a run may use, and how they are started.

Planning a million files is CPU-bound Python, which threads do not spread over cores. The few
steps that gain from more cores (reading a large manifest, statting every file of a re-run)
run in processes started here.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.context import BaseContext


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
    return multiprocessing.get_context("fork" if fork_is_safe() else "spawn")


def leave_signals_to_the_parent() -> None:
    """For a child's start: Ctrl-C reaches every process of the terminal's group, and the
    parent decides what it means (it stops the children)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
