"""The one retry loop: transient faults are tried again with capped, jittered backoff, every
wait wakes at once on Ctrl-C, and what cannot be fixed by trying again is raised at once."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .constants import BACKOFF_BASE_S, BACKOFF_CAP_S
from .errors import Interrupted, RetryableError

T = TypeVar("T")


def backoff_delay_s(attempt: int, retry_after_s: float | None = None) -> float:
    """Capped exponential backoff with full jitter; a server's Retry-After wins when longer."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** max(0, attempt - 1)))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, BACKOFF_CAP_S * 4))
    return delay


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    cancelled: threading.Event
    # Told of each retry before its wait: (failed attempts so far, the fault, seconds to wait).
    on_retry: Callable[[int, RetryableError, float], None] | None = None

    def run(self, call: Callable[[], T]) -> T:
        """``call()`` until it succeeds. A RetryableError is tried again, up to
        ``max_attempts`` failures, and then raised; one that ``spends_attempt`` False (a
        connection given up for silence) is tried again at once, not counted."""
        failures = 0
        while True:
            try:
                return call()
            except RetryableError as exc:
                delay = 0.0
                if exc.spends_attempt:
                    failures += 1
                    if failures >= self.max_attempts:
                        raise
                    delay = backoff_delay_s(failures, exc.retry_after_s)
                if self.on_retry is not None:
                    self.on_retry(failures, exc, delay)
                if self.cancelled.wait(delay):
                    raise Interrupted("interrupted") from exc
