"""A TCP proxy in front of a test server that injects faults into the server->client stream.

It works below HTTP, so the Host header and SigV4 signatures pass through untouched. Faults are
scheduled per connection (the n-th connection accepted) or at a byte offset of the whole
server->client stream, and it counts every byte it forwards to the client.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

_SLOW_DOWN_BODY = (
    b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>Reduce rate</Message></Error>"
)
SLOW_DOWN_503 = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nRetry-After: 0\r\n"
    + f"Content-Length: {len(_SLOW_DOWN_BODY)}\r\nConnection: close\r\n\r\n".encode()
    + _SLOW_DOWN_BODY
)

_EXPIRED_BODY = (
    b"<?xml version='1.0'?><Error><Code>ExpiredToken</Code>"
    b"<Message>The provided token has expired.</Message></Error>"
)
EXPIRED_TOKEN_403 = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
    + f"Content-Length: {len(_EXPIRED_BODY)}\r\nConnection: close\r\n\r\n".encode()
    + _EXPIRED_BODY
)


@dataclass
class Faults:
    """Offsets count bytes sent to clients over all connections; each fault fires once."""

    flip_byte_at: set[int] = field(default_factory=set)
    reset_at: set[int] = field(default_factory=set)
    stall_at: dict[int, float] = field(default_factory=dict)
    slowdown_connections: set[int] = field(default_factory=set)  # 1-based accept order
    # Past this offset the credentials "expire": the connection breaks and every request
    # after it, on any connection, is answered 403 ExpiredToken.
    expire_credentials_at: int | None = None


class FaultProxy:
    def __init__(self, upstream_port: int, faults: Faults | None = None):
        self.upstream_port = upstream_port
        self.faults = faults or Faults()
        self.bytes_to_client = 0
        self.connections = 0
        self.injected: list[str] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self.credentials_expired = False
        # Pacing on the proxy side keeps the kernel's socket buffers nearly empty, so the bytes
        # counted as sent are the bytes the client really read (a client-side rate limit lets
        # megabytes pile up in those buffers and vanish with a killed client).
        self.pace_bytes_per_s_per_connection: float | None = None
        # Each request waits this long before it reaches the server: the first-byte latency
        # of a distant server (S3 from another continent), which more connections hide.
        self.request_delay_s = 0.0
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._serve, args=(client, number), daemon=True).start()

    def _serve(self, client: socket.socket, number: int) -> None:
        if self.credentials_expired:
            client.recv(65536)
            client.sendall(EXPIRED_TOKEN_403)
            client.close()
            return
        if number in self.faults.slowdown_connections:
            client.recv(65536)
            client.sendall(SLOW_DOWN_503)
            self.injected.append(f"503 SlowDown on connection {number}")
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        threading.Thread(target=self._pipe_up, args=(client, upstream), daemon=True).start()
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if not self._forward_down(client, bytearray(data)):
                    break
        except OSError:
            pass
        finally:
            _close(client)
            _close(upstream)

    def _forward_down(self, client: socket.socket, data: bytearray) -> bool:
        with self._lock:
            start = self.bytes_to_client
            end = start + len(data)
            flips = [o for o in self.faults.flip_byte_at if start <= o < end]
            resets = [o for o in self.faults.reset_at if start <= o < end]
            expiry = self.faults.expire_credentials_at
            if expiry is not None and start <= expiry < end:
                self.credentials_expired = True
                self.faults.expire_credentials_at = None
                self.injected.append(f"credentials expired at byte {expiry}")
                resets.append(expiry)
            stalls = [o for o in self.faults.stall_at if start <= o < end]
            for offset in flips:
                data[offset - start] ^= 0xFF
                self.faults.flip_byte_at.discard(offset)
                self.injected.append(f"flipped byte {offset}")
            stall_s = 0.0
            for offset in stalls:
                stall_s += self.faults.stall_at.pop(offset)
                self.injected.append(f"stalled {stall_s:.0f} s at byte {offset}")
            if resets:
                cut = min(resets) - start
                self.faults.reset_at.discard(min(resets))
                self.injected.append(f"reset at byte {min(resets)}")
                data = data[:cut]
            self.bytes_to_client += len(data)
        if stall_s:
            time.sleep(stall_s)
        client.sendall(data)
        if self.pace_bytes_per_s_per_connection:
            time.sleep(len(data) / self.pace_bytes_per_s_per_connection)
        if resets:
            # Linger 0 makes close() send RST: a real reset, not a clean end of stream. The
            # shutdown wakes the thread blocked in recv() on this socket, which would otherwise
            # keep it open and the RST unsent.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.shutdown(socket.SHUT_RD)
            return False
        return True

    def _pipe_up(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                if self.credentials_expired:
                    client.sendall(EXPIRED_TOKEN_403)
                    break
                if self.request_delay_s:
                    time.sleep(self.request_delay_s)
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            _close(upstream)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
