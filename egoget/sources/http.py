"""Ranged GETs over one shared urllib3 pool: the byte path under both the S3 and HTTPS sources.

A full botocore or requests call costs milliseconds per request; a bare pooled urllib3 GET costs
a fraction of that, which matters with thousands of small files on two cores.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import ReadTimeoutError

from ..errors import (
    NotFoundError,
    RemoteChangedError,
    RetryableError,
    StalledError,
    TransferError,
)
from .base import SourceSettings

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

# Maps a non-success response (status, body) to the error to raise; sources add their dialect.
ErrorClassifier = Callable[[int, bytes, str], TransferError | None]


def redact_url(url: str) -> str:
    """Drop the query string (presigned signatures, tokens) and any user:password."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = "<redacted>" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def network_reason(exc: BaseException) -> str:
    """The innermost cause of a network error, in a few words ("Connection reset by peer")."""
    while True:
        inner = next((a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)), None)
        inner = inner or getattr(exc, "reason", None) or exc.__cause__
        if not isinstance(inner, BaseException) or inner is exc:
            break
        exc = inner
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RangeResponse:
    """A streaming body that must deliver exactly the requested number of bytes."""

    def __init__(self, response: urllib3.BaseHTTPResponse, expected: int, shown_url: str):
        self._response = response
        self._remaining = expected
        self._shown_url = shown_url

    def readinto(self, buffer: memoryview) -> int:
        if self._remaining <= 0:
            return 0
        want = min(len(buffer), self._remaining)
        try:
            got = self._response.readinto(buffer[:want])
        except ReadTimeoutError as exc:
            raise StalledError(f"no bytes received for a while from {self._shown_url}") from exc
        except (Urllib3HTTPError, OSError) as exc:
            raise RetryableError(
                f"connection broke while reading {self._shown_url} ({network_reason(exc)})"
            ) from exc
        if got == 0:
            raise RetryableError(
                f"{self._shown_url} ended {self._remaining} bytes early (truncated response)"
            )
        self._remaining -= got
        return got

    def close(self) -> None:
        if self._remaining > 0:
            # An unread body cannot go back to the pool; dropping the socket is cheaper.
            self._response.close()
        else:
            self._response.release_conn()


class HttpTransport:
    def __init__(self, settings: SourceSettings):
        self._pool = urllib3.PoolManager(
            num_pools=64,
            maxsize=max(1, settings.max_connections),
            block=False,
            retries=False,
            timeout=urllib3.Timeout(
                connect=settings.connect_timeout_s, read=settings.stall_timeout_s
            ),
        )

    def request(
        self, method: str, url: str, headers: Mapping[str, str]
    ) -> urllib3.BaseHTTPResponse:
        shown = redact_url(url)
        try:
            return self._pool.request(
                method, url, headers=dict(headers), preload_content=False, redirect=True
            )
        except ReadTimeoutError as exc:
            raise StalledError(f"no response from {shown} within the stall timeout") from exc
        except (Urllib3HTTPError, OSError) as exc:
            raise RetryableError(f"request to {shown} failed ({network_reason(exc)})") from exc

    def get_range(
        self,
        url: str,
        start: int,
        end: int,
        headers: Mapping[str, str],
        classify: ErrorClassifier,
        expected_etag: str | None,
    ) -> RangeResponse:
        shown = redact_url(url)
        all_headers = {"Range": f"bytes={start}-{end - 1}", **headers}
        response = self.request("GET", url, all_headers)
        if response.status not in (200, 206):
            body = _read_error_body(response)
            raise classify(response.status, body, shown) or default_error(
                response.status, shown, response.headers.get("Retry-After")
            )
        if expected_etag is not None:
            got_etag = response.headers.get("ETag")
            if got_etag is not None and got_etag != expected_etag:
                response.release_conn()
                raise RemoteChangedError(
                    f"{shown} changed since the download started (ETag {expected_etag} → "
                    f"{got_etag}); restarting the file"
                )
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != start or int(match.group(2)) != end - 1:
                response.close()
                raise RetryableError(
                    f"{shown} answered range {response.headers.get('Content-Range')!r} "
                    f"instead of bytes {start}-{end - 1}"
                )
        elif start != 0 or _content_length(response) != end:
            # 200 to a Range request: either the server ignores ranges or If-Range found the
            # entity changed. Either way these bytes cannot be spliced into the part file.
            response.close()
            raise RemoteChangedError(
                f"{shown} sent the whole object instead of bytes {start}-{end - 1} "
                "(it changed, or the server ignores Range); restarting the file"
            )
        return RangeResponse(response, end - start, shown)


def _content_length(response: urllib3.BaseHTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _read_error_body(response: urllib3.BaseHTTPResponse) -> bytes:
    try:
        return response.read(64 * 1024) or b""
    except (Urllib3HTTPError, OSError):
        return b""
    finally:
        response.release_conn()


def default_error(status: int, shown_url: str, retry_after: str | None) -> TransferError:
    if status in RETRYABLE_STATUSES:
        return RetryableError(
            f"{shown_url} answered HTTP {status}", retry_after_s=parse_retry_after(retry_after)
        )
    if status == 404:
        return NotFoundError(f"{shown_url} does not exist (HTTP 404)")
    if status in (409, 412):
        return RemoteChangedError(f"{shown_url} changed since the download started (HTTP {status})")
    return TransferError(f"{shown_url} answered HTTP {status}")
