"""The engine: chunked, parallel, resumable, verified transfer of RemoteFiles from Sources.

Workers pull work from one scheduler: the chunks of files already opened first, then the next
file. So one large file is fetched by every worker in parallel, and many small files are fetched
side by side, under one bound on connections. A file's states are in ``job.py``; the transition
out of ACTIVE is taken by whichever worker ends the file's last chunk in flight, so nothing ever
writes to a part file that another worker is publishing or discarding.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..config import IoMode
from ..constants import (
    CHECKPOINT_BYTES,
    INTERRUPT_GRACE_S,
    READ_BUFFER_BYTES,
    READ_BUFFERS_PER_WORKER,
)
from ..errors import (
    RUN_FATAL_ERRORS,
    DiskFullError,
    EgogetError,
    IntegrityError,
    Interrupted,
    RemoteChangedError,
    RetryableError,
    TransferError,
)
from ..ledger import Ledger, VerifiedFile
from ..model import SIDE_FILE_TAG, RemoteFile
from ..retry import RetryPolicy
from ..sources import Source, SourceRegistry
from ..sources.base import RangeStream, RemoteStat
from .bandwidth import RateLimiter
from .concurrency import ConcurrencyTuner
from .diskio import aligned_buffer, aligned_read_size, direct_io_min_size
from .events import (
    BytesReceived,
    EventSink,
    FileDone,
    FileFailed,
    FileStarted,
    Restarting,
    Retrying,
    TransferSummary,
)
from .hedge import MAX_HEDGES_PER_RANGE, HedgedError, SilenceWatch
from .integrity import PartHasher, multipart_parts
from .job import ChunkTask, FetchedChunk, Job, JobState
from .md5 import BufferRing
from .partfile import LocalFolder, local_write_error
from .sink import Destination

T = TypeVar("T")
# How long a worker waits for a connection slot before it looks at its hashed chunks again,
# or (with none) at whether the run was cancelled.
SLOT_WAIT_S = 0.005
IDLE_SLOT_WAIT_S = 0.1


class _Wait(enum.Enum):
    """What _next_task answers while files are being opened and no chunk is waiting yet."""

    WAIT = "wait"


_BUG_HINT = "rerun with EGOGET_DEBUG=1 and report the traceback; finished files are kept"


@dataclass(frozen=True)
class TransferOptions:
    procs: int
    chunk_size: int
    max_attempts: int
    max_restarts: int = 3
    limit_rate_bytes_per_s: int | None = None
    io_mode: IoMode = IoMode.AUTO


class Engine:
    def __init__(
        self,
        out_dir: Path,
        registry: SourceRegistry,
        ledger: Ledger,
        options: TransferOptions,
        emit: EventSink,
        cancelled: threading.Event,
        destination: Destination | None = None,
    ):
        """Into ``destination``; by default, the local folder ``out_dir``."""
        self._destination = destination or LocalFolder(
            out_dir, ledger, direct_io_min_size(options.io_mode, Path(os.path.realpath(out_dir)))
        )
        self._registry = registry
        self._ledger = ledger
        self._options = options
        self._emit = emit
        self._cancelled = cancelled
        self._limiter = (
            RateLimiter(options.limit_rate_bytes_per_s) if options.limit_rate_bytes_per_s else None
        )
        self._lock = threading.Lock()
        # Files being opened (their first request in flight): their chunks are work to come,
        # so a worker that finds none yet waits for them instead of ending. Ending there left
        # a few large files to as many workers as files, whatever -j said.
        self._opening = 0
        self._work = threading.Condition(self._lock)
        self._pending: deque[ChunkTask] = deque()
        self._files: Iterator[RemoteFile] = iter(())
        self._summary = TransferSummary()
        self._partials = ledger.partial_files()
        self._watch = SilenceWatch(registry.abort_requests_of, registry.settings.stall_timeout_s)
        self._tuner = ConcurrencyTuner(options.procs)

    # --- the run ------------------------------------------------------------------------------

    def run(self, files: Iterable[RemoteFile]) -> TransferSummary:
        started = time.monotonic()
        self._files = iter(files)
        workers = [
            threading.Thread(target=self._worker, name=f"egoget-worker-{i}", daemon=True)
            for i in range(max(1, self._options.procs))
        ]
        for worker in workers:
            worker.start()
        try:
            while any(w.is_alive() for w in workers):
                self._watch.check()
                self._tuner.observe(self._summary.bytes_received)
                if self._cancelled.wait(0.1):
                    break
        except KeyboardInterrupt:
            # Ctrl-C where no signal handler turns it into cancelled (a notebook, the API).
            self._cancelled.set()
        if self._cancelled.is_set():
            # Workers stop at their next read; one blocked on a dead socket is abandoned
            # (daemon thread) rather than holding Ctrl-C hostage until its timeout.
            deadline = time.monotonic() + INTERRUPT_GRACE_S
            for worker in workers:
                worker.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            summary = dataclasses.replace(self._summary, failed=dict(self._summary.failed))
        summary.interrupted = self._cancelled.is_set() and summary.fatal is None
        summary.elapsed_s = time.monotonic() - started
        summary.hedged_ranges = self._watch.hedges
        summary.connections = self._tuner.level
        summary.peak_connections = self._tuner.highest
        return summary

    def _worker(self) -> None:
        buffers = BufferRing(READ_BUFFERS_PER_WORKER, lambda: aligned_buffer(READ_BUFFER_BYTES))
        # A worker goes on to its next chunk while the last one's MD5 is still in the SIMD
        # batch: waiting there kept batches one or two streams wide on many small files.
        # Fetched chunks are ended between tasks, never mid-stream: ending one may restart
        # its file, whose new requests must not share this worker's connection with a body
        # still being read.
        fetched: list[FetchedChunk] = []
        # A slot per request in flight, kept from one small file to the next while the level
        # allows: giving it back after every file woke a waiting worker only to have this one
        # take it again, a context switch and a GIL handoff per file.
        holding_slot = False
        try:
            while not self._cancelled.is_set():
                self._end_hashed_chunks(fetched, wait=False)
                # A worker waiting for a slot still ends its hashed chunks every few
                # milliseconds; one with none to end just waits.
                if not holding_slot:
                    if not self._tuner.acquire(SLOT_WAIT_S if fetched else IDLE_SLOT_WAIT_S):
                        continue
                    holding_slot = True
                task = self._next_task()
                if isinstance(task, ChunkTask):
                    self._run_chunk(task, buffers, fetched)
                elif isinstance(task, RemoteFile):
                    self._opened(task, restarts=0)
                else:
                    self._tuner.release()
                    holding_slot = False
                    if task is _Wait.WAIT:
                        with self._work:
                            self._work.wait(SLOT_WAIT_S if fetched else IDLE_SLOT_WAIT_S)
                    elif not fetched:
                        return
                    else:
                        # Ending them may restart a file, which brings new work.
                        self._end_hashed_chunks(fetched, wait=True)
                    continue
                if isinstance(task, ChunkTask) and task.job.layout.count > 1:
                    # A large file's chunks hand their slot over as before: a hand-over every
                    # 16 MiB costs nothing to speak of, and keeping the slot measured 1.05x to
                    # 1.37x the wall time on 4 x 1 GiB (three farm-bench rounds, noisy).
                    self._tuner.release()
                    holding_slot = False
                else:
                    holding_slot = self._tuner.keep()
            self._end_hashed_chunks(fetched, wait=True)
        except Exception as exc:
            # A bug must end the run loudly, never leave a file silently unaccounted for.
            self._fail_run(EgogetError(f"internal error: {exc!r}", hint=_BUG_HINT))
            raise
        finally:
            if holding_slot:
                self._tuner.release()

    def _end_hashed_chunks(self, fetched: list[FetchedChunk], wait: bool) -> None:
        """End the fetched chunks whose hashing is done (all of them, waiting, if ``wait``)."""
        if not fetched:
            return
        ready = [chunk for chunk in fetched if wait or chunk.hasher.hashed]
        for chunk in ready:
            fetched.remove(chunk)
            part_md5s = chunk.hasher.part_md5s()
            self._chunk_ended(chunk.job, chunk.index, part_md5s, self._keep(chunk, part_md5s))

    def _keep(self, chunk: FetchedChunk, part_md5s: bytes) -> EgogetError | None:
        """Make a fetched chunk durable where its file is kept (an upload sends it)."""
        job = chunk.job
        if job.state is JobState.RESTARTING or not job.sink.in_memory:
            # A restarting file's chunks are not recorded; a part file holds its chunks already.
            return None
        try:
            self._retrying(job.file.dest, lambda: job.sink.chunk_fetched(chunk.index, part_md5s))
        except EgogetError as exc:
            return exc
        except OSError as exc:
            return job.sink.local_error(exc)
        return None

    def _next_task(self) -> ChunkTask | RemoteFile | _Wait | None:
        """A chunk, else the next file (counted as opening), else _WAIT while files are being
        opened, else None: nothing left."""
        with self._lock:
            while self._pending:
                task = self._pending.popleft()
                if task.job.state is JobState.ACTIVE:
                    return task
            file = next(self._files, None)
            if file is not None:
                self._opening += 1
                return file
            return _Wait.WAIT if self._opening else None

    def _opened(self, file: RemoteFile, restarts: int) -> None:
        """Open a file counted as opening (its chunks join the work), then uncount it."""
        try:
            self._open_file(file, restarts)
        finally:
            with self._work:
                self._opening -= 1
                self._work.notify_all()

    def _fail_run(self, error: EgogetError) -> None:
        """Errors that doom every other file too (credentials, disk full, an unreachable or
        untrusted server) stop the run."""
        with self._lock:
            if self._summary.fatal is None:
                self._summary.fatal = error
        self._cancelled.set()

    # --- opening a file -----------------------------------------------------------------------

    def _open_file(self, file: RemoteFile, restarts: int) -> None:
        try:
            job = self._prepare(file, restarts)
        except EgogetError as exc:
            if _dooms_the_run(file, exc):
                self._fail_run(exc)
                return
            self._report_failure(file.dest, exc)
            return
        except OSError as exc:
            where = Path(self._destination.describe(file.dest))
            self._report_failure(file.dest, local_write_error(exc, where, file.size or 0))
            return
        if job.layout.count == len(job.done):
            self._finalize(job)
            return
        missing = [i for i in range(job.layout.count) if i not in job.done]
        with self._work:
            self._pending.extendleft(ChunkTask(job, i) for i in reversed(missing))
            self._work.notify_all()

    def _prepare(self, file: RemoteFile, restarts: int) -> Job:
        source = self._registry.for_uri(file.uri)
        accepts_ranges = True
        planned = file
        if file.size is None or file.etag is None:
            # One small request pins the version: without an ETag, resumed ranges could splice
            # two versions of a file together.
            stat = self._retrying(file.dest, lambda: source.stat(file.uri))
            if file.size is not None and stat.size != file.size:
                raise TransferError(
                    f"{file.dest}: the remote has {stat.size:,} bytes but the plan expected "
                    f"{file.size:,}: its manifest or listing is out of date",
                    hint="rerun to plan again; if it persists, the dataset's manifest is wrong",
                )
            file = dataclasses.replace(file, size=stat.size, etag=file.etag or stat.etag)
            accepts_ranges = stat.accepts_ranges
        size = file.size if file.size is not None else 0
        identity = source.redact(file.uri)
        part_size = None
        if multipart_parts(file.etag):
            stat = RemoteStat(size, file.etag)
            part_size = self._retrying(file.dest, lambda: source.part_size(file.uri, stat))
        # A server that ignores Range can only be read from the start, in one piece.
        target_chunk = self._options.chunk_size if accepts_ranges else max(1, size)
        opened = self._destination.open(
            file, identity, part_size, target_chunk, self._partials.pop(file.dest, None)
        )
        layout, resume = opened.layout, opened.resume
        job = Job(
            file, planned, identity, opened.sink, layout, resume.done, restarts,
            progress=resume.progress, etag_is_md5=source.etag_is_md5(file.uri),
        )  # fmt: skip
        resumed = sum(layout.bounds(i)[1] - layout.bounds(i)[0] for i in resume.done)
        resumed += sum(resume.progress.values())
        self._emit(FileStarted(file.dest, size, resumed))
        if resumed:
            job.counted_bytes = resumed
            self._emit(BytesReceived(file.dest, resumed))
        return job

    # --- one chunk ----------------------------------------------------------------------------

    def _run_chunk(self, task: ChunkTask, buffers: BufferRing, fetched: list[FetchedChunk]) -> None:
        job = task.job
        with job.lock:
            if job.state is not JobState.ACTIVE:
                return
            job.in_flight += 1
        error: EgogetError
        try:
            hasher = self._fetch_chunk(job, task.index, buffers)
        except EgogetError as exc:
            error = exc
        except OSError as exc:
            error = job.sink.local_error(exc)
        else:
            fetched.append(FetchedChunk(job, task.index, hasher))
            if job.sink.in_memory:
                # Its buffer is freed once kept: waiting for the next chunk would hold two.
                self._end_hashed_chunks(fetched, wait=True)
            return
        self._chunk_ended(job, task.index, b"", error)

    def _fetch_chunk(self, job: Job, index: int, buffers: BufferRing) -> PartHasher:
        source: Source = self._registry.for_uri(job.file.uri)
        start, end = job.layout.bounds(index)
        want_sha256 = job.file.sha256 is not None and job.layout.count == 1
        hasher = PartHasher(start, end, job.layout.part_size, want_sha256)
        offset = start + job.progress.pop(index, 0)
        # A killed run's bytes before its last checkpoint are kept: hash them, fetch the rest.
        job.sink.rehash(hasher, start, offset)
        checkpoint = offset
        hedges = 0

        def stream_rest() -> None:
            # A retry resumes where the range broke: the hasher and If-Match keep it honest.
            nonlocal offset, checkpoint, hedges
            flow = self._watch.begin()
            stream: RangeStream | None = None
            try:
                stream = source.open_range(job.file.uri, offset, end, job.file.etag)
                job.version_id = job.version_id or stream.version_id
                while offset < end:
                    if self._cancelled.is_set():
                        raise Interrupted("interrupted")
                    slot, view = buffers.take()
                    want = aligned_read_size(offset, end - offset, len(view))
                    got = stream.readinto(view[:want])
                    self._watch.read(flow)
                    direct_bytes = job.sink.write(view[:got], offset)
                    buffers.lend(slot, hasher.update(view[:got]))
                    offset += got
                    self._count(job, got, direct_bytes)
                    # At the chunk's end too, committed at once: it is recorded as done only
                    # once its worker is between tasks (after its next chunk), and a kill
                    # before that must not cost its bytes: a rerun hashes them from the part
                    # file instead.
                    if job.checkpointed and (
                        offset == end or offset - checkpoint >= CHECKPOINT_BYTES
                    ):
                        self._ledger.record_progress(
                            job.file.dest, index, offset - start, now=offset == end
                        )
                        checkpoint = offset
            except RetryableError as exc:
                if not flow.hedged or hedges >= MAX_HEDGES_PER_RANGE:
                    raise
                hedges += 1
                raise HedgedError(
                    f"no bytes for {flow.silent_s:.1f} s while other connections flowed; "
                    "continuing the range on a new connection"
                ) from exc
            finally:
                self._watch.end(flow)
                if stream is not None:
                    stream.close()

        if offset < end:  # a killed run may have left the whole chunk on disk
            self._retrying(job.file.dest, stream_rest)
        if want_sha256:
            job.whole_sha256 = hasher.sha256()
        return hasher

    def _retrying(self, dest: str, call: Callable[[], T]) -> T:
        """Run ``call`` until it succeeds, retrying transient faults with backoff."""

        def tell(failures: int, fault: RetryableError, delay_s: float) -> None:
            self._tuner.retried()
            self._emit(Retrying(dest, failures, fault.message, delay_s))

        policy = RetryPolicy(self._options.max_attempts, self._cancelled, tell)
        try:
            return policy.run(call)
        except RetryableError as exc:
            raise TransferError(
                f"gave up on {dest} after {self._options.max_attempts} attempts: {exc.message}",
                hint="rerun the same command to resume; finished chunks are kept",
            ) from exc

    def _count(self, job: Job, nbytes: int, direct_bytes: int) -> None:
        job.counted_bytes += nbytes
        with self._lock:
            self._summary.bytes_received += nbytes
            self._summary.bytes_direct_io += direct_bytes
        self._emit(BytesReceived(job.file.dest, nbytes))
        if self._limiter is not None:
            self._limiter.consume(nbytes, self._cancelled)

    def _chunk_ended(
        self, job: Job, index: int, part_md5s: bytes, error: EgogetError | None
    ) -> None:
        with job.lock:
            job.in_flight -= 1
            if error is None and job.state is not JobState.RESTARTING:
                # Kept even when another chunk has failed the file meanwhile: its part file
                # stays for a rerun, which then fetches only what is missing.
                if job.journaled:
                    self._ledger.record_chunk(job.file.dest, index, part_md5s)
                job.done[index] = part_md5s
            elif error is not None and job.state is JobState.ACTIVE:
                self._absorb_error(job, error)
            if job.in_flight:
                return
            if job.state is JobState.ACTIVE and len(job.done) == job.layout.count:
                job.state = JobState.FINALIZING
            state = job.state
        if state is JobState.FINALIZING:
            self._finalize(job)
        elif state is JobState.RESTARTING:
            self._restart(job)
        elif state is JobState.FAILED and job.error is not None:
            job.sink.close()
            self._report_failure(job.file.dest, job.error)
            job.error = None

    def _absorb_error(self, job: Job, error: EgogetError) -> None:
        """Decide, under the job's lock, what one chunk's error means for its whole file."""
        dooms = not isinstance(error, Interrupted) and _dooms_the_run(job.file, error)
        job.absorb(error, dooms, self._options.max_restarts)
        if dooms:
            self._fail_run(error)

    # --- the end of a file --------------------------------------------------------------------

    def _restart(self, job: Job) -> None:
        reason = job.error.message if job.error else "restarting"
        job.state = JobState.ABANDONED
        job.sink.discard()
        self._emit(Restarting(job.file.dest, reason))
        self._emit(BytesReceived(job.file.dest, -job.counted_bytes))
        # The remote may now be another version: take its current ETag, and its size unless
        # the plan promised one (a manifest's size is checked, not silently replaced).
        fresh = dataclasses.replace(job.planned, etag=None)
        with self._lock:
            self._opening += 1
        self._opened(fresh, restarts=job.restarts + 1)

    def _finalize(self, job: Job) -> None:
        try:
            sealed = job.seal()
        except (IntegrityError, RemoteChangedError) as exc:
            with job.lock:
                self._absorb_error(job, exc)
                state = job.state
            if state is JobState.RESTARTING:
                self._restart(job)
            else:
                job.sink.discard()
                self._report_failure(job.file.dest, exc)
            return
        except (OSError, EgogetError) as exc:
            job.sink.close()
            error = job.sink.local_error(exc) if isinstance(exc, OSError) else exc
            if isinstance(error, DiskFullError) or _dooms_the_run(job.file, error):
                self._fail_run(error)
            self._report_failure(job.file.dest, error)
            return
        file = job.file
        self._ledger.record_verified(
            VerifiedFile(
                dest=file.dest,
                uri=job.identity,
                size=job.size,
                etag=file.etag,
                version_id=job.version_id or file.version_id,
                md5=file.md5,
                sha256=file.sha256,
                part_size=job.layout.part_size,
                checked=sealed.checked,
                mtime_ns=sealed.mtime_ns,
                verified_at=time.time(),
                copy_etag=sealed.copy_etag,
            ),
            now=job.journaled,
        )
        job.state = JobState.DONE
        with self._lock:
            self._summary.files_done += 1
            self._summary.bytes_done += job.size
        self._emit(FileDone(file.dest, job.size, sealed.checked))

    def _report_failure(self, dest: str, error: EgogetError) -> None:
        with self._lock:
            self._summary.failed[dest] = error
        self._emit(FileFailed(dest, error))


def _dooms_the_run(file: RemoteFile, error: EgogetError) -> bool:
    """Whether one file's error stops the run: credentials, a full disk, a server that cannot
    be reached or trusted. For a side file (metadata beside the data) only a full disk does:
    its own server failing fails it alone, named at the end."""
    if not isinstance(error, RUN_FATAL_ERRORS):
        return False
    return isinstance(error, DiskFullError) or not file.tags.get(SIDE_FILE_TAG)
