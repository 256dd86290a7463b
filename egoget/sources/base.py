"""The contract every transport implements. Sources know a protocol, never a disk layout."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..constants import METADATA_MAX_ATTEMPTS
from ..errors import RetryableError, UsageError
from ..retry import RetryPolicy


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
    # The run's Ctrl-C: set, every wait of every layer ends at once.
    cancelled: threading.Event = field(default_factory=threading.Event, compare=False)

    def metadata_retries(self) -> RetryPolicy:
        """Listings and other requests a source makes on its own, as botocore's standard
        retry mode would; the byte ranges are retried by the engine, not here."""
        return RetryPolicy(METADATA_MAX_ATTEMPTS, self.cancelled)


class RangeStream(Protocol):
    version_id: str | None

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer``; 0 means the requested range is complete."""
        ...

    def close(self) -> None: ...


class ExactBody:
    """A response body that must deliver exactly the bytes asked for: a short one is a fault
    to retry from where it broke. Subclasses read some bytes with ``_read``, mapping their
    library's errors to egoget's."""

    # The object version that is answering, where the remote names it (S3's versioned
    # buckets): the official ego4d CLI keeps it per file, and so does the ledger.
    version_id: str | None = None

    def __init__(self, expected: int, where: str, redact: Callable[[str], str] = str):
        self._remaining = expected
        # Redacted only when a message needs it: most bodies end well, and redacting a
        # presigned URL per request was a visible part of a small file's cost.
        self._where = where
        self._redact = redact

    @property
    def _shown(self) -> str:
        return self._redact(self._where)

    def readinto(self, buffer: memoryview) -> int:
        if self._remaining <= 0:
            return 0
        got = self._read(buffer[: min(len(buffer), self._remaining)])
        if got == 0:
            raise RetryableError(
                f"{self._shown} ended {self._remaining} bytes early (truncated response)"
            )
        self._remaining -= got
        return got

    @property
    def complete(self) -> bool:
        return self._remaining <= 0

    def _read(self, view: memoryview) -> int:
        raise NotImplementedError


class Source:
    """A transport for one URI scheme. The defaults fit a source that cannot list, has no
    multipart uploads, opaque ETags, links that do not expire and URIs that hold no secrets;
    ``stat`` and ``open_range`` every source has its own."""

    # Why listing is impossible here, and what to do instead.
    list_hint = "pass each file's URI, or a file of them with --from-file"

    def stat(self, uri: str) -> RemoteStat:
        raise NotImplementedError

    def open_range(self, uri: str, start: int, end: int, validator: str | None) -> RangeStream:
        """Stream bytes ``[start, end)``; refuse (RemoteChangedError) if the object is no longer
        the version named by ``validator``."""
        raise NotImplementedError

    def list(self, prefix_uri: str, after: str | None = None) -> Iterator[tuple[str, RemoteStat]]:
        """Every object under a prefix with size and ETag, in as few requests as possible, in
        key order; ``after`` (a URI under the prefix) starts the listing past that key."""
        raise UsageError(f"cannot list {self.redact(prefix_uri)}", hint=self.list_hint)

    def part_size(self, uri: str, stat: RemoteStat) -> int | None:
        """The upload part size of a multipart object (needed to check its ETag), else None."""
        return None

    def etag_is_md5(self, uri: str) -> bool:
        """Whether a plain (non-multipart) ETag from this source is the content's MD5."""
        return False

    def expires_at(self, uri: str) -> float | None:
        """When a link stops working (epoch seconds), if the URI says so (presigned links)."""
        return None

    def redact(self, uri: str) -> str:
        """The URI as it may appear in output and logs: no signatures, keys or tokens."""
        return uri
