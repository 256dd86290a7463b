"""Planning a large Ego4D folder: how long the listing that sizes it takes.

Ego4D's manifests name objects but not their sizes; egoget lists the folders they live in, a
chain of 1,000-key pages. This bench puts N objects in one folder of a local SeaweedFS, writes a
manifest of them, and times ``egoget download ego4d --dry-run`` (the whole plan: manifest read,
listing, diff) directly and through a proxy that holds each request for ``--rtt-ms`` (the round
trip to a distant S3 region, which the loopback mirror does not have). ``--tree`` compares
checkouts (e.g. a git worktree of an older commit), alternating, ``--runs`` each.
"""

from __future__ import annotations

import argparse
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
from tests.faultproxy import FaultProxy
from tests.mirror import SeaweedServer
from tests.mirror.seed import CONSORTIUM_BUCKET, ensure_bucket, put_object

BUCKET = "ego4d-cmu"
FOLDER = "public/v2_1/full_scale"
REPO = Path(__file__).resolve().parent.parent


def seed(server: SeaweedServer, count: int) -> list[str]:
    client = server.client()
    ensure_bucket(client, BUCKET)
    # The release's own folder, which tells egoget the version exists (its manifest is not read).
    ensure_bucket(client, CONSORTIUM_BUCKET)
    put_object(client, CONSORTIUM_BUCKET, f"{FOLDER}/manifest.csv", b"video_uid,s3_path\n", False)
    uids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(count)]

    def put(uid: str) -> None:
        client.put_object(Bucket=BUCKET, Key=f"{FOLDER}/{uid}.mp4", Body=uid.encode())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, uids))
    return uids


def plan_seconds(tree: Path, manifest: Path, env: dict[str, str], scratch: Path) -> float:
    out = scratch / "out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "egoget", "download", "ego4d", "--datasets", "full_scale",
           "--manifest-override-path", str(manifest), "-o", str(out), "--dry-run",
           "--no-metadata", "-q"]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(cmd, env={**env, "PYTHONPATH": str(tree)}, cwd=scratch,
                          capture_output=True, text=True, check=False)  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tree", action="append", type=Path, help="checkouts to compare")
    parser.add_argument("--results", default="listing.md", help="file name in bench/results/")
    args = parser.parse_args()
    trees = args.tree or [REPO]
    for tree in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "egoget")], check=True)
    scratch = Path(tempfile.mkdtemp(prefix="egoget-listing-"))
    server = SeaweedServer(scratch / "server").start()
    proxy = FaultProxy(server.port)
    proxy.request_delay_s = args.rtt_ms / 1000
    try:
        started = time.monotonic()
        uids = seed(server, args.objects)
        print(f"seeded {len(uids):,} objects in {time.monotonic() - started:.0f} s", flush=True)
        manifest = scratch / "manifest.csv"
        manifest.write_text("video_uid,canonical_s3_location,type\n" + "".join(
            f"{uid},s3://{BUCKET}/{FOLDER}/{uid}.mp4,mp4\n" for uid in uids))  # fmt: skip
        direct = {**os.environ, **server.env()}
        distant = {**direct, "AWS_ENDPOINT_URL": proxy.endpoint_url}
        timings: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.runs):
            for label, env in (("loopback", direct), (f"+{args.rtt_ms:.0f} ms a request", distant)):
                for tree in trees:
                    seconds = plan_seconds(tree, manifest, env, scratch)
                    timings.setdefault((label, str(tree)), []).append(seconds)
                    print(f"{label} {tree}: {seconds:.2f} s", flush=True)
        lines = [
            f"| {args.objects:,} objects in one folder, `--dry-run` plan | checkout | "
            "median s | min s | max s |",
            "|---|---|---|---|---|",
            *(f"| {label} | {tree} | {statistics.median(t):.2f} | {min(t):.2f} | {max(t):.2f} |"
              for (label, tree), t in timings.items()),
        ]  # fmt: skip
        publish("\n".join(lines), args.results)
    finally:
        proxy.close()
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
