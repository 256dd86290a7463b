"""A real threaded HTTP server with Range and If-Range support, and hooks to misbehave."""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class ContentServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.bytes_served = 0
        self.requests: list[dict[str, Any]] = []
        self.fail_statuses: list[int] = []  # answered, in order, before serving anything
        self.forbidden_body: bytes | None = None  # answer every GET with 403 and this body
        self.replace_after_bytes: tuple[int, str, bytes] | None = None
        self.redirects: dict[str, str] = {}  # path -> Location of a 302
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @staticmethod
    def etag(body: bytes) -> str:
        return f'"{hashlib.md5(body).hexdigest()}"'


class _Handler(BaseHTTPRequestHandler):
    server: ContentServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        srv = self.server
        path = self.path.split("?", 1)[0]
        with srv.lock:
            srv.requests.append({"path": self.path, "headers": dict(self.headers)})
            status = srv.fail_statuses.pop(0) if srv.fail_statuses else None
            body = srv.files.get(path)
            location = srv.redirects.get(path)
        if location is not None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if status is not None:
            self._reply_error(status, b"injected failure")
            return
        if srv.forbidden_body is not None:
            self._reply_error(403, srv.forbidden_body)
            return
        if body is None:
            self._reply_error(404, b"not found")
            return
        etag = srv.etag(body)
        start, end = 0, len(body)
        partial = False
        match = _RANGE.match(self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range")
        if match and (if_range is None or if_range == etag):
            start = int(match.group(1))
            end = min(len(body), int(match.group(2)) + 1 if match.group(2) else len(body))
            partial = True
        self.send_response(206 if partial else 200)
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start))
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(body)}")
        self.end_headers()
        if head:
            return
        view = memoryview(body)[start:end]
        for offset in range(0, len(view), 64 * 1024):
            piece = view[offset : offset + 64 * 1024]
            self.wfile.write(piece)
            with srv.lock:
                srv.bytes_served += len(piece)
                swap = srv.replace_after_bytes
                if swap is not None and srv.bytes_served >= swap[0]:
                    srv.files[swap[1]] = swap[2]
                    srv.replace_after_bytes = None

    def _reply_error(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status in (429, 503):
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(body)
