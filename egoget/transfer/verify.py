"""Does a file hold what the remote and the manifest promised? One answer for the engine, before
a part file gets its final name, and for `egoget verify --full`, years later."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from ..errors import IntegrityError
from .integrity import (
    FileDigests,
    bare_etag,
    file_multipart_etag,
    hash_file,
    multipart_etag,
    multipart_parts,
    single_part_md5,
)


class Check(enum.Flag):
    SIZE = enum.auto()
    ETAG_MD5 = enum.auto()  # a single-part S3 ETag: the MD5 of the content
    ETAG_MULTIPART = enum.auto()  # an S3 multipart ETag: the MD5 of the parts' MD5s
    ETAG_UNVERIFIABLE = enum.auto()  # multipart, but cut into parts egoget could not learn
    MANIFEST_MD5 = enum.auto()
    MANIFEST_SHA256 = enum.auto()


# As the ledger and `egoget status` spell them ("size+etag-multipart").
_NAMES = {
    Check.SIZE: "size",
    Check.ETAG_MD5: "md5",
    Check.ETAG_MULTIPART: "etag-multipart",
    Check.ETAG_UNVERIFIABLE: "etag-unverifiable",
    Check.MANIFEST_MD5: "manifest-md5",
    Check.MANIFEST_SHA256: "sha256",
}
_BY_NAME = {name: check for check, name in _NAMES.items()}


@cache  # a handful of combinations, named once per file: Flag arithmetic is slow
def checks_text(checks: Check) -> str:
    return "+".join(name for check, name in _NAMES.items() if check in checks)


def parse_checks(text: str, manifest_md5: str | None) -> Check:
    """The checks a ledger row names. Rows written before the manifest's MD5 had a name of its
    own said "md5" for either: the manifest's where there was one."""
    checks = Check(0)
    for name in text.split("+"):
        if name == "md5" and manifest_md5:
            checks |= Check.MANIFEST_MD5
        else:
            checks |= _BY_NAME.get(name, Check(0))
    return checks


@dataclass(frozen=True)
class Promise:
    """What the remote and the manifest said of a file."""

    size: int
    etag: str | None = None
    etag_is_md5: bool = False  # the source's plain ETags are MD5s (S3, presigned S3 links)
    md5: str | None = None  # the manifest's
    sha256: str | None = None  # the manifest's
    part_size: int | None = None  # of a multipart upload, when known


@dataclass(frozen=True)
class Digests:
    """What hashing in flight already knows, so that a fresh download is not read again."""

    part_md5s: bytes | None = None  # every upload part's MD5, in order
    md5: str | None = None  # of the whole file
    sha256: str | None = None


class Content(Protocol):
    """The bytes being checked, read again only for a digest nothing hashed in flight."""

    def size(self) -> int: ...

    def digests(self) -> FileDigests: ...

    def multipart_etag(self, part_size: int) -> str: ...


class FileContent:
    """A file on disk, by its open descriptor."""

    def __init__(self, fd: int):
        self._fd = fd

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def digests(self) -> FileDigests:
        return hash_file(self._fd, self.size())

    def multipart_etag(self, part_size: int) -> str:
        return file_multipart_etag(self._fd, self.size(), part_size)


def verify(content: Content, promise: Promise, known: Digests = Digests()) -> Check:
    """The checks the content passed; IntegrityError names the first it failed. Digests not
    ``known`` are computed from the content, once."""
    size = content.size()
    if size != promise.size:
        raise IntegrityError(f"{size:,} bytes, expected {promise.size:,}")
    checks = Check.SIZE
    from_disk = None

    parts = multipart_parts(promise.etag)
    if parts and promise.part_size:
        if parts != -(-size // promise.part_size):
            checks |= Check.ETAG_UNVERIFIABLE
        else:
            got = (
                multipart_etag(known.part_md5s)
                if known.part_md5s is not None
                else content.multipart_etag(promise.part_size)
            )
            if got != bare_etag(promise.etag):
                raise IntegrityError(f"multipart ETag {got} does not match {promise.etag}")
            checks |= Check.ETAG_MULTIPART

    wanted_md5 = [
        (Check.ETAG_MD5, single_part_md5(promise.etag) if promise.etag_is_md5 else None),
        (Check.MANIFEST_MD5, promise.md5),
    ]
    for check, want in wanted_md5:
        if not want:
            continue
        if known.md5 is None and from_disk is None:
            from_disk = content.digests()
        got_md5 = known.md5 or (from_disk.md5 if from_disk else "")
        if got_md5 != want.lower():
            raise IntegrityError(f"MD5 {got_md5} does not match {want}")
        checks |= check

    if promise.sha256:
        if known.sha256 is None and from_disk is None:
            from_disk = content.digests()
        got_sha = known.sha256 or (from_disk.sha256 if from_disk else "")
        if got_sha != promise.sha256.lower():
            raise IntegrityError(f"SHA-256 {got_sha} does not match {promise.sha256}")
        checks |= Check.MANIFEST_SHA256
    return checks
