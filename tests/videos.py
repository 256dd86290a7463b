"""Tiny real videos made with ffmpeg, and what ffprobe says about a video, for the video tests.

CI installs ffmpeg (.ci/run sets EGOGET_TESTS_REQUIRE_FFMPEG=1, so there a missing ffmpeg fails
the tests instead of skipping them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

requires_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None and not os.environ.get("EGOGET_TESTS_REQUIRE_FFMPEG"),
    reason="ffmpeg is not installed (scripts/bootstrap.sh installs it where it can)",
)


def make_video(path: Path, seconds: float, width: int = 320, height: int = 240) -> Path:
    """A test-pattern video with a sine-tone audio track, 30 fps, encoded as fast as possible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path),
    ]  # fmt: skip
    subprocess.run(argv, check=True)
    return path


def probe(path: Path) -> dict[str, dict[str, str]]:
    """Each stream's fields, by codec type, plus the container's as "format"."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(done.stdout)
    streams = {s["codec_type"]: s for s in data["streams"]}
    return {**streams, "format": data["format"]}


def keyframe_count(path: Path) -> tuple[int, int]:
    """(key frames, frames) of the video stream."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "frame=key_frame", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    flags = [line.strip().rstrip(",") for line in done.stdout.split() if line.strip()]
    return sum(flag == "1" for flag in flags), len(flags)
