"""`egoget download ego4d-social`: a release with real (tiny) videos in the local S3 mirror,
downloaded into the social baselines' data/ layout, clips cut with the real ffmpeg."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from egoget.datasets.drive_assets import SOCIAL_CHECKPOINTS
from tests.mirror import SeaweedServer
from tests.mirror.seed import CONSORTIUM_BUCKET, ensure_bucket, put_object

from .conftest import Outcome, no_part_files, run_cli
from .drivereplay import DriveReplay
from .videos import keyframe_count, make_video, probe, requires_ffmpeg

pytestmark = requires_ffmpeg

# The other Ego4D tests use v2_1 (and break v1 on purpose): this release is v2.
VERSION = "v2"
AV_VIDEO = "5a1b0000-0000-4000-8000-00000000000a"  # tagged AV in the manifest, annotated
NLQ_VIDEO = "5a1b0000-0000-4000-8000-00000000000b"  # tagged NLQ only, but annotated in av_val
UNLISTED_VIDEO = "5a1b0000-0000-4000-8000-00000000000c"  # tagged AV, in no annotation file
BASE = f"public/{VERSION}"


def clip(uid: str, video: tuple[float, float], parent: tuple[float, float]) -> dict[str, object]:
    """A clip as the AV annotations give it: its span under both names, which the lam branch
    reads as video_* and the ttm branch as parent_* (here deliberately different)."""
    return {"clip_uid": uid, "video_start_sec": video[0], "video_end_sec": video[1],
            "parent_start_sec": parent[0], "parent_end_sec": parent[1]}  # fmt: skip


AV_TRAIN = {
    "version": VERSION,
    "videos": [
        {
            "video_uid": AV_VIDEO,
            "clips": [
                clip("clip-train-1", (1.0, 3.0), (0.5, 1.5)),
                clip("clip-train-2", (3.5, 5.5), (3.0, 4.0)),
            ],
        }
    ],
}
AV_VAL = {
    "version": VERSION,
    "videos": [
        {"video_uid": AV_VIDEO, "clips": [clip("clip-val-1", (0.0, 1.5), (0.0, 0.5))]},
        {"video_uid": NLQ_VIDEO, "clips": [clip("clip-val-2", (0.0, 1.0), (0.5, 1.5))]},
    ],
}
# Seconds of each clip, by branch.
LAM = {"clip-train-1": 2.0, "clip-train-2": 2.0, "clip-val-1": 1.5, "clip-val-2": 1.0}
TTM = {"clip-train-1": 1.0, "clip-train-2": 1.0, "clip-val-1": 0.5, "clip-val-2": 1.0}


@pytest.fixture(scope="module")
def social_release(
    s3_server: SeaweedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    client = s3_server.client()
    ensure_bucket(client, CONSORTIUM_BUCKET)
    ensure_bucket(client, "ego4d-cmu")
    folder = tmp_path_factory.mktemp("social-videos")
    sizes = {}
    manifest = io.StringIO()
    rows = csv.writer(manifest)
    rows.writerow(["video_uid", "canonical_s3_location", "type", "benchmarks", "university"])
    for uid, seconds, benchmarks in ((AV_VIDEO, 6, "[AV|Social]"), (NLQ_VIDEO, 2, "[NLQ]"),
                                     (UNLISTED_VIDEO, 2, "[AV|Social]")):  # fmt: skip
        body = make_video(folder / f"{uid}.mp4", seconds).read_bytes()
        key = f"{BASE}/full_scale/{uid}.mp4"
        put_object(client, "ego4d-cmu", key, body, multipart=False)
        rows.writerow([uid, f"s3://ego4d-cmu/{key}", "mp4", benchmarks, "cmu"])
        sizes[uid] = len(body)
    annotations = {"av_train.json": AV_TRAIN, "av_val.json": AV_VAL, "nlq_train.json": {}}
    listing = io.StringIO()
    rows = csv.writer(listing)
    rows.writerow(["file_uid", "canonical_s3_location", "type"])
    for name, content in annotations.items():
        key = f"{BASE}/annotations/{name}"
        put_object(client, CONSORTIUM_BUCKET, key, json.dumps(content).encode(), False)
        rows.writerow([name.removesuffix(".json"), f"s3://{CONSORTIUM_BUCKET}/{key}", "json"])
    for key, text in (
        (f"{BASE}/full_scale/manifest.csv", manifest.getvalue()),
        (f"{BASE}/annotations/manifest.csv", listing.getvalue()),
    ):
        put_object(client, CONSORTIUM_BUCKET, key, text.encode(), False)
    yield sizes


def download(capsys: pytest.CaptureFixture[str], out: Path, *extra: str) -> Outcome:
    args = ["download", "ego4d-social", "--version", VERSION, "-o", str(out), "-y", *extra]
    return run_cli(args, capsys)


def test_social_layout_with_clips_cut_all_intra_and_a_rerun_does_nothing(
    social_release: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "social-interactions"
    result = download(capsys, out, "--cut-clips")
    assert result.exit_code == 0, result.output
    data = out / "data"
    assert (data / "csv" / "manifest.csv").read_text().count("\n") == 4  # header + 3 videos
    assert json.loads((data / "json" / "av_train.json").read_text()) == AV_TRAIN
    assert json.loads((data / "json" / "av_val.json").read_text()) == AV_VAL
    assert not (data / "json" / "nlq_train.json").exists(), "only the AV annotations"
    # The videos the annotations list (as download_clips.py reads them), not the AV tag.
    for uid in (AV_VIDEO, NLQ_VIDEO):
        assert (data / "full_scale" / f"{uid}.mp4").stat().st_size == social_release[uid]
    assert not (data / "full_scale" / f"{UNLISTED_VIDEO}.mp4").exists()
    assert "not in the v2 annotations manifest: av_test_unannotated.json" in result.output
    assert "cut clips into data/videos/: 4 made, 0 already there, 0 failed" in result.output
    expected = LAM
    assert sorted(p.stem for p in (data / "videos").iterdir()) == sorted(expected)
    for clip, seconds in expected.items():
        info = probe(data / "videos" / f"{clip}.mp4")
        assert float(info["format"]["duration"]) == pytest.approx(seconds, abs=0.1)
        assert "audio" in info
        keys, frames = keyframe_count(data / "videos" / f"{clip}.mp4")
        assert frames >= 25 * seconds and keys == frames, f"{clip}: {keys} of {frames} key frames"
    assert no_part_files(out) == []

    (data / "videos" / "clip-val-1.mp4").unlink()
    again = download(capsys, out, "--cut-clips")
    assert again.exit_code == 0, again.output
    assert "0 files to fetch" in again.output
    assert "cut clips into data/videos/: 1 made, 3 already there, 0 failed" in again.output


def test_the_ttm_branch_cuts_at_the_parent_times(
    social_release: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ttm"
    result = download(capsys, out, "--cut-clips", "--branch", "ttm")
    assert result.exit_code == 0, result.output
    for clip_uid, seconds in TTM.items():
        info = probe(out / "data" / "videos" / f"{clip_uid}.mp4")
        assert float(info["format"]["duration"]) == pytest.approx(seconds, abs=0.1), clip_uid


def test_bad_clip_entries_are_named_and_the_rest_are_cut(
    social_release: dict[str, int],
    s3_server: SeaweedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hostile = json.loads(json.dumps(AV_VAL))
    hostile["videos"][0]["clips"] += [
        {"clip_uid": "../../escaped", "video_start_sec": 0.0, "video_end_sec": 1.0},
        {"clip_uid": "backwards", "video_start_sec": 3.0, "video_end_sec": 1.0},
    ]
    nowhere = "5a1b0000-0000-4000-8000-0000000000ff"  # in no manifest
    absent = {"clip_uid": "not-downloaded", "video_start_sec": 0, "video_end_sec": 1}
    hostile["videos"].append({"video_uid": nowhere, "clips": [absent]})
    key = f"{BASE}/annotations/av_val.json"
    client = s3_server.client()
    put_object(client, CONSORTIUM_BUCKET, key, json.dumps(hostile).encode(), False)
    try:
        out = tmp_path / "social"
        result = download(capsys, out, "--cut-clips")
    finally:
        put_object(client, CONSORTIUM_BUCKET, key, json.dumps(AV_VAL).encode(), False)
    assert result.exit_code == 1, result.output
    assert "unsafe or missing clip_uid '../../escaped'" in result.output
    assert "clip backwards: no valid video_start_sec/video_end_sec" in result.output
    assert f"videos of the AV annotations are not in the full_scale manifest: {nowhere}" in (
        result.output
    )
    assert f"its video '{nowhere}' is not in data/full_scale/" in result.output
    assert "4 made, 0 already there, 3 failed" in result.output
    made = sorted(p.stem for p in (out / "data" / "videos").iterdir())
    assert made == sorted(LAM)
    assert not list(tmp_path.rglob("escaped*"))


def test_cut_clips_without_ffmpeg_fails_before_downloading_anything(
    social_release: dict[str, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "social"
    result = download(capsys, out, "--cut-clips")
    assert result.exit_code == 2, result.output
    assert "ffmpeg is not installed" in result.output and "apt-get install ffmpeg" in result.output
    assert not (out / "data").exists()


def test_checkpoints_come_from_the_drive_folder_in_the_same_run(
    social_release: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drive = DriveReplay()
    drive.files["1lamCkptAAAAAAAAAAAAAAAAAAAAAAAAA"] = ("lam.pth", b"looking at me" * 1000)
    drive.files["1ttmCkptAAAAAAAAAAAAAAAAAAAAAAAAA"] = ("ttm.pth", b"talking to me" * 1000)
    drive.folders[SOCIAL_CHECKPOINTS.drive_id] = ("checkpoints", list(drive.files))
    out = tmp_path / "social"
    with drive.active():
        result = download(capsys, out, "--checkpoints")
    assert result.exit_code == 0, result.output
    for name, data in drive.files.values():
        assert (out / "checkpoints" / name).read_bytes() == data
    assert (out / "data" / "full_scale" / f"{AV_VIDEO}.mp4").is_file()
    assert not (out / "data" / "videos").exists(), "no clips without --cut-clips"


def test_cut_clips_refuses_a_shard_which_lacks_the_other_shares_annotations(
    social_release: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "social"
    result = download(capsys, out, "--cut-clips", "--shard", "1/2")
    assert result.exit_code == 2, result.output
    assert "--cut-clips needs the whole download" in result.output
    assert not (out / "data").exists()
    share = download(capsys, out, "--shard", "1/2")
    assert share.exit_code == 0, share.output


# --- --test: the social_test release, where each branch reads it ------------------------------

TEST_BASE = "public/v1/social_test"


def archive_bytes(kind: str, members: dict[str, bytes]) -> bytes:
    import tarfile
    import zipfile

    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as bundle:
            for name, data in members.items():
                bundle.writestr(name, data)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# The folders each baseline reads (its README); the archives' own names are not published, so
# these are made up, and egoget must not depend on them.
LAM_FRAME = "videos_challenge/v01/t3/000120_u7.jpg"
TTM_AUDIO = "final_test_data/00a06cd8d7a0a5a9d9e72c918142048a/audio/aud.wav"


@pytest.fixture(scope="module")
def social_test_release(s3_server: SeaweedServer) -> dict[str, bytes]:
    client = s3_server.client()
    ensure_bucket(client, CONSORTIUM_BUCKET)
    members = {LAM_FRAME: b"\xff\xd8 a face crop", TTM_AUDIO: b"RIFF a segment's audio"}
    objects = {
        "looking_test.zip": archive_bytes("zip", {LAM_FRAME: members[LAM_FRAME]}),
        "talking_test.tar.gz": archive_bytes("tgz", {TTM_AUDIO: members[TTM_AUDIO]}),
        "README.txt": b"social test data",
    }
    listing = io.StringIO()
    rows = csv.writer(listing)
    rows.writerow(["file_uid", "canonical_s3_location", "type"])
    for name, body in objects.items():
        put_object(client, CONSORTIUM_BUCKET, f"{TEST_BASE}/{name}", body, False)
        rows.writerow([name, f"s3://{CONSORTIUM_BUCKET}/{TEST_BASE}/{name}", "file"])
    put_object(client, CONSORTIUM_BUCKET, f"{TEST_BASE}/manifest.csv",
               listing.getvalue().encode(), False)  # fmt: skip
    return members


def test_test_data_is_unpacked_and_linked_where_each_branch_reads_it(
    social_release: dict[str, int], social_test_release: dict[str, bytes], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "social-interactions"
    result = download(capsys, out, "--test")
    assert result.exit_code == 0, result.output
    data = out / "data"
    assert (data / "social_test" / "README.txt").read_bytes() == b"social test data"
    lam = data / "videos_challenge"
    assert lam.is_symlink() and os.readlink(lam) == "social_test/videos_challenge"
    frame = LAM_FRAME.removeprefix("videos_challenge/")
    assert (lam / frame).read_bytes() == social_test_release[LAM_FRAME]
    assert not (data / "final_test_data").exists()
    assert "linked data/videos_challenge -> social_test/videos_challenge" in result.output

    ttm = download(capsys, out, "--test", "--branch", "ttm")
    assert ttm.exit_code == 0, ttm.output
    assert "0 files to fetch" in ttm.output
    segment = data / "final_test_data" / TTM_AUDIO.removeprefix("final_test_data/")
    assert segment.read_bytes() == social_test_release[TTM_AUDIO]
    assert no_part_files(out) == []


def test_test_data_with_a_shard_is_refused_before_anything_is_fetched(
    social_release: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = download(capsys, tmp_path / "o", "--test", "--shard", "1/2")
    assert result.exit_code == 2, result.output
    assert "--test needs the whole download" in result.stderr
    assert not (tmp_path / "o" / "data").exists()


def test_test_data_never_replaces_a_folder_of_the_users(
    social_release: dict[str, int], social_test_release: dict[str, bytes], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "social-interactions"
    mine = out / "data" / "videos_challenge"
    mine.mkdir(parents=True)
    (mine / "keep.jpg").write_bytes(b"the user's own")
    result = download(capsys, out, "--test")
    assert result.exit_code == 1, result.output
    assert "data/videos_challenge exists and is not the link" in result.stderr
    assert (mine / "keep.jpg").read_bytes() == b"the user's own" and not mine.is_symlink()
    assert (out / "data" / "social_test" / LAM_FRAME).is_file()  # unpacked all the same
