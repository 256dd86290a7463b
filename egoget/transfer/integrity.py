"""ETag and checksum arithmetic: what proves the bytes on disk are the bytes the remote holds."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from .md5 import Md5Stream, Pending, settle, submit

_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")
_MULTIPART_ETAG = re.compile(r"^([0-9a-f]{32})-(\d+)$")
_HASH_READ_BYTES = 4 * 1024 * 1024


def bare_etag(etag: str | None) -> str | None:
    return etag.strip().strip('"').lower() if etag else None


def single_part_md5(etag: str | None) -> str | None:
    """The MD5 an S3 ETag promises for a single-part upload, else None."""
    bare = bare_etag(etag)
    return bare if bare and _MD5_ETAG.match(bare) else None


def multipart_parts(etag: str | None) -> int | None:
    bare = bare_etag(etag)
    match = _MULTIPART_ETAG.match(bare) if bare else None
    return int(match.group(2)) if match else None


def multipart_etag(part_md5s: bytes) -> str:
    """S3's ETag for a multipart upload: MD5 of the concatenated part MD5s, dash, part count."""
    return f"{hashlib.md5(part_md5s).hexdigest()}-{len(part_md5s) // 16}"


class PartHasher:
    """MD5 of every upload part (or of the whole range) of one chunk, fed in order in flight."""

    def __init__(self, start: int, end: int, part_size: int | None, want_sha256: bool):
        self._boundaries = (
            list(range(start - start % part_size + part_size, end, part_size)) if part_size else []
        )
        self._offset = start
        self._parts = [Md5Stream()]
        self._sha256 = hashlib.sha256() if want_sha256 else None
        self._in_flight: list[Pending] = []

    def update(self, data: memoryview) -> Pending | None:
        """Hash ``data``, perhaps later: its bytes must stay untouched until the returned
        handle is settled (``md5.settle``)."""
        if self._sha256 is not None:
            self._sha256.update(data)
        pieces = []
        while data:
            if self._boundaries and self._offset + len(data) >= self._boundaries[0]:
                take = self._boundaries.pop(0) - self._offset
                pieces.append((self._parts[-1], data[:take]))
                self._parts.append(Md5Stream())
                data = data[take:]
                self._offset += take
            else:
                pieces.append((self._parts[-1], data))
                self._offset += len(data)
                break
        pending = submit(pieces)
        if pending is not None:
            self._in_flight.append(pending)
        return pending

    @property
    def hashed(self) -> bool:
        """Whether every piece has been hashed, so ``part_md5s`` would not wait."""
        return all(pending.done for pending in self._in_flight)

    def part_md5s(self) -> bytes:
        for pending in self._in_flight:
            settle(pending)
        self._in_flight.clear()
        return b"".join(part.digest() for part in self._parts)

    def sha256(self) -> bytes | None:
        return self._sha256.digest() if self._sha256 is not None else None


@dataclass(frozen=True)
class FileDigests:
    md5: str
    sha256: str


def hash_file(fd: int, size: int) -> FileDigests:
    """Re-read a written file (from the page cache, usually) when no in-flight hash covers it."""
    md5 = hashlib.md5()
    sha256 = hashlib.sha256()
    offset = 0
    while offset < size:
        block = os.pread(fd, min(_HASH_READ_BYTES, size - offset), offset)
        if not block:
            break
        md5.update(block)
        sha256.update(block)
        offset += len(block)
    return FileDigests(md5.hexdigest(), sha256.hexdigest())


def file_multipart_etag(fd: int, size: int, part_size: int) -> str:
    """Recompute a multipart ETag from a file on disk (``egoget verify --full``)."""
    digests = []
    for start in range(0, size, part_size):
        md5 = hashlib.md5()
        offset, end = start, min(size, start + part_size)
        while offset < end:
            block = os.pread(fd, min(_HASH_READ_BYTES, end - offset), offset)
            if not block:
                break
            md5.update(block)
            offset += len(block)
        digests.append(md5.digest())
    return multipart_etag(b"".join(digests))
