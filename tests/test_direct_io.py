"""Direct I/O: part files written around the page cache, byte-exact whatever the alignment."""

from __future__ import annotations

import io
import mmap
import os
import sqlite3
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from egoget.config import IoMode
from egoget.transfer.diskio import (
    AUTO_DIRECT_MIN_FILE_BYTES,
    DIRECT_IO_ALIGN_BYTES,
    PartWriter,
    aligned_read_size,
    direct_io_min_size,
    direct_io_pays,
    filesystem_type,
    open_direct,
)
from tests.mirror import SeaweedServer
from tests.mirror.seed import ensure_bucket, object_bytes

from .conftest import no_part_files, run_cli

MIB = 1024 * 1024
# S3 parts of 5 MiB + 1000 bytes: every chunk boundary, and the file's end, are off the 4 KiB
# grid, so each chunk starts with a buffered write and realigns.
ODD_PART_BYTES = 5 * MIB + 1000
ODD_SIZE = 3 * ODD_PART_BYTES + 777
BUCKET = "egoget-direct"
KEY = "videos/odd-parts.mp4"

needs_o_direct = pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="no O_DIRECT here")


@pytest.fixture(scope="module")
def odd_object(s3_server: SeaweedServer) -> bytes:
    client = s3_server.client()
    ensure_bucket(client, BUCKET)
    body = object_bytes(KEY, ODD_SIZE)
    config = TransferConfig(multipart_threshold=ODD_PART_BYTES, multipart_chunksize=ODD_PART_BYTES)
    client.upload_fileobj(io.BytesIO(body), BUCKET, KEY, Config=config)
    assert client.head_object(Bucket=BUCKET, Key=KEY)["ETag"].endswith('-4"')
    return body


def direct_io_works_in(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_bytes(b"")
    fd = open_direct(probe)
    if fd >= 0:
        os.close(fd)
    return fd >= 0


@needs_o_direct
def test_direct_download_of_unaligned_parts_is_byte_exact_and_etag_checked(
    odd_object: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not direct_io_works_in(tmp_path):
        pytest.skip(f"the filesystem of {tmp_path} refuses O_DIRECT")
    out = tmp_path / "out"
    result = run_cli(
        ["fetch", f"s3://{BUCKET}/{KEY}", "-o", str(out), "--io", "direct", "-j", "4"],
        capsys,
        report=tmp_path / "report.json",
    )
    assert result.exit_code == 0, result.output
    assert (out / "odd-parts.mp4").read_bytes() == odd_object
    assert result.report is not None
    direct = result.report["bytes_direct_io"]
    # Most bytes bypass the cache; the unaligned heads and the tail cannot.
    assert ODD_SIZE * 0.9 < direct < ODD_SIZE, direct
    assert not no_part_files(out)
    ledger = sqlite3.connect(out / ".egoget" / "ledger.sqlite")
    (checked,) = ledger.execute("SELECT checked FROM files").fetchone()
    assert "etag-multipart" in checked, checked


@needs_o_direct
def test_small_files_go_direct_but_for_their_ragged_ends(
    s3_server: SeaweedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not direct_io_works_in(tmp_path):
        pytest.skip(f"the filesystem of {tmp_path} refuses O_DIRECT")
    client = s3_server.client()
    ensure_bucket(client, BUCKET)
    sizes = [70_001, 300_000, 3 * DIRECT_IO_ALIGN_BYTES]
    bodies = {f"small/{size}.bin": object_bytes(f"small{size}", size) for size in sizes}
    for key, body in bodies.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    out = tmp_path / "out"
    result = run_cli(
        ["fetch", f"s3://{BUCKET}/small/", "-o", str(out), "--io", "direct"],
        capsys,
        report=tmp_path / "report.json",
    )
    assert result.exit_code == 0, result.output
    for key, body in bodies.items():
        assert (out / key.removeprefix("small/")).read_bytes() == body
    assert result.report is not None
    whole_blocks = sum(size - size % DIRECT_IO_ALIGN_BYTES for size in sizes)
    assert result.report["bytes_direct_io"] == whole_blocks


def test_buffered_mode_writes_nothing_directly(
    odd_object: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    result = run_cli(
        ["fetch", f"s3://{BUCKET}/{KEY}", "-o", str(out), "--io", "buffered"],
        capsys,
        report=tmp_path / "report.json",
    )
    assert result.exit_code == 0, result.output
    assert (out / "odd-parts.mp4").read_bytes() == odd_object
    assert result.report is not None and result.report["bytes_direct_io"] == 0


def test_unknown_io_mode_is_a_usage_error_naming_the_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(["fetch", "s3://b/k", "-o", str(tmp_path), "--io", "fast"], capsys)
    assert result.exit_code == 2
    assert "'auto', 'direct', 'buffered'" in result.output, result.output


def direct_part_writer(tmp_path: Path, size: int) -> tuple[PartWriter, Path]:
    """A writer on a zero-filled part file of ``size`` bytes, with its direct descriptor."""
    path = tmp_path / "part"
    path.write_bytes(bytes(size))
    direct_fd = open_direct(path)
    if direct_fd < 0:
        pytest.skip(f"the filesystem of {tmp_path} refuses O_DIRECT")
    return PartWriter(os.open(path, os.O_RDWR), direct_fd), path


@needs_o_direct
def test_whole_blocks_go_direct_and_a_ragged_end_through_the_cache(tmp_path: Path) -> None:
    size = 2 * DIRECT_IO_ALIGN_BYTES + 100
    writer, path = direct_part_writer(tmp_path, size)
    buffer = memoryview(mmap.mmap(-1, 4 * DIRECT_IO_ALIGN_BYTES))
    body = os.urandom(size)
    buffer[:size] = body
    assert writer.write(buffer[:size], 0) == 2 * DIRECT_IO_ALIGN_BYTES
    writer.close()
    assert path.read_bytes() == body


@needs_o_direct
def test_a_write_the_device_refuses_goes_through_the_page_cache(tmp_path: Path) -> None:
    writer, path = direct_part_writer(tmp_path, 3 * DIRECT_IO_ALIGN_BYTES)
    aligned = memoryview(mmap.mmap(-1, DIRECT_IO_ALIGN_BYTES))
    aligned[:] = b"a" * DIRECT_IO_ALIGN_BYTES
    assert writer.write(aligned, 0) == DIRECT_IO_ALIGN_BYTES
    # Off by one byte in memory: O_DIRECT answers EINVAL, and the writer falls back for good.
    misplaced = memoryview(bytearray(DIRECT_IO_ALIGN_BYTES + 1))[1:]
    misplaced[:] = b"b" * DIRECT_IO_ALIGN_BYTES
    assert writer.write(misplaced, DIRECT_IO_ALIGN_BYTES) == 0
    assert writer.direct_refused
    assert writer.write(aligned, 2 * DIRECT_IO_ALIGN_BYTES) == 0
    writer.close()
    assert path.read_bytes() == b"a" * 4096 + b"b" * 4096 + b"a" * 4096


@pytest.mark.parametrize(
    ("offset", "remaining", "expected"),
    [
        (0, 10 * MIB, MIB),  # aligned: a whole buffer
        (1000, 10 * MIB, DIRECT_IO_ALIGN_BYTES - 1000),  # off the grid: just up to it
        (8192, 100, 100),  # the end of the range
        (4097, 10, 10),
    ],
)
def test_reads_are_sized_to_get_back_onto_the_alignment_grid(
    offset: int, remaining: int, expected: int
) -> None:
    assert aligned_read_size(offset, remaining, MIB) == expected


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
35 27 0:45 / /data rw,relatime shared:1 - nfs4 server:/export rw,vers=4.2
36 27 8:17 / /scratch rw - xfs /dev/sdb1 rw
"""


def test_filesystem_type_is_read_from_mountinfo_by_device_number() -> None:
    assert filesystem_type(MOUNTINFO, 254, 0) == "ext4"
    assert filesystem_type(MOUNTINFO, 0, 45) == "nfs4"  # optional fields before the dash
    assert filesystem_type(MOUNTINFO, 8, 17) == "xfs"
    assert filesystem_type(MOUNTINFO, 9, 9) is None


def test_explicit_modes_override_the_automatic_choice(tmp_path: Path) -> None:
    assert direct_io_min_size(IoMode.BUFFERED, tmp_path) is None
    direct = DIRECT_IO_ALIGN_BYTES if hasattr(os, "O_DIRECT") else None
    assert direct_io_min_size(IoMode.DIRECT, tmp_path) == direct


@needs_o_direct
def test_auto_writes_videos_directly_and_small_files_through_the_cache(
    s3_server: SeaweedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A small file's direct write waits for the device; a video's saves copying into a cache
    it would only flush."""
    if not (direct_io_pays(tmp_path) and direct_io_works_in(tmp_path)):
        pytest.skip(f"auto does not write directly on the filesystem of {tmp_path}")
    client = s3_server.client()
    ensure_bucket(client, BUCKET)
    sizes = {"mixed/small.bin": 300_000, "mixed/video.mp4": AUTO_DIRECT_MIN_FILE_BYTES + 5000}
    for key, size in sizes.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=object_bytes(key, size))
    out = tmp_path / "out"
    result = run_cli(
        ["fetch", f"s3://{BUCKET}/mixed/", "-o", str(out)], capsys, report=tmp_path / "r.json"
    )
    assert result.exit_code == 0, result.output
    for key, size in sizes.items():
        assert (out / key.removeprefix("mixed/")).read_bytes() == object_bytes(key, size)
    assert result.report is not None
    video = sizes["mixed/video.mp4"]
    assert result.report["bytes_direct_io"] == video - video % DIRECT_IO_ALIGN_BYTES
