"""`-j` is a cap: a run finds how many connections pay, grows to them, and backs off when the
server pushes back. Observed through the report's `connections` and `peak_connections`."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from egoget.transfer.concurrency import ConcurrencyTuner
from tests.mirror import SeaweedServer
from tests.mirror.seed import ensure_bucket, object_bytes

from .conftest import run_cli
from .faultproxy import FaultProxy, Faults

BUCKET = "egoget-many-small"
COUNT = 600

CaptureFixture = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def small_objects(s3_server: SeaweedServer) -> dict[str, bytes]:
    client = s3_server.client()
    ensure_bucket(client, BUCKET)
    bodies = {f"clips/{i:04d}.json": object_bytes(f"small{i}", 2000 + i) for i in range(COUNT)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=BUCKET, Key=kv[0], Body=kv[1]),
                      bodies.items()))  # fmt: skip
    return bodies


@pytest.fixture
def distant_server(s3_server: SeaweedServer) -> Iterator[FaultProxy]:
    """The mirror behind 40 ms of first-byte latency, as S3 is from another continent."""
    proxy = FaultProxy(s3_server.port, Faults())
    proxy.request_delay_s = 0.04
    yield proxy
    proxy.close()


def fetch(out: Path, proxy: FaultProxy, capsys: CaptureFixture, *extra: str) -> dict[str, object]:
    result = run_cli(
        ["fetch", f"s3://{BUCKET}/clips/", "-o", str(out), "--endpoint-url", proxy.endpoint_url,
         *extra],
        capsys,
        report=out.parent / f"{out.name}.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.report is not None
    return result.report


def test_a_distant_server_gets_more_connections_than_it_starts_with(
    small_objects: dict[str, bytes], distant_server: FaultProxy, tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    report = fetch(tmp_path / "out", distant_server, capsys)
    for key, body in small_objects.items():
        assert (tmp_path / "out" / key.removeprefix("clips/")).read_bytes() == body
    assert isinstance(report["peak_connections"], int) and report["peak_connections"] > 8, report
    assert distant_server.connections > 8


def test_j_caps_the_connections(
    small_objects: dict[str, bytes], distant_server: FaultProxy, tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    report = fetch(tmp_path / "out", distant_server, capsys, "-j", "4")
    assert report["peak_connections"] == 4 and report["files_done"] == COUNT
    assert distant_server.connections <= 4 + 1  # and one for the listing


def test_a_server_that_pushes_back_gets_fewer(
    small_objects: dict[str, bytes], s3_server: SeaweedServer, tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    # The listing's connection, then the first downloads' are answered 503 SlowDown.
    proxy = FaultProxy(s3_server.port, Faults(slowdown_connections={2, 3, 4}))
    try:
        report = fetch(tmp_path / "out", proxy, capsys)
    finally:
        proxy.close()
    assert report["files_done"] == COUNT
    peak, final = report["peak_connections"], report["connections"]
    assert isinstance(peak, int) and isinstance(final, int)
    assert final < peak and final <= 4, report


def test_a_worker_keeps_its_slot_until_the_level_falls_below_the_slots_held() -> None:
    tuner = ConcurrencyTuner(cap=4, start=2)
    assert tuner.acquire(0) and tuner.acquire(0)
    assert not tuner.acquire(0)  # both slots held
    assert tuner.keep() and tuner.keep()  # kept between fetches: still none free
    assert not tuner.acquire(0)
    tuner.retried()  # the server pushed back: level 1, two slots held
    assert tuner.level == 1
    assert not tuner.keep()  # the first worker between fetches gives its slot back
    assert tuner.keep()  # the second keeps the one the level allows
    assert not tuner.acquire(0)
    tuner.release()
    assert tuner.acquire(0)
