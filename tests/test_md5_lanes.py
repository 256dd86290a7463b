"""MD5 in SIMD lanes: every kernel width against hashlib, under any split of the input."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import threading
from collections.abc import Iterator
from types import ModuleType

import pytest

from egoget.transfer import md5
from egoget.transfer.integrity import PartHasher

try:
    from egoget import _md5lanes
except ImportError:
    lanes_module: ModuleType | None = None
else:
    lanes_module = _md5lanes

requires_lanes = pytest.mark.skipif(
    lanes_module is None and not os.environ.get("EGOGET_TESTS_REQUIRE_MD5_LANES"),
    reason="egoget._md5lanes was not compiled (no C compiler at install)",
)


@pytest.fixture
def lanes() -> Iterator[ModuleType]:
    assert lanes_module is not None, "egoget._md5lanes failed to build"
    yield lanes_module
    lanes_module.set_lanes(0)


def new_state(lanes: ModuleType) -> bytearray:
    state = bytearray(lanes.STATE_SIZE)
    lanes.init(state)
    return state


@requires_lanes
@pytest.mark.parametrize("width", [16, 8, 1])
def test_every_kernel_matches_hashlib_under_random_splits(lanes: ModuleType, width: int) -> None:
    lanes.set_lanes(width)
    rng = random.Random(width)
    for _ in range(40):
        messages = [rng.randbytes(rng.randint(0, 3000)) for _ in range(rng.randint(1, 20))]
        states = [new_state(lanes) for _ in messages]
        fed = [0] * len(messages)
        while any(f < len(m) for f, m in zip(fed, messages, strict=True)):
            chosen = [i for i in range(len(messages)) if rng.random() < 0.7]
            pieces = []
            for i in chosen:
                take = rng.choice([0, 1, 63, 64, 65, rng.randint(0, 900)])
                pieces.append(memoryview(messages[i])[fed[i] : fed[i] + take])
                fed[i] = min(len(messages[i]), fed[i] + take)
            lanes.update_many([states[i] for i in chosen], pieces)
        for state, message in zip(states, messages, strict=True):
            assert lanes.digest(state) == hashlib.md5(message).digest(), (width, len(message))


@requires_lanes
def test_digest_leaves_the_state_usable(lanes: ModuleType) -> None:
    state = new_state(lanes)
    lanes.update_many([state], [b"abc"])
    assert lanes.digest(state) == hashlib.md5(b"abc").digest()
    lanes.update_many([state], [b"def"])
    assert lanes.digest(state) == hashlib.md5(b"abcdef").digest()


@requires_lanes
def test_misuse_is_a_value_error_not_a_crash(lanes: ModuleType) -> None:
    state = new_state(lanes)
    with pytest.raises(ValueError, match="twice"):
        lanes.update_many([state, state], [b"a", b"b"])
    with pytest.raises(ValueError, match="bytes"):
        lanes.update_many([bytearray(3)], [b"a"])
    with pytest.raises(ValueError, match="one data buffer per state"):
        lanes.update_many([state], [])


def part_md5s_by_hashlib(data: bytes, start: int, part_size: int) -> bytes:
    edges = [start, *range(start - start % part_size + part_size, len(data), part_size)]
    edges.append(len(data))
    return b"".join(hashlib.md5(data[a:b]).digest() for a, b in itertools.pairwise(edges))


def hash_chunks_in_threads(data: bytes, part_size: int, threads: int) -> list[bytes]:
    """Like the engine's workers: each thread hashes its own chunk, 64 KiB reads at a time."""
    chunk = len(data) // threads
    results: list[bytes] = [b""] * threads

    def work(index: int) -> None:
        start, end = index * chunk, (index + 1) * chunk
        hasher = PartHasher(start, end, part_size, want_sha256=False)
        for offset in range(start, end, 65536):
            hasher.update(memoryview(data)[offset : min(end, offset + 65536)])
        results[index] = hasher.part_md5s()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


@pytest.mark.parametrize("part_size", [100_003, 1 << 20])
def test_part_hashes_from_many_threads_at_once_match_hashlib(part_size: int) -> None:
    data = random.Random(part_size).randbytes(12 * 1024 * 1024)
    threads = 12
    chunk = len(data) // threads
    got = hash_chunks_in_threads(data, part_size, threads)
    for index, digests in enumerate(got):
        piece = data[: (index + 1) * chunk]
        expected = part_md5s_by_hashlib(piece, index * chunk, part_size)
        assert digests == expected, index


def test_without_the_compiled_helper_hashlib_gives_the_same_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(md5, "_lanes", None)
    monkeypatch.setattr(md5, "_hasher", None)
    assert md5.simd_lanes() == 1
    data = random.Random(5).randbytes(3 * 1024 * 1024 + 17)
    hasher = PartHasher(0, len(data), 1 << 20, want_sha256=False)
    assert hasher.update(memoryview(data)) is None  # hashed on the spot
    assert hasher.part_md5s() == part_md5s_by_hashlib(data, 0, 1 << 20)
