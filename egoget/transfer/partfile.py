"""The part file a download is written to beside its final name: whether a killed run's part
file can be resumed, and opening it (space reserved up front, never through a symlink)."""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..constants import PART_SUFFIX, READ_BUFFER_BYTES, RESERVE_MIN_BYTES
from ..errors import DiskFullError, EgogetError, IntegrityError, TransferError, UnsafePathError
from ..ledger import PartialFile
from .diskio import PartWriter, open_direct
from .integrity import PartHasher

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclass(frozen=True)
class Resume:
    """What a part file already holds: the chunk size it was cut with (kept, whatever
    --chunk-size-mib says now), its finished chunks and the progress inside unfinished ones."""

    chunk_size: int | None = None
    done: dict[int, bytes] = field(default_factory=dict)
    progress: dict[int, int] = field(default_factory=dict)

    @property
    def anything(self) -> bool:
        return bool(self.done or self.progress)


def part_path_of(final_path: Path) -> Path:
    return Path(f"{final_path}{PART_SUFFIX}")


def resume_point(
    record: PartialFile | None,
    identity: str,
    size: int,
    etag: str | None,
    part_size: int | None,
    part_path: Path,
) -> Resume:
    """The ledger's record of a part file, when it still describes this very remote version
    and the part file on disk; else nothing is kept."""
    if (
        record is not None
        and record.uri == identity
        and record.size == size
        and record.validator == etag
        and record.part_size == part_size
        and (record.done_chunks or record.chunk_progress)
        and _size_of(part_path) == size
    ):
        return Resume(record.chunk_size, record.done_chunks, dict(record.chunk_progress))
    return Resume()


def open_part_file(
    part_path: Path, size: int, resume: Resume, direct_min: int | None
) -> PartWriter:
    """The part file opened for positional writes (a second, direct descriptor for large
    files); a fresh one is truncated and its space reserved."""
    truncate = not resume.anything
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if truncate else 0)
    try:
        fd = os.open(part_path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(f"refusing to write through a symlink at {part_path}") from exc
        raise local_write_error(exc, part_path, size) from exc
    try:
        if truncate and size >= RESERVE_MIN_BYTES:
            _reserve(fd, size)
        direct_fd = open_direct(part_path) if direct_min is not None and size >= direct_min else -1
    except OSError as exc:
        os.close(fd)
        raise local_write_error(exc, part_path, size) from exc
    return PartWriter(fd, direct_fd)


def _reserve(fd: int, size: int) -> None:
    """Reserve the space now: a full disk shows up before any byte is fetched."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        os.ftruncate(fd, size)


def hash_from_disk(fd: int, hasher: PartHasher, start: int, end: int) -> None:
    """A killed run's bytes before its last checkpoint, hashed from the part file."""
    offset = start
    while offset < end:
        block = os.pread(fd, min(READ_BUFFER_BYTES, end - offset), offset)
        if not block:
            raise IntegrityError("the part file is shorter than its recorded progress")
        hasher.update(memoryview(block))
        offset += len(block)


def unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def local_write_error(exc: OSError, path: Path, size: int) -> EgogetError:
    if exc.errno in _DISK_FULL_ERRNOS:
        return DiskFullError(
            f"no space left to write {path.name} ({size:,} bytes) in {path.parent}",
            hint="free some space or choose another --output directory, then rerun: "
            "finished chunks are kept",
        )
    return TransferError(f"cannot write {path}: {exc.strerror}")


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None
