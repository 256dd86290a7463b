"""The ledger's commits: progress inside chunks is committed in batches, and never outlives
the chunk or the file it describes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from egoget.ledger import Ledger

MIB = 1024 * 1024


def committed_progress(state_dir: Path) -> dict[tuple[str, int], int]:
    """What another process (a rerun, `egoget status`) would read now."""
    with sqlite3.connect(state_dir / "ledger.sqlite") as db:
        rows = db.execute("SELECT dest, idx, done FROM chunk_progress").fetchall()
    return {(dest, index): done for dest, index, done in rows}


def test_progress_is_committed_once_a_second_and_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("egoget.ledger.time.monotonic", lambda: clock[0])
    ledger = Ledger(tmp_path)
    ledger.start_partial("a.mp4", "s3://b/a.mp4", 64 * MIB, '"e-4"', 16 * MIB, 8 * MIB)
    for done in range(1, 9):
        ledger.record_progress("a.mp4", 0, done * 2 * MIB)
    assert committed_progress(tmp_path) == {}, "each checkpoint made a commit of its own"

    clock[0] += 1.0
    ledger.record_progress("a.mp4", 1, 2 * MIB)
    assert committed_progress(tmp_path) == {("a.mp4", 0): 16 * MIB, ("a.mp4", 1): 2 * MIB}

    ledger.record_progress("a.mp4", 1, 4 * MIB)
    ledger.record_progress("a.mp4", 2, 6 * MIB)
    # A finished chunk's progress, still uncommitted, must not come back after its record.
    ledger.record_chunk("a.mp4", 1, b"\x00" * 32)
    # A chunk fetched whole is committed at once: its record waits for its worker's next chunk.
    ledger.record_progress("a.mp4", 3, 16 * MIB, now=True)
    expected = {("a.mp4", 0): 16 * MIB, ("a.mp4", 2): 6 * MIB, ("a.mp4", 3): 16 * MIB}
    assert committed_progress(tmp_path) == expected
    ledger.record_progress("a.mp4", 2, 8 * MIB)  # committed on close
    ledger.close()
    assert committed_progress(tmp_path) == {**expected, ("a.mp4", 2): 8 * MIB}
    partial = Ledger(tmp_path).partial_files()["a.mp4"]
    assert partial.chunk_progress == {0: 16 * MIB, 2: 8 * MIB, 3: 16 * MIB}
    assert set(partial.done_chunks) == {1}


def test_uncommitted_progress_of_a_file_started_again_or_dropped_is_forgotten(
    tmp_path: Path,
) -> None:
    ledger = Ledger(tmp_path)
    for dest in ("restarted.mp4", "dropped.mp4", "kept.mp4"):
        ledger.start_partial(dest, f"s3://b/{dest}", 64 * MIB, '"e-4"', 16 * MIB, 8 * MIB)
        ledger.record_progress(dest, 0, 2 * MIB)
    ledger.start_partial("restarted.mp4", "s3://b/restarted.mp4", 64 * MIB, '"f-4"', 16 * MIB,
                         8 * MIB)  # fmt: skip
    ledger.drop_partial("dropped.mp4")
    # Read back in the same run: what a report of partial files sees.
    partials = ledger.partial_files()
    assert partials["restarted.mp4"].chunk_progress == {}
    assert "dropped.mp4" not in partials
    assert partials["kept.mp4"].chunk_progress == {0: 2 * MIB}
    ledger.close()
    assert committed_progress(tmp_path) == {("kept.mp4", 0): 2 * MIB}
