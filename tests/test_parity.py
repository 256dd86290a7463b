"""The official `ego4d` and `egoexo` CLIs (PyPI ego4d==1.7.3) and egoget, run on the same
requests against the same mirror, must produce the same files with the same bytes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.mirror import SeaweedServer
from tests.mirror.seed import MirrorObject

from .conftest import REPO, assert_same_bytes, run_cli

CaptureFixture = pytest.CaptureFixture[str]
# Bookkeeping files, not data. Both tools write manifest.ver, but the official CLI puts every
# dataset's rows in the last dataset's (cli.py:123, 227, 244); egoget keeps one per folder.
BOOKKEEPING = {"manifest.ver"}
EGOGET_ONLY = (".egoget",)


@pytest.fixture(scope="session")
def official_bin() -> Path:
    venv = Path(os.environ.get("EGOGET_OFFICIAL_VENV", REPO / ".venv-official"))
    if not (venv / "bin" / "ego4d").exists():
        pytest.fail(
            f"the official CLI is not installed in {venv}: run `bash scripts/test.sh` "
            "(or: python3 -m venv .venv-official && .venv-official/bin/pip install ego4d==1.7.3)"
        )
    return venv / "bin"


def tree(
    root: Path, ignore: tuple[str, ...] = (), ignore_names: set[str] | None = None
) -> dict[str, bytes]:
    files = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if not path.is_file() or rel.parts[0] in ignore or path.name in (ignore_names or set()):
            continue
        files[str(rel)] = path.read_bytes()
    return files


def test_ego4d_parity_with_the_official_cli(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], official_bin: Path,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    official_out, egoget_out = tmp_path / "official", tmp_path / "egoget"
    subprocess.run(
        [official_bin / "ego4d", "--output_directory", str(official_out), "--datasets",
         "full_scale", "clips", "annotations", "--version", "v2_1", "-y"],
        env=s3_server.official_cli_env(tmp_path / "home"), check=True, capture_output=True,
        timeout=300,
    )  # fmt: skip
    result = run_cli(
        ["download", "ego4d", "--datasets", "full_scale", "clips", "annotations", "--version",
         "v2_1", "-y", "--output_directory", str(egoget_out)],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    theirs = tree(official_out, ignore_names=BOOKKEEPING)
    ours = tree(egoget_out, ignore=EGOGET_ONLY, ignore_names=BOOKKEEPING)
    assert sorted(ours) == sorted(theirs)
    assert len(ours) > 10
    differing = [name for name in ours if ours[name] != theirs[name]]
    assert differing == []


def test_egoexo_parity_with_the_official_cli(
    s3_server: SeaweedServer, egoexo_objects: list[MirrorObject], official_bin: Path,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    parts = ["metadata", "takes", "annotations", "take_trajectory", "features/omnivore_video"]
    official_out, egoget_out = tmp_path / "official", tmp_path / "egoget"
    subprocess.run(
        [official_bin / "egoexo", "-o", str(official_out), "--parts", *parts, "--views", "ego",
         "-y"],
        env=s3_server.official_cli_env(tmp_path / "home"), check=True, capture_output=True,
        timeout=300,
    )  # fmt: skip
    result = run_cli(
        ["download", "egoexo", "--out_dir", str(egoget_out), "--parts", *parts, "--views", "ego",
         "-y"],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    theirs = tree(official_out)
    ours = tree(egoget_out, ignore=EGOGET_ONLY)
    assert sorted(ours) == sorted(theirs)
    assert any(name.startswith("features/omnivore_video/") for name in ours)
    assert [name for name in ours if ours[name] != theirs[name]] == []


def data_files(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every data file: a file fetched again gets a new inode."""
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and p.suffix in (".mp4", ".json") and ".egoget" not in p.parts
    }


@pytest.mark.parametrize("dataset", ["full_scale", "clips", "annotations"])
def test_official_cli_accepts_an_egoget_download_as_complete(
    dataset: str, s3_server: SeaweedServer, demo_objects: list[MirrorObject],
    official_bin: Path, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    """egoget writes the official manifest.ver (uid, S3 version id, file name), so the official
    CLI, run afterwards on the same request, finds every file current and fetches nothing."""
    out = tmp_path / "ego4d"
    result = run_cli(["download", "ego4d", "--datasets", dataset, "-y", "-o", str(out)], capsys)
    assert result.exit_code == 0, result.output
    before = data_files(out)
    assert len([name for name in before if name.startswith(f"v2/{dataset}/")]) >= 2
    official = subprocess.run(
        [official_bin / "ego4d", "--output_directory", str(out), "--datasets", dataset,
         "--version", "v2_1", "-y"],
        env=s3_server.official_cli_env(tmp_path / "home"), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert official.returncode == 0, official.stderr[-2000:]
    assert "The latest versions of all requested videos already exist" in official.stdout
    after = data_files(out)
    assert {k: v for k, v in after.items() if k != "ego4d.json"} == {
        k: v for k, v in before.items() if k != "ego4d.json"
    }


def test_an_official_download_is_adopted_and_only_what_is_wrong_is_fetched(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], official_bin: Path,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    """The official CLI downloads full_scale; one video gets a flipped byte (same size), one is
    cut short, one deleted. egoget, pointed at that folder with the same selection, checks the
    rest in place and fetches exactly those three; a second run fetches nothing, and the
    official CLI still finds everything current afterwards."""
    out = tmp_path / "ego4d"
    env = s3_server.official_cli_env(tmp_path / "home")
    official = [official_bin / "ego4d", "--output_directory", str(out), "--datasets",
                "full_scale", "--version", "v2_1", "-y"]  # fmt: skip
    subprocess.run(official, env=env, check=True, capture_output=True, timeout=300)
    videos = sorted((out / "v2" / "full_scale").glob("*.mp4"))
    assert len(videos) >= 5
    flipped, truncated, deleted = videos[0], videos[1], videos[2]
    with open(flipped, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.truncate(truncated, truncated.stat().st_size // 2)
    sizes = {p.name: p.stat().st_size for p in videos}
    sizes[truncated.name] = next(o.size for o in demo_objects if o.key.endswith(truncated.name))
    deleted.unlink()
    untouched = {p.name: p.stat().st_ino for p in videos[3:]}

    report = tmp_path / "report.json"
    result = run_cli(["download", "ego4d", "--parts", "full_scale", "-o", str(out), "-y"], capsys,
                     report=report)  # fmt: skip
    assert result.exit_code == 0, result.output
    data = result.report
    assert data is not None
    assert data["files_done"] == 3 and data["files_adopted"] == len(untouched)
    assert data["bytes_received"] == sum(sizes[p.name] for p in (flipped, truncated, deleted))
    assert set(data["fetched_again"]) == {f"v2/full_scale/{flipped.name}",
                                          f"v2/full_scale/{truncated.name}"}  # fmt: skip
    for name, inode in untouched.items():
        assert (out / "v2" / "full_scale" / name).stat().st_ino == inode  # never rewritten
    for video in (flipped, truncated, deleted):
        obj = next(o for o in demo_objects if o.key.endswith(video.name))
        assert_same_bytes(video, obj)

    again = run_cli(["download", "ego4d", "--parts", "full_scale", "-o", str(out), "-y"], capsys,
                    report=report)  # fmt: skip
    assert again.exit_code == 0 and again.report is not None
    assert again.report["bytes_received"] == 0 and again.report["files_adopted"] == 0

    check = subprocess.run(official, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-2000:]
    assert "The latest versions of all requested videos already exist" in check.stdout
