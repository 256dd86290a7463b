"""Where a file's bytes go while it transfers, and how they become the final file.

Two kinds: a part file beside the final name in a local folder (``partfile.py``), and a
multipart upload into a bucket (``upload.py``). The engine fetches, hashes and schedules the
same way for both; only what a sink does with the bytes differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..errors import EgogetError
from ..ledger import PartialFile
from ..model import RemoteFile
from .chunks import ChunkLayout
from .integrity import PartHasher
from .verify import Digests, Promise


@dataclass(frozen=True)
class Resume:
    """What a killed run left that is still good: the chunk size it was cut with (kept,
    whatever --chunk-size-mib says now), its finished chunks and the progress inside
    unfinished ones."""

    chunk_size: int | None = None
    done: dict[int, bytes] = field(default_factory=dict)
    progress: dict[int, int] = field(default_factory=dict)

    @property
    def anything(self) -> bool:
        return bool(self.done or self.progress)


@dataclass(frozen=True)
class Sealed:
    """A file made final: what was checked (as the ledger spells it), and what a later run
    compares to tell it is untouched: a local file's mtime, a copy's ETag in its bucket."""

    checked: str
    mtime_ns: int = 0
    copy_etag: str | None = None


class Sink(Protocol):
    """One file's bytes on their way to where they are kept. Called by the engine's workers:
    ``write`` for any chunk concurrently, the rest by whichever worker owns the step."""

    # A chunk's bytes are in memory until ``chunk_fetched`` keeps them: the engine keeps each
    # chunk as soon as it is fetched, and records no progress inside one (a kill loses it).
    in_memory: bool

    def write(self, data: memoryview, offset: int) -> int:
        """Keep ``data`` at ``offset``; returns how many bytes went to a disk directly."""
        ...

    def rehash(self, hasher: PartHasher, start: int, end: int) -> None:
        """Feed ``hasher`` the bytes a killed run already kept from ``start`` to ``end``."""
        ...

    def chunk_fetched(self, index: int, part_md5s: bytes) -> None:
        """A chunk is complete and hashed: make it durable where it is kept (an upload sends
        it); raises what went wrong."""
        ...

    def seal(self, promise: Promise, known: Digests, durable: bool) -> Sealed:
        """Check every promise, then make the file final under its name. An IntegrityError
        leaves nothing final."""
        ...

    def discard(self) -> None:
        """Forget the bytes kept so far (a restart or a mismatch): nothing is left behind."""
        ...

    def close(self) -> None: ...

    def local_error(self, exc: OSError) -> EgogetError:
        """What an OSError raised while keeping bytes means for the user."""
        ...


@dataclass(frozen=True)
class Opened:
    sink: Sink
    layout: ChunkLayout
    resume: Resume


class Destination(Protocol):
    """Where a run's files go: a local folder or a bucket."""

    def open(
        self,
        file: RemoteFile,
        identity: str,
        part_size: int | None,
        target_chunk_size: int,
        record: PartialFile | None,
    ) -> Opened:
        """Start (or resume, from the ledger's ``record``) keeping ``file``, sized and pinned
        to one version; raises EgogetError, or OSError for the local disk."""
        ...

    def describe(self, dest: str) -> str:
        """Where ``dest`` is kept, for messages."""
        ...
