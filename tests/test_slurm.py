"""The shipped Slurm array script on a real single-node cluster, and `--shard auto` from the
scheduler's environment: every task exits 0 and the shares add up to the unsharded download."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.mirror.seed import MirrorObject

from .conftest import run_cli
from .slurm import SlurmCluster

SCRIPT = Path(__file__).parent.parent / "scripts" / "slurm_sharded_download.sh"
PARTS = "full_scale annotations"
# Written by egoget itself for its own bookkeeping, per output directory.
NOT_DATA = {".egoget", "manifest.ver"}

CaptureFixture = pytest.CaptureFixture[str]


def data_files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not NOT_DATA & set(path.relative_to(root).parts)
    }


@pytest.fixture(scope="module")
def unsharded_cache() -> dict[str, dict[str, bytes]]:
    return {}


def unsharded(
    cache: dict[str, dict[str, bytes]], out: Path, capsys: CaptureFixture
) -> dict[str, bytes]:
    """The same download without shares, made once per module (inside a test: its environment
    is the isolated one)."""
    if "files" not in cache:
        result = run_cli(
            ["download", "ego4d", "--parts", *PARTS.split(), "-o", str(out), "-y"], capsys
        )
        assert result.exit_code == 0, result.output
        cache["files"] = data_files(out)
    return cache["files"]


@pytest.mark.slurm
@pytest.mark.parametrize("array", ["0-3", "1-4", "1-7:2"])
def test_array_shares_add_up_to_the_unsharded_download(
    slurm_cluster: SlurmCluster, demo_objects: list[MirrorObject],
    unsharded_cache: dict[str, dict[str, bytes]], tmp_path: Path,
    capsys: CaptureFixture, array: str,
) -> None:  # fmt: skip
    out = tmp_path / "ego4d"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "EGOGET": f"{sys.executable} -m egoget",
        "OUT": str(out),
        "PARTS": PARTS,
    }
    logs = tmp_path / "task-%a.log"
    shown = slurm_cluster.sbatch([f"--array={array}", f"--output={logs}", str(SCRIPT)], env, 600)
    task_logs = {p.name: p.read_text() for p in tmp_path.glob("task-*.log")}
    assert shown.startswith("exit 0"), f"{shown}\n{task_logs}"
    assert len(task_logs) == 4, task_logs

    shares = sorted(out.glob("shard-*/"))
    assert len(shares) == 4
    union: dict[str, bytes] = {}
    videos_seen: list[str] = []
    for share in shares:
        report = json.loads(Path(f"{share}.report.json").read_text())
        assert report["exit_code"] == 0 and not report["failed"], report
        files = data_files(share)
        videos_seen += [name for name in files if name.endswith(".mp4")]
        for name, data in files.items():
            assert union.setdefault(name, data) == data, name
    whole = unsharded(unsharded_cache, tmp_path / "unsharded", capsys)
    assert union == whole, "the shares together are not the unsharded download"
    assert len(videos_seen) == len(set(videos_seen)), "a video is in two shares"


def test_shard_auto_refuses_what_would_leave_a_share_without_a_task(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    args = [
        "download",
        "ego4d",
        "--parts",
        "full_scale",
        "--shard",
        "auto",
        "-o",
        str(tmp_path / "e"),
    ]
    # --array=1,4,6: three tasks, but ids from 1 to 6.
    for name, value in {"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1",
                        "SLURM_ARRAY_TASK_MAX": "6", "SLURM_ARRAY_TASK_COUNT": "3",
                        "SLURM_ARRAY_TASK_STEP": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    listed = run_cli([*args, "--dry-run"], capsys)
    assert listed.exit_code == 2 and "not evenly spaced" in listed.stderr, listed.output
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    both = run_cli([*args, "--dry-run"], capsys)
    assert both.exit_code == 2 and "ambiguous" in both.stderr, both.output
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX",
                 "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_STEP"):  # fmt: skip
        monkeypatch.delenv(name)
    no_count = run_cli([*args, "--dry-run"], capsys)
    assert no_count.exit_code == 2 and "EGOGET_SHARD_COUNT" in no_count.stderr, no_count.output
    assert not (tmp_path / "e").exists()


def plan_event(capsys: CaptureFixture, out: Path, *args: str) -> dict[str, object]:
    result = run_cli(
        ["download", "ego4d", "--parts", "full_scale", "-o", str(out), "--dry-run",
         "--progress", "json", *args],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (plan,) = [e for e in map(json.loads, result.stdout.splitlines()) if e["event"] == "plan"]
    plan["stderr"] = result.stderr
    return plan


def test_indexed_job_shares_cover_the_plan_and_dry_run_shows_every_share(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Kubernetes: JOB_COMPLETION_INDEX 0..N-1 with EGOGET_SHARD_COUNT=N."""
    whole = plan_event(capsys, tmp_path / "whole")
    monkeypatch.setenv("EGOGET_SHARD_COUNT", "3")
    shares = []
    for index in range(3):
        monkeypatch.setenv("JOB_COMPLETION_INDEX", str(index))
        plan = plan_event(capsys, tmp_path / f"share{index}", "--shard", "auto")
        assert plan["shard"] == f"{index + 1}/3"
        assert f"share {index + 1}/3 of the plan" in str(plan["stderr"])
        shares.append(plan)
    share_bytes = shares[0]["share_bytes"]
    assert all(plan["share_bytes"] == share_bytes for plan in shares), "tasks disagree"
    assert [plan["bytes"] for plan in shares] == share_bytes
    assert sum(plan["files"] for plan in shares) == whole["files"]  # type: ignore[misc]
    assert sum(share_bytes) == whole["bytes"]  # type: ignore[arg-type]


def test_kubernetes_example_agrees_with_egoget(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """No cluster here: the example's shard count, arguments and exit codes are egoget's own,
    and its command plans a share as the pod would (against the mirror, as a dry run)."""
    import yaml

    from egoget.errors import ExitCode

    job = yaml.safe_load((SCRIPT.parent / "k8s_indexed_download.yaml").read_text())
    spec = job["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert spec["completionMode"] == "Indexed"
    assert int(env["EGOGET_SHARD_COUNT"]) == spec["completions"]
    fail_fast = spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"]
    assert set(fail_fast) == {ExitCode.USAGE, ExitCode.AUTH}
    args = container["args"]
    assert args[0] == "egoget" and args[args.index("--shard") + 1] == "auto"
    args[args.index("--output") + 1] = str(tmp_path / "share")
    monkeypatch.setenv("EGOGET_SHARD_COUNT", env["EGOGET_SHARD_COUNT"])
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "7")
    result = run_cli([*args[1:], "--dry-run"], capsys)
    assert result.exit_code == 0, result.output
    assert "share 8/8 of the plan" in result.stderr


def test_shares_are_balanced_by_bytes_whatever_the_manifest_order() -> None:
    import random

    from egoget.model import RemoteFile
    from egoget.paths import safe_relative_path
    from egoget.shards import Shard

    rng = random.Random(7)
    files = [
        RemoteFile(f"s3://b/{i}.mp4", safe_relative_path(f"v/{i}.mp4"),
                   size=int(rng.lognormvariate(20, 1.2)))
        for i in range(9600)
    ]  # fmt: skip
    files.append(RemoteFile("s3://b/link", safe_relative_path("v/unsized.mp4")))
    shares = Shard(1, 8).split(files)
    loads = [sum(f.size or 0 for f in share) for share in shares]
    assert max(loads) / (sum(loads) / 8) <= 1.02
    shuffled = files[:]
    rng.shuffle(shuffled)
    again = Shard(1, 8).split(shuffled)
    assert [sorted(f.dest for f in s) for s in again] == [sorted(f.dest for f in s) for s in shares]
    assert sorted(f.dest for s in shares for f in s) == sorted(f.dest for f in files)
