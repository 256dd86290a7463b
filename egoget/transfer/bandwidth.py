"""--limit-rate: one token bucket shared by every worker."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, bytes_per_s: int):
        self._rate = float(bytes_per_s)
        self._allowance = 0.0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def consume(self, nbytes: int, cancelled: threading.Event) -> None:
        with self._lock:
            now = time.monotonic()
            self._allowance = min(self._rate, self._allowance + (now - self._last) * self._rate)
            self._last = now
            self._allowance -= nbytes
            wait_s = -self._allowance / self._rate if self._allowance < 0 else 0.0
        if wait_s > 0:
            cancelled.wait(wait_s)
