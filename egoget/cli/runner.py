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
from typing import Any, NoReturn

import click

from ..config import TransferConfig
from ..errors import ExitCode, UsageError
from ..model import ItemProgress, StepOutcome
from ..run import (
    InvalidEntriesError,
    PlanDiff,
    Planner,
    RunHooks,
    RunResult,
    execute,
    plural,
)
from ..sources import SourceRegistry
from ..transfer.events import Event
from .progress import JsonEvents, Progress, TransferView, item_view, progress_mode
from .render import (
    MAX_FAILURES_SHOWN,
    err,
    human_bytes,
    note,
    print_plan,
    print_summary,
    report_fields,
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
    if diff.destination.startswith("s3://"):
        question = f"Copy {human_bytes(diff.todo_bytes_known)} into {diff.destination}?"
    else:
        question = f"Download {human_bytes(diff.todo_bytes_known)}?"
    return click.confirm(question, default=True)


class Display:
    """How a run shows itself (-q, --progress, --report) and its hooks: the files a plan is made
    from, the plan, transfer progress, each step's, the summary; people on stderr, programs
    on stdout with --progress json."""

    def __init__(self, params: dict[str, Any], ask_first: bool):
        self.quiet = bool(params.get("quiet"))
        self.mode = progress_mode(self.quiet, params.get("progress") or "auto")
        self.report_file: Path | None = params.get("report_file")
        self.events = JsonEvents() if self.mode == "json" else None
        self._ask_first = ask_first
        self._transfer: TransferView | None = None
        self._steps: list[Progress] = []

    def hooks(self) -> RunHooks:
        return RunHooks(
            emit=self._emit,
            note=self.note,
            fetching=self._fetching,
            confirm=self._confirm,
            step_progress=self._step_progress,
            step_done=self._step_done,
        )

    def note(self, message: str) -> None:
        if self.events is not None:
            self.events.write("note", message=message)
        if not self.quiet:
            note(message)

    def _fetching(self, uris: list[str]) -> None:
        if self.events is not None:
            self.events.write("fetching", uris=uris)
        if not self.quiet:
            shown = ", ".join(uris[:3]) + (f" and {len(uris) - 3} more" if len(uris) > 3 else "")
            err(f"fetching {len(uris)} {plural(len(uris), 'file', 'files')} to plan from: {shown}")

    def show_plan(self, diff: PlanDiff) -> None:
        if self.events is not None:
            self.events.write(
                "plan", files=len(diff.todo), bytes=diff.todo_bytes_known,
                sizes_unknown=diff.sizes_unknown, present=len(diff.present),
                present_bytes=diff.present_bytes, adopted=diff.adopted,
                fetched_again=dict(diff.mismatched), free_bytes=diff.free_bytes,
                shard=str(diff.shard) if diff.shard else None, share_bytes=diff.share_bytes,
                destination=diff.destination,
            )  # fmt: skip
        print_plan(diff, self.quiet)

    def _confirm(self, diff: PlanDiff) -> bool:
        self.show_plan(diff)
        if self._ask_first and diff.todo and not confirm_download(diff):
            return False
        unknown: set[str] = {f.dest for f in diff.todo if f.size is None}
        self._transfer = TransferView(
            len(diff.todo), diff.todo_bytes_known, unknown, self.mode, self.events
        )
        return True

    def _emit(self, event: Event) -> None:
        if self._transfer is not None:
            self._transfer(event)

    def _step_progress(self, total: int, unit: str) -> ItemProgress:
        progress, item_done = item_view(total, unit, self.mode, self.events)
        self._steps.append(progress)
        return item_done

    def _step_done(self, outcome: StepOutcome) -> None:
        self._close_steps()
        if self.events is not None:
            failed = [[name, error.message] for name, error in outcome.failed]
            self.events.write("step_done", summary=outcome.summary, failed=failed)
        if not outcome.failures_shown:
            for name, error in outcome.failed[:MAX_FAILURES_SHOWN]:
                err(f"failed {name}: {error}")
        if not self.quiet or outcome.failed:
            err(outcome.summary)

    def _close_steps(self) -> None:
        while self._steps:
            self._steps.pop().close()

    def finish(self, report: dict[str, Any]) -> None:
        """The run's last word for programs: its report, as the --report file and the
        ``summary`` event."""
        if self.events is not None:
            self.events.write("summary", **report)
        write_report(self.report_file, report)

    def close(self) -> None:
        if self._transfer is not None:
            self._transfer.close()
        self._close_steps()


def run_and_exit(
    config: TransferConfig, registry: SourceRegistry, planner: Planner, display: Display
) -> NoReturn:
    """One download with everything a person or a script sees of it; exits with its code.
    The --report is written however the run ends."""
    if config.no_verify_ssl:
        err(
            "warning: --no-verify-ssl: TLS certificates are not checked; anyone on the network "
            "path can read and alter what this run downloads"
        )
    cancelled = registry.settings.cancelled
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
        display.show_plan(result.diff)
    print_summary(result, registry, display.quiet)
    display.finish(report_fields(result, registry))
    sys.exit(int(result.exit_code))
