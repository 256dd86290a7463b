"""How many connections a run keeps busy: found while it runs, never above ``-j``.

The best number depends on what no default can know: the server (one local disk or S3's fleet),
the path (loopback, a campus link, a proxy, 150 ms to another continent), the files (four
videos or 100,000 JSON files) and the machine. 2000 files of 64-512 KiB behind 40 ms of
first-byte latency took 13.5 s with 8 connections and 5.9 s with 32. So a run starts with a
few connections and doubles them while each doubling raises the throughput of the next
window by at least ``GAIN``; one that lowers it below ``LOSS`` goes back to the best level
found, one in between stays (it cost nothing); either way growth stops, and one step up is
tried again every ``PROBE_INTERVAL_S`` (the files left, and the network, change). A retry
(a reset, a timeout, a 503 or SlowDown) halves the level: servers that push back are not
pushed harder.
"""

from __future__ import annotations

import threading
import time

START_LEVEL = 8
# After a change, new connections open and their first bytes are on their way: the rate is
# measured only once that has settled.
SETTLE_S = 0.3
WINDOW_S = 0.7
# A doubling must bring this much more throughput to be kept: below it, the gain is noise or
# not worth the server's load.
GAIN = 1.05
# A step that lowers it below this goes back: more connections were worse.
LOSS = 0.95
PROBE_INTERVAL_S = 20.0
# After a retry, no growth for this long: the server asked for less.
CALM_AFTER_RETRY_S = 10.0


class ConcurrencyTuner:
    """Slots for workers: a worker holds one while it fetches (a chunk, a file's first
    request); between small files it may keep it (``keep``) unless the level has fallen.
    ``observe`` is called about every 0.1 s with the bytes received so far."""

    def __init__(self, cap: int, start: int = START_LEVEL):
        self.cap = max(1, cap)
        self.level = min(self.cap, max(1, start))
        self.highest = self.level
        self._busy = 0
        self._changed = threading.Condition()
        self._window_start = time.monotonic()
        self._window_bytes = 0
        self._best_rate = 0.0
        self._best_level = self.level
        self._growing = True
        self._probing_from: int | None = None
        self._next_probe = 0.0
        self._calm_until = 0.0

    def acquire(self, timeout_s: float) -> bool:
        """A slot, waiting at most ``timeout_s``; False if none came free."""
        with self._changed:
            if self._busy >= self.level and not self._changed.wait_for(
                lambda: self._busy < self.level, timeout_s
            ):
                return False
            self._busy += 1
            return True

    def release(self) -> None:
        with self._changed:
            self._busy -= 1
            self._changed.notify()

    def keep(self) -> bool:
        """Whether a worker between two fetches keeps its slot; if not, it has given it back."""
        if self._busy <= self.level:
            return True  # read without the lock: a fall seen one fetch late costs nothing
        with self._changed:
            if self._busy <= self.level:
                return True
            # No one is woken: with more slots held than the level, none is free.
            self._busy -= 1
            return False

    def retried(self) -> None:
        """The server pushed back or the link faltered: halve, and hold off growing."""
        with self._changed:
            if time.monotonic() < self._calm_until:
                return  # one halving per burst of retries
            self._set_level(max(1, self.level // 2))
            self._best_rate = 0.0
            self._best_level = self.level
            self._growing = False
            self._probing_from = None
            self._calm_until = time.monotonic() + CALM_AFTER_RETRY_S
            self._next_probe = self._calm_until

    def observe(self, received_bytes: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now < self._window_start:
            self._window_bytes = received_bytes  # still settling
            return
        elapsed = now - self._window_start
        if elapsed < WINDOW_S:
            return
        rate = (received_bytes - self._window_bytes) / elapsed
        self._window_start, self._window_bytes = now, received_bytes
        with self._changed:
            self._judge(rate, now)

    def _judge(self, rate: float, now: float) -> None:
        if rate <= 0:
            return  # nothing arrived (opening files, a stall): no evidence either way
        if self._growing or self._probing_from is not None:
            self._probing_from = None
            if rate >= self._best_rate * GAIN:
                self._best_rate, self._best_level = rate, self.level
                if self.level < self.cap and now >= self._calm_until:
                    self._set_level(min(self.cap, self.level * 2))
                    self._growing = True
                    return
            elif rate < self._best_rate * LOSS:
                self._set_level(self._best_level)
            # else flat: the step brought nothing worth more load, and cost nothing; stay.
            self._growing = False
            self._next_probe = now + PROBE_INTERVAL_S
            return
        # Settled: the best rate drifts with what is left to fetch; a probe tries one step up.
        self._best_rate = rate
        if now >= self._next_probe and self.level < self.cap and now >= self._calm_until:
            self._probing_from = self.level
            self._set_level(min(self.cap, self.level * 2))

    def _set_level(self, level: int) -> None:
        if level != self.level:
            self._window_start = time.monotonic() + SETTLE_S
        self.level = level
        self.highest = max(self.highest, level)
        self._changed.notify_all()
