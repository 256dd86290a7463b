"""Ranges that go silent while their peers flow are re-issued on a fresh connection.

A connection that stops sending mid-body (a wedged server thread, a dropped path, a proxy
holding a buffer) would otherwise hold its range for the whole stall timeout. When other
connections of the run have received bytes since this one went quiet, silence far longer than
the run's usual gap between reads means that one connection, not the network, is stuck: its
socket is shut down and the range continues from the last byte written, on a new connection.
The bytes already on disk are kept; only the silent connection is given up. This also covers
the last range of a run, whose peers have finished: they finished after it went quiet. When
every connection went quiet together (the network), nothing is re-issued and the stall timeout
decides.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..errors import RetryableError

# Re-issue no sooner than this, whatever the usual gap: a reconnect costs a round trip or two.
HEDGE_FLOOR_S = 2.0
# How many usual gaps of silence make a connection suspect.
HEDGE_GAP_FACTOR = 10.0
# A range re-issued this often is slow wherever it is fetched: leave it to the stall timeout.
MAX_HEDGES_PER_RANGE = 3
_GAP_SMOOTHING = 0.02


class HedgedError(RetryableError):
    """The range's connection went silent and was given up; continue it at once elsewhere."""

    spends_attempt = False


class Flow:
    """One worker's current request: when its last byte arrived, and whether it was given up."""

    __slots__ = ("active", "hedged", "last_byte", "mark", "silent_s", "worker")

    def __init__(self, worker: int):
        self.worker = worker  # the thread that reads it
        self.active = False
        self.hedged = False
        self.mark = 0.0  # the request's start or its last read, whichever is later
        self.last_byte = 0.0  # the last read of any request of this worker
        self.silent_s = 0.0


class SilenceWatch:
    """Watches every worker's request; ``check`` (called a few times a second) gives up the
    silent ones through ``abort(worker)``."""

    def __init__(self, abort: Callable[[int], None], stall_timeout_s: float):
        self._abort = abort
        self._stall_timeout_s = stall_timeout_s
        self._flows: dict[int, Flow] = {}
        self._lock = threading.Lock()
        self._usual_gap_s = 0.05
        self.hedges = 0

    def begin(self) -> Flow:
        """The calling worker starts a request (before it is sent: a silent server may not
        even answer with headers)."""
        worker = threading.get_ident()
        flow = self._flows.get(worker)
        if flow is None:
            flow = self._flows.setdefault(worker, Flow(worker))
        with self._lock:
            flow.hedged = False
            flow.mark = time.monotonic()
            flow.active = True
        return flow

    def read(self, flow: Flow) -> None:
        """Bytes arrived: called for every read, so it takes no lock (a racing update of the
        smoothed gap loses one sample at worst)."""
        now = time.monotonic()
        self._usual_gap_s += _GAP_SMOOTHING * (now - flow.mark - self._usual_gap_s)
        flow.mark = flow.last_byte = now

    def end(self, flow: Flow) -> None:
        with self._lock:
            flow.active = False

    @property
    def threshold_s(self) -> float:
        return max(HEDGE_FLOOR_S, HEDGE_GAP_FACTOR * self._usual_gap_s)

    def check(self) -> None:
        threshold = self.threshold_s
        if threshold >= self._stall_timeout_s:
            return  # the stall timeout comes first anyway
        now = time.monotonic()
        with self._lock:
            flows = list(self._flows.values())
            for flow in flows:
                if not flow.active or flow.hedged or now - flow.mark < threshold:
                    continue
                if not any(o.last_byte > flow.mark for o in flows if o is not flow):
                    continue  # everything went quiet together: the network, not this one
                flow.hedged = True
                flow.silent_s = now - flow.mark
                self.hedges += 1
                # Under the lock: the worker cannot have moved on to another request.
                self._abort(flow.worker)
