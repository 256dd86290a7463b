"""`egoget prepare`: downloaded videos into the layout a model's loaders read."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from ..constants import default_encoders
from ..datasets import egovlp_videos
from ..errors import ExitCode, Interrupted
from ..run import plural
from ..userfiles import read_uid_file
from ..video import not_made_yet, run_encodes
from .options import ManyValues, OutputFolder
from .progress import item_view, progress_mode
from .render import err
from .runner import stop_on_signals


@click.group()
def prepare() -> None:
    """Turn downloaded videos into the layout a model's loaders read (needs ffmpeg)."""


@prepare.command(name="egovlp")
@click.option(
    "--videos",
    "videos_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of Ego4D <video_uid>.mp4 files, e.g. OUT/v2/full_scale of "
    "`egoget download ego4d --parts full_scale -o OUT`.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=OutputFolder(),
    help=f"The EgoVLP checkout: chunks go to OUTPUT/{egovlp_videos.CHUNK_DIR}/<uid>/<k>.mp4, "
    f"resized videos to OUTPUT/{egovlp_videos.RESIZED_DIR}/<uid>.mp4.",
)
@click.option(
    "--layout",
    type=click.Choice(egovlp_videos.LAYOUTS),
    default="both",
    show_default=True,
    help="chunked: 600 s chunks (EgoClip, EgoMCQ); resized: whole videos (NLQ, MQ, OSCC, PNR).",
)
@click.option(
    "--video-uids", "--video_uids", "video_uids", cls=ManyValues, help="Only these videos."
)
@click.option(
    "--video-uid-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="File of video uids, separated by white space.",
)
@click.option(
    "-j", "--procs", type=click.IntRange(min=1), default=default_encoders(),
    show_default="half the cores",
    help="ffmpeg processes at a time (each uses several threads).",
)  # fmt: skip
@click.option(
    "--chunk-seconds",
    type=click.IntRange(min=1),
    default=egovlp_videos.CHUNK_SECONDS,
    show_default=True,
    help="Length of each chunk; EgoVLP's loaders expect 600.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be made; run nothing.")
@click.option("-q", "--quiet", is_flag=True, help="Print only failures and the summary.")
def prepare_egovlp(
    videos_dir: Path,
    output: Path,
    video_uids: tuple[str, ...],
    video_uid_file: Path | None,
    layout: str,
    procs: int,
    chunk_seconds: int,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Resize Ego4D videos to 256 px high, whole and in 600 s chunks, for EgoVLP.

    \b
    Each resized video and each chunk is one ffmpeg run (scale=trunc(oh*a/2)*2:256, libx264,
    audio copied) written to a part file and renamed when complete: interrupt it any time, and
    a rerun makes only what is missing. Videos whose chunks were all made are skipped without
    probing. Chunks are cut from the source, not from the resized video: one encode each.

    \b
    Example:
      egoget download ego4d --parts full_scale --benchmarks nlq -o ego4d -y
      egoget prepare egovlp --videos ego4d/v2/full_scale -o EgoVLP -j 4
    """
    uids = list(video_uids)
    if video_uid_file is not None:
        uids += read_uid_file(video_uid_file)
    videos = egovlp_videos.find_videos(videos_dir, uids)
    plan = egovlp_videos.ChunkPlan()
    if layout != "resized":
        if not quiet:
            err(f"probing {len(videos)} videos ...")
        plan = egovlp_videos.plan_chunks(videos, output, chunk_seconds, procs)
    resized = egovlp_videos.resized_encodes(videos, output) if layout != "chunked" else []
    resized_todo = not_made_yet(resized)
    chunks_todo = not_made_yet(plan.encodes)
    todo = resized_todo + chunks_todo
    if not quiet or dry_run:
        lines = [f"plan: {len(videos)} videos"]
        if layout != "chunked":
            lines.append(
                f"{len(resized_todo)} resized videos to make, "
                f"{len(resized) - len(resized_todo)} already there"
            )
        if layout != "resized":
            lines.append(
                f"{len(chunks_todo)} chunks to make, {len(plan.encodes) - len(chunks_todo)} "
                f"already there ({len(plan.finished)} videos already chunked)"
            )
        err("; ".join(lines))
    for video, error in plan.unreadable.items():
        err(f"failed {video}: {error}")
    if dry_run:
        sys.exit(ExitCode.SOME_FILES_FAILED if plan.unreadable else ExitCode.OK)
    cancelled = threading.Event()
    progress, chunk_done = item_view(len(todo), "videos and chunks", progress_mode(quiet))
    try:
        with stop_on_signals(cancelled) as received:
            try:
                result = run_encodes(
                    todo, procs, cancelled, lambda e, error: chunk_done(str(e.dest), error)
                )
            except Interrupted as exc:
                exc.exit_code = received[0] if received else exc.exit_code
                raise
    finally:
        progress.close()
        egovlp_videos.mark_finished(plan, output, chunk_seconds)
    failed = len(result.failed) + len(plan.unreadable)
    already = len(resized) + len(plan.encodes) - len(todo) + sum(plan.finished.values())
    # An output's final name appears only once it is complete.
    made, places = [], []
    if layout != "chunked":
        count = sum(1 for encode in resized_todo if encode.dest.is_file())
        made.append(f"{count} resized {plural(count, 'video', 'videos')}")
        places.append(output / egovlp_videos.RESIZED_DIR)
    if layout != "resized":
        count = sum(1 for encode in chunks_todo if encode.dest.is_file())
        made.append(f"{count} {plural(count, 'chunk', 'chunks')}")
        places.append(output / egovlp_videos.CHUNK_DIR)
    click.echo(
        f"egoget: {' and '.join(made)} made, {already} already there, {failed} failed "
        f"(in {', '.join(map(str, places))})"
    )
    if failed:
        err("rerun the same command to retry the failed videos; finished outputs are kept")
        sys.exit(ExitCode.SOME_FILES_FAILED)
