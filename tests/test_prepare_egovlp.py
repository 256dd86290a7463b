"""`egoget prepare egovlp` on tiny generated videos, with the real ffmpeg."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from egoget.datasets.egovlp_videos import CHUNK_DIR, DONE_MARKER, RESIZED_DIR

from .conftest import egoget_process, no_part_files, run_cli
from .videos import make_video, probe, requires_ffmpeg

pytestmark = requires_ffmpeg

UID_A = "aaaaaaaa-0000-4000-8000-000000000001"
UID_B = "bbbbbbbb-0000-4000-8000-000000000002"


def path_where_ffprobe_fails(tmp_path: Path) -> Path:
    """A PATH folder with the real ffmpeg and an ffprobe that fails: a run that needs no probe
    passes, one that probes fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").symlink_to(shutil.which("ffmpeg") or "ffmpeg")
    (bin_dir / "ffprobe").write_text("#!/bin/sh\necho probed >&2\nexit 1\n")
    (bin_dir / "ffprobe").chmod(0o755)
    return bin_dir


def test_chunks_are_256_high_and_cut_at_the_chunk_length_and_a_rerun_probes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    videos = tmp_path / "full_scale"
    make_video(videos / f"{UID_A}.mp4", 5, 320, 240)
    make_video(videos / f"{UID_B}.mp4", 2, 640, 360)
    out = tmp_path / "EgoVLP"
    args = ["prepare", "egovlp", "--videos", str(videos), "-o", str(out), "--chunk-seconds", "2"]
    first = run_cli(args, capsys)
    assert first.exit_code == 0, first.output
    assert "2 resized videos and 4 chunks made, 0 already there, 0 failed" in first.output
    chunks = out / CHUNK_DIR
    assert sorted(p.name for p in (chunks / UID_A).glob("*.mp4")) == ["0.mp4", "1.mp4", "2.mp4"]
    # Exactly 2 s is one chunk: no empty chunk 1.
    assert sorted(p.name for p in (chunks / UID_B).glob("*.mp4")) == ["0.mp4"]
    durations = []
    for k in range(3):
        info = probe(chunks / UID_A / f"{k}.mp4")
        assert info["video"]["height"] == 256
        assert info["video"]["width"] == 340  # 320 * 256 / 240 = 341.3, rounded down to even
        assert info["video"]["codec_name"] == "h264"
        assert "audio" in info, "the audio track is kept"
        durations.append(float(info["video"]["duration"]))
    assert durations == pytest.approx([2, 2, 1], abs=0.1)
    assert probe(chunks / UID_B / "0.mp4")["video"]["width"] == 454  # 16:9 at 256 high
    # The whole videos that NLQ, MQ, OSCC and PNR read, at the same size.
    resized = {p.name: probe(p) for p in (out / RESIZED_DIR).glob("*.mp4")}
    assert sorted(resized) == [f"{UID_A}.mp4", f"{UID_B}.mp4"]
    whole = resized[f"{UID_A}.mp4"]
    assert (whole["video"]["height"], whole["video"]["width"]) == (256, 340)
    assert float(whole["video"]["duration"]) == pytest.approx(5, abs=0.1)
    assert "audio" in whole
    assert resized[f"{UID_B}.mp4"]["video"]["width"] == 454
    assert no_part_files(out) == []

    # A rerun must trust the finished-video markers: an ffprobe that fails proves it never ran.
    monkeypatch.setenv("PATH", str(path_where_ffprobe_fails(tmp_path)))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    second = run_cli(args, capsys)
    assert second.exit_code == 0, second.output
    assert "0 resized videos and 0 chunks made, 6 already there, 0 failed" in second.output
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")} == before


def test_layout_resized_makes_whole_videos_only_without_probing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    videos = tmp_path / "full_scale"
    make_video(videos / f"{UID_A}.mp4", 3, 320, 240)
    real_path = os.environ["PATH"]
    bin_dir = path_where_ffprobe_fails(tmp_path)
    monkeypatch.setenv("PATH", str(bin_dir))
    out = tmp_path / "EgoVLP"
    args = ["prepare", "egovlp", "--videos", str(videos), "-o", str(out), "--layout", "resized"]
    first = run_cli(args, capsys)
    assert first.exit_code == 0, first.output
    assert "1 resized video made, 0 already there, 0 failed" in first.output
    assert not (out / CHUNK_DIR).exists()
    monkeypatch.setenv("PATH", real_path)
    info = probe(out / RESIZED_DIR / f"{UID_A}.mp4")
    assert info["video"]["height"] == 256
    assert float(info["video"]["duration"]) == pytest.approx(3, abs=0.1)
    monkeypatch.setenv("PATH", str(bin_dir))
    again = run_cli(args, capsys)
    assert again.exit_code == 0, again.output
    assert "0 resized videos made, 1 already there, 0 failed" in again.output


def test_a_missing_chunk_and_a_stale_part_file_are_redone_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "full_scale"
    make_video(videos / f"{UID_A}.mp4", 5)
    out = tmp_path / "EgoVLP"
    args = ["prepare", "egovlp", "--videos", str(videos), "-o", str(out), "--chunk-seconds", "2"]
    assert run_cli(args, capsys).exit_code == 0
    folder = out / CHUNK_DIR / UID_A
    (folder / "1.mp4").unlink()
    (folder / "1.mp4.egoget-part").write_bytes(b"half an encode")
    kept = {k: (folder / f"{k}.mp4").stat().st_mtime_ns for k in (0, 2)}
    again = run_cli(args, capsys)
    assert again.exit_code == 0, again.output
    assert "0 resized videos and 1 chunk made, 3 already there" in again.output
    assert {k: (folder / f"{k}.mp4").stat().st_mtime_ns for k in (0, 2)} == kept
    assert float(probe(folder / "1.mp4")["video"]["duration"]) == pytest.approx(2, abs=0.1)
    assert no_part_files(out) == []


def test_ctrl_c_stops_the_encoders_keeps_finished_chunks_and_leaves_no_part_file(
    tmp_path: Path,
) -> None:
    videos = tmp_path / "full_scale"
    make_video(videos / f"{UID_A}.mp4", 40, 640, 480)
    out = tmp_path / "EgoVLP"
    args = ["prepare", "egovlp", "--videos", str(videos), "-o", str(out), "--layout", "chunked"]
    args += ["--chunk-seconds", "4", "-j", "1"]
    folder = out / CHUNK_DIR / UID_A
    process = egoget_process(args)
    deadline = time.monotonic() + 60
    while not (folder / "0.mp4").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (folder / "0.mp4").exists(), "the first chunk never appeared"
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    stop_s = time.monotonic() - started
    assert process.returncode == 130, stderr
    assert stop_s < 3, f"took {stop_s:.1f} s to stop"
    assert no_part_files(out) == []
    made = sorted(int(p.stem) for p in folder.glob("*.mp4"))
    assert made and len(made) < 10, made
    assert not (folder / DONE_MARKER).exists()

    rerun = egoget_process(args)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    left = 10 - len(made)
    assert f"{left} {'chunk' if left == 1 else 'chunks'} made, {len(made)} already there" in stdout
    assert sorted(int(p.stem) for p in folder.glob("*.mp4")) == list(range(10))


def test_an_unreadable_video_fails_alone_and_the_run_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "full_scale"
    make_video(videos / f"{UID_A}.mp4", 1)
    (videos / f"{UID_B}.mp4").write_bytes(os.urandom(50_000))
    out = tmp_path / "EgoVLP"
    args = ["prepare", "egovlp", "--videos", str(videos), "-o", str(out), "--layout", "chunked"]
    outcome = run_cli(args, capsys)
    assert outcome.exit_code == 1, outcome.output
    assert f"failed {videos / UID_B}.mp4: cannot read {UID_B}.mp4" in outcome.output
    assert "1 chunk made, 0 already there, 1 failed" in outcome.output
    assert (out / CHUNK_DIR / UID_A / "0.mp4").is_file()
    assert not (out / CHUNK_DIR / UID_B).exists()


def test_without_ffmpeg_the_error_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    videos = tmp_path / "full_scale"
    videos.mkdir()
    (videos / f"{UID_A}.mp4").write_bytes(b"not probed")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    outcome = run_cli(["prepare", "egovlp", "--videos", str(videos), "-o", str(tmp_path)], capsys)
    assert outcome.exit_code == 2
    assert "ffprobe is not installed" in outcome.output
    assert "apt-get install ffmpeg" in outcome.output
    assert "Traceback" not in outcome.output


def test_requested_videos_that_are_not_there_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "full_scale"
    make_video(videos / f"{UID_A}.mp4", 1)
    missing = "cccccccc-0000-4000-8000-000000000003"
    args = ["prepare", "egovlp", "--videos", str(videos), "-o", str(tmp_path / "out")]
    outcome = run_cli([*args, "--video-uids", UID_A, missing], capsys)
    assert outcome.exit_code == 2
    assert f"1 requested videos are not in {videos}: {missing}" in outcome.output
    nowhere = run_cli(["prepare", "egovlp", "--videos", str(tmp_path / "nope"), "-o", "x"], capsys)
    assert nowhere.exit_code == 2
    assert "no such folder" in nowhere.output and "v2/full_scale" in nowhere.output
