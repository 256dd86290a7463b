"""`egoget verify` and `egoget status`: what the ledger says, checked against the disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .constants import PART_SUFFIX, STATE_DIR_NAME
from .errors import IntegrityError, UsageError
from .ledger import Ledger, VerifiedFile
from .transfer.chunks import ChunkLayout
from .transfer.verify import Check, FileContent, Promise, parse_checks, verify


@dataclass
class VerifyReport:
    checked: int = 0
    checked_bytes: int = 0
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class OutputStatus:
    verified_files: int
    verified_bytes: int
    partial_files: list[tuple[str, int, int]]  # dest, bytes a rerun keeps, size
    last_verified_at: float | None
    # Part files the ledger has no chunks of (a one-chunk file in flight when a run was killed):
    # dest, bytes on disk; a rerun fetches them from the start.
    unrecorded_parts: list[tuple[str, int]] = field(default_factory=list)


def open_existing_ledger(output: Path) -> Ledger:
    state = output / STATE_DIR_NAME
    if not state.is_dir():
        raise UsageError(
            f"{output} holds no egoget download (no {STATE_DIR_NAME}/ folder)",
            hint="pass the --output directory of an earlier egoget run",
        )
    return Ledger(state)


def verify_output(
    output: Path,
    full: bool,
    on_start: Callable[[int, int], None] | None = None,
    on_file: Callable[[VerifiedFile], None] | None = None,
) -> VerifyReport:
    """Check every verified file still matches; forget the ones that don't, so that the next
    download fetches them again. ``on_start`` hears the file count and bytes to check."""
    ledger = open_existing_ledger(output)
    report = VerifyReport()
    try:
        if ledger.copy_etags():
            raise UsageError(
                f"{output} keeps the ledger of a copy in a bucket, whose files are not here: "
                "nothing was checked",
                hint="rerun the download with the same -o s3://...: it lists the bucket and "
                "copies again what is missing or changed there",
            )
        records = list(ledger.verified_files().values())
        if on_start is not None:
            on_start(len(records), sum(r.size for r in records))
        for record in records:
            problem = _check(output / record.dest, record, full)
            report.checked += 1
            report.checked_bytes += record.size
            if problem:
                report.problems[record.dest] = problem
                ledger.forget_verified(record.dest)
            if on_file is not None:
                on_file(record)
    finally:
        ledger.close()
    return report


def _check(path: Path, record: VerifiedFile, full: bool) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    try:
        size = os.fstat(fd).st_size
        if size != record.size:
            return f"size {size:,} bytes, expected {record.size:,}"
        if not full:
            return None
        # The same checks the download passed, from the bytes on disk this time.
        passed = parse_checks(record.checked, record.md5)
        promise = Promise(
            size=record.size,
            etag=record.etag,
            etag_is_md5=Check.ETAG_MD5 in passed,
            md5=record.md5 if Check.MANIFEST_MD5 in passed else None,
            sha256=record.sha256 if Check.MANIFEST_SHA256 in passed else None,
            part_size=record.part_size if Check.ETAG_MULTIPART in passed else None,
        )
        try:
            verify(FileContent(fd), promise)
        except IntegrityError as exc:
            return exc.message
        return None
    finally:
        os.close(fd)


def output_status(output: Path) -> OutputStatus:
    ledger = open_existing_ledger(output)
    try:
        verified = ledger.verified_files()
        partials = ledger.partial_files()
    finally:
        ledger.close()
    resumable = []
    for dest, partial in sorted(partials.items()):
        # What a rerun keeps: finished chunks, and the checkpointed start of unfinished ones.
        layout = ChunkLayout(partial.size, partial.chunk_size, partial.part_size)
        done = sum(end - start for start, end in map(layout.bounds, partial.done_chunks))
        done += sum(partial.chunk_progress.values())
        resumable.append((dest, min(done, partial.size), partial.size))
    others = []
    for path in sorted(output.rglob(f"*{PART_SUFFIX}")):
        dest = str(path.relative_to(output)).removesuffix(PART_SUFFIX)
        if dest not in partials and STATE_DIR_NAME not in path.parts:
            others.append((dest, path.stat().st_size))
    return OutputStatus(
        verified_files=len(verified),
        verified_bytes=sum(r.size for r in verified.values()),
        partial_files=resumable,
        last_verified_at=max((r.verified_at for r in verified.values()), default=None),
        unrecorded_parts=others,
    )
