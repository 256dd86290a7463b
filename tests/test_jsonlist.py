"""A JSON list read in pieces by several processes is the list read whole: same items, same
order, and for a broken file the same error, whatever the cuts."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from egoget import jsonlist, processes
from egoget.errors import ManifestError
from egoget.jsonlist import Piece, iter_json_piece, read_in_pieces, split_json_list, whole_file


def is_entry(item: Any) -> bool:
    return type(item) is dict and "uid" in item and "paths" in item


def anything_in_braces(item: Any) -> bool:
    # A guess that is often wrong: the objects inside an entry pass it too.
    return type(item) is dict


def entries(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Entries meant to mislead a cut: several objects in each, strings holding brackets,
    commas and quotes, characters of two to four bytes."""
    tricky = ['}, {"uid": "x", "paths": []}, {', "[1, 2], [", "naïve café", "日本語", "🎥",
              '\\"}, {', "", "ok"]  # fmt: skip
    made = []
    for i in range(count):
        paths = [
            {"source_path": f"s3://b/{i}/{j}", "relative_path": f"{i}/{j}.mp4",
             "note": rng.choice(tricky), "size": rng.randrange(10**9)}
            for j in range(rng.randrange(0, 4))
        ]  # fmt: skip
        made.append({"uid": f"take-{i}", "paths": paths, "splits": rng.choice([None, ["train"]])})
    return made


def manifest_of(tmp_path: Path, seed: int, count: int) -> tuple[list[dict[str, Any]], Path]:
    items = entries(random.Random(seed), count)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(items, indent=1))
    return items, path


def read_pieces(path: Path, pieces: list[Piece]) -> list[Any]:
    return [item for piece in pieces for item in iter_json_piece(path, piece, str(path))]


@pytest.mark.parametrize("indent", [None, 1, "\t"])
@pytest.mark.parametrize("count", [2, 3, 7])
def test_pieces_are_the_list_cut_between_items(tmp_path: Path, indent: Any, count: int) -> None:
    rng = random.Random(count)
    items = entries(rng, 300)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(items, indent=indent, ensure_ascii=rng.random() < 0.5))
    pieces = split_json_list(path, count, is_entry)
    assert len(pieces) == count
    assert pieces[0].start == 0 and pieces[-1].end == path.stat().st_size
    assert read_pieces(path, pieces) == items


def read_in_pieces_now(path: Path, work: Any, is_item: Any) -> list[Any]:
    return list(read_in_pieces(path, str(path), work, is_item))


def whole(path: Path, piece: Piece, origin: str) -> list[Any]:
    return list(iter_json_piece(path, piece, origin))


@pytest.fixture
def many_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonlist, "MIN_PIECE_BYTES", 1024)
    monkeypatch.setattr(processes, "processes_available", lambda: 4)


def test_a_cut_guessed_wrong_fails_its_piece_and_the_rest_is_read_whole(
    tmp_path: Path, many_pieces: None
) -> None:
    items, path = manifest_of(tmp_path, 5, 400)
    wrong = split_json_list(path, 4, anything_in_braces)
    with pytest.raises(ManifestError):
        read_pieces(path, wrong)  # a cut fell inside an entry
    results = read_in_pieces_now(path, whole, anything_in_braces)
    assert len(results) < 4  # the pieces before the wrong cut, then the rest in one
    assert [item for result in results for item in result] == items


# What a worker sees of this module: a forked one, the parent's memory; a spawned one, the
# module imported afresh.
SEEN_BY_WORKERS = "as imported"


@pytest.mark.parametrize("started", ["fork", "spawn"])
def test_other_processes_read_the_pieces_in_order(
    tmp_path: Path, many_pieces: None, monkeypatch: pytest.MonkeyPatch, started: str
) -> None:
    # Spawn where the process has another thread: a run that hashed its manifests has one.
    monkeypatch.setattr(processes, "fork_is_safe", lambda: started == "fork")
    monkeypatch.setattr(sys.modules[__name__], "SEEN_BY_WORKERS", "as the parent set it")
    items, path = manifest_of(tmp_path, 9, 2000)
    results = read_in_pieces_now(path, whole_and_where, is_entry)
    assert len(results) == 4
    assert [item for result in results for item in result[2:]] == items
    workers = {(pid, seen) for pid, seen, *_ in results[1:]}
    assert os.getpid() not in {pid for pid, _ in workers}
    assert {seen for _, seen in workers} == {
        "as the parent set it" if started == "fork" else "as imported"
    }


def whole_and_where(path: Path, piece: Piece, origin: str) -> list[Any]:
    return [os.getpid(), SEEN_BY_WORKERS, *whole(path, piece, origin)]


@pytest.mark.parametrize("where", [0.1, 0.6, 0.95])
def test_a_broken_file_read_in_pieces_names_the_line_it_names_read_whole(
    tmp_path: Path, many_pieces: None, where: float
) -> None:
    text = json.dumps(entries(random.Random(3), 2000), indent=1)
    broken_at = text.index('"uid"', int(len(text) * where))
    path = tmp_path / "manifest.json"
    path.write_text(text[:broken_at] + "uid" + text[broken_at + 5 :])
    with pytest.raises(ManifestError) as read_whole:
        whole(path, whole_file(path), str(path))
    with pytest.raises(ManifestError) as read_in_pieces:
        read_in_pieces_now(path, whole, is_entry)
    assert "line" in str(read_whole.value)
    assert str(read_in_pieces.value) == str(read_whole.value)


def dies_in_a_child(path: Path, piece: Piece, origin: str) -> list[Any]:
    if multiprocessing.parent_process() is not None:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    return whole(path, piece, origin)


@pytest.mark.timeout(60)
def test_a_worker_killed_mid_piece_leaves_its_piece_to_the_parent(
    tmp_path: Path, many_pieces: None
) -> None:
    items, path = manifest_of(tmp_path, 11, 2000)
    results = read_in_pieces_now(path, dies_in_a_child, is_entry)
    assert [item for result in results for item in result] == items


def test_no_worker_can_start_and_the_file_is_read_here(
    tmp_path: Path, many_pieces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_semaphores(*args: Any, **kwargs: Any) -> None:
        raise OSError(38, "Function not implemented")  # no /dev/shm, as in some sandboxes

    # processes.pool imports it when it makes one.
    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor", no_semaphores)
    items, path = manifest_of(tmp_path, 12, 500)
    assert read_in_pieces_now(path, whole, is_entry) == [items]
