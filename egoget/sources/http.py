"""Ranged GETs on keep-alive connections: the byte path under both the S3 and HTTPS sources.

A full botocore or requests call costs milliseconds per request; a bare http.client GET costs
a fraction of that, which matters with thousands of small files on two cores.
"""

from __future__ import annotations

import email.utils
import http.client
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, overload
from urllib.parse import urljoin, urlsplit, urlunsplit

from ..errors import (
    NotFoundError,
    RemoteChangedError,
    RetryableError,
    StalledError,
    TransferError,
)
from .base import SourceSettings

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

# Maps a non-success response (status, body) to the error to raise; sources add their dialect.
ErrorClassifier = Callable[[int, bytes, str], TransferError | None]
MAX_HEADER_LINE_BYTES = 65536
MAX_HEADERS = 100


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


class ResponseHeaders:
    """Response headers looked up case-insensitively; a repeated header's values are joined
    with ", " as HTTP allows."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        key = name.lower()
        before = self._values.get(key)
        self._values[key] = value if before is None else f"{before}, {value}"

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name.lower(), default)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._values


class LeanHTTPResponse(http.client.HTTPResponse):
    """http.client's response with its headers read by a plain loop instead of the email
    package's parser, which was a tenth of egoget's CPU on thousands of small files. The body
    handling (Content-Length, chunked, keep-alive) is http.client's own, but it reads from the
    connection's one buffered reader instead of a new one per response."""

    lean_headers: ResponseHeaders

    def __init__(self, connection: KeptConnection, method: str):
        # http.client only calls .makefile() on its socket argument: it gets the kept reader.
        super().__init__(connection, method=method)  # type: ignore[arg-type]

    def _close_conn(self) -> None:
        # The end of this body: the reader stays with the connection for its next response.
        self.fp = None  # type: ignore[assignment]  # as http.client's own _close_conn does

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            _read_header_lines(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        headers = ResponseHeaders()
        for line in _read_header_lines(self.fp):
            name, colon, value = line.decode("iso-8859-1").partition(":")
            if colon:
                headers.add(name.strip(), value.strip())
        self.lean_headers = headers
        # http.client's own methods read self.headers/self.msg; they only call .get on it.
        self.headers = self.msg = headers
        transfer_encoding = headers.get("transfer-encoding")
        self.chunked = bool(transfer_encoding and transfer_encoding.lower() == "chunked")
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = headers.get("content-length")
        if length and not self.chunked and length.isdigit():
            self.length = int(length)
        if status in (204, 304) or 100 <= status < 200 or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


def _read_header_lines(fp: Any) -> list[bytes]:
    lines: list[bytes] = []
    while True:
        line = fp.readline(MAX_HEADER_LINE_BYTES + 1)
        if len(line) > MAX_HEADER_LINE_BYTES:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return lines
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] = lines[-1].rstrip(b"\r\n") + b" " + line.strip()  # obsolete folding
            continue
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")


class KeptConnection:
    """One worker's keep-alive connection to one host and the buffered reader all its
    responses are read through (responses are read one after another, never pipelined)."""

    def __init__(self, http_connection: http.client.HTTPConnection, stall_timeout_s: float):
        self._http = http_connection
        self._stall_timeout_s = stall_timeout_s
        self._reader: Any = None

    @property
    def is_open(self) -> bool:
        return self._reader is not None

    def open(self) -> None:
        self._http.connect()
        assert self._http.sock is not None
        self._http.sock.settimeout(self._stall_timeout_s)
        self._reader = self._http.sock.makefile("rb")

    def sendall(self, data: bytes) -> None:
        assert self._http.sock is not None
        self._http.sock.sendall(data)

    def makefile(self, mode: str) -> Any:
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._http.close()


class Response:
    """One response on a worker's keep-alive connection; the connection is reused only when
    the body was read to its end and the server did not ask to close it."""

    def __init__(self, raw: LeanHTTPResponse, connection: KeptConnection):
        self._raw = raw
        self._connection = connection
        self.status = raw.status
        self.headers = raw.lean_headers

    def read(self, amount: int) -> bytes:
        return self._raw.read(amount)

    def read_body(self, limit: int) -> bytes:
        """The whole body, for small metadata replies; more than ``limit`` bytes is a fault."""
        try:
            body = self._raw.read(limit + 1)
        except (http.client.HTTPException, OSError) as exc:
            self.close()
            raise RetryableError(f"connection broke mid-reply ({network_reason(exc)})") from exc
        if len(body) > limit:
            self.close()
            raise TransferError(f"a reply was larger than {limit:,} bytes")
        self.release_conn()
        return body

    def readinto(self, buffer: memoryview) -> int:
        return self._raw.readinto(buffer)

    def release_conn(self) -> None:
        if not self._raw.isclosed() or self._raw.will_close:
            self.close()

    def close(self) -> None:
        # An unread body cannot stay on the connection; dropping the socket is cheaper.
        self._raw.close()
        self._connection.close()


@dataclass(frozen=True)
class SizeProbe:
    size: int
    accepts_ranges: bool
    headers: ResponseHeaders


class RangeResponse:
    """A streaming body that must deliver exactly the requested number of bytes."""

    def __init__(self, response: Response, expected: int, url: str):
        self._response = response
        self._remaining = expected
        self._url = url  # redacted only for an error message: not on every request

    def readinto(self, buffer: memoryview) -> int:
        if self._remaining <= 0:
            return 0
        want = min(len(buffer), self._remaining)
        try:
            got = self._response.readinto(buffer[:want])
        except TimeoutError as exc:
            raise StalledError(
                f"no bytes received for a while from {redact_url(self._url)}"
            ) from exc
        except (http.client.HTTPException, OSError) as exc:
            raise RetryableError(
                f"connection broke while reading {redact_url(self._url)} ({network_reason(exc)})"
            ) from exc
        if got == 0:
            raise RetryableError(
                f"{redact_url(self._url)} ended {self._remaining} bytes early (truncated response)"
            )
        self._remaining -= got
        return got

    def close(self) -> None:
        if self._remaining > 0:
            self._response.close()
        else:
            self._response.release_conn()


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
# Characters that may not appear in a request target or header value: no request smuggling
# through a manifest's URL or a server's ETag.
_BAD_TARGET = re.compile(r"[^\x21-\x7e]")
_BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")


def split_url(url: str) -> tuple[str, str, str]:
    """(scheme, netloc, request target) of an http(s) URL; the fragment is dropped."""
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in _DEFAULT_PORTS:
        raise TransferError(f"not an http(s) URL: {redact_url(url)}")
    rest = rest.partition("#")[0]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, target = rest[:cut], rest[cut:]
    if not netloc or "@" in netloc:
        raise TransferError(f"not a usable http(s) URL (no host, or a user:password in it): "
                            f"{redact_url(url)}")  # fmt: skip
    if not target.startswith("/"):
        target = "/" + target
    return scheme, netloc, target


def _request_bytes(
    method: str, scheme: str, netloc: str, target: str, headers: Mapping[str, str], url: str
) -> bytes:
    if _BAD_TARGET.search(target):
        raise TransferError(
            f"{redact_url(url)} has spaces, control or non-ASCII characters in it",
            hint="percent-encode them in the URL list or manifest",
        )
    host = netloc.removesuffix(_DEFAULT_PORTS[scheme])  # as http.client writes Host
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept-Encoding: identity"]
    for name, value in headers.items():
        if _BAD_HEADER_VALUE.search(value):
            raise TransferError(f"refusing a header value with a line break for {name}: {value!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


class HttpTransport:
    """Keep-alive connections on the standard library's http.client, one per worker thread and
    host: no pool bookkeeping or URL re-parsing per request, and bodies are read straight into
    the worker's buffer."""

    def __init__(self, settings: SourceSettings):
        self._connect_timeout_s = settings.connect_timeout_s
        self._stall_timeout_s = settings.stall_timeout_s
        self._local = threading.local()
        self._tls = ssl.create_default_context()

    def _connection(self, scheme: str, netloc: str) -> KeptConnection:
        connections: dict[tuple[str, str], KeptConnection] = self._local.__dict__.setdefault(
            "connections", {}
        )
        connection = connections.get((scheme, netloc))
        if connection is None:
            http_connection: http.client.HTTPConnection
            if scheme == "https":
                http_connection = http.client.HTTPSConnection(
                    netloc, timeout=self._connect_timeout_s, context=self._tls
                )
            else:
                http_connection = http.client.HTTPConnection(
                    netloc, timeout=self._connect_timeout_s
                )
            connection = KeptConnection(http_connection, self._stall_timeout_s)
            connections[(scheme, netloc)] = connection
        return connection

    def request(self, method: str, url: str, headers: Mapping[str, str]) -> Response:
        for _ in range(MAX_REDIRECTS + 1):
            response = self._request_once(method, url, headers)
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            read_error_body(response)  # drains the small redirect body, frees the connection
            url = urljoin(url, location)
        raise TransferError(f"{redact_url(url)} redirects more than {MAX_REDIRECTS} times")

    def _request_once(self, method: str, url: str, headers: Mapping[str, str]) -> Response:
        scheme, netloc, target = split_url(url)
        request = _request_bytes(method, scheme, netloc, target, headers, url)
        connection = self._connection(scheme, netloc)
        # A kept-alive connection the server has since closed fails at once: retry that once
        # on a fresh connection before it counts as a fault.
        for attempt in (1, 2):
            reused = connection.is_open
            try:
                if not connection.is_open:
                    connection.open()
                # The request is written whole and the response read by http.client's own
                # body handling; HTTPConnection's request and header validation machinery cost
                # more per request than the rest of a small file's handling.
                connection.sendall(request)
                raw = LeanHTTPResponse(connection, method)
                raw.begin()
                return Response(raw, connection)
            except TimeoutError as exc:
                connection.close()
                raise StalledError(
                    f"no response from {redact_url(url)} within the stall timeout"
                ) from exc
            except (http.client.HTTPException, OSError) as exc:
                connection.close()
                if reused and attempt == 1:
                    continue
                raise RetryableError(
                    f"request to {redact_url(url)} failed ({network_reason(exc)})"
                ) from exc
        raise AssertionError("unreachable")

    def probe_size(self, url: str, classify: ErrorClassifier) -> SizeProbe | None:
        """A one-byte GET, not HEAD: presigned URLs are signed for GET, and a refusal's body
        says why (for S3: bad keys, or only no access to this bucket). None when the range is
        unsatisfiable: the file is empty."""
        response = self.request("GET", url, {"Range": "bytes=0-0"})
        if response.status == 200:
            response.close()  # the server ignored the range: no need to read the whole file
            body = b""
        else:
            body = read_error_body(response)  # for a 206, the one byte
        if response.status == 206:
            total = (response.headers.get("Content-Range") or "").rpartition("/")[2]
            if not total.isdigit():
                raise TransferError(f"{redact_url(url)} did not report its size")
            return SizeProbe(int(total), True, response.headers)
        if response.status == 200:
            length = _content_length(response)
            if length is None:
                raise TransferError(
                    f"{redact_url(url)} did not report its size and does not support ranges"
                )
            return SizeProbe(length, False, response.headers)
        if response.status == 416:
            return None
        shown = redact_url(url)
        raise classify(response.status, body, shown) or default_error(
            response.status, shown, response.headers.get("Retry-After")
        )

    def get_range(
        self,
        url: str,
        start: int,
        end: int,
        headers: Mapping[str, str],
        classify: ErrorClassifier,
        expected_etag: str | None,
    ) -> RangeResponse:
        all_headers = {"Range": f"bytes={start}-{end - 1}", **headers}
        response = self.request("GET", url, all_headers)
        if response.status not in (200, 206):
            body = read_error_body(response)
            shown = redact_url(url)
            raise classify(response.status, body, shown) or default_error(
                response.status, shown, response.headers.get("Retry-After")
            )
        if expected_etag is not None:
            got_etag = response.headers.get("ETag")
            if got_etag is not None and got_etag != expected_etag:
                response.release_conn()
                raise RemoteChangedError(
                    f"{redact_url(url)} changed since the download started (ETag {expected_etag} → "
                    f"{got_etag}); restarting the file"
                )
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != start or int(match.group(2)) != end - 1:
                response.close()
                raise RetryableError(
                    f"{redact_url(url)} answered range {response.headers.get('Content-Range')!r} "
                    f"instead of bytes {start}-{end - 1}"
                )
        elif start != 0 or _content_length(response) != end:
            # 200 to a Range request: either the server ignores ranges or If-Range found the
            # entity changed. Either way these bytes cannot be spliced into the part file.
            response.close()
            raise RemoteChangedError(
                f"{redact_url(url)} sent the whole object instead of bytes {start}-{end - 1} "
                "(it changed, or the server ignores Range); restarting the file"
            )
        return RangeResponse(response, end - start, url)


def _content_length(response: Response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def read_error_body(response: Response) -> bytes:
    """Up to 64 KiB of a small reply (an error document, a redirect), then the connection is
    released; a broken connection just gives what arrived."""
    try:
        return response.read(64 * 1024) or b""
    except (http.client.HTTPException, OSError):
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
