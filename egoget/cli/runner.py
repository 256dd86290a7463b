"""Running a download from the command line: signals, the question before starting, progress,
the summary, the report and the exit code, around ``egoget.run.execute``."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import NoReturn

import click

from ..config import TransferConfig
from ..errors import ExitCode, UsageError
from ..model import ItemProgress, StepOutcome
from ..run import InvalidEntriesError, PlanDiff, Planner, RunHooks, RunResult, execute
from ..sources import SourceRegistry
from ..transfer.events import Event
from .progress import Progress, TransferView, item_view, progress_mode
from .render import (
    MAX_FAILURES_SHOWN,
    err,
    human_bytes,
    note,
    print_plan,
    print_summary,
    show_refused,
    write_report,
)


@contextmanager
def stop_on_signals(cancelled: threading.Event) -> Iterator[list[ExitCode]]:
    """Ctrl-C / SIGTERM ask the engine to stop and keep partial work; a second Ctrl-C quits."""
    received: list[ExitCode] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if cancelled.is_set() and signum == signal.SIGINT:
            os._exit(ExitCode.INTERRUPTED)
        received.append(ExitCode.INTERRUPTED if signum == signal.SIGINT else ExitCode.TERMINATED)
        cancelled.set()
        err("stopping: keeping finished chunks (press Ctrl-C again to quit at once)")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def confirm_download(diff: PlanDiff) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(
            "not starting a download without confirmation",
            hint="pass -y (--yes) to start it from a script, or --dry-run to see the plan",
        )
    return click.confirm(f"Download {human_bytes(diff.todo_bytes_known)}?", default=True)


class _Display:
    """The run's hooks, drawn on stderr: the plan, then transfer progress, then each step's."""

    def __init__(self, quiet: bool, ask_first: bool):
        self._quiet = quiet
        self._ask_first = ask_first
        self._transfer: TransferView | None = None
        self._steps: list[Progress] = []

    def hooks(self) -> RunHooks:
        return RunHooks(
            emit=self._emit,
            note=note if not self._quiet else lambda message: None,
            confirm=self._confirm,
            step_progress=self._step_progress,
            step_done=self._step_done,
        )

    def _confirm(self, diff: PlanDiff) -> bool:
        print_plan(diff, self._quiet)
        if self._ask_first and diff.todo and not confirm_download(diff):
            return False
        unknown: set[str] = {f.dest for f in diff.todo if f.size is None}
        mode = progress_mode(self._quiet)
        self._transfer = TransferView(len(diff.todo), diff.todo_bytes_known, unknown, mode)
        return True

    def _emit(self, event: Event) -> None:
        if self._transfer is not None:
            self._transfer(event)

    def _step_progress(self, total: int, unit: str) -> ItemProgress:
        progress, item_done = item_view(total, unit, progress_mode(self._quiet))
        self._steps.append(progress)
        return item_done

    def _step_done(self, outcome: StepOutcome) -> None:
        self._close_steps()
        if not outcome.failures_shown:
            for name, error in outcome.failed[:MAX_FAILURES_SHOWN]:
                err(f"failed {name}: {error}")
        err(outcome.summary)

    def _close_steps(self) -> None:
        while self._steps:
            self._steps.pop().close()

    def close(self) -> None:
        if self._transfer is not None:
            self._transfer.close()
        self._close_steps()


def run_and_exit(
    config: TransferConfig,
    registry: SourceRegistry,
    planner: Planner,
    quiet: bool,
    report_file: Path | None,
    ask_first: bool,
) -> NoReturn:
    """One download with everything a person or a script sees of it; exits with its code.
    The --report is written however the run ends."""
    if config.no_verify_ssl:
        err(
            "warning: --no-verify-ssl: TLS certificates are not checked; anyone on the network "
            "path can read and alter what this run downloads"
        )
    cancelled = registry.settings.cancelled
    display = _Display(quiet, ask_first)
    try:
        with stop_on_signals(cancelled) as received:
            try:
                result: RunResult = execute(config, registry, planner, display.hooks())
            finally:
                display.close()
    except InvalidEntriesError as exc:
        show_refused(exc.entries, registry)
        raise  # reported with every other error, by main
    if received:
        result.signal_exit = received[0]
    if config.dry_run:
        print_plan(result.diff, quiet=False)
    print_summary(result, registry, quiet)
    write_report(report_file, result, registry)
    sys.exit(int(result.exit_code))
