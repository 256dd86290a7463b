"""`egoget verify` and `egoget status`: what the ledger says, checked against the disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .constants import STATE_DIR_NAME
from .errors import UsageError
from .ledger import Ledger, VerifiedFile
from .transfer.integrity import bare_etag, file_multipart_etag, hash_file, single_part_md5


@dataclass
class VerifyReport:
    checked: int = 0
    checked_bytes: int = 0
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class OutputStatus:
    verified_files: int
    verified_bytes: int
    partial_files: list[tuple[str, int, int]]  # dest, bytes in finished chunks, size
    last_verified_at: float | None


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
        digests = None
        wanted_md5 = [m for m in (single_part_md5(record.etag), record.md5) if m]
        if wanted_md5 or record.sha256:
            digests = hash_file(fd, size)
            for want in wanted_md5:
                if digests.md5 != want.lower():
                    return f"MD5 {digests.md5} does not match {want}"
            if record.sha256 and digests.sha256 != record.sha256.lower():
                return f"SHA-256 {digests.sha256} does not match {record.sha256}"
        if record.part_size and "etag-multipart" in record.checked:
            got = file_multipart_etag(fd, size, record.part_size)
            if got != bare_etag(record.etag):
                return f"multipart ETag {got} does not match {record.etag}"
        return None
    finally:
        os.close(fd)


def output_status(output: Path) -> OutputStatus:
    ledger = open_existing_ledger(output)
    try:
        verified = ledger.verified_files()
        partials = [(p.dest, done, p.size) for p, done in ledger.partials()]
    finally:
        ledger.close()
    return OutputStatus(
        verified_files=len(verified),
        verified_bytes=sum(r.size for r in verified.values()),
        partial_files=partials,
        last_verified_at=max((r.verified_at for r in verified.values()), default=None),
    )
