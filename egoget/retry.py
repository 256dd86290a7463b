"""Backoff between attempts, and an optional shared bandwidth limit."""

from __future__ import annotations

import random
import threading
import time

from .constants import BACKOFF_BASE_S, BACKOFF_CAP_S


def backoff_delay_s(attempt: int, retry_after_s: float | None = None) -> float:
    """Capped exponential backoff with full jitter; a server's Retry-After wins when longer."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** max(0, attempt - 1)))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, BACKOFF_CAP_S * 4))
    return delay


class RateLimiter:
    """A token bucket shared by all workers (``--limit-rate``)."""

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
