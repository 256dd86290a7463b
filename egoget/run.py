"""One run, from a Plan to a verified output directory: lock, diff against the ledger, transfer.

This is the orchestration the CLI and the Python API share; it prints nothing.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config import TransferConfig
from .constants import STATE_DIR_NAME
from .errors import EgogetError, ExitCode, UsageError
from .ledger import Ledger, VerifiedFile
from .lock import OutputLock
from .model import Plan, RemoteFile
from .sources import SourceRegistry, SourceSettings
from .transfer.engine import Engine, TransferOptions
from .transfer.events import EventSink, TransferSummary

MIB = 1024 * 1024


@dataclass
class PlanDiff:
    """What a plan means for this output directory right now."""

    todo: list[RemoteFile]
    present: list[RemoteFile]
    todo_bytes_known: int
    present_bytes: int
    sizes_unknown: int
    free_bytes: int


@dataclass
class RunResult:
    diff: PlanDiff
    summary: TransferSummary = field(default_factory=TransferSummary)
    refused: list[tuple[str, EgogetError]] = field(default_factory=list)
    dry_run: bool = False
    signal_exit: ExitCode | None = None

    @property
    def unaccounted(self) -> int:
        """Selected files neither present, verified now, nor reported failed."""
        s = self.summary
        return len(self.diff.todo) - s.files_done - len(s.failed)

    @property
    def exit_code(self) -> ExitCode:
        if self.summary.fatal is not None:
            return self.summary.fatal.exit_code
        if self.summary.interrupted:
            return self.signal_exit or ExitCode.INTERRUPTED
        if self.dry_run:
            return ExitCode.OK
        if self.summary.failed or self.refused or self.unaccounted:
            return ExitCode.SOME_FILES_FAILED
        return ExitCode.OK


def state_dir(output: Path) -> Path:
    return output / STATE_DIR_NAME


def source_registry(config: TransferConfig) -> SourceRegistry:
    return SourceRegistry(
        SourceSettings(
            max_connections=config.procs,
            stall_timeout_s=config.stall_timeout_s,
            connect_timeout_s=config.connect_timeout_s,
            endpoint_url=config.endpoint_url,
            aws_profile=config.aws_profile,
        )
    )


def diff_plan(plan: Plan, ledger: Ledger, output: Path, registry: SourceRegistry) -> PlanDiff:
    """Split a plan into files to fetch and files already verified: ledger + stat, no network."""
    verified = ledger.verified_files()
    todo: list[RemoteFile] = []
    present: list[RemoteFile] = []
    for file in plan.files:
        record = verified.get(file.dest)
        identity = registry.for_uri(file.uri).redact(file.uri)
        if record is not None and _still_valid(record, identity, file, output):
            present.append(file)
        else:
            todo.append(file)
    return PlanDiff(
        todo=todo,
        present=present,
        todo_bytes_known=sum(f.size or 0 for f in todo),
        present_bytes=sum(verified[f.dest].size for f in present),
        sizes_unknown=sum(1 for f in todo if f.size is None),
        free_bytes=shutil.disk_usage(output).free,
    )


def _still_valid(record: VerifiedFile, identity: str, file: RemoteFile, output: Path) -> bool:
    if record.uri != identity:
        return False
    if file.size is not None and file.size != record.size:
        return False
    if file.etag is not None and file.etag != record.etag:
        return False  # the remote changed since it was verified
    try:
        st = os.stat(output / file.dest)
    except OSError:
        return False
    return st.st_size == record.size and st.st_mtime_ns == record.mtime_ns


def execute(
    plan: Plan,
    config: TransferConfig,
    registry: SourceRegistry,
    emit: EventSink,
    cancelled: threading.Event,
    confirm: Callable[[PlanDiff], bool] | None = None,
    refused: list[tuple[str, EgogetError]] | None = None,
) -> RunResult:
    """Run a plan to completion (or interruption). ``confirm`` sees the diff first and may say
    no (the user declined); with ``dry_run`` nothing is transferred."""
    output = config.output
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output directory {output}: {exc.strerror}") from exc
    with OutputLock(state_dir(output)):
        ledger = Ledger(state_dir(output))
        try:
            diff = diff_plan(plan, ledger, output, registry)
            result = RunResult(diff=diff, refused=list(refused or []), dry_run=config.dry_run)
            if config.dry_run or (confirm is not None and not confirm(diff)):
                result.dry_run = True
                return result
            engine = Engine(
                output,
                registry,
                ledger,
                TransferOptions(
                    procs=config.procs,
                    chunk_size=config.chunk_size_mib * MIB,
                    max_attempts=config.max_attempts,
                    limit_rate_bytes_per_s=config.limit_rate_bytes_per_s,
                ),
                emit,
                cancelled,
            )
            result.summary = engine.run(diff.todo)
            if result.summary.files_done:
                # One flush for the whole run instead of an fsync per file.
                os.sync()
            return result
        finally:
            ledger.close()
