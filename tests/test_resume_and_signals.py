"""SIGKILL, Ctrl-C, SIGTERM and a second run on the same directory, with real subprocesses."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from egoget.cli.render import human_bytes
from tests.mirror.seed import MirrorObject

from .conftest import assert_same_bytes, egoget_process, no_part_files, run_cli
from .faultproxy import FaultProxy

MIB = 1024 * 1024
CHUNK_MIB = 5  # = the mirror's multipart part size, so chunks align with parts


@pytest.fixture
def proxy(s3_server: object) -> Iterator[FaultProxy]:
    from tests.mirror import SeaweedServer

    assert isinstance(s3_server, SeaweedServer)
    p = FaultProxy(s3_server.port)
    yield p
    p.close()


def finished_chunks(out: Path) -> int:
    ledger = out / ".egoget" / "ledger.sqlite"
    if not ledger.exists():
        return 0
    try:
        with sqlite3.connect(ledger, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet


def checkpointed_bytes(out: Path) -> int:
    """Bytes of unfinished chunks recorded as already written (sub-chunk checkpoints)."""
    try:
        with sqlite3.connect(out / ".egoget" / "ledger.sqlite", timeout=1) as db:
            row = db.execute("SELECT COALESCE(SUM(done), 0) FROM chunk_progress").fetchone()
            return int(row[0])
    except sqlite3.OperationalError:
        return 0  # the ledger is not there yet


def wait_for(condition: object, timeout_s: float = 20.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def slow_fetch_args(obj: MirrorObject, out: Path, proxy: FaultProxy, rate: str) -> list[str]:
    return [
        "fetch", obj.uri, "-o", str(out), "-j", "2", "--chunk-size-mib", str(CHUNK_MIB),
        "--endpoint-url", proxy.endpoint_url, "--limit-rate", rate,
    ]  # fmt: skip


def test_resume_after_sigkill_fetches_only_missing_chunks(
    large_object: MirrorObject,
    proxy: FaultProxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    chunk = CHUNK_MIB * MIB
    total_chunks = -(-large_object.size // chunk)
    process = egoget_process(slow_fetch_args(large_object, out, proxy, "10M"))
    # Mid-file, and mid-chunk past a checkpoint: both kinds of progress must survive.
    wait_for(lambda: finished_chunks(out) >= 3 and checkpointed_bytes(out) > 0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = finished_chunks(out)
    checkpointed = checkpointed_bytes(out)
    assert 3 <= done < total_chunks, "the kill must land mid-file"
    bytes_before_kill = proxy.bytes_to_client
    # Beyond the finished chunks, each of the two workers (-j 2) had at most two on the wire: one
    # fetched and waiting to be recorded (checkpointed whole: the rerun keeps it) and one in
    # flight (the kernel buffers MBs of it unread, so the wire cannot show the checkpoints; the
    # rerun does).
    assert bytes_before_kill - done * chunk <= 2 * 2 * chunk + 64 * 1024

    # A fresh proxy: the killed run's dying connections may still be draining through the old one.
    rerun_proxy = FaultProxy(proxy.upstream_port)
    rerun = run_cli(
        ["fetch", large_object.uri, "-o", str(out), "-j", "2", "--chunk-size-mib", str(CHUNK_MIB),
         "--endpoint-url", rerun_proxy.endpoint_url],
        capsys,
        report=tmp_path / "rerun.json",
    )  # fmt: skip
    rerun_proxy.close()
    assert rerun.exit_code == 0, rerun.output
    missing = large_object.size - done * chunk - checkpointed
    assert rerun.report is not None
    assert rerun.report["bytes_received"] == missing
    # Counted on the wire too: the missing chunks plus a few KiB of HTTP headers.
    assert missing <= rerun_proxy.bytes_to_client <= missing + 64 * 1024
    with capsys.disabled():
        print(f"\nkilled at {done}/{total_chunks} chunks + {checkpointed:,} checkpointed bytes, "
              f"{bytes_before_kill:,} bytes in; rerun "
              f"fetched {rerun_proxy.bytes_to_client:,} bytes for {missing:,} missing")  # fmt: skip
    assert_same_bytes(out / "large.mp4", large_object)
    assert not no_part_files(out)


def test_ctrl_c_exits_130_within_2_seconds_and_keeps_partial_work(
    large_object: MirrorObject,
    proxy: FaultProxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    process = egoget_process(slow_fetch_args(large_object, out, proxy, "6M"))
    wait_for(lambda: finished_chunks(out) >= 1)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=10)
    elapsed = time.monotonic() - sent
    assert process.returncode == 130, stderr
    assert elapsed < 2.0, f"took {elapsed:.2f} s to stop"
    with capsys.disabled():
        print(f"\nCtrl-C to exit: {elapsed:.2f} s")
    assert "rerun the same command to resume" in stderr
    assert (out / "large.mp4.egoget-part").exists()
    assert not (out / "large.mp4").exists(), "nothing partial is published under its final name"

    kept = finished_chunks(out)
    checkpointed = checkpointed_bytes(out)
    # status counts exactly what a rerun keeps: finished chunks and checkpointed bytes.
    status = run_cli(["status", "-o", str(out)], capsys)
    assert "partial: 1 file\n" in status.stdout
    kept_bytes = kept * CHUNK_MIB * MIB + checkpointed
    assert f"large.mp4: {human_bytes(kept_bytes)} of" in status.stdout, status.stdout
    # Resuming with another --chunk-size-mib keeps the layout the finished chunks were cut with.
    rerun = run_cli(
        ["fetch", large_object.uri, "-o", str(out), "--chunk-size-mib", "16"],
        capsys,
        report=tmp_path / "r.json",
    )
    assert rerun.exit_code == 0, rerun.output
    assert rerun.report is not None
    expected = large_object.size - kept * CHUNK_MIB * MIB - checkpointed
    assert rerun.report["bytes_received"] == expected
    assert_same_bytes(out / "large.mp4", large_object)


def test_sigterm_exits_143_and_keeps_partial_work(
    large_object: MirrorObject, proxy: FaultProxy, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    process = egoget_process(slow_fetch_args(large_object, out, proxy, "6M"))
    wait_for(lambda: finished_chunks(out) >= 1)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=10)
    assert process.returncode == 143
    assert finished_chunks(out) >= 1


def test_second_run_on_the_same_output_exits_5(
    large_object: MirrorObject,
    proxy: FaultProxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    first = egoget_process(slow_fetch_args(large_object, out, proxy, "4M"))
    try:
        wait_for(lambda: finished_chunks(out) >= 1)
        second = run_cli(["fetch", large_object.uri, "-o", str(out)], capsys)
        assert second.exit_code == 5, second.output
        assert f"pid {first.pid}" in second.stderr
        assert "different --output directory" in second.stderr
    finally:
        first.kill()
        first.wait()
    # The killed run's lock is stale: the next run takes over and finishes.
    third = run_cli(["fetch", large_object.uri, "-o", str(out)], capsys)
    assert third.exit_code == 0, third.output
    assert_same_bytes(out / "large.mp4", large_object)


def test_sigkill_at_ten_random_moments_then_rerun_gives_identical_files(
    demo_objects: list[MirrorObject],
    large_object: MirrorObject,
    proxy: FaultProxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import random

    objects = [large_object] + [o for o in demo_objects if o.multipart]
    total = sum(o.size for o in objects)
    out = tmp_path / "out"
    procs, chunk = 2, CHUNK_MIB * MIB
    args = ["fetch", *(o.uri for o in objects), "-o", str(out), "-j", str(procs),
            "--chunk-size-mib", str(CHUNK_MIB), "--endpoint-url", proxy.endpoint_url]  # fmt: skip
    rng = random.Random(20261121)
    kills = 0
    proxy.pace_bytes_per_s_per_connection = 12 * MIB
    while kills < 10:
        process = egoget_process(args)
        time.sleep(rng.uniform(0.6, 1.6))  # start-up is ~0.5 s: most kills land mid-transfer
        if process.poll() is not None:
            break  # finished before this kill: nothing left to interrupt
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    proxy.pace_bytes_per_s_per_connection = None
    final = run_cli(args, capsys)
    assert final.exit_code == 0, final.output
    for obj in objects:
        assert_same_bytes(out / obj.key.rsplit("/", 1)[1], obj)
    assert not no_part_files(out)
    # Each kill loses at most the chunks in flight; headers and listings are small change.
    overhead = proxy.bytes_to_client - total
    assert kills >= 5, "the kills must interrupt real work"
    assert overhead <= kills * procs * chunk + 1024 * 1024, (kills, overhead)
    print(f"\n{kills} SIGKILLs; fetched {proxy.bytes_to_client:,} bytes for {total:,} "
          f"({overhead / total:+.1%})")  # fmt: skip
