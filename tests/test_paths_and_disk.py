"""Hostile names, symlinks planted in the output directory, and a full disk."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from egoget.errors import UnsafePathError
from egoget.paths import safe_relative_path
from tests.mirror.seed import MirrorObject

from .conftest import assert_same_bytes, run_cli

CaptureFixture = pytest.CaptureFixture[str]


@pytest.mark.parametrize(
    "name",
    ["../x", "a/../../x", "/etc/passwd", "C:/x", "a\\b", "a\x00b", "a\nb", "", "a//b", "./a",
     ".egoget/ledger.sqlite", "a/"],
)  # fmt: skip
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_relative_path(name)


@pytest.mark.parametrize("name", ["a.mp4", "v2/full_scale/x.mp4", "..hidden", "a..b/c"])
def test_ordinary_names_pass(name: str) -> None:
    assert safe_relative_path(name) == name


def test_hostile_destinations_are_refused_and_nothing_escapes(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    good = next(o for o in demo_objects if o.key.endswith(".mp4"))
    out = tmp_path / "out"
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"{good.uri}\tok.mp4\n{good.uri}\t../escaped.mp4\n{good.uri}\t/tmp/abs.mp4\n"
    )
    before = set(tmp_path.rglob("*"))
    refused = run_cli(["fetch", "--from-file", str(listing), "-o", str(out)], capsys)
    assert refused.exit_code == 2, refused.output
    assert "../escaped.mp4" in refused.stderr and "/tmp/abs.mp4" in refused.stderr
    assert "--skip-invalid" in refused.stderr
    assert not (out / "ok.mp4").exists(), "nothing is downloaded until the list is fixed"

    partial = run_cli(
        ["fetch", "--from-file", str(listing), "-o", str(out), "--skip-invalid"], capsys
    )
    assert partial.exit_code == 1, partial.output
    assert_same_bytes(out / "ok.mp4", good)
    assert not (tmp_path / "escaped.mp4").exists()
    assert not Path("/tmp/abs.mp4").exists()
    created = set(tmp_path.rglob("*")) - before
    assert all(out in p.parents or p == out for p in created), created


def test_symlink_planted_in_output_is_not_followed(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    good = next(o for o in demo_objects if o.key.endswith(".mp4"))
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "sub").symlink_to(outside)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{good.uri}\tsub/video.mp4\n{good.uri}\tfine/video.mp4\n")
    result = run_cli(["fetch", "--from-file", str(listing), "-o", str(out)], capsys)
    assert result.exit_code == 1, result.output
    assert "symlink" in result.stderr
    assert list(outside.iterdir()) == []
    assert_same_bytes(out / "fine" / "video.mp4", good)


def test_disk_full_exits_4_names_the_directory_and_the_rerun_completes(
    demo_objects: list[MirrorObject], large_object: MirrorObject, tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    small = min((o for o in demo_objects if o.key.endswith(".mp4")), key=lambda o: o.size)
    out = tmp_path / "out"
    limit = small.size + 1024 * 1024  # room for the small file and the ledger, not 40 MiB

    def limit_file_size() -> None:
        # The kernel signals SIGXFSZ past the limit; ignored, writes fail with EFBIG instead.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = ["fetch", small.uri, large_object.uri, "-o", str(out), "-j", "1"]
    process = subprocess.run(
        [sys.executable, "-m", "egoget", *args],
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        env=os.environ.copy(),
        timeout=60,
    )
    assert process.returncode == 4, process.stderr
    assert "no space left" in process.stderr
    assert str(out) in process.stderr
    assert "Traceback" not in process.stderr

    rerun = run_cli(args, capsys)
    assert rerun.exit_code == 0, rerun.output
    assert_same_bytes(out / small.key.rsplit("/", 1)[1], small)
    assert_same_bytes(out / "large.mp4", large_object)


def test_duplicate_destinations_are_refused_by_name(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    first, second = [o for o in demo_objects if o.key.endswith(".mp4")][:2]
    listing = tmp_path / "list.txt"
    listing.write_text(f"{first.uri}\tsame.mp4\n{second.uri}\tsame.mp4\n")
    result = run_cli(["fetch", "--from-file", str(listing), "-o", str(tmp_path / "o")], capsys)
    assert result.exit_code == 2
    assert "same.mp4 is already the name of" in result.stderr


def test_a_plan_larger_than_the_free_space_is_warned_about(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import shutil as shutil_module
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil_module, "disk_usage", lambda _: usage(10**9, 10**9 - 1024, 1024))
    obj = next(o for o in demo_objects if o.key.endswith(".mp4"))
    result = run_cli(["fetch", f"s3://{obj.bucket}/public/", "-o", str(tmp_path), "--dry-run"],
                     capsys)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "but only 1.0 KiB is free" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only bind mount needs root and unshare")
@pytest.mark.parametrize("earlier_run", [False, True])
def test_read_only_output_directory_is_a_usage_error_naming_it(
    earlier_run: bool, demo_objects: list[MirrorObject], tmp_path: Path
) -> None:
    """A read-only mount (a shared dataset copy, a finished scratch area): exit 2 with the path
    and the reason, whether or not an earlier run left its state there."""
    out = tmp_path / "readonly"
    (out / ".egoget" if earlier_run else out).mkdir(parents=True)
    obj = demo_objects[0]
    egoget = f'"{sys.executable}" -m egoget fetch {obj.uri} -o "{out}"'
    script = f'mount --bind "{out}" "{out}" && mount -o remount,bind,ro "{out}" && exec {egoget}'
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"cannot write to the output directory {out}: Read-only file system" in done.stderr
    assert "internal error" not in done.stderr
    assert not list(out.rglob("*.mp4"))
