"""One file in transfer: its state, the chunks done, and what a chunk's error means for it.

    ACTIVE -> FINALIZING -> DONE
       |-> RESTARTING (remote changed / integrity mismatch) -> a fresh job for the same file
       |-> FAILED
       |-> ABANDONED (interrupted, or the run stopped)

The engine's workers share a job; every state change happens under ``job.lock``.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field

from ..errors import EgogetError, IntegrityError, Interrupted, RemoteChangedError
from ..model import RemoteFile
from .chunks import ChunkLayout
from .integrity import PartHasher
from .sink import Sealed, Sink
from .verify import Digests, Promise


class JobState(enum.Enum):
    ACTIVE = "active"
    RESTARTING = "restarting"
    FAILED = "failed"
    FINALIZING = "finalizing"
    DONE = "done"
    ABANDONED = "abandoned"


@dataclass(eq=False)
class Job:
    file: RemoteFile  # sized and pinned to one version (its ETag)
    planned: RemoteFile  # as the plan gave it: what a restart starts again from
    identity: str  # the URI as the ledger keeps it: no signatures
    sink: Sink  # where the bytes are kept until verified (a part file, an upload)
    layout: ChunkLayout
    done: dict[int, bytes]  # chunk index -> its parts' MD5 digests
    restarts: int
    progress: dict[int, int] = field(default_factory=dict)  # chunk -> bytes on disk at its start
    etag_is_md5: bool = False
    state: JobState = JobState.ACTIVE
    in_flight: int = 0
    counted_bytes: int = 0
    error: EgogetError | None = None
    whole_sha256: bytes | None = None
    version_id: str | None = None  # as the remote named it while serving the ranges
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def size(self) -> int:
        return self.layout.size

    @property
    def journaled(self) -> bool:
        # A one-chunk file restarts from zero anyway: skip the ledger writes for it.
        return self.layout.count > 1

    @property
    def checkpointed(self) -> bool:
        """Progress inside a chunk is recorded as it lands."""
        return self.journaled and not self.sink.in_memory

    def absorb(self, error: EgogetError, dooms_the_run: bool, max_restarts: int) -> None:
        """What one chunk's error means for the whole file (called under ``lock``)."""
        if isinstance(error, Interrupted) or dooms_the_run:
            self.state = JobState.ABANDONED
        elif isinstance(error, RemoteChangedError | IntegrityError):
            restart = self.restarts < max_restarts
            self.state = JobState.RESTARTING if restart else JobState.FAILED
            self.error = error
        else:
            self.state = JobState.FAILED
            self.error = error

    def seal(self) -> Sealed:
        """Check the kept bytes against everything the remote and manifest promised, with the
        digests hashed in flight, and make them final. An IntegrityError leaves nothing
        final."""
        file, layout = self.file, self.layout
        ordered = b"".join(self.done[i] for i in range(layout.count))
        whole_md5 = ordered.hex() if layout.count == 1 and layout.part_size is None else None
        promise = Promise(self.size, file.etag, self.etag_is_md5, file.md5, file.sha256,
                          layout.part_size)  # fmt: skip
        known = Digests(
            part_md5s=ordered if layout.part_size else None,
            md5=whole_md5,
            sha256=self.whole_sha256.hex() if self.whole_sha256 is not None else None,
        )
        try:
            return self.sink.seal(promise, known, durable=self.journaled)
        except IntegrityError as exc:
            raise IntegrityError(f"{file.dest}: {exc.message}") from exc


@dataclass(frozen=True)
class ChunkTask:
    job: Job
    index: int


@dataclass(frozen=True)
class FetchedChunk:
    """A chunk whose bytes are all on disk but whose last pieces may still be hashing."""

    job: Job
    index: int
    hasher: PartHasher
