"""Planning at scale: an Ego-Exo4D part whose manifest lists a million files.

Ego-Exo4D's ``all`` is ~38 TB in files counted by the hundred thousand; labs plan it on login
nodes and re-run it after every interruption. This bench puts one ``manifest.json`` of N
entries (lognormal sizes, 20 files per take, views, universities, splits and benchmarks as
upstream writes them) on a local SeaweedFS and times, with GNU time's peak RSS:

1. ``--dry-run`` planning of the whole part (manifest fetched, parsed, selected, diffed), then
   again with the manifest already fetched (what planning itself costs);
2. the first run over the same files already on disk (sparse files of the manifest's sizes, as
   another tool would have left them): every one checked in place and recorded, none fetched;
3. the re-run over the finished download: nothing to do, which it must find out quickly.

The goals (issue 17): planning and re-run each at most 10 s, peak RSS at most 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import publish
from tests.mirror import SeaweedServer
from tests.mirror.seed import CONSORTIUM_BUCKET, ensure_bucket, put_object

PREFIX = "egoexo-scale"
RELEASE = "v2"
FILES_PER_TAKE = 20
UNIVERSITIES = ("cmu", "upenn", "sfu", "utokyo", "iiith", "minnesota", "unc", "georgiatech")
BENCHMARKS = ("keystep", "proficiency", "egopose", "relations")
SPLITS = ("train", "val", "test")


def manifest_entries(count: int) -> list[dict[str, object]]:
    rng = random.Random(17)
    entries: list[dict[str, object]] = []
    take_uid = ""
    for i in range(count):
        take, index = divmod(i, FILES_PER_TAKE)
        if index == 0:
            take_uid = str(uuid.UUID(int=rng.getrandbits(128)))
        university = UNIVERSITIES[take % len(UNIVERSITIES)]
        ego = index < 2
        camera = f"aria01_214-{index + 1}" if ego else f"cam{index:02d}"
        relative = f"takes/{university}_take{take}/frame_aligned_videos/{camera}.mp4"
        path = {
            "source_path": f"s3://{CONSORTIUM_BUCKET}/{PREFIX}/{RELEASE}/{relative}",
            "relative_path": relative,
            "views": ["ego" if ego else "exo"],
            "universities": [university],
            "file_type": "mp4",
            "size": int(rng.lognormvariate(17, 1.2)),
            "checksum": None,
        }
        entries.append({
            "uid": take_uid,
            "paths": [path],
            "splits": [SPLITS[take % 3]],
            "benchmarks": [BENCHMARKS[take % len(BENCHMARKS)]],
        })  # fmt: skip
    return entries


def place_files(entries: list[dict[str, object]], output: Path) -> None:
    """Each listed file on disk at its size, as sparse files: no data written."""
    made: set[Path] = set()
    for entry in entries:
        for path in entry["paths"]:  # type: ignore[attr-defined]
            dest = output / path["relative_path"]
            if dest.parent not in made:
                dest.parent.mkdir(parents=True, exist_ok=True)
                made.add(dest.parent)
            with open(dest, "wb") as handle:
                handle.truncate(path["size"])


def timed(cmd: list[str], env: dict[str, str], label: str) -> tuple[float, float]:
    started = time.monotonic()
    done = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{label} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    rss_mib = int(match.group(1)) / 1024 if match else float("nan")
    print(f"{label}: {seconds:.2f} s, peak RSS {rss_mib:.0f} MiB", flush=True)
    return seconds, rss_mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--results", default="scale.md", help="file name in bench/results/")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="egoget-scale-"))
    server = SeaweedServer(scratch / "server").start()
    try:
        entries = manifest_entries(args.entries)
        body = json.dumps(entries, indent=1).encode()
        print(f"manifest: {args.entries:,} entries, {len(body) / 2**20:.0f} MiB", flush=True)
        client = server.client()
        ensure_bucket(client, CONSORTIUM_BUCKET)
        key = f"{PREFIX}/{RELEASE}/takes/manifest.json"
        put_object(client, CONSORTIUM_BUCKET, key, body, False)
        del body
        env = {**os.environ, **server.env()}
        output = scratch / "out"
        egoget = [str(Path(sys.executable).parent / "egoget"), "download", "egoexo", "--parts",
                  "takes", "--base-uri", f"s3://{CONSORTIUM_BUCKET}/{PREFIX}/", "-o",
                  str(output), "-q"]  # fmt: skip
        rows = [
            ("dry-run plan, manifest fetched", *timed([*egoget, "--dry-run"], env, "dry-run")),
            ("dry-run plan again", *timed([*egoget, "--dry-run"], env, "dry-run again")),
        ]
        started = time.monotonic()
        place_files(entries, output)
        print(f"placed {args.entries:,} files in {time.monotonic() - started:.0f} s", flush=True)
        del entries
        rows.append(("first run, all on disk", *timed([*egoget, "-y"], env, "first run")))
        rows.append(("re-run, all done", *timed([*egoget, "-y"], env, "re-run")))
        lines = [
            f"| {args.entries:,} Ego-Exo4D files | s | peak RSS MiB |",
            "|---|---|---|",
            *(f"| {name} | {seconds:.2f} | {rss:.0f} |" for name, seconds, rss in rows),
        ]
        publish("\n".join(lines), args.results)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
