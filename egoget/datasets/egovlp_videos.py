"""`egoget prepare egovlp`: Ego4D videos resized to 256 px high, whole and in 600 s chunks.

EgoVLP's loaders read two layouts (upstream @928406c, data_loader/*.py and configs/):
- chunked, ``dataset/ego4d_256/data_chunked/<video_uid>/<k>.mp4``, where chunk ``k`` covers
  seconds ``[600 k, 600 (k + 1))`` (EgoClip and EgoMCQ, which assume 30 fps, as Ego4D's
  canonical videos are);
- resized, ``dataset/ego4d_256/data/<video_uid>.mp4``, the whole video (NLQ, MQ, OSCC, PNR).

EgoVLP's own scripts resize each whole video and then cut the resized one; here every chunk is
one ffmpeg run that seeks to its start and scales on the way, so chunks are independent of the
resized video and of each other: they run in parallel, and a rerun after a kill redoes only
the outputs that were not finished.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EgogetError, UsageError
from ..video import Encode, find_tool, probe_all
from .choices import shown_names

CHUNK_SECONDS = 600
CHUNK_DIR = "dataset/ego4d_256/data_chunked"
RESIZED_DIR = "dataset/ego4d_256/data"
LAYOUTS = ("chunked", "resized", "both")
# Height 256; the width keeps the aspect ratio, rounded down to even (x264 needs even sizes).
SCALE_TO_HEIGHT_256 = "scale=trunc(oh*a/2)*2:256"
# Upstream's utils/video_resize.py:7-8 (ffmpeg's default mp4 video encoder is libx264).
RESIZE_ARGS = ("-vf", SCALE_TO_HEIGHT_256, "-c:v", "libx264", "-c:a", "copy")
# Written into a video's chunk folder once all its chunks exist, so a rerun over thousands of
# finished videos need not probe each one with ffprobe again.
DONE_MARKER = ".egoget-chunks.json"


@dataclass
class ChunkPlan:
    encodes: list[Encode] = field(default_factory=list)
    # Videos whose chunks were all made by an earlier run, with how many chunks each has.
    finished: dict[Path, int] = field(default_factory=dict)
    unreadable: dict[Path, EgogetError] = field(default_factory=dict)
    chunks_by_video: dict[Path, int] = field(default_factory=dict)


def find_videos(videos_dir: Path, uids: list[str]) -> list[Path]:
    if not videos_dir.is_dir():
        raise UsageError(
            f"no such folder: {videos_dir}",
            hint="point --videos at the full_scale folder of an Ego4D download "
            "(egoget download ego4d --parts full_scale -o OUT puts it at OUT/v2/full_scale)",
        )
    found = {p.stem: p for p in sorted(videos_dir.glob("*.mp4")) if p.is_file()}
    if uids:
        missing = [uid for uid in dict.fromkeys(uids) if uid not in found]
        if missing:
            raise UsageError(
                f"{len(missing)} requested videos are not in {videos_dir}: {shown_names(missing)}",
                hint="download them first (egoget download ego4d --parts full_scale "
                "--video-uids ...) or fix the uid list",
            )
        return [found[uid] for uid in dict.fromkeys(uids)]
    if not found:
        raise UsageError(
            f"no .mp4 videos in {videos_dir}",
            hint="point --videos at the folder holding the Ego4D <video_uid>.mp4 files",
        )
    return list(found.values())


def resized_encodes(videos: list[Path], output: Path) -> list[Encode]:
    return [
        Encode(video, output / RESIZED_DIR / f"{video.stem}.mp4", (), RESIZE_ARGS)
        for video in videos
    ]


def chunk_folder(output: Path, video: Path) -> Path:
    return output / CHUNK_DIR / video.stem


def chunk_count(duration_s: float, chunk_s: int) -> int:
    # A video of exactly k chunks' length has no (empty) chunk k.
    return max(1, math.ceil(duration_s / chunk_s - 1e-9))


def chunk_encodes(video: Path, duration_s: float, output: Path, chunk_s: int) -> list[Encode]:
    folder = chunk_folder(output, video)
    encode_args = ("-t", str(chunk_s), *RESIZE_ARGS)
    return [
        Encode(video, folder / f"{k}.mp4", ("-ss", str(k * chunk_s)), encode_args)
        for k in range(chunk_count(duration_s, chunk_s))
    ]


def _marker_payload(video: Path, chunk_s: int, chunks: int) -> dict[str, int]:
    stat = video.stat()
    return {
        "source_bytes": stat.st_size,
        "source_mtime_ns": stat.st_mtime_ns,
        "chunk_seconds": chunk_s,
        "chunks": chunks,
    }


def _chunks_made_before(video: Path, output: Path, chunk_s: int) -> int | None:
    """How many chunks an earlier run made of this video, if it made them all."""
    folder = chunk_folder(output, video)
    try:
        marker = json.loads((folder / DONE_MARKER).read_text())
        expected = _marker_payload(video, chunk_s, int(marker["chunks"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    chunks = expected["chunks"]
    return chunks if marker == expected and _all_chunks_exist(folder, chunks) else None


def _all_chunks_exist(folder: Path, chunks: int) -> bool:
    return all((folder / f"{k}.mp4").is_file() for k in range(chunks))


def plan_chunks(videos: list[Path], output: Path, chunk_s: int, procs: int) -> ChunkPlan:
    plan = ChunkPlan()
    to_probe = []
    for video in videos:
        chunks = _chunks_made_before(video, output, chunk_s)
        if chunks is not None:
            plan.finished[video] = chunks
        else:
            to_probe.append(video)
    for video, duration in probe_all(find_tool("ffprobe"), to_probe, procs).items():
        if isinstance(duration, EgogetError):
            plan.unreadable[video] = duration
            continue
        encodes = chunk_encodes(video, duration, output, chunk_s)
        plan.chunks_by_video[video] = len(encodes)
        plan.encodes += encodes
    return plan


def mark_finished(plan: ChunkPlan, output: Path, chunk_s: int) -> None:
    """Record each video whose chunks now all exist, for the next run's fast skip."""
    for video, chunks in plan.chunks_by_video.items():
        folder = chunk_folder(output, video)
        if _all_chunks_exist(folder, chunks):
            payload = _marker_payload(video, chunk_s, chunks)
            (folder / DONE_MARKER).write_text(json.dumps(payload) + "\n")
