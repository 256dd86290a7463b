"""The contract every transport implements. Sources know a protocol, never a disk layout."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class RemoteStat:
    size: int
    etag: str | None = None
    version_id: str | None = None
    accepts_ranges: bool = True


@dataclass(frozen=True)
class SourceSettings:
    """What every source may need to know about the run; each takes what applies to it."""

    max_connections: int
    stall_timeout_s: float
    connect_timeout_s: float
    endpoint_url: str | None = None
    aws_profile: str | None = None
    drive_cookies: Path | None = None
    proxy: str | None = None  # overrides the *_PROXY variables
    ca_bundle: Path | None = None  # overrides every CA bundle variable
    verify_tls: bool = True
    # Where a source says something the user should know that is not an error (a redirect it
    # followed); the CLI prints it as a note.
    notify: Callable[[str], None] = field(default=lambda message: None, compare=False)


class RangeStream(Protocol):
    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer``; 0 means the requested range is complete."""
        ...

    def close(self) -> None: ...


class Source(Protocol):
    def stat(self, uri: str) -> RemoteStat: ...

    def list(self, prefix_uri: str) -> Iterator[tuple[str, RemoteStat]]:
        """Every object under a prefix with size and ETag, in as few requests as possible."""
        ...

    def part_size(self, uri: str, stat: RemoteStat) -> int | None:
        """The upload part size of a multipart object (needed to check its ETag), else None."""
        ...

    def open_range(self, uri: str, start: int, end: int, validator: str | None) -> RangeStream:
        """Stream bytes ``[start, end)``; refuse (RemoteChangedError) if the object is no longer
        the version named by ``validator``."""
        ...

    def etag_is_md5(self, uri: str) -> bool:
        """Whether a plain (non-multipart) ETag from this source is the content's MD5."""
        ...

    def expires_at(self, uri: str) -> float | None:
        """When a link stops working (epoch seconds), if the URI says so (presigned links)."""
        ...

    def redact(self, uri: str) -> str:
        """The URI as it may appear in output and logs: no signatures, keys or tokens."""
        ...
