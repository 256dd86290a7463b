"""The HTTP byte path's own header reading, against a socket server that answers byte for byte
what a test scripts: interim 100 responses, folded and repeated headers, chunked error bodies."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from egoget.errors import RetryableError, TransferError
from egoget.sources.base import SourceSettings
from egoget.sources.http import HttpTransport, ResponseHeaders

SETTINGS = SourceSettings(max_connections=1, stall_timeout_s=5.0, connect_timeout_s=5.0)


class ScriptedServer:
    """Answers the n-th request on any connection with the n-th scripted reply."""

    def __init__(self, replies: list[bytes]):
        self._replies = list(replies)
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/object"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            pending = b""
            while self._replies:
                while b"\r\n\r\n" not in pending:
                    data = client.recv(65536)
                    if not data:
                        return
                    pending += data
                pending = pending.split(b"\r\n\r\n", 1)[1]
                reply = self._replies.pop(0)
                client.sendall(reply)
                if b"Connection: close" in reply:
                    return

    def close(self) -> None:
        self._listener.close()


Serve = Callable[..., ScriptedServer]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[ScriptedServer] = []

    def start(*replies: bytes) -> ScriptedServer:
        servers.append(ScriptedServer(list(replies)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def no_dialect(status: int, body: bytes, shown: str, headers: ResponseHeaders) -> None:
    return None


def test_interim_response_is_skipped_and_headers_any_case_are_read(serve: Serve) -> None:
    body = b"0123456789"
    server = serve(
        b"HTTP/1.1 100 Continue\r\nX-Ignored: yes\r\n\r\n"
        b"HTTP/1.1 206 Partial Content\r\n"
        b"content-range: bytes 0-9/20\r\n"
        b'ETAG: "abc"\r\n'
        b"X-Folded: first\r\n  second\r\n"
        b"Vary: Range\r\nVary: Accept\r\n"
        b"Content-Length: 10\r\n\r\n" + body
    )
    transport = HttpTransport(SETTINGS)
    stream = transport.get_range(server.url, 0, 10, {}, no_dialect, '"abc"')
    buffer = bytearray(32)
    assert stream.readinto(memoryview(buffer)) == 10
    assert bytes(buffer[:10]) == body
    stream.close()


def test_header_lookup_is_case_insensitive_and_joins_repeats(serve: Serve) -> None:
    server = serve(
        b"HTTP/1.1 200 OK\r\nX-Folded: first\r\n\tsecond\r\nVary: Range\r\nvary: Accept\r\n"
        b"Content-Length: 2\r\n\r\nok"
    )
    response = HttpTransport(SETTINGS).request("GET", server.url, {})
    assert response.headers.get("x-folded") == "first second"
    assert response.headers.get("VARY") == "Range, Accept"
    assert "content-length" in response.headers
    assert response.headers.get("Missing") is None
    assert response.read(10) == b"ok"


def test_chunked_error_body_is_read_and_the_connection_kept(serve: Serve) -> None:
    server = serve(
        b"HTTP/1.1 503 Slow Down\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n\r\n"
        b"5\r\n<Err>\r\n6\r\nSlowed\r\n0\r\n\r\n",
        b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 2-3/4\r\n"
        b"Content-Length: 2\r\n\r\nzz",
    )
    transport = HttpTransport(SETTINGS)
    with pytest.raises(RetryableError) as failure:
        transport.get_range(server.url, 2, 4, {}, no_dialect, None)
    assert failure.value.retry_after_s == 7.0
    stream = transport.get_range(server.url, 2, 4, {}, no_dialect, None)
    buffer = bytearray(2)
    assert stream.readinto(memoryview(buffer)) == 2 and bytes(buffer) == b"zz"
    assert server.connections == 1  # the drained chunked body left the connection reusable


def test_endless_headers_are_a_retryable_fault(serve: Serve) -> None:
    flood = b"".join(b"X-H%d: v\r\n" % i for i in range(500))
    server = serve(b"HTTP/1.1 200 OK\r\n" + flood + b"\r\n")
    with pytest.raises(RetryableError, match="failed"):
        HttpTransport(SETTINGS).request("GET", server.url, {})


@pytest.mark.parametrize(
    ("url_suffix", "headers"),
    [("\r\nX-Evil: 1", {}), ("", {"If-Match": '"etag"\r\nX-Evil: 1'}), ("/ü", {})],
)
def test_line_breaks_and_non_ascii_never_reach_the_wire(
    serve: Serve, url_suffix: str, headers: dict[str, str]
) -> None:
    server = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(TransferError):
        HttpTransport(SETTINGS).request("GET", server.url + url_suffix, headers)
    assert server.connections == 0


def test_a_reply_that_closes_the_connection_is_read_whole_and_the_next_request_reconnects(
    serve: Serve,
) -> None:
    server = serve(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until the server closes",
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond",
    )
    transport = HttpTransport(SETTINGS)
    first = transport.request("GET", server.url, {})
    assert first.read_body(1000) == b"body until the server closes"
    second = transport.request("GET", server.url, {})
    assert second.read_body(1000) == b"second"
    assert server.connections == 2
