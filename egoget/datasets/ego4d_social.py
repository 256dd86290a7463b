"""Ego4D social benchmark (Looking-at-me, Talking-to-me): the ``data/`` folder its code reads.

The baselines (github.com/EGO4D/social-interactions) expect, under their checkout::

    data/csv/manifest.csv       the full_scale video manifest
    data/json/av_train.json     the audio-visual diarization annotations (and av_val.json,
                                av_test_unannotated.json)
    data/videos/<clip_uid>.mp4  each annotated clip, cut from its canonical video
    checkpoints/                the baselines' checkpoints from Google Drive (--checkpoints)
    data/social_test/           the social_test release, archives unpacked (--test), with
    data/videos_challenge       the folder in it the lam branch reads, or
    data/final_test_data        the one the ttm branch reads (both READMEs, "Data preparation")

Their script downloads one canonical video at a time with ``aws s3 cp`` and cuts it with
ffmpeg. Here the canonical videos of the AV benchmark (kept in ``data/full_scale/``) come in one
planned, resumable run, and ``--cut-clips`` cuts every clip afterwards: all-intra libx264 as
the baselines make them, audio copied, each clip to a part file renamed when complete.
"""

from __future__ import annotations

import os
import posixpath
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Ego4dSocialConfig
from ..errors import EgogetError, ManifestError, UsageError
from ..model import Plan, PlannedRun, RemoteFile, StartProgress, StepOutcome
from ..paths import SafeRelPath, safe_relative_path
from ..sources import SourceRegistry
from ..unpack import Unpack
from ..userfiles import read_json
from ..video import Encode, find_tool, not_made_yet, run_encodes
from . import Fetcher, ego4d
from .drive_assets import SOCIAL_CHECKPOINTS, asset_files

BENCHMARK = "av"
ANNOTATION_FILES = ("av_train.json", "av_val.json", "av_test_unannotated.json")
MANIFEST_DEST = "data/csv/manifest.csv"
ANNOTATIONS_MANIFEST_DEST = "data/csv/annotations_manifest.csv"
JSON_DIR = "data/json"
CANONICAL_DIR = "data/full_scale"
CLIPS_DIR = "data/videos"
# Clips are cut from these, train and val (download_clips.py:7-46); no test file.
CLIP_ANNOTATIONS = ("av_val.json", "av_train.json")
# The baselines' encoder settings (download_clips.py:44, both branches): H.264 with every frame
# a key frame, audio copied.
CLIP_VIDEO_ARGS = ("-c:a", "copy", "-vcodec", "libx264", "-keyint_min", "2", "-g", "1")
# Where each branch cuts a clip in its video (download_clips.py:28 of lam @ 5c7ca0f and of ttm
# @ b2dc098): lam switched to video_* in 2022, ttm kept the parent_* fields.
BRANCH_TIMES = {
    "lam": ("video_start_sec", "video_end_sec"),
    "ttm": ("parent_start_sec", "parent_end_sec"),
}
_CLIP_UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# The test data where both branches' READMEs point: "--datasets social_test or
# s3://ego4d-consortium-sharing/public/v1/social_test/".
TEST_VERSION = "v1"
TEST_DATASET = "social_test"
TEST_DIR = "data/social_test"
TEST_MANIFEST_DEST = "data/csv/social_test_manifest.csv"
# The folder each branch reads its test data from: lam's README and --test_path default
# (common/config.py:7) data/videos_challenge; ttm's README data/final_test_data (its code's own
# default is ./final_test_data: pass --test_data_path data/final_test_data).
TEST_FOLDERS = {"lam": "videos_challenge", "ttm": "final_test_data"}
ARCHIVE_ENDINGS = (".zip", ".tar", ".tar.gz", ".tgz")
# How deep in the unpacked release the branch's folder is looked for.
TEST_FOLDER_DEPTH = 3


def plan_run(config: Ego4dSocialConfig, registry: SourceRegistry, fetcher: Fetcher) -> PlannedRun:
    whole = [flag for flag, wanted in (("--cut-clips", config.cut_clips), ("--test", config.test))
             if wanted]  # fmt: skip
    if whole and config.shard:
        # A share holds only some annotation files, videos and archives; these steps need all.
        raise UsageError(
            f"{whole[0]} needs the whole download, not one --shard of it",
            hint=f"download every share without {whole[0]}, then run once with {whole[0]} and "
            "no --shard on the output they share (it fetches only what is missing)",
        )
    if config.cut_clips and not config.dry_run:
        find_tool("ffmpeg")  # before hours of downloading, not after
    manifests = {
        "annotations": RemoteFile(
            ego4d.manifest_uri(config.version, "annotations"),
            safe_relative_path(ANNOTATIONS_MANIFEST_DEST),
        ),
        "full_scale": RemoteFile(
            ego4d.manifest_uri(config.version, "full_scale"), safe_relative_path(MANIFEST_DEST)
        ),
    }
    ego4d.validate_selection(config.version, manifests, [], config.universities, [])
    paths = fetcher.fetch(list(manifests.values()))
    annotations, canonical = (
        ego4d.read_manifest(part, paths[file.dest]) for part, file in manifests.items()
    )
    # The AV annotation files first: which videos to fetch is what they list, as upstream's
    # download_clips.py reads them (av_train.json and av_val.json), not the manifest's tags.
    wanted = {}
    for row in annotations.rows:
        if row.file_name in ANNOTATION_FILES:
            dest = safe_relative_path(f"{JSON_DIR}/{row.file_name}")
            wanted[row.file_name] = RemoteFile(row.uri, dest, tags={"part": "annotations"})
    found = fetcher.fetch(list(wanted.values()))
    cut_from = tuple(wanted[name].dest for name in CLIP_ANNOTATIONS if name in wanted)
    listed = {uid for dest in cut_from for uid in annotated_videos(found[dest], dest)}
    universities = {u.lower() for u in config.universities}
    files = list(wanted.values())
    for row in canonical.rows:
        if row.uid in listed and (not universities or row.university in universities):
            dest = safe_relative_path(f"{CANONICAL_DIR}/{row.uid}.mp4")
            tags = {"part": "full_scale", "university": row.university}
            files.append(RemoteFile(row.uri, dest, tags=tags))
    # A video the annotations list but the manifest lacks is the release's own inconsistency:
    # said here, and its clips fail by name when cut; the rest are fetched and cut.
    missing = sorted(listed - {row.uid for row in canonical.rows})
    videos = sum(f.tags["part"] == "full_scale" for f in files)
    notes = [
        f"ego4d-social: {videos} canonical videos listed in "
        f"{', '.join(posixpath.basename(d) for d in cut_from) or 'no annotation file'}, and "
        f"{', '.join(wanted) or 'no annotation files'}"
    ]
    if missing:
        notes.append(
            f"{len(missing)} videos of the AV annotations are not in the full_scale manifest: "
            f"{', '.join(missing[:5])}"
        )
    absent = [n for n in ANNOTATION_FILES if n not in wanted]
    if absent:
        notes.append(f"not in the {config.version} annotations manifest: {', '.join(absent)}")
    test_files = test_release(fetcher) if config.test else []
    chosen = ego4d.Ego4dPlan(files + test_files, [], notes)
    run = ego4d.resolved_run(chosen, registry, config.procs, config.this_shard)
    run.records = ()  # data/ is the baselines' layout, not the official CLI's: no manifest.ver
    if config.checkpoints:
        checkpoints, refused = asset_files([SOCIAL_CHECKPOINTS], registry)
        run.plan.files += Plan(checkpoints).share(config.this_shard).files
        run.refused += refused
    if config.cut_clips:
        run.finishing.append(CutClips(cut_from, config.cut_procs, config.branch))
    if config.test:
        into = safe_relative_path(TEST_DIR)
        run.finishing += [Unpack(f.dest, into) for f in test_files if _is_archive(f.dest)]
        run.finishing.append(LinkTestFolder(config.branch))
    return run


def test_release(fetcher: Fetcher) -> list[RemoteFile]:
    """The social_test release's files, as its manifest lists them, for data/social_test/."""
    manifest = RemoteFile(
        ego4d.manifest_uri(TEST_VERSION, TEST_DATASET), safe_relative_path(TEST_MANIFEST_DEST)
    )
    rows = ego4d.read_manifest(TEST_DATASET, fetcher.fetch([manifest])[manifest.dest]).rows
    return [
        RemoteFile(row.uri, safe_relative_path(f"{TEST_DIR}/{row.file_name}"),
                   tags={"part": TEST_DATASET})
        for row in rows
    ]  # fmt: skip


def _is_archive(dest: str) -> bool:
    return dest.lower().endswith(ARCHIVE_ENDINGS)


@dataclass(frozen=True)
class LinkTestFolder:
    """data/<folder the branch reads> -> where that folder is in the unpacked release. Which
    archive holds it is not published, so it is looked for by name."""

    branch: str

    def run(
        self, output: Path, cancelled: threading.Event, start_progress: StartProgress
    ) -> StepOutcome:
        name = TEST_FOLDERS[self.branch]
        link = output / "data" / name
        found = _find_folder(output / TEST_DIR, name, TEST_FOLDER_DEPTH)
        if found is None:
            error = ManifestError(
                f"no {name}/ folder in the social_test release's files",
                hint=f"its files are in {TEST_DIR}/ as released; the {self.branch} baseline "
                f"reads data/{name}/ (its README), so point it at the right folder there",
            )
            return StepOutcome(f"data/{name}: not found", [(f"data/{name}", error)])
        target = os.path.relpath(found, link.parent)
        if link.is_symlink() and os.readlink(link) == target:
            return StepOutcome(f"data/{name} -> {target}: already linked")
        if link.exists() or link.is_symlink():
            error = ManifestError(
                f"data/{name} exists and is not the link to {target}; left as it is",
                hint=f"move it away and rerun to link the release's {name}/",
            )
            return StepOutcome(f"data/{name}: not linked", [(f"data/{name}", error)])
        link.symlink_to(target, target_is_directory=True)
        return StepOutcome(f"linked data/{name} -> {target} (the {self.branch} test data)")


def _find_folder(root: Path, name: str, depth: int) -> Path | None:
    """The shallowest folder called ``name`` under ``root`` (macOS zipper folders skipped)."""
    level = [root]
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
            except OSError:
                continue
            for child in children:
                if child.name == name:
                    return child
                if child.name != "__MACOSX":
                    below.append(child)
        level = below
    return None


def annotated_videos(path: Path, dest: str) -> list[str]:
    """The video uids an AV annotation file lists."""
    data = read_json(path, "annotation file")
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, list):
        raise ManifestError(f"{dest} has no list of videos: not an AV annotation file")
    return [str(v["video_uid"]) for v in videos if isinstance(v, dict) and v.get("video_uid")]


def describe() -> list[tuple[str, list[str]]]:
    return [
        ("layout", [f"{MANIFEST_DEST}", f"{JSON_DIR}/{{{','.join(ANNOTATION_FILES)}}}",
                    f"{CANONICAL_DIR}/<video_uid>.mp4", f"{CLIPS_DIR}/<clip_uid>.mp4 (--cut-clips)",
                    f"{SOCIAL_CHECKPOINTS.dest} (--checkpoints)",
                    f"{TEST_DIR}/ and data/{{{','.join(TEST_FOLDERS.values())}}} (--test)"]),
        ("benchmark", [BENCHMARK]),
        ("versions", list(ego4d.VERSIONS)),
    ]  # fmt: skip


@dataclass(frozen=True)
class CutClips:
    annotations: tuple[SafeRelPath, ...]
    procs: int
    branch: str

    def run(
        self, output: Path, cancelled: threading.Event, start_progress: StartProgress
    ) -> StepOutcome:
        encodes: list[Encode] = []
        failed: list[tuple[str, EgogetError]] = []
        for dest in self.annotations:
            clips, refused = clip_encodes(output, dest, BRANCH_TIMES[self.branch])
            encodes += clips
            failed += refused
        todo = not_made_yet(encodes)
        progress = start_progress(len(todo) + len(failed), "clips")
        for name, error in failed:
            progress(name, error)
        result = run_encodes(
            todo, self.procs, cancelled, lambda e, error: progress(e.dest.name, error)
        )
        failed += list(result.failed.items())
        return StepOutcome(
            f"cut clips into {CLIPS_DIR}/: {result.written} made, "
            f"{len(encodes) - len(todo)} already there, {len(failed)} failed",
            failed,
            failures_shown=True,
        )


def clip_encodes(
    output: Path, annotations: SafeRelPath, times: tuple[str, str]
) -> tuple[list[Encode], list[tuple[str, EgogetError]]]:
    """One encode per annotated clip; clips whose entry or canonical video is unusable are
    returned as failures, named, while the others are cut."""
    data = read_json(output / annotations, "annotation file")
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, list):
        raise ManifestError(f"{annotations} has no list of videos: not an AV annotation file")
    encodes: list[Encode] = []
    failed: list[tuple[str, EgogetError]] = []
    for video in videos:
        if not isinstance(video, dict):
            continue
        video_uid = str(video.get("video_uid", ""))
        canonical = output / CANONICAL_DIR / f"{video_uid}.mp4"
        for clip in video.get("clips") or []:
            try:
                encodes.append(_clip_encode(output, clip, canonical, video_uid, times))
            except EgogetError as exc:
                failed.append((f"{annotations}: clip {_describe(clip)}", exc))
    return encodes, failed


def _clip_encode(
    output: Path, clip: Any, canonical: Path, video_uid: str, times: tuple[str, str]
) -> Encode:
    if not isinstance(clip, dict):
        raise ManifestError("not a clip entry")
    clip_uid = str(clip.get("clip_uid", ""))
    if not _CLIP_UID.match(clip_uid):
        raise ManifestError(f"unsafe or missing clip_uid {clip_uid!r}")
    start, end = _clip_times(clip, times)
    if not canonical.is_file():
        raise ManifestError(f"its video {video_uid!r} is not in {CANONICAL_DIR}/")
    return Encode(
        source=canonical,
        dest=output / CLIPS_DIR / f"{clip_uid}.mp4",
        input_args=("-ss", f"{start:.3f}"),
        output_args=("-t", f"{end - start:.3f}", *CLIP_VIDEO_ARGS),
    )


def _clip_times(clip: dict[str, Any], times: tuple[str, str]) -> tuple[float, float]:
    start_key, end_key = times
    try:
        start, end = float(clip[start_key]), float(clip[end_key])
    except (KeyError, TypeError, ValueError):
        raise ManifestError(f"no valid {start_key}/{end_key}") from None
    if not 0 <= start < end:
        raise ManifestError(f"no valid {start_key}/{end_key} ({start} to {end})")
    return start, end


def _describe(clip: Any) -> str:
    return str(clip.get("clip_uid", "?"))[:80] if isinstance(clip, dict) else "?"
