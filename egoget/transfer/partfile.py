"""A local folder as the destination: each file is written to a part file beside its final
name (space reserved up front, never through a symlink), resumed from the ledger after a kill,
and renamed once verified."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from ..constants import PART_SUFFIX, READ_BUFFER_BYTES, RESERVE_MIN_BYTES
from ..errors import DiskFullError, EgogetError, IntegrityError, TransferError, UnsafePathError
from ..ledger import Ledger, PartialFile
from ..model import RemoteFile
from ..paths import destination_inside
from .chunks import layout_for
from .diskio import PartWriter, open_direct
from .integrity import PartHasher
from .sink import Opened, Resume, Sealed
from .verify import Digests, FileContent, Promise, checks_text, verify

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class LocalFolder:
    """A folder on a local (or network) file system: the Destination of a download."""

    def __init__(self, out_dir: Path, ledger: Ledger, direct_min_size: int | None):
        self._ledger = ledger
        self._direct_min_size = direct_min_size
        self._real_out_dir = Path(os.path.realpath(out_dir))
        self._real_out_text = str(self._real_out_dir)
        self._checked_dirs: set[str] = set()

    def describe(self, dest: str) -> str:
        return os.path.join(self._real_out_text, dest)

    def open(
        self,
        file: RemoteFile,
        identity: str,
        part_size: int | None,
        target_chunk_size: int,
        record: PartialFile | None,
    ) -> Opened:
        size = file.size or 0
        final_path = self._final_path(file)
        part_path = part_path_of(final_path)
        resume = resume_point(record, identity, size, file.etag, part_size, part_path)
        layout = layout_for(size, resume.chunk_size or target_chunk_size, part_size)
        writer = open_part_file(part_path, size, resume, self._direct_min_size)
        if not resume.anything and layout.count > 1:
            self._ledger.start_partial(
                file.dest, identity, size, file.etag, layout.chunk_size, part_size
            )
        sink = PartFile(final_path, part_path, writer, self._ledger, file.dest, size)
        return Opened(sink, layout, resume)

    def _final_path(self, file: RemoteFile) -> Path:
        """The final path, its folder created; each folder is checked for symlinks once."""
        # String joins: pathlib's joins and parents were a visible share of a small file's cost.
        joined = os.path.join(self._real_out_text, file.dest)
        final_path = Path(joined)
        folder = os.path.dirname(joined)
        if folder not in self._checked_dirs:
            destination_inside(self._real_out_dir, file.dest)
            final_path.parent.mkdir(parents=True, exist_ok=True)
            # Again after mkdir, which may have walked through a symlink planted meanwhile.
            destination_inside(self._real_out_dir, file.dest)
            self._checked_dirs.add(folder)
        return final_path


class PartFile:
    """The Sink of a local file: the part file, renamed to the final name once verified."""

    in_memory = False

    def __init__(
        self,
        final_path: Path,
        part_path: Path,
        writer: PartWriter,
        ledger: Ledger,
        dest: str,
        size: int,
    ):
        self.final_path = final_path
        self.part_path = part_path
        self._writer = writer
        self._ledger = ledger
        self._dest = dest
        self._size = size

    def write(self, data: memoryview, offset: int) -> int:
        return self._writer.write(data, offset)

    def rehash(self, hasher: PartHasher, start: int, end: int) -> None:
        hash_from_disk(self._writer.fd, hasher, start, end)

    def chunk_fetched(self, index: int, part_md5s: bytes) -> None:
        pass  # its bytes are in the part file already

    def seal(self, promise: Promise, known: Digests, durable: bool) -> Sealed:
        fd = self._writer.fd
        # The last write set the mtime; renaming the file does not change it.
        mtime_ns = os.fstat(fd).st_mtime_ns
        checked = checks_text(verify(FileContent(fd), promise, known))
        if durable:
            # A large file's verified record must not outlive its bytes after a power loss;
            # small files stay in the page cache like any download tool's (verify --full).
            os.fdatasync(fd)
        self.close()
        os.replace(self.part_path, self.final_path)
        return Sealed(checked, mtime_ns)

    def discard(self) -> None:
        self.close()
        unlink_quietly(self.part_path)
        self._ledger.drop_partial(self._dest)

    def close(self) -> None:
        self._writer.close()

    def local_error(self, exc: OSError) -> EgogetError:
        return local_write_error(exc, self.part_path, self._size)


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
