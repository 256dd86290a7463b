"""MD5 streams, hashed together in SIMD lanes when the compiled helper is there.

One MD5 stream runs at OpenSSL's ~700 MB/s per core, and on two cores that was the largest cost
of a verified download after the page-cache copy. A download has many independent streams at
once (each multipart part, each small file), so workers hand their pieces to one hashing thread,
which advances up to 16 streams per vector instruction (`egoget/_md5lanes.c`): ~3.7 GB/s on the
benchmark machine. A worker reads on into its next buffer (``BufferRing``) and waits only when
it needs a buffer or a digest back; the thread hashes when the lanes would be full, or when a
worker waits.

Without the compiled helper (no C compiler at install), streams are hashlib's, hashed in the
worker's own thread as before.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType

from ..constants import MD5_BATCH_LINGER_S

try:
    from .. import _md5lanes as _lanes
except ImportError:  # built without a C compiler: hashlib it is
    _lanes = None  # type: ignore[assignment]


class Md5Stream:
    """One MD5 in progress; fed only through ``submit``."""

    __slots__ = ("_hashlib", "_state")

    def __init__(self) -> None:
        if _lanes is not None:
            self._state = bytearray(_lanes.STATE_SIZE)
            _lanes.init(self._state)
        else:
            self._hashlib = hashlib.md5()

    def digest(self) -> bytes:
        if _lanes is not None:
            return _lanes.digest(self._state)
        return self._hashlib.digest()


Piece = tuple[Md5Stream, memoryview]


class Pending:
    """Pieces handed to the hashing thread; their buffers must stay untouched until done."""

    __slots__ = ("_hashed", "done", "error", "pieces")

    def __init__(self, pieces: Sequence[Piece]):
        self.pieces = pieces
        self.done = False
        self.error: BaseException | None = None
        # Held until the pieces are hashed: a waiter blocks on its own lock, so finishing a
        # batch wakes only the workers whose pieces were in it, not all sixteen.
        self._hashed = threading.Lock()
        self._hashed.acquire()

    def _finish(self) -> None:
        self.done = True
        self._hashed.release()


class _LaneHasher:
    """The hashing thread. It waits until a batch would fill the lanes, or until a worker needs
    a buffer back; then it hashes every waiting piece it can (a stream once per batch)."""

    def __init__(self, lanes: ModuleType):
        self._lanes = lanes
        self._width: int = lanes.set_lanes(0)
        self._cond = threading.Condition()
        self._queue: list[Pending] = []
        self._needed = 0  # workers blocked until some piece is hashed
        self._thread: threading.Thread | None = None

    def submit(self, pieces: Sequence[Piece]) -> Pending:
        pending = Pending(pieces)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="egoget-md5-lanes", daemon=True
                )
                self._thread.start()
            self._queue.append(pending)
            if len(self._queue) >= self._width:
                self._cond.notify()
        return pending

    @property
    def width(self) -> int:
        return self._width

    def wait(self, pending: Pending) -> None:
        with self._cond:
            self._needed += 1
            self._cond.notify()  # only the hashing thread waits on the condition
        pending._hashed.acquire()
        pending._hashed.release()
        with self._cond:
            self._needed -= 1

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not (self._queue and (self._needed or len(self._queue) >= self._width)):
                    self._cond.wait()
                # A worker needs its pieces now, and others are about to hand theirs in: a
                # moment's wait widens the batch (on 4 x 1 GiB, 1 ms cut the CPU of a run by
                # a third; 3 ms made it slower again).
                deadline = time.monotonic() + MD5_BATCH_LINGER_S
                while len(self._queue) < self._width:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._queue = _one_per_stream(self._queue)
            try:
                states = [stream._state for pending in batch for stream, _ in pending.pieces]
                datas = [data for pending in batch for _, data in pending.pieces]
                self._lanes.update_many(states, datas)
            except BaseException as exc:  # handed to the waiting workers, never lost
                for pending in batch:
                    pending.error = exc
            for pending in batch:
                pending._finish()


def _one_per_stream(queue: list[Pending]) -> tuple[list[Pending], list[Pending]]:
    """Split the queue into a batch that names each stream once and the rest, keeping every
    stream's pieces in the order they came."""
    batch: list[Pending] = []
    later: list[Pending] = []
    seen: set[int] = set()
    for pending in queue:
        ids = [id(stream) for stream, _ in pending.pieces]
        if seen.intersection(ids):
            later.append(pending)
        else:
            batch.append(pending)
        seen.update(ids)
    return batch, later


_hasher = _LaneHasher(_lanes) if _lanes is not None else None


def submit(pieces: Sequence[Piece]) -> Pending | None:
    """Hash each stream's piece, now (hashlib) or soon (lanes: then None is not returned, and
    the pieces' bytes must not change until ``settle`` says so)."""
    if _hasher is not None:
        return _hasher.submit(pieces)
    for stream, data in pieces:
        stream._hashlib.update(data)
    return None


def settle(pending: Pending | None) -> None:
    """Wait until ``pending`` is hashed (None: it was hashed on the spot)."""
    if pending is None:
        return
    if not pending.done and _hasher is not None:
        _hasher.wait(pending)
    if pending.error is not None:
        raise pending.error


class BufferRing:
    """A worker's read buffers: the next read goes into a buffer whose hashing is finished."""

    def __init__(self, count: int, make: Callable[[], memoryview]):
        self._buffers = [make() for _ in range(count)]
        self._hashing: list[Pending | None] = [None] * count
        self._next = 0

    def take(self) -> tuple[int, memoryview]:
        index = self._next
        self._next = (index + 1) % len(self._buffers)
        settle(self._hashing[index])
        self._hashing[index] = None
        return index, self._buffers[index]

    def lend(self, index: int, pending: Pending | None) -> None:
        self._hashing[index] = pending


def simd_lanes() -> int:
    """How many streams advance together here (1: no SIMD helper)."""
    return _hasher.width if _hasher is not None else 1
