"""Ranged GETs on keep-alive connections: the byte path under both the S3 and HTTPS sources.

A full botocore or requests call costs milliseconds per request; a bare http.client GET costs
a fraction of that, which matters with thousands of small files on two cores.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, overload
from urllib.parse import urljoin, urlsplit, urlunsplit

from ..errors import (
    EgogetError,
    NotFoundError,
    RemoteChangedError,
    RetryableError,
    StalledError,
    TransferError,
    UnreachableError,
)
from .base import ExactBody, SourceSettings
from .network import PROXY_HINT, TLS_HINT, Proxy, ProxyRules, Trust, tls_context, web_trust

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# A host that has never answered and has failed this many times in a row (timeouts, a proxy's
# "unable to connect") is unreachable: retrying every file for minutes would not change that.
UNREACHABLE_STRIKES = 3
_NO_ROUTE_ERRNOS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH})
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

# Maps a non-success response (status, body, redacted URL, headers) to the error to raise;
# sources add their dialect.
ErrorClassifier = Callable[[int, bytes, str, "ResponseHeaders"], TransferError | None]
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

    def __init__(
        self, http_connection: http.client.HTTPConnection, route: Route, stall_timeout_s: float
    ):
        self._http = http_connection
        self.route = route
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

    def abort(self) -> None:
        """Wake the thread blocked reading this connection, from another thread: the read
        fails and the connection is dropped. socket.shutdown of the plain socket, not of the
        TLS layer, which only its reading thread may touch."""
        sock = self._http.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: nothing left to wake
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

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
        self.reason = raw.reason
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


class RangeResponse(ExactBody):
    """A range's body on a kept connection, read straight into the worker's buffer."""

    def __init__(self, response: Response, expected: int, url: str):
        super().__init__(expected, url, redact_url)
        self._response = response
        self.version_id = response.headers.get("x-amz-version-id")

    def _read(self, view: memoryview) -> int:
        try:
            return self._response.readinto(view)
        except TimeoutError as exc:
            raise StalledError(f"no bytes received for a while from {self._shown}") from exc
        except (http.client.HTTPException, OSError) as exc:
            raise RetryableError(
                f"connection broke while reading {self._shown} ({network_reason(exc)})"
            ) from exc

    def close(self) -> None:
        if self.complete:
            self._response.release_conn()
        else:
            self._response.close()


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


@dataclass(frozen=True)
class Route:
    """How requests reach one host: directly, through a proxy's CONNECT tunnel (https), or
    handed to a forwarding proxy in absolute form (http), as requests and botocore do."""

    scheme: str
    netloc: str
    host: str
    port: int
    proxy: Proxy | None

    @property
    def forwarded(self) -> bool:
        return self.proxy is not None and self.scheme == "http"

    @property
    def via(self) -> str:
        return f" through the proxy {self.proxy.shown}" if self.proxy else ""


def _route(scheme: str, netloc: str, proxies: ProxyRules) -> Route:
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        port = parts.port or int(_DEFAULT_PORTS[scheme][1:])
    except ValueError as exc:
        raise TransferError(f"bad port in {scheme}://{netloc}: {exc}") from None
    host = parts.hostname or netloc
    return Route(scheme, netloc, host, port, proxies.for_host(scheme, host, port))


def _request_bytes(
    method: str, route: Route, target: str, headers: Mapping[str, str], url: str
) -> bytes:
    if _BAD_TARGET.search(target):
        raise TransferError(
            f"{redact_url(url)} has spaces, control or non-ASCII characters in it",
            hint="percent-encode them in the URL list or manifest",
        )
    host = route.netloc.removesuffix(_DEFAULT_PORTS[route.scheme])  # as http.client writes Host
    if route.forwarded:
        target = f"http://{route.netloc}{target}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept-Encoding: identity"]
    if route.forwarded and route.proxy is not None and route.proxy.authorization:
        lines.append(f"Proxy-Authorization: {route.proxy.authorization}")
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

    def __init__(
        self,
        settings: SourceSettings,
        trust: Trust | None = None,
        proxies: ProxyRules | None = None,
    ):
        self._connect_timeout_s = settings.connect_timeout_s
        self._stall_timeout_s = settings.stall_timeout_s
        self._local = threading.local()
        self.trust = trust or web_trust(settings.ca_bundle, settings.verify_tls)
        self.proxies = proxies or ProxyRules(settings.proxy)
        self._tls = tls_context(self.trust)
        self._routes: dict[tuple[str, str], Route] = {}
        # Hosts that have sent a response this run: a failure to reach one of them is a
        # passing fault; a host that never answered may be unreachable for good.
        self._answered: set[str] = set()
        self._strikes: dict[str, int] = {}
        self._lock = threading.Lock()
        # Each worker's connection in use, for abort() from the engine's watch.
        self._in_use: dict[int, KeptConnection] = {}

    def _connection(self, scheme: str, netloc: str) -> KeptConnection:
        connections: dict[tuple[str, str], KeptConnection] = self._local.__dict__.setdefault(
            "connections", {}
        )
        connection = connections.get((scheme, netloc))
        if connection is None:
            route = self._routes.get((scheme, netloc))
            if route is None:
                route = self._routes.setdefault(
                    (scheme, netloc), _route(scheme, netloc, self.proxies)
                )
            connection = KeptConnection(self._http_connection(route), route, self._stall_timeout_s)
            connections[(scheme, netloc)] = connection
        return connection

    def _http_connection(self, route: Route) -> http.client.HTTPConnection:
        first_hop = (
            (route.proxy.host, route.proxy.port) if route.proxy else (route.host, route.port)
        )
        if route.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                *first_hop, timeout=self._connect_timeout_s, context=self._tls
            )
            if route.proxy is not None:
                headers = (
                    {"Proxy-Authorization": route.proxy.authorization}
                    if route.proxy.authorization
                    else None
                )
                connection.set_tunnel(route.host, route.port, headers=headers)
            return connection
        return http.client.HTTPConnection(*first_hop, timeout=self._connect_timeout_s)

    def request(self, method: str, url: str, headers: Mapping[str, str]) -> Response:
        for _ in range(MAX_REDIRECTS + 1):
            response = self._request_once(method, url, headers)
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            read_error_body(response)  # drains the small redirect body, frees the connection
            target = urljoin(url, location)
            if url.lower().startswith("https:") and not target.lower().startswith("https:"):
                # Nothing would catch a tampered body on the plain leg of an opaque-ETag file.
                raise TransferError(
                    f"{redact_url(url)} redirects to plain HTTP ({redact_url(target)}); "
                    "refusing to leave HTTPS",
                    hint="ask the server's owner for an HTTPS link, or pass the http:// URL "
                    "yourself if you accept an unencrypted download",
                )
            url = target
        raise TransferError(f"{redact_url(url)} redirects more than {MAX_REDIRECTS} times")

    def abort(self, worker: int) -> None:
        """Give up the request the worker thread has in flight, if any."""
        connection = self._in_use.get(worker)
        if connection is not None:
            connection.abort()

    def _request_once(self, method: str, url: str, headers: Mapping[str, str]) -> Response:
        scheme, netloc, target = split_url(url)
        connection = self._connection(scheme, netloc)
        self._in_use[threading.get_ident()] = connection
        request = _request_bytes(method, connection.route, target, headers, url)
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
            except TimeoutError as exc:
                connection.close()
                self._strike(connection.route, exc)
                raise StalledError(
                    f"no response from {redact_url(url)}{connection.route.via} within "
                    f"{self._stall_timeout_s:.0f} s"
                ) from exc
            except (http.client.HTTPException, OSError) as exc:
                connection.close()
                if reused and attempt == 1:
                    continue
                raise self._network_error(exc, connection.route, url) from exc
            response = Response(raw, connection)
            self._answered_by(connection.route, response)
            return response
        raise AssertionError("unreachable")

    def _answered_by(self, route: Route, response: Response) -> None:
        if route.netloc in self._answered:
            return
        if route.forwarded and response.status >= 500:
            # A forwarding proxy answers for a target it cannot reach (tinyproxy: "500 Unable
            # to connect", squid: 503): until the target itself has answered, that is a strike.
            read_error_body(response)
            assert route.proxy is not None
            fault = RetryableError(
                f"the proxy {route.proxy.shown} answered HTTP {response.status} "
                f"{response.reason} for {route.netloc}"
            )
            self._strike(route, fault)
            raise fault
        self._answered.add(route.netloc)

    def _strike(self, route: Route, fault: BaseException) -> None:
        """Count a failure against a host that has never answered; at UNREACHABLE_STRIKES it
        is unreachable."""
        if route.netloc in self._answered:
            return
        with self._lock:
            strikes = self._strikes[route.netloc] = self._strikes.get(route.netloc, 0) + 1
        if strikes < UNREACHABLE_STRIKES:
            return
        if route.proxy is not None:
            raise UnreachableError(
                f"the proxy {route.proxy.shown} could not reach {route.netloc} "
                f"({strikes} tries: {network_reason(fault)})",
                hint=f"check the host name and that the proxy may reach it; {PROXY_HINT}",
            )
        raise UnreachableError(
            f"{route.netloc} has not answered ({strikes} tries: {network_reason(fault)})",
            hint="check the host, port and --endpoint-url; on a network that only reaches out "
            "through a proxy, " + PROXY_HINT,
        )

    def _network_error(self, exc: BaseException, route: Route, url: str) -> EgogetError:
        """A failed request as the error it is: certificate and name failures, and refusals by
        a host that never answered, cannot be fixed by retrying."""
        reason = network_reason(exc)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return UnreachableError(
                f"cannot verify the TLS certificate of {route.host}:{route.port}{route.via} "
                f"({exc.verify_message or reason}; trusted certificates: {self.trust.origin})",
                hint=TLS_HINT,
            )
        if route.netloc in self._answered:
            return RetryableError(f"request to {redact_url(url)} failed ({reason})")
        if route.proxy is not None and str(exc).startswith("Tunnel connection failed"):
            return UnreachableError(
                f"the proxy {route.proxy.shown} refused to connect to {route.netloc} "
                f"({str(exc).removeprefix('Tunnel connection failed: ')})",
                hint="407 means the proxy wants user:password@ in its URL; otherwise check the "
                "host name and that the proxy may reach it",
            )
        hop = f"the proxy {route.proxy.shown}" if route.proxy else route.netloc
        if isinstance(exc, socket.gaierror):
            hint = PROXY_HINT if route.proxy is None else "check HTTPS_PROXY / --proxy"
            return UnreachableError(
                f"cannot resolve the host name of {hop} ({reason})",
                hint=f"check the URL or --endpoint-url for typos; on a network that only "
                f"reaches out through a proxy, {hint}"
                if route.proxy is None
                else hint,
            )
        if isinstance(exc, OSError) and exc.errno in _NO_ROUTE_ERRNOS:
            return UnreachableError(
                f"cannot connect to {hop} ({reason})",
                hint="check HTTPS_PROXY / --proxy"
                if route.proxy
                else "check the host, port and --endpoint-url; " + PROXY_HINT,
            )
        if isinstance(exc, ssl.SSLError):
            return UnreachableError(
                f"the TLS handshake with {route.netloc}{route.via} failed ({reason})",
                hint="check that the server speaks HTTPS on that port (the URL's scheme)",
            )
        fault = RetryableError(f"request to {redact_url(url)} failed ({reason}){route.via}")
        self._strike(route, fault)
        return fault

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
        raise classify(response.status, body, shown, response.headers) or default_error(
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
            raise classify(response.status, body, shown, response.headers) or default_error(
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
