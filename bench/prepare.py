"""`egoget prepare egovlp` against EgoVLP's own two-pass recipe, on the same generated video.

EgoVLP's scripts resize each whole video (``scale=trunc(oh*a/2)*2:256``, audio copied), then
re-encode every chunk from the resized file (``-ss``/``-to`` after ``-i``). egoget encodes each
chunk once, straight from the source. Both run alternately; medians and the ratio are printed
and written to bench/results/prepare.md. The test pattern encodes faster than camera footage,
so absolute times are optimistic; the ratio is the point.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import publish

SCALE = "scale=trunc(oh*a/2)*2:256"


def make_source(path: Path, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip


def egovlp_recipe(source: Path, work: Path, seconds: int, chunk_s: int) -> None:
    resized = work / "resized.mp4"
    ffmpeg = ["ffmpeg", "-v", "error", "-y", "-nostdin"]
    subprocess.run([*ffmpeg, "-i", str(source), "-vf", SCALE, "-c:a", "copy", str(resized)],
                   check=True)  # fmt: skip
    for k in range(-(-seconds // chunk_s)):
        start, end = k * chunk_s, (k + 1) * chunk_s
        out = work / f"{k}.mp4"
        subprocess.run([*ffmpeg, "-i", str(resized), "-ss", str(start), "-to", str(end),
                        "-async", "1", str(out)], check=True)  # fmt: skip


def egoget_prepare(source_dir: Path, work: Path, chunk_s: int, procs: int) -> None:
    subprocess.run(
        [sys.executable, "-m", "egoget", "prepare", "egovlp", "--videos", str(source_dir),
         "-o", str(work), "--chunk-seconds", str(chunk_s), "-j", str(procs), "-q"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--chunk-seconds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="egoget-bench-prepare-") as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        source = root / "src" / "video.mp4"
        make_source(source, args.seconds)
        times: dict[str, list[float]] = {"egoget -j 1": [], "egoget -j 2": [], "EgoVLP": []}
        for repeat in range(args.repeats):
            for name in times:
                work = root / f"{name.replace(' ', '')}-{repeat}"
                work.mkdir()
                started = time.perf_counter()
                if name == "EgoVLP":
                    egovlp_recipe(source, work, args.seconds, args.chunk_seconds)
                else:
                    procs = int(name.rsplit(" ", 1)[1])
                    egoget_prepare(root / "src", work, args.chunk_seconds, procs)
                times[name].append(time.perf_counter() - started)
    baseline = statistics.median(times["EgoVLP"])
    lines = [
        f"{args.seconds} s of 1080p30 video into {args.chunk_seconds} s chunks, 256 px high "
        f"(median of {args.repeats})",
        "",
        "| tool | median s | speed vs EgoVLP's recipe |",
        "|---|---|---|",
    ]
    for name, samples in times.items():
        median = statistics.median(samples)
        lines.append(f"| {name} | {median:.2f} | {baseline / median:.2f}x |")
    report = "\n".join(lines) + "\n"
    publish(report, "prepare.md")


if __name__ == "__main__":
    main()
