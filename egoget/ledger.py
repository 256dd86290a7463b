"""SQLite record of what is verified on disk and of the finished chunks of partial files.

"Already downloaded" is answered from here plus a local ``stat`` — never a request per file.
Chunk rows are committed as each chunk lands, so a SIGKILL loses at most the chunks in flight;
progress inside a chunk is committed about once a second, so it loses a second of that too.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from .constants import (
    LEDGER_FILE_NAME,
    PROGRESS_COMMIT_INTERVAL_S,
    VERIFIED_BATCH_MAX,
    VERIFIED_BATCH_MAX_AGE_S,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    dest TEXT PRIMARY KEY,
    uri TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT,
    version_id TEXT,
    md5 TEXT,
    sha256 TEXT,
    part_size INTEGER,
    checked TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    verified_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS partials (
    dest TEXT PRIMARY KEY,
    uri TEXT NOT NULL,
    size INTEGER NOT NULL,
    validator TEXT,
    chunk_size INTEGER NOT NULL,
    part_size INTEGER,
    started_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunk_progress (
    dest TEXT NOT NULL,
    idx INTEGER NOT NULL,
    done INTEGER NOT NULL,
    PRIMARY KEY (dest, idx)
);
CREATE TABLE IF NOT EXISTS chunks (
    dest TEXT NOT NULL,
    idx INTEGER NOT NULL,
    part_md5s BLOB NOT NULL,
    PRIMARY KEY (dest, idx)
);
CREATE TABLE IF NOT EXISTS uploads (
    dest TEXT PRIMARY KEY,
    upload_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS copies (
    dest TEXT PRIMARY KEY,
    etag TEXT NOT NULL
);
"""
# uploads: the multipart upload a partial file's chunks went to, when it goes to a bucket.
# copies: the ETag of a file's copy in a bucket, as the bucket reported it once verified.


_VERIFIED_COLUMNS = (
    "dest, uri, size, etag, version_id, md5, sha256, part_size, checked, mtime_ns, verified_at"
)
_STAMP_COLUMNS = "uri, size, etag, mtime_ns"
# Plans up to this many files look their records up by name; larger ones read the whole table.
_FEW_FILES = 10_000
_SQL_VARIABLES = 500


class Stamp(NamedTuple):
    """Of a verified record, what tells whether it still answers for a planned file: the
    remote it came from and the file on disk as it was verified."""

    uri: str
    size: int
    etag: str | None
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class VerifiedFile:
    dest: str
    uri: str
    size: int
    etag: str | None
    version_id: str | None
    md5: str | None
    sha256: str | None
    part_size: int | None
    checked: str  # what was verified, e.g. "size+etag-multipart" — shown by `egoget status`
    mtime_ns: int  # of the local file; 0 for a copy in a bucket
    verified_at: float
    copy_etag: str | None = None  # of the copy in a bucket


@dataclass(frozen=True)
class PartialFile:
    dest: str
    uri: str
    size: int
    validator: str | None
    chunk_size: int
    part_size: int | None
    done_chunks: dict[int, bytes]  # chunk index -> concatenated MD5 digests of its parts
    # chunk index -> bytes at its start already written when last checkpointed
    chunk_progress: dict[int, int] = field(default_factory=dict)
    upload_id: str | None = None  # of a bucket's multipart upload the chunks went to


class Ledger:
    def __init__(self, state_dir: Path, snapshot: bool = False):
        """The ledger of an output directory; ``snapshot``: an in-memory copy of it, or an
        empty one, for a run that must leave no trace (--dry-run): nothing is written."""
        self.path = state_dir / LEDGER_FILE_NAME
        if snapshot:
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            if self.path.exists():
                # immutable: no lock, -wal or -shm file is made beside it.
                source = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True)
                try:
                    source.backup(self._db)
                finally:
                    source.close()
        else:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL survives a killed process; after a power loss the ETag/checksum check at
            # publish catches any chunk whose bytes did not reach the disk.
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        # Verified records are committed in groups: one transaction per small file was the
        # largest per-file cost. A SIGKILL loses at most the last group, whose files are then
        # simply fetched again.
        self._pending_verified: list[VerifiedFile] = []
        self._last_flush = time.monotonic()
        # dest -> chunk index -> bytes written at its start, not yet committed.
        self._pending_progress: dict[str, dict[int, int]] = {}
        self._last_progress_commit = time.monotonic()

    def close(self) -> None:
        # A worker stuck in a write must not keep the process from exiting after Ctrl-C.
        if self._lock.acquire(timeout=2):
            try:
                self._flush_verified()
                self._commit_progress()
                self._db.close()
            finally:
                self._lock.release()

    # --- verified files -----------------------------------------------------------------------

    def verified_files(self) -> dict[str, VerifiedFile]:
        """Every verified record in one query: a plan over 10,000 files diffs in memory."""
        with self._lock:
            self._flush_verified()
            rows = self._db.execute(f"SELECT {_VERIFIED_COLUMNS} FROM files").fetchall()
        return {row[0]: VerifiedFile(*row) for row in rows}

    def verified_count(self) -> int:
        with self._lock:
            self._flush_verified()
            count: int = self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        return count

    def stamps_for(self, dests: list[str]) -> dict[str, Stamp]:
        """What the verified records of these files promise, by destination: enough to tell
        whether each still holds, and light enough for a million. A plan of a few files (the
        manifest a plan is made from) looks its records up by name instead of reading them all."""
        with self._lock:
            self._flush_verified()
            if len(dests) > _FEW_FILES:
                rows = self._db.execute(f"SELECT dest, {_STAMP_COLUMNS} FROM files").fetchall()
                # Made without a Python call per row: a million records in 2 s instead of 3.5.
                return dict(
                    zip(
                        map(itemgetter(0), rows),
                        map(partial(tuple.__new__, Stamp), map(itemgetter(slice(1, 5)), rows)),
                        strict=True,
                    )
                )
            found = {}
            for start in range(0, len(dests), _SQL_VARIABLES):
                batch = dests[start : start + _SQL_VARIABLES]
                marks = ",".join("?" * len(batch))
                query = f"SELECT dest, {_STAMP_COLUMNS} FROM files WHERE dest IN ({marks})"
                for row in self._db.execute(query, batch):
                    found[row[0]] = Stamp(row[1], row[2], row[3], row[4])
        return found

    def record_verified(self, record: VerifiedFile, now: bool = False) -> None:
        """Record a verified file; ``now`` commits at once (a large file is worth the commit:
        losing its record to a SIGKILL would mean fetching all of it again)."""
        with self._lock:
            self._pending_verified.append(record)
            if (
                now
                or len(self._pending_verified) >= VERIFIED_BATCH_MAX
                or time.monotonic() - self._last_flush >= VERIFIED_BATCH_MAX_AGE_S
            ):
                self._flush_verified()

    def record_verified_together(self, records: list[VerifiedFile]) -> None:
        """Many records in one commit: files checked in place by their size, a few µs each,
        whose records committed 256 at a time took longer to write than the checks."""
        with self._lock:
            self._pending_verified.extend(records)
            self._flush_verified()

    def flush(self) -> None:
        with self._lock:
            self._flush_verified()

    def _flush_verified(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending_verified:
            return
        records, self._pending_verified = self._pending_verified, []
        for record in records:
            self._pending_progress.pop(record.dest, None)
        dests = [(r.dest,) for r in records]
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (r.dest, r.uri, r.size, r.etag, r.version_id, r.md5, r.sha256, r.part_size,
                 r.checked, r.mtime_ns, r.verified_at)
                for r in records
            ],
        )  # fmt: skip
        self._db.executemany("DELETE FROM partials WHERE dest = ?", dests)
        self._db.executemany("DELETE FROM chunks WHERE dest = ?", dests)
        self._db.executemany("DELETE FROM chunk_progress WHERE dest = ?", dests)
        copies = [(r.dest, r.copy_etag) for r in records if r.copy_etag is not None]
        if copies:
            self._db.executemany("DELETE FROM uploads WHERE dest = ?", dests)
            self._db.executemany("INSERT OR REPLACE INTO copies VALUES (?,?)", copies)
        self._db.execute("COMMIT")

    def copy_etags(self) -> dict[str, str]:
        """The ETag each verified copy in a bucket had, by destination."""
        with self._lock:
            self._flush_verified()
            return dict(self._db.execute("SELECT dest, etag FROM copies").fetchall())

    def reassign_source(self, dest: str, uri: str) -> None:
        """Make a verified record answer for another remote holding the same file (a clip the
        plan's route could not deliver, fetched through a fallback): later runs that plan it
        by that remote find it present."""
        with self._lock:
            self._flush_verified()
            self._db.execute("UPDATE files SET uri = ? WHERE dest = ?", (uri, dest))

    def forget_verified(self, dest: str) -> None:
        with self._lock:
            self._flush_verified()
            self._db.execute("DELETE FROM files WHERE dest = ?", (dest,))
            self._db.execute("DELETE FROM copies WHERE dest = ?", (dest,))

    # --- partial files ------------------------------------------------------------------------

    def partial_files(self) -> dict[str, PartialFile]:
        """Every partial file with its finished chunks, in two queries (read once per run)."""
        with self._lock:
            self._commit_progress()
            rows = self._db.execute(
                "SELECT dest, uri, size, validator, chunk_size, part_size FROM partials"
            ).fetchall()
            chunks = self._db.execute("SELECT dest, idx, part_md5s FROM chunks").fetchall()
            progress = self._db.execute("SELECT dest, idx, done FROM chunk_progress").fetchall()
            uploads = dict(self._db.execute("SELECT dest, upload_id FROM uploads").fetchall())
        partials = {
            dest: PartialFile(
                dest, uri, size, validator, chunk_size, part_size, {}, upload_id=uploads.get(dest)
            )
            for dest, uri, size, validator, chunk_size, part_size in rows
        }
        for dest, index, part_md5s in chunks:
            if dest in partials:
                partials[dest].done_chunks[index] = bytes(part_md5s)
        for dest, index, done in progress:
            if dest in partials and index not in partials[dest].done_chunks:
                partials[dest].chunk_progress[index] = int(done)
        return partials

    def start_partial(
        self,
        dest: str,
        uri: str,
        size: int,
        validator: str | None,
        chunk_size: int,
        part_size: int | None,
        upload_id: str | None = None,
    ) -> None:
        with self._lock:
            self._pending_progress.pop(dest, None)
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM chunks WHERE dest = ?", (dest,))
            self._db.execute("DELETE FROM chunk_progress WHERE dest = ?", (dest,))
            self._db.execute("DELETE FROM uploads WHERE dest = ?", (dest,))
            self._db.execute(
                "INSERT OR REPLACE INTO partials VALUES (?,?,?,?,?,?,?)",
                (dest, uri, size, validator, chunk_size, part_size, time.time()),
            )
            if upload_id is not None:
                self._db.execute("INSERT INTO uploads VALUES (?,?)", (dest, upload_id))
            self._db.execute("COMMIT")

    def record_chunk(self, dest: str, index: int, part_md5s: bytes) -> None:
        with self._lock:
            self._pending_progress.get(dest, {}).pop(index, None)
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO chunks VALUES (?,?,?)", (dest, index, part_md5s)
            )
            self._db.execute("DELETE FROM chunk_progress WHERE dest = ? AND idx = ?", (dest, index))
            self._db.execute("COMMIT")

    def record_progress(self, dest: str, index: int, done: int, now: bool = False) -> None:
        """Bytes at the start of an unfinished chunk that are written to the part file;
        committed within a second, or at once if ``now``."""
        with self._lock:
            self._pending_progress.setdefault(dest, {})[index] = done
            if now or time.monotonic() - self._last_progress_commit >= PROGRESS_COMMIT_INTERVAL_S:
                self._commit_progress()

    def _commit_progress(self) -> None:
        self._last_progress_commit = time.monotonic()
        if not self._pending_progress:
            return
        pending, self._pending_progress = self._pending_progress, {}
        rows = [(dest, index, done) for dest, chunks in pending.items()
                for index, done in chunks.items()]  # fmt: skip
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO chunk_progress VALUES (?,?,?)", rows)
        self._db.execute("COMMIT")

    def drop_partial(self, dest: str) -> None:
        with self._lock:
            self._pending_progress.pop(dest, None)
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM partials WHERE dest = ?", (dest,))
            self._db.execute("DELETE FROM chunks WHERE dest = ?", (dest,))
            self._db.execute("DELETE FROM chunk_progress WHERE dest = ?", (dest,))
            self._db.execute("DELETE FROM uploads WHERE dest = ?", (dest,))
            self._db.execute("COMMIT")
