"""One run, from a Plan to a verified output directory: lock, diff against the ledger, transfer.

This is the orchestration the CLI and the Python API share; it prints nothing.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import os
import posixpath
import shutil
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import processes
from .adopt import Finder, adopt_existing, bucket_finder, existing_files, local_finder
from .config import BucketTarget, DatasetConfig, TransferConfig
from .constants import LEDGER_FILE_NAME, PART_SUFFIX, STATE_DIR_NAME
from .errors import (
    CREDENTIALS_HINT,
    AuthError,
    EgogetError,
    ExitCode,
    Interrupted,
    ManifestError,
    UsageError,
)
from .ledger import Ledger, Stamp, VerifiedFile
from .lock import OutputLock
from .model import (
    SIDE_FILE_TAG,
    Fallback,
    ItemProgress,
    Plan,
    PlannedRun,
    RemoteFile,
    StartProgress,
    StepOutcome,
)
from .paths import SafeRelPath, safe_relative_path
from .resolve import check_link_expiry, resolve_sizes
from .shards import Shard
from .sources import SourceRegistry, SourceSettings
from .transfer.engine import Engine, TransferOptions
from .transfer.events import Event, EventSink, FileDone, TransferSummary
from .transfer.integrity import bare_etag, multipart_parts
from .transfer.verify import Check, checks_text

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from .datasets import Dataset
    from .transfer.upload import BucketStore

MIB = 1024 * 1024
# In a bucket copy's state dir: the manifests and metadata it plans from, and the bookkeeping
# files a local download has beside its files (manifest.ver), as copied into the bucket.
PLANNING_DIR_NAME = "planning"
RECORDS_DIR_NAME = "records"


@dataclass
class PlanDiff:
    """What a plan means for this output directory right now."""

    todo: list[RemoteFile]
    present: list[RemoteFile]
    todo_bytes_known: int
    present_bytes: int
    sizes_unknown: int
    free_bytes: int | None  # None: the files go to a bucket
    # Of ``present``: files found on disk, unknown to the ledger, verified in place this run.
    adopted: int = 0
    adopted_bytes: int = 0
    # Files found on disk that did not match, fetched again, with why.
    mismatched: dict[str, str] = field(default_factory=dict)
    # In a dry run: files on disk that a real run would check before fetching anything.
    unchecked_on_disk: int = 0
    # Of a sharded plan: this machine's share, and the known bytes of every share (1..N).
    shard: Shard | None = None
    share_bytes: list[int] = field(default_factory=list)
    # Where the files go: the output directory, or s3://BUCKET/PREFIX/.
    destination: str = ""


@dataclass
class RunResult:
    diff: PlanDiff
    summary: TransferSummary = field(default_factory=TransferSummary)
    refused: list[tuple[str, EgogetError]] = field(default_factory=list)
    # What failed in the steps after the download (unpacking, cutting clips), by item.
    finishing_failed: list[tuple[str, EgogetError]] = field(default_factory=list)
    dry_run: bool = False
    signal_exit: ExitCode | None = None

    @property
    def ok(self) -> bool:
        """Every selected file is present and verified (and every step after it done)."""
        return self.exit_code == ExitCode.OK

    @property
    def failed(self) -> dict[str, EgogetError]:
        """What did not make it, by destination or entry, with why."""
        return {
            **{uri: error for uri, error in self.refused},
            **self.summary.failed,
            **{name: error for name, error in self.finishing_failed},
        }

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
        if self.summary.failed or self.refused or self.unaccounted or self.finishing_failed:
            return ExitCode.SOME_FILES_FAILED
        return ExitCode.OK


def state_dir(output: Path) -> Path:
    return output / STATE_DIR_NAME


def source_registry(
    config: TransferConfig, notify: Callable[[str], None] | None = None
) -> SourceRegistry:
    """The sources of a run; ``notify`` hears what they have to say that is not an error."""
    return SourceRegistry(
        SourceSettings(
            notify=notify or (lambda message: None),
            max_connections=config.procs,
            stall_timeout_s=config.stall_timeout_s,
            connect_timeout_s=config.connect_timeout_s,
            endpoint_url=config.endpoint_url,
            aws_profile=config.aws_profile,
            drive_cookies=config.cookies,
            proxy=config.proxy,
            ca_bundle=config.ca_bundle,
            verify_tls=not config.no_verify_ssl,
        )
    )


def diff_plan(
    plan: Plan,
    ledger: Ledger,
    output: Path,
    registry: SourceRegistry,
    copies: dict[str, tuple[int, str]] | None = None,
) -> PlanDiff:
    """Split a plan into files to fetch and files already verified: ledger + stat, no network.
    With ``copies`` (a bucket's objects and the ETags the ledger saw them stored with, by
    name), a file is present when its copy is still there, unchanged, instead."""
    # A million files are checked here on a re-run: one stat each, and as little else as can be.
    inside = os.path.join(output, "")
    on_disk = None
    if (
        copies is None
        and len(plan.files) >= STAT_ELSEWHERE_MIN_FILES
        and ledger.verified_count() >= STAT_ELSEWHERE_MIN_FILES
        and processes.fork_is_safe()
    ):
        # Only where there are records to hold the files to: a first run has none.
        on_disk = StatsElsewhere.start(inside, plan.files)
    try:
        stamps = ledger.stamps_for([file.dest for file in plan.files])
        stats = on_disk.result() if on_disk is not None else None
    finally:
        if on_disk is not None:
            on_disk.close()
    todo: list[RemoteFile] = []
    present: list[RemoteFile] = []
    present_bytes = 0
    for index, file in enumerate(plan.files):
        stamp = stamps.get(file.dest)
        # The record's URI is the plan's as it may be shown (redacted): most often the plan's
        # own, which then needs no redacting (redacting twice changes nothing).
        if stamp is None or not _same_remote(
            stamp,
            file.uri if stamp.uri == file.uri else registry.for_uri(file.uri).redact(file.uri),
            file,
        ):
            todo.append(file)
            continue
        if copies is not None:
            held = copies.get(file.dest, (-1, ""))[0] == stamp.size
        elif stats is not None:
            held = stats[0][index] == stamp.size and stats[1][index] == stamp.mtime_ns
        else:
            held = _untouched(stamp, inside + file.dest)
        if held:
            present.append(file)
            present_bytes += stamp.size
        else:
            todo.append(file)
    return PlanDiff(
        todo=todo,
        present=present,
        todo_bytes_known=sum(f.size or 0 for f in todo),
        present_bytes=present_bytes,
        sizes_unknown=sum(1 for f in todo if f.size is None),
        free_bytes=None if copies is not None else shutil.disk_usage(_existing_parent(output)).free,
        shard=plan.shard,
        share_bytes=plan.share_bytes,
    )


# From this many files, a re-run's stat of each runs in a child process while the ledger's
# records are read here, instead of after them (a million: ~4 s of stat, ~2 s of records).
STAT_ELSEWHERE_MIN_FILES = 50_000


class StatsElsewhere:
    """The size and mtime of each file (-1 when it is not there), found by a forked child."""

    def __init__(self, answers: Connection, child: BaseProcess):
        self._answers = answers
        self._child = child

    @classmethod
    def start(cls, inside: str, files: list[RemoteFile]) -> StatsElsewhere | None:
        """None when no child can be started (no memory to fork, a process limit): the caller
        stats the files itself."""
        import multiprocessing  # not at start-up: see processes.py

        fork = multiprocessing.get_context("fork")
        answers, answer = fork.Pipe(duplex=False)
        child = fork.Process(target=_send_stats, args=(answer, inside, files), daemon=True)
        try:
            child.start()
        except OSError:
            answers.close()
            return None
        finally:
            answer.close()
        return cls(answers, child)

    def result(self) -> tuple[array[int], array[int]] | None:
        """None when the child could not answer: the caller stats the files itself."""
        sizes, mtimes = array("q"), array("q")
        try:
            sizes.frombytes(self._answers.recv_bytes())
            mtimes.frombytes(self._answers.recv_bytes())
        except (EOFError, OSError):
            return None
        return sizes, mtimes

    def close(self) -> None:
        self._answers.close()
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()


def _send_stats(answer: Connection, inside: str, files: list[RemoteFile]) -> None:
    processes.child_start()
    sizes, mtimes = array("q"), array("q")
    for file in files:
        try:
            st = os.stat(inside + file.dest)
            sizes.append(st.st_size)
            mtimes.append(st.st_mtime_ns)
        except OSError:
            sizes.append(-1)
            mtimes.append(-1)
    try:
        answer.send_bytes(sizes.tobytes())
        answer.send_bytes(mtimes.tobytes())
    except OSError:
        pass  # the parent is gone, or stopped listening: nobody to tell
    answer.close()


def _existing_parent(path: Path) -> Path:
    """The folder itself, or (a dry run, before it exists) its nearest existing parent."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _same_remote(record: Stamp | VerifiedFile, identity: str, file: RemoteFile) -> bool:
    """The record was made from the remote object the plan names, as it is now."""
    if record.uri != identity:
        return False
    if file.size is not None and file.size != record.size:
        return False
    # A changed ETag: the remote changed since the file was verified.
    return file.etag is None or file.etag == record.etag


def _untouched(record: Stamp | VerifiedFile, path: str | Path) -> bool:
    """The file on disk is as it was when verified."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == record.size and st.st_mtime_ns == record.mtime_ns


class OutputSession:
    """The output directory held for one run: its lock and ledger, and transfers into it. A
    dry run holds nothing and writes nothing: it reads a snapshot of the ledger."""

    def __init__(
        self,
        config: TransferConfig,
        registry: SourceRegistry,
        shared: bool = False,
        bucket: BucketStore | None = None,
    ):
        """``bucket``: the store of ``config.bucket_output`` (-o s3://...), which the files are
        copied into; None for a local folder."""
        assert (bucket is None) == (config.bucket_output is None)
        self.config = config
        self.registry = registry
        self._lock = OutputLock(state_dir(config.output))
        self._shared = shared  # a directory runs take turns on (the manifest cache)
        self._ledger: Ledger | None = None
        self.bucket = bucket
        # The bucket's objects under the prefix, as the last diff listed them.
        self.bucket_objects: dict[str, tuple[int, str]] = {}
        # With a bucket: the files the plan was made from, kept locally, by their names.
        self.planning_files: dict[str, Path] = {}

    def __enter__(self) -> OutputSession:
        if self.config.dry_run:
            self._ledger = Ledger(state_dir(self.config.output), snapshot=True)
            return self
        self._lock.acquire(wait=self._shared)
        try:
            self._ledger = Ledger(state_dir(self.config.output))
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ledger is not None:
            self._ledger.close()
        self._lock.release()

    @property
    def ledger(self) -> Ledger:
        assert self._ledger is not None, "use OutputSession as a context manager"
        return self._ledger

    def diff(self, plan: Plan) -> PlanDiff:
        copies = None
        if self.bucket is not None:
            # One listing of the prefix answers for every file: a copy is present while the
            # bucket still holds it with the ETag it was verified with.
            stored = self.ledger.copy_etags()
            self.bucket_objects = self.bucket.listing()
            copies = {
                name: found
                for name, found in self.bucket_objects.items()
                if stored.get(name) == found[1]
            }
        diff = diff_plan(plan, self.ledger, self.config.output, self.registry, copies)
        diff.destination = self.config.bucket_output or str(self.config.output)
        return diff

    def transfer(
        self, files: list[RemoteFile], emit: EventSink, cancelled: threading.Event
    ) -> TransferSummary:
        config = self.config
        engine = Engine(
            config.output,
            self.registry,
            self.ledger,
            TransferOptions(
                procs=config.procs,
                chunk_size=config.chunk_size_mib * MIB,
                max_attempts=config.max_attempts,
                limit_rate_bytes_per_s=config.limit_rate_bytes_per_s,
                io_mode=config.io_mode,
            ),
            emit,
            cancelled,
            self.bucket.destination(self.ledger) if self.bucket is not None else None,
        )
        summary = engine.run(files)
        self.ledger.flush()
        return summary


def bucket_store(config: TransferConfig, registry: SourceRegistry) -> BucketStore:
    """The destination bucket's client: the source's settings, but for --dest-profile and
    --dest-endpoint-url (its proxy and CA bundle are the run's)."""
    assert config.bucket_output is not None
    settings = dataclasses.replace(
        registry.settings,
        endpoint_url=config.dest_endpoint_url or registry.settings.endpoint_url,
        aws_profile=config.dest_profile or registry.settings.aws_profile,
    )
    # Only a copy into a bucket needs these, up front.
    from .sources.s3 import S3Source
    from .transfer.upload import BucketStore

    target = BucketTarget.parse(config.bucket_output)
    source = SourceRegistry(settings).for_uri(f"s3://{target.bucket}/")
    assert isinstance(source, S3Source)
    return BucketStore(target, source, source.endpoint_url, settings.metadata_retries)


def files_below(folder: Path) -> dict[str, Path]:
    """Every finished file under ``folder``, by its name below it (no part files)."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in folder.rglob("*")
        if path.is_file() and not path.name.endswith(PART_SUFFIX)
    }


def ensure_output_dir(output: Path) -> None:
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output directory {output}: {exc.strerror}") from exc


# Makes the plan inside the session: a dataset fetches its manifests through it first.
Planner = Callable[["OutputSession", "RunHooks", threading.Event], PlannedRun]


def _ignore(*args: object) -> None:
    pass


def _no_item_progress(total: int, unit: str) -> ItemProgress:
    return _ignore


@dataclass
class RunHooks:
    """How a run reports to whoever started it: the CLI's display, or a notebook's callback.
    Every hook is optional; the run itself prints nothing."""

    emit: EventSink = _ignore  # the engine's events, as they happen
    note: Callable[[str], None] = _ignore  # what planning wants the user to know
    # The small files a plan is made from (manifests, metadata), as their fetch starts:
    # printable URIs.
    fetching: Callable[[list[str]], None] = _ignore
    # Sees the plan before any byte moves; False means the user declined.
    confirm: Callable[[PlanDiff], bool] | None = None
    step_progress: StartProgress = _no_item_progress  # items of a step after the download
    step_done: Callable[[StepOutcome], None] = _ignore


class InvalidEntriesError(UsageError):
    """Unsafe names or malformed manifest entries: nothing is downloaded unless asked."""

    def __init__(self, entries: list[tuple[str, EgogetError]]):
        super().__init__(
            f"{len(entries)} {plural(len(entries), 'entry', 'entries')} refused; nothing was "
            "downloaded",
            hint="fix the list or manifest, or pass --skip-invalid to download the valid entries",
        )
        self.entries = entries


def plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def execute(
    config: TransferConfig, registry: SourceRegistry, planner: Planner, hooks: RunHooks
) -> RunResult:
    """Plan, confirm, transfer, then the steps after the download (unpacking, cutting clips),
    in one session on the output directory. ``registry.settings.cancelled`` stops it."""
    cancelled = registry.settings.cancelled
    bucket = bucket_store(config, registry) if config.bucket_output is not None else None
    if bucket is not None:
        bucket.check()
    if not config.dry_run:
        ensure_output_dir(config.output)
    with OutputSession(config, registry, bucket=bucket) as session:
        with collector_paused():
            planned = planner(session, hooks, cancelled)
        for message in planned.notes:
            hooks.note(message)
        invalid: list[tuple[str, EgogetError]] = [
            (uri, e) for uri, e in planned.refused if isinstance(e, ManifestError)
        ]
        if invalid and not config.skip_invalid:
            # Missing or denied objects are not in this class: they are reported, the rest
            # downloads, and the run exits 1.
            raise InvalidEntriesError(invalid)
        if config.bucket_output is not None and planned.finishing:
            raise UsageError(
                f"this run works on its files after the download (unpacking archives, linking "
                f"folders or cutting clips), which a bucket cannot hold: nothing was copied to "
                f"{config.bucket_output}",
                hint="download into a local folder (-o DIR), or leave out the options that "
                "unpack, link or cut",
            )
        result = run_plan(session, planned.plan, hooks, cancelled, planned.refused)
        if planned.fallback is not None:
            retry_through_fallback(session, planned.fallback, result, hooks, cancelled)
        unrecorded: list[tuple[str, EgogetError]] = []
        # A bucket's records are kept locally too, so the next run adds to them.
        folder = config.output if session.bucket is None else config.output / RECORDS_DIR_NAME
        if planned.records and not result.dry_run:
            versions = {d: r.version_id for d, r in session.ledger.verified_files().items()}
            if session.bucket is not None:
                # Other machines' shares may have put their rows there since: add to those.
                names = [record.path for record in planned.records]
                try:
                    now = session.bucket.current(names)
                    unrecorded += session.bucket.fetch_changed(names, folder, now)
                except EgogetError as exc:
                    unrecorded.append((f"{config.bucket_output}{names[0]}", exc))
            unrecorded += [f for record in planned.records for f in record.record(folder, versions)]
        if session.bucket is not None and not result.dry_run:
            # A local download has the manifests it was planned from and its records beside
            # its files: so does the copy.
            beside = {**session.planning_files, **files_below(folder)}
            unrecorded += session.bucket.put_changed(beside, session.bucket_objects)
        if unrecorded:
            n = len(unrecorded)
            hooks.step_done(
                StepOutcome(f"{n} {plural(n, 'record', 'records')} not written", unrecorded)
            )
            result.finishing_failed.extend(unrecorded)
        if result.exit_code == ExitCode.OK and not config.dry_run:
            for step in planned.finishing:
                outcome = step.run(config.output, cancelled, hooks.step_progress)
                hooks.step_done(outcome)
                result.finishing_failed.extend(outcome.failed)
    return result


@contextmanager
def collector_paused() -> Iterator[None]:
    """Planning makes a file record for each of up to a million files, and the diff a record
    of its last verification: the cyclic collector's passes over them, again and again as they
    pile up, found nothing and were a fifth of the time to plan."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Kept out of its passes for the rest of the run too (unfrozen when the run ends).
        gc.freeze()
        if enabled:
            gc.enable()


def retry_through_fallback(
    session: OutputSession,
    fallback: Fallback,
    result: RunResult,
    hooks: RunHooks,
    cancelled: threading.Event,
) -> None:
    """The files the plan's route failed, fetched again through the fallback in the same run.
    A file it delivers (verified) is no longer failed, and its record answers for the planned
    remote too, so the next run (same plan) finds it present; one it does not keeps its first
    error, with the fallback's beside it. The fallback is a second chance, not the run: its
    server being unreachable or refusing fails those files alone (only a full disk or an
    interruption stops the run)."""
    first = result.summary
    if result.dry_run or first.fatal is not None or first.interrupted or not first.failed:
        return
    files, note = fallback.replacements(session.config.output, list(first.failed))
    if note:
        hooks.note(note)
    if not files:
        return
    second_chances = [
        dataclasses.replace(file, tags={**file.tags, SIDE_FILE_TAG: "yes"}) for file in files
    ]
    delivered: set[str] = set()

    def emit(event: Event) -> None:
        if isinstance(event, FileDone):
            delivered.add(event.dest)
        hooks.emit(event)

    second = session.transfer(second_chances, emit, cancelled)
    planned = {str(f.dest): f.uri for f in result.diff.todo}
    for file in files:
        dest = str(file.dest)
        if dest in delivered:
            first.failed.pop(dest, None)
            if dest in planned:
                identity = session.registry.for_uri(planned[dest]).redact(planned[dest])
                session.ledger.reassign_source(dest, identity)
        elif dest in second.failed and dest in first.failed:
            error = second.failed[dest]
            source = session.registry.for_uri(file.uri).redact(file.uri)
            error.message = f"{first.failed[dest].message}; then by {source}: {error.message}"
            first.failed[dest] = error
    first.add(second)


def dataset_planner(dataset: Dataset, config: DatasetConfig, registry: SourceRegistry) -> Planner:
    def plan(session: OutputSession, hooks: RunHooks, cancelled: threading.Event) -> PlannedRun:
        return dataset.plan(config, registry, MetadataFetcher(session, hooks, cancelled))

    return plan


def run_plan(
    session: OutputSession,
    plan: Plan,
    hooks: RunHooks,
    cancelled: threading.Event,
    refused: list[tuple[str, EgogetError]] | None = None,
) -> RunResult:
    """The diff against the ledger, files already on disk verified in place, then the
    transfer; ``hooks.confirm`` sees the diff first and may say no (the user declined); with
    ``dry_run`` nothing is transferred, checked or written."""
    config = session.config
    with collector_paused():
        diff = session.diff(plan)
    check_link_expiry(diff.todo, session.registry)
    if session.bucket is not None:
        found = keep_copies_with_the_sources_etag(session, diff, hooks)
        find, where = bucket_finder(session.bucket, session.bucket_objects), "in the bucket"
    else:
        found = existing_files(diff.todo, config.output)
        find, where = local_finder(config.output), "on disk"
    if found and config.dry_run:
        diff.unchecked_on_disk = len(found)
    elif found:
        adopt_found(session, diff, found, find, where, hooks, cancelled)
    result = RunResult(diff=diff, refused=list(refused or []), dry_run=config.dry_run)
    if cancelled.is_set():
        result.summary.interrupted = True
        return result
    if config.dry_run or (hooks.confirm is not None and not hooks.confirm(diff)):
        result.dry_run = True
        return result
    result.summary = session.transfer(diff.todo, hooks.emit, cancelled)
    return result


def adopt_found(
    session: OutputSession,
    diff: PlanDiff,
    found: list[RemoteFile],
    find: Finder,
    where: str,
    hooks: RunHooks,
    cancelled: threading.Event,
) -> None:
    """Verify the files found (``where``: on disk, in the bucket) and move the ones that match
    from todo to present."""
    config = session.config
    progress = hooks.step_progress(len(found), f"files found {where} checked")
    adoption = adopt_existing(
        found, find, session.registry, session.ledger, config.procs,
        config.trust_existing == "size", progress, cancelled,
    )  # fmt: skip
    summary = f"{len(adoption.adopted)} of {len(found)} files found {where} match and are kept"
    if config.trust_existing == "size":
        summary += " (by size: --trust-existing size)"
    if adoption.mismatched:
        summary += f"; {len(adoption.mismatched)} will be fetched again"
    hooks.step_done(StepOutcome(summary))
    adopted = {f.dest for f in adoption.adopted}
    diff.todo = [f for f in diff.todo if f.dest not in adopted]
    diff.present += adoption.adopted
    diff.present_bytes += adoption.adopted_bytes
    diff.todo_bytes_known -= adoption.adopted_bytes
    diff.adopted += len(adoption.adopted)
    diff.adopted_bytes += adoption.adopted_bytes
    diff.mismatched = adoption.mismatched


def keep_copies_with_the_sources_etag(
    session: OutputSession, diff: PlanDiff, hooks: RunHooks
) -> list[RemoteFile]:
    """Objects already in the bucket that egoget did not copy (another tool's, a lost ledger)
    whose size and ETag are the source's hold the same content in the same parts: kept without
    reading them. Returns the other planned files the bucket holds, to be read back."""
    objects = session.bucket_objects
    matching = [
        f for f in diff.todo
        if f.etag is not None and objects.get(f.dest) == (f.size, bare_etag(f.etag))
    ]  # fmt: skip
    kept = {f.dest for f in matching}
    others = [f for f in diff.todo if f.dest in objects and f.dest not in kept]
    if not matching:
        return others
    for file in matching:
        check = Check.ETAG_MULTIPART if multipart_parts(file.etag) else Check.ETAG_MD5
        session.ledger.record_verified(
            VerifiedFile(
                dest=file.dest, uri=session.registry.for_uri(file.uri).redact(file.uri),
                size=file.size or 0, etag=file.etag, version_id=file.version_id, md5=file.md5,
                sha256=file.sha256, part_size=None, checked=checks_text(Check.SIZE | check),
                mtime_ns=0, verified_at=time.time(), copy_etag=bare_etag(file.etag),
            )
        )  # fmt: skip
    kept_bytes = sum(f.size or 0 for f in matching)
    diff.todo = [f for f in diff.todo if f.dest not in kept]
    diff.present += matching
    diff.present_bytes += kept_bytes
    diff.todo_bytes_known -= kept_bytes
    diff.adopted, diff.adopted_bytes = len(matching), kept_bytes
    n = len(matching)
    hooks.step_done(
        StepOutcome(
            f"{n} {plural(n, 'file', 'files')} found in the bucket with the source's size and "
            "ETag kept"
        )
    )
    return others


def manifest_cache() -> Path:
    """Where a dry run keeps the manifests it plans from, for the real run to reuse:
    $XDG_CACHE_HOME/egoget/manifests (~/.cache/egoget/manifests)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(root) / "egoget" / "manifests"


def _cached_name(file: RemoteFile, identity: str) -> SafeRelPath:
    """A manifest's name in the cache: by its URI (the ETag is checked in the cache's ledger)."""
    key = hashlib.sha256(identity.encode()).hexdigest()[:24]
    return safe_relative_path(f"{key}/{posixpath.basename(file.dest)}")


class MetadataFetcher:
    """Fetches the small files a plan is made from (manifests, metadata) into the output
    directory, verified and recorded like any other file; a changed remote is fetched again.
    A dry run fetches them into the manifest cache instead, and the real run takes them from
    there when they are still current."""

    def __init__(self, session: OutputSession, hooks: RunHooks, cancelled: threading.Event):
        self._session = session
        self._hooks = hooks
        self._cancelled = cancelled

    def kept_file(self, name: str) -> Path:
        return state_dir(self._session.config.output) / name

    def fetch(self, files: list[RemoteFile]) -> dict[str, Path]:
        session = self._session
        self._hooks.fetching([session.registry.for_uri(f.uri).redact(f.uri) for f in files])
        resolution = resolve_sizes(files, session.registry, session.config.procs)
        for file, error in resolution.missing:
            raise ManifestError(
                f"{file.uri} does not exist",
                hint="check the --version and --parts names (`egoget list` shows them)",
            ) from error
        for _, error in resolution.denied:
            raise AuthError(
                f"access denied to {error.message.removeprefix('access denied to ')}",
                hint=CREDENTIALS_HINT,
            ) from error
        if session.config.dry_run:
            return self._into(manifest_cache(), resolution.files)
        if session.bucket is not None:
            # Read locally to plan; copied into the bucket after the plan's files.
            kept = self._into(session.config.output / PLANNING_DIR_NAME, resolution.files)
            session.planning_files.update(kept)
            return kept
        diff = session.diff(Plan(resolution.files))
        todo = self._from_cache(diff.todo)
        if todo:
            self._transfer(session, todo)
        return {file.dest: session.config.output / file.dest for file in files}

    def _transfer(self, session: OutputSession, files: list[RemoteFile]) -> None:
        summary = session.transfer(files, self._hooks.emit, self._cancelled)
        if summary.fatal is not None:
            raise summary.fatal
        if summary.interrupted:
            raise Interrupted("interrupted while fetching manifests")
        for error in summary.failed.values():
            raise error

    def _into(self, cache: Path, files: list[RemoteFile]) -> dict[str, Path]:
        """Into a local folder of their own (the manifest cache; a bucket copy's state dir),
        each named by its URI."""
        registry = self._session.registry
        named = {
            file.dest: dataclasses.replace(
                file, dest=_cached_name(file, registry.for_uri(file.uri).redact(file.uri))
            )
            for file in files
        }
        config = dataclasses.replace(
            self._session.config, output=cache, dry_run=False, bucket_output=None
        )
        ensure_output_dir(cache)
        with OutputSession(config, registry, shared=True) as cached:
            todo = cached.diff(Plan(list(named.values()))).todo
            if todo:
                self._transfer(cached, todo)
        return {dest: cache / file.dest for dest, file in named.items()}

    def _from_cache(self, files: list[RemoteFile]) -> list[RemoteFile]:
        """Copies the manifests a dry run left in the cache, where still current, into the
        output; returns the ones still to fetch."""
        cache = manifest_cache()
        if not files or not (state_dir(cache) / LEDGER_FILE_NAME).exists():
            return files
        session = self._session
        snapshot = Ledger(state_dir(cache), snapshot=True)
        try:
            cached = snapshot.verified_files()
        finally:
            snapshot.close()
        todo = []
        for file in files:
            identity = session.registry.for_uri(file.uri).redact(file.uri)
            name = _cached_name(file, identity)
            record = cached.get(name)
            source = cache / name
            if (
                record is None
                or not _same_remote(record, identity, file)
                or not _untouched(record, source)
            ):
                todo.append(file)
                continue
            target = session.config.output / file.dest
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + PART_SUFFIX)
            shutil.copyfile(source, part)
            os.replace(part, target)
            session.ledger.record_verified(
                dataclasses.replace(
                    record, dest=file.dest, mtime_ns=target.stat().st_mtime_ns,
                    verified_at=time.time(),
                ),
            )  # fmt: skip
        return todo


def read_small_object(registry: SourceRegistry, uri: str, max_bytes: int = 1 << 20) -> bytes:
    """A small remote file's bytes in memory (a catalogue listing), without an output dir."""
    source = registry.for_uri(uri)
    retries = registry.settings.metadata_retries()
    stat = retries.run(lambda: source.stat(uri))
    if stat.size > max_bytes:
        raise UsageError(f"{source.redact(uri)} is {stat.size:,} bytes; expected a small file")
    stream = source.open_range(uri, 0, stat.size, stat.etag)
    buffer = bytearray(stat.size)
    view = memoryview(buffer)
    try:
        filled = 0
        while filled < stat.size:
            filled += stream.readinto(view[filled:])
    finally:
        stream.close()
    return bytes(buffer)
