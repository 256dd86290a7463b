"""Video work with ffmpeg: EgoVLP's 256-px chunks and the Ego4D social benchmark's clips.

Every output is encoded to ``<name>.egoget-part`` and renamed only when ffmpeg exits 0, so a
kill, a failed encode or a full disk never leaves a file under its final name, and a rerun skips
every output that exists. ffmpeg runs in a session of its own: Ctrl-C reaches egoget alone,
which stops the encoders it started and removes their part files.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .constants import PART_SUFFIX
from .errors import DiskFullError, EgogetError, Interrupted, UsageError

FFMPEG_HINT = (
    "install ffmpeg and put it on PATH (Debian/Ubuntu: sudo apt-get install ffmpeg; "
    "conda: conda install -c conda-forge ffmpeg)"
)
# How often a waiting worker looks at the cancel flag while ffmpeg runs.
_POLL_S = 0.2
_STDERR_LINES_KEPT = 3


class ToolMissingError(UsageError):
    pass


class EncodeError(EgogetError):
    pass


def find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"{name} is not installed (not found on PATH)", hint=FFMPEG_HINT)
    return path


@dataclass(frozen=True)
class Encode:
    """One output file made by one ffmpeg run: ``ffmpeg INPUT_ARGS -i SOURCE OUTPUT_ARGS DEST``."""

    source: Path
    dest: Path
    input_args: tuple[str, ...] = ()
    output_args: tuple[str, ...] = ()


@dataclass
class EncodeResult:
    written: int = 0
    failed: dict[str, EgogetError] = field(default_factory=dict)


# Called once per finished output (written or failed), from worker threads.
EncodeProgress = Callable[[Encode, "EgogetError | None"], None]


def probe_duration_s(ffprobe: str, video: Path) -> float:
    """The container's duration in seconds, as ffprobe reads it."""
    argv = [
        ffprobe, "-v", "error", "-show_entries", "format=duration",
        "-of", "default=noprint_wrappers=1:nokey=1", str(video),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    text = done.stdout.strip()
    try:
        duration = float(text)
    except ValueError:
        reason = _last_lines(done.stderr) or f"no duration ({text!r})"
        raise EncodeError(f"cannot read {video.name}: {reason}") from None
    if not math.isfinite(duration) or duration <= 0:
        raise EncodeError(f"cannot read {video.name}: duration {text}")
    return duration


def probe_all(ffprobe: str, videos: list[Path], procs: int) -> dict[Path, float | EgogetError]:
    """Durations of many videos, read in parallel (each ffprobe waits mostly on the disk)."""

    def one(video: Path) -> float | EgogetError:
        try:
            return probe_duration_s(ffprobe, video)
        except EgogetError as exc:
            return exc

    with ThreadPoolExecutor(max(1, procs)) as pool:
        return dict(zip(videos, pool.map(one, videos), strict=True))


def not_made_yet(encodes: Iterable[Encode]) -> list[Encode]:
    """The encodes whose output does not exist: a final name only appears once complete."""
    return [encode for encode in encodes if not encode.dest.is_file()]


def run_encodes(
    todo: list[Encode], procs: int, cancelled: threading.Event, progress: EncodeProgress
) -> EncodeResult:
    """Make these outputs, ``procs`` ffmpeg processes at a time (see ``not_made_yet``).

    A failed output is reported and the others go on; a full disk or Ctrl-C stops them all."""
    ffmpeg = find_tool("ffmpeg")
    result = EncodeResult()
    lock = threading.Lock()
    stop: list[EgogetError] = []

    def work(encode: Encode) -> None:
        if cancelled.is_set() or stop:
            return
        try:
            _encode(ffmpeg, encode, cancelled)
        except (DiskFullError, Interrupted) as exc:
            with lock:
                stop.append(exc)
            cancelled.set()
            return
        except EgogetError as exc:
            with lock:
                result.failed[str(encode.dest)] = exc
            progress(encode, exc)
            return
        with lock:
            result.written += 1
        progress(encode, None)

    with ThreadPoolExecutor(max(1, procs)) as pool:
        list(pool.map(work, todo))
    if stop and isinstance(stop[0], DiskFullError):
        raise stop[0]
    if cancelled.is_set():
        raise Interrupted(
            "interrupted: every finished file is kept", hint="rerun the same command for the rest"
        )
    return result


def _encode(ffmpeg: str, encode: Encode, cancelled: threading.Event) -> None:
    encode.dest.parent.mkdir(parents=True, exist_ok=True)
    part = encode.dest.with_name(encode.dest.name + PART_SUFFIX)
    argv = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        *encode.input_args, "-i", str(encode.source), *encode.output_args,
        # The part file's name has no .mp4 to guess the container from.
        "-f", "mp4", str(part),
    ]  # fmt: skip
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise EncodeError(f"cannot start ffmpeg: {exc.strerror}", hint=FFMPEG_HINT) from exc
    stderr = ""
    while True:
        try:
            _, stderr = process.communicate(timeout=_POLL_S)
            break
        except subprocess.TimeoutExpired:
            if cancelled.is_set():
                process.terminate()
                process.communicate()
                part.unlink(missing_ok=True)
                raise Interrupted("interrupted") from None
    if process.returncode != 0:
        part.unlink(missing_ok=True)
        if "No space left on device" in stderr:
            raise DiskFullError(
                f"no space left for {encode.dest}",
                hint="free space and rerun: finished outputs are kept",
            )
        reason = _last_lines(stderr) or f"ffmpeg exited with {process.returncode}"
        raise EncodeError(f"ffmpeg failed on {encode.source.name}: {reason}")
    os.replace(part, encode.dest)


def _last_lines(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-_STDERR_LINES_KEPT:])
