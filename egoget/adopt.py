"""Files already on disk under their final names that egoget's ledger does not know (an
official CLI's download, a copy from a colleague, an older run): verified in place and
recorded, instead of fetched again. Objects already in a destination bucket are found and
checked the same way (``upload.py`` reads them back).

Most Ego4D users already hold a partial or silently incomplete official download. Each such
file is checked as a fresh download would be (size, then its ETag or the manifest's checksum,
read from the local disk) and kept when it matches; a short or different one is fetched again
through a part file, so the bad copy stays in place until the good one is verified.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RUN_FATAL_ERRORS, EgogetError, IntegrityError
from .ledger import Ledger, VerifiedFile
from .model import ItemProgress, RemoteFile
from .sources import SourceRegistry
from .sources.base import RemoteStat
from .transfer.integrity import multipart_parts
from .transfer.verify import Check, Content, FileContent, Promise, checks_text, verify

if TYPE_CHECKING:
    from .transfer.upload import BucketStore

ADOPT_SLICE = 4096


@dataclass
class FoundCopy:
    """A file found where a planned one goes, opened for checking."""

    content: Content
    size: int
    where: str  # "on disk", "in the bucket": for messages
    mtime_ns: int = 0  # of a local file
    copy_etag: str | None = None  # of an object in a bucket
    close: Callable[[], None] = lambda: None


# Opens what was found for a planned file (OSError or EgogetError if it cannot be read).
Finder = Callable[[RemoteFile], FoundCopy]


def local_finder(output: Path) -> Finder:
    def find(file: RemoteFile) -> FoundCopy:
        fd = os.open(output / file.dest, os.O_RDONLY | os.O_NOFOLLOW)
        st = os.fstat(fd)
        return FoundCopy(FileContent(fd), st.st_size, "on disk", st.st_mtime_ns,
                         close=lambda: os.close(fd))  # fmt: skip

    return find


def bucket_finder(store: BucketStore, objects: dict[str, tuple[int, str]]) -> Finder:
    """Opens the objects of a bucket's listing (name -> size, ETag) as found copies."""
    from .transfer.upload import CopyContent  # a copy into a bucket only

    def find(file: RemoteFile) -> FoundCopy:
        size, etag = objects[file.dest]
        copy = CopyContent(store, store.target.key(file.dest), size)
        return FoundCopy(copy, size, "in the bucket", copy_etag=etag)

    return find


@dataclass
class Adoption:
    adopted: list[RemoteFile] = field(default_factory=list)
    adopted_bytes: int = 0
    # Files on disk that did not match, by destination, with why: fetched again.
    mismatched: dict[str, str] = field(default_factory=dict)


def existing_files(files: list[RemoteFile], output: Path) -> list[RemoteFile]:
    """Planned files with a regular file under their final name.

    Each folder is listed once instead of each file looked up: a million planned files lie in
    tens of thousands of folders, most of them not there yet on a first run."""
    root = os.fspath(output)
    if not os.path.isdir(root):
        return []  # a first run: nothing there to look through
    listed: dict[str, frozenset[str]] = {}
    found = []
    for file in files:
        folder, _, name = file.dest.rpartition("/")
        names = listed.get(folder)
        if names is None:
            names = listed[folder] = _regular_files(os.path.join(root, folder))
        if name in names:
            found.append(file)
    return found


def _regular_files(folder: str) -> frozenset[str]:
    try:
        with os.scandir(folder) as entries:
            return frozenset(e.name for e in entries if e.is_file(follow_symlinks=False))
    except OSError:  # not there (yet), or not a folder: nothing in it to adopt
        return frozenset()


def adopt_existing(
    files: list[RemoteFile],
    find: Finder,
    registry: SourceRegistry,
    ledger: Ledger,
    procs: int,
    size_only: bool,
    progress: ItemProgress,
    cancelled: threading.Event,
) -> Adoption:
    """Verify each file found (``files``: those ``find`` opens: on disk, from existing_files; in
    a bucket) in parallel, record the ones that match in the ledger, and say why the others
    do not."""
    adoption = Adoption()
    lock = threading.Lock()

    def check(file: RemoteFile, record_now: Callable[[VerifiedFile], None]) -> None:
        if cancelled.is_set():
            return
        try:
            if file.size is None:
                # Planned without a listing (single URIs): one small request sizes it.
                source = registry.for_uri(file.uri)
                remote = registry.settings.metadata_retries().run(lambda: source.stat(file.uri))
                file = dataclasses.replace(file, size=remote.size, etag=file.etag or remote.etag)
            record = _verified_record(file, find, registry, size_only)
        except IntegrityError as exc:
            with lock:
                adoption.mismatched[file.dest] = exc.message
            progress(file.dest, None)
            return
        except RUN_FATAL_ERRORS:
            raise
        except (EgogetError, OSError) as exc:
            # Cannot tell (the part size would need a request that failed): fetch it again.
            with lock:
                adoption.mismatched[file.dest] = f"could not be checked ({exc})"
            progress(file.dest, None)
            return
        record_now(record)
        with lock:
            adoption.adopted.append(file)
            adoption.adopted_bytes += record.size
        progress(file.dest, None)

    # A file with only its size to check costs a few microseconds here; handed to a thread it
    # cost ~10x that in handing the GIL back and forth (a million files: minutes).
    # Their records are committed a slice at a time: a record lost to a SIGKILL costs a stat.
    sized: list[RemoteFile] = []
    read: list[RemoteFile] = []
    for file in files:
        (sized if file.size is not None and (size_only or _size_is_all(file)) else read).append(
            file
        )
    for start in range(0, len(sized), ADOPT_SLICE):
        records: list[VerifiedFile] = []
        for file in sized[start : start + ADOPT_SLICE]:
            check(file, records.append)
        ledger.record_verified_together(records)
    with ThreadPoolExecutor(max(1, min(procs, len(read) or 1))) as pool:
        # A slice at a time: map() makes every task up front, 2.3 GiB for a million files.
        for start in range(0, len(read), ADOPT_SLICE):
            for _ in pool.map(
                partial(check, record_now=ledger.record_verified), read[start : start + ADOPT_SLICE]
            ):
                pass
    ledger.flush()
    return adoption


def _size_is_all(file: RemoteFile) -> bool:
    """Nothing but the size to check the file against: no ETag, MD5 or SHA-256 is known."""
    return file.etag is None and file.md5 is None and file.sha256 is None


def _verified_record(
    file: RemoteFile, find: Finder, registry: SourceRegistry, size_only: bool
) -> VerifiedFile:
    source = registry.for_uri(file.uri)
    assert file.size is not None
    found = find(file)
    try:
        if found.size != file.size:
            raise IntegrityError(f"{found.size:,} bytes {found.where}, expected {file.size:,}")
        part_size = None
        if size_only:
            checks = Check.SIZE
        else:
            if multipart_parts(file.etag):
                # The upload's part size (one HEAD), to recompute its multipart ETag.
                part_size = source.part_size(file.uri, RemoteStat(file.size, file.etag))
            promise = Promise(
                file.size, file.etag, source.etag_is_md5(file.uri), file.md5, file.sha256,
                part_size,
            )  # fmt: skip
            checks = verify(found.content, promise)
    finally:
        found.close()
    return VerifiedFile(
        dest=file.dest,
        uri=source.redact(file.uri),
        size=file.size,
        etag=file.etag,
        version_id=file.version_id,
        md5=file.md5,
        sha256=file.sha256,
        part_size=part_size,
        checked=checks_text(checks),
        mtime_ns=found.mtime_ns,
        verified_at=time.time(),
        copy_etag=found.copy_etag,
    )
