"""Re-running a finished download of N files: egoget against the official `ego4d` CLI.

Both tools download an Ego4D-shaped full_scale manifest of N small videos from one local
SeaweedFS once; then each re-run (nothing left to fetch) is timed, alternating tools. This is
the "is everything already here?" cost users pay on every restart of a long download.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import publish
from tests.mirror import SeaweedServer
from tests.mirror.seed import CONSORTIUM_BUCKET, ensure_bucket

VIDEO_BUCKET = "ego4d-cmu"


def seed(server: SeaweedServer, count: int) -> None:
    client = server.client()
    ensure_bucket(client, CONSORTIUM_BUCKET)
    ensure_bucket(client, VIDEO_BUCKET)
    uids = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(count)]
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda uid: client.put_object(
                    Bucket=VIDEO_BUCKET,
                    Key=f"public/v2_1/full_scale/{uid}.mp4",
                    Body=uid.encode() * 32,
                ),
                uids,
            )
        )
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["video_uid", "canonical_s3_location", "type", "benchmarks"])
    for uid in uids:
        writer.writerow(
            [uid, f"s3://{VIDEO_BUCKET}/public/v2_1/full_scale/{uid}.mp4", "mp4", "[EM]"]
        )
    client.put_object(
        Bucket=CONSORTIUM_BUCKET,
        Key="public/v2_1/full_scale/manifest.csv",
        Body=manifest.getvalue().encode(),
    )


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    official_bin = Path(os.environ.get("EGOGET_OFFICIAL_VENV", ".venv-official")) / "bin"
    scratch = Path(tempfile.mkdtemp(prefix="egoget-rerun-"))
    server = SeaweedServer(scratch / "server").start()
    try:
        print(f"seeding {args.files} objects ...", flush=True)
        seed(server, args.files)
        ours_env = {**os.environ, **server.env()}
        theirs_env = server.official_cli_env(scratch / "home")
        egoget = str(Path(sys.executable).parent / "egoget")
        ours = [egoget, "download", "ego4d", "--parts", "full_scale", "--no-metadata", "-y", "-q",
                "-o", str(scratch / "egoget")]  # fmt: skip
        theirs = [str(official_bin / "ego4d"), "--output_directory", str(scratch / "official"),
                  "--datasets", "full_scale", "--version", "v2_1", "-y",
                  "--no-metadata"]  # fmt: skip
        first = {"egoget": timed(ours, ours_env), "official": timed(theirs, theirs_env)}
        print(f"first download: egoget {first['egoget']:.1f} s, official {first['official']:.1f} s")
        reruns: dict[str, list[float]] = {"egoget": [], "official": []}
        for _ in range(args.repeats):
            reruns["egoget"].append(timed(ours, ours_env))
            reruns["official"].append(timed(theirs, theirs_env))
            print(f"re-run: egoget {reruns['egoget'][-1]:.2f} s, "
                  f"official {reruns['official'][-1]:.2f} s", flush=True)  # fmt: skip
        ego, off = (statistics.median(reruns[t]) for t in ("egoget", "official"))
        report = "\n".join([
            f"| {args.files} files already present | median s | official / egoget |",
            "|---|---|---|",
            f"| egoget re-run | {ego:.2f} | {off / ego:.1f}x faster |",
            f"| official ego4d re-run | {off:.2f} | 1.0x |",
            f"| first download (once) | egoget {first['egoget']:.1f} s | "
            f"official {first['official']:.1f} s |",
        ])  # fmt: skip
        publish(report, "rerun.md")
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
