"""Faults injected between egoget and a real S3 server; every published file must be exact."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.mirror import SeaweedServer
from tests.mirror.seed import MirrorObject

from .conftest import assert_same_bytes, no_part_files, run_cli
from .faultproxy import FaultProxy, Faults

CaptureFixture = pytest.CaptureFixture[str]
MIB = 1024 * 1024


MakeProxy = Callable[[Faults], FaultProxy]


@pytest.fixture
def make_proxy(s3_server: SeaweedServer) -> Iterator[MakeProxy]:
    proxies: list[FaultProxy] = []

    def make(faults: Faults) -> FaultProxy:
        proxy = FaultProxy(s3_server.port, faults)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


def fetch_all(
    objects: list[MirrorObject], out: Path, proxy: FaultProxy, capsys: CaptureFixture, *extra: str
) -> tuple[int, str]:
    result = run_cli(
        ["fetch", *(o.uri for o in objects), "-o", str(out), "--endpoint-url",
         proxy.endpoint_url, "--chunk-size-mib", "5", *extra],
        capsys,
    )  # fmt: skip
    for obj in objects:
        assert_same_bytes(out / obj.key.rsplit("/", 1)[1], obj)
    assert not no_part_files(out)
    return result.exit_code, result.output


def workload(demo_objects: list[MirrorObject], large_object: MirrorObject) -> list[MirrorObject]:
    """Small single-part and multipart videos plus one 40 MiB multipart object."""
    return [o for o in demo_objects if o.key.endswith(".mp4")] + [large_object]


def test_connection_resets_mid_body_are_recovered(
    demo_objects: list[MirrorObject],
    large_object: MirrorObject,
    make_proxy: MakeProxy,
    tmp_path: Path,
    capsys: CaptureFixture,
) -> None:
    resets = {int(MIB * x) for x in (0.5, 7.3, 21.1, 33.3, 52.9, 77.7)}
    proxy = make_proxy(Faults(reset_at=set(resets)))
    code, output = fetch_all(workload(demo_objects, large_object), tmp_path, proxy, capsys)
    assert code == 0, output
    assert len([i for i in proxy.injected if i.startswith("reset")]) == len(resets)
    assert "retrying" in output


def test_503_slowdown_bursts_are_retried(
    demo_objects: list[MirrorObject],
    large_object: MirrorObject,
    make_proxy: MakeProxy,
    tmp_path: Path,
    capsys: CaptureFixture,
) -> None:
    proxy = make_proxy(Faults(slowdown_connections={2, 3, 4, 5, 9, 10}))
    code, output = fetch_all(workload(demo_objects, large_object), tmp_path, proxy, capsys)
    assert code == 0, output
    assert len(proxy.injected) >= 4


def test_flipped_byte_is_detected_and_the_file_refetched(
    large_object: MirrorObject, make_proxy: MakeProxy, tmp_path: Path, capsys: CaptureFixture
) -> None:
    proxy = make_proxy(Faults(flip_byte_at={int(12.5 * MIB)}))
    code, output = fetch_all([large_object], tmp_path, proxy, capsys, "-j", "1")
    assert code == 0, output
    assert proxy.injected == [f"flipped byte {int(12.5 * MIB)}"]
    assert "restarting large.mp4" in output
    assert "ETag" in output


def test_stalled_connection_is_abandoned_and_retried(
    large_object: MirrorObject, make_proxy: MakeProxy, tmp_path: Path, capsys: CaptureFixture
) -> None:
    proxy = make_proxy(Faults(stall_at={3 * MIB: 8.0}))
    started = time.monotonic()
    code, output = fetch_all(
        [large_object], tmp_path, proxy, capsys, "--stall-timeout", "1", "-j", "2"
    )
    assert code == 0, output
    assert "no bytes received" in output
    assert time.monotonic() - started < 7.5, "the stall must not be waited out"


def test_a_silent_connection_is_re_issued_while_the_others_flow(
    demo_objects: list[MirrorObject], large_object: MirrorObject, make_proxy: MakeProxy,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    """Two connections go silent for a minute mid-run, at the default 30 s stall timeout: each
    range is continued on a new connection within seconds, keeping the bytes already written."""
    objects = workload(demo_objects, large_object)
    span = sum(o.size for o in objects)
    proxy = make_proxy(Faults(stall_at={span // 3: 60.0, 2 * span // 3: 60.0}))
    started = time.monotonic()
    result = run_cli(
        ["fetch", *(o.uri for o in objects), "-o", str(tmp_path), "--endpoint-url",
         proxy.endpoint_url, "--chunk-size-mib", "5", "-j", "4"],
        capsys,
        report=tmp_path / "report.json",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    for obj in objects:
        assert_same_bytes(tmp_path / obj.key.rsplit("/", 1)[1], obj)
    assert len(proxy.injected) == 2, proxy.injected
    assert elapsed < 20, f"{elapsed:.1f} s: a stall was waited out"
    assert result.report is not None and result.report["hedged_ranges"] == 2
    assert "continuing the range on a new connection" in result.stderr


def test_persistent_faults_fail_the_file_with_exit_1_and_keep_chunks(
    large_object: MirrorObject, make_proxy: MakeProxy, tmp_path: Path, capsys: CaptureFixture
) -> None:
    # The kept-alive connection breaks mid-download; every connection after it is refused.
    proxy = make_proxy(Faults(reset_at={20 * MIB}, slowdown_connections=set(range(2, 200))))
    result = run_cli(
        ["fetch", large_object.uri, "-o", str(tmp_path), "--endpoint-url", proxy.endpoint_url,
         "--max-attempts", "2", "-j", "1"],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "gave up on large.mp4 after 2 attempts" in result.stderr
    assert not (tmp_path / "large.mp4").exists()
    ledger = sqlite3.connect(tmp_path / ".egoget" / "ledger.sqlite")
    (kept,) = ledger.execute("SELECT count(*) FROM chunks WHERE dest = 'large.mp4'").fetchone()
    assert kept >= 1, "the chunk finished before the break must be kept"


def test_credentials_expiring_mid_run_stop_it_with_exit_3_and_keep_chunks(
    large_object: MirrorObject, make_proxy: MakeProxy, tmp_path: Path, capsys: CaptureFixture
) -> None:
    import sqlite3

    proxy = make_proxy(Faults(expire_credentials_at=17 * MIB))
    started = time.monotonic()
    result = run_cli(
        ["fetch", large_object.uri, "-o", str(tmp_path), "--endpoint-url", proxy.endpoint_url,
         "--chunk-size-mib", "5", "-j", "2"],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "ExpiredToken" in result.stderr and "hint:" in result.stderr
    assert time.monotonic() - started < 20, "a dead credential must not be retried for long"
    assert not (tmp_path / "large.mp4").exists()
    kept = (
        sqlite3.connect(tmp_path / ".egoget" / "ledger.sqlite")
        .execute("SELECT COUNT(*) FROM chunks")
        .fetchone()[0]
    )
    assert kept >= 2, "chunks finished before the expiry are kept for the rerun"


@pytest.fixture(scope="module")
def many_small(s3_server: SeaweedServer) -> list[MirrorObject]:
    """120 small objects (16-200 KiB) beside the large ones: every fault class hits both."""
    import random

    from tests.mirror.seed import seed_object

    rng = random.Random(5)
    return [
        seed_object(
            s3_server.client(),
            "egoget-small",
            f"clips/{i:03d}.bin",
            rng.randint(16 * 1024, 200 * 1024),
        )
        for i in range(120)
    ]


def scheduled(rate: float, span: int, seed: int) -> set[int]:
    """Byte offsets at which a fault fires: about ``rate`` of every MiB carries one."""
    import random

    rng = random.Random(seed)
    offsets = {i * MIB + rng.randrange(MIB) for i in range(span // MIB) if rng.random() < rate}
    return offsets or {span // 2}  # a case that injects nothing proves nothing


@pytest.mark.parametrize(
    ("fault", "rate"),
    [("reset", 0.10), ("slowdown", 0.20), ("flip", 0.03), ("stall", 0.02)],
)
def test_fault_matrix_on_many_small_and_a_few_large_objects(
    fault: str, rate: float, many_small: list[MirrorObject], demo_objects: list[MirrorObject],
    large_object: MirrorObject, make_proxy: MakeProxy, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    objects = many_small + [o for o in demo_objects if o.multipart] + [large_object]
    span = sum(o.size for o in objects)
    faults = Faults()
    if fault == "reset":
        faults.reset_at = scheduled(rate, span, 1)
    elif fault == "flip":
        faults.flip_byte_at = scheduled(rate, span, 2)
    elif fault == "stall":
        faults.stall_at = {offset: 3.0 for offset in scheduled(rate, span, 3)}
    else:
        count = int(rate * (len(objects) + 20))
        faults.slowdown_connections = set(range(2, 2 + count))
    proxy = make_proxy(faults)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{o.uri}\t{o.bucket}/{o.key}\n" for o in objects))
    result = run_cli(
        ["fetch", "--from-file", str(listing), "-o", str(tmp_path / "o"), "--endpoint-url",
         proxy.endpoint_url, "--chunk-size-mib", "5", "--stall-timeout", "1"],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for obj in objects:
        assert_same_bytes(tmp_path / "o" / obj.bucket / obj.key, obj)
    assert not no_part_files(tmp_path / "o")
    assert proxy.injected, "the schedule must inject faults"
    print(f"\n{fault}: {len(proxy.injected)} faults over {len(objects)} objects "
          f"({span / MIB:.0f} MiB): all verified")  # fmt: skip


def test_one_large_file_gets_the_connections_not_one(
    large_object: MirrorObject, make_proxy: MakeProxy, tmp_path: Path, capsys: CaptureFixture
) -> None:
    """Workers that find no chunk yet while a file is being opened (its first request takes a
    round trip) wait for its chunks instead of ending: one large file used to be left to the
    one worker that opened it, whatever -j said."""
    proxy = make_proxy(Faults())
    proxy.request_delay_s = 0.05
    code, output = fetch_all([large_object], tmp_path / "o", proxy, capsys, "-j", "8")
    assert code == 0, output
    assert proxy.connections >= 4, proxy.connections  # 8 chunks, 8 slots: 1 before the fix
