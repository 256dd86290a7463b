"""What a run shows while it runs: honest totals and ETAs for people, and `--progress json`,
the event stream programs read (parsed here as a program would)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.mirror import SeaweedServer
from tests.mirror.seed import MirrorObject

from .conftest import egoget_process, run_cli
from .httpserver import ContentServer
from .test_egoschema import by_map, clips, uid_to_url

CaptureFixture = pytest.CaptureFixture[str]
__all__ = ["clips"]  # the module fixture, shared


def events_of(stdout: str) -> list[dict[str, Any]]:
    """Every line of stdout is one JSON object of schema version 1, in time order."""
    lines = stdout.splitlines()
    assert lines, "no events on stdout"
    events = [json.loads(line) for line in lines]
    assert all(e["v"] == 1 and isinstance(e["time"], float | int) for e in events)
    times = [e["time"] for e in events]
    assert times == sorted(times)
    return events


def named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


def test_json_events_follow_a_run_whose_sizes_arrive_late(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    """Presigned links: no size is known when the plan is made. The plan says so, the total
    grows as each file starts, and the last progress event adds up to the clips' bytes."""
    uid_to_url(s3_server, clips, tmp_path / "map.json")
    out = tmp_path / "es"
    result = run_cli([*by_map(tmp_path / "map.json", out), "--progress", "json", "-j", "1"], capsys)
    assert result.exit_code == 0, result.output
    events = events_of(result.stdout)
    total = sum(obj.size for obj in clips.values())

    (plan,) = named(events, "plan")
    assert (plan["files"], plan["bytes"], plan["sizes_unknown"]) == (4, 0, 4)
    started = {e["path"]: e["size"] for e in named(events, "file_started")}
    done = {e["path"]: e["size"] for e in named(events, "file_done")}
    expected = {f"videos/{q_uid}.mp4": obj.size for q_uid, obj in clips.items()}
    assert started == done == expected
    assert all(e["checked"] for e in named(events, "file_done"))
    progress = named(events, "progress")
    assert progress[-1]["bytes_done"] == progress[-1]["bytes_total"] == total
    assert (progress[-1]["files_done"], progress[-1]["sizes_unknown"]) == (4, 0)
    assert all(e["eta_s"] is None for e in progress if e["sizes_unknown"])
    assert events.index(plan) < events.index(named(events, "file_started")[0])

    summary = events[-1]
    assert summary["event"] == "summary"
    assert (summary["exit_code"], summary["files_done"], summary["bytes_done"]) == (0, 4, total)
    # People's messages stay on stderr.
    assert "4 files verified" in result.stderr and "files verified" not in result.stdout


def test_json_events_name_the_manifests_fetched_before_the_plan(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    result = run_cli(
        ["download", "ego4d", "--parts", "annotations", "-o", str(tmp_path / "e"), "-y",
         "--progress", "json"],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    events = events_of(result.stdout)
    kinds = [e["event"] for e in events]
    assert kinds.index("fetching") < kinds.index("plan")
    (fetching, *_) = named(events, "fetching")
    assert any(uri.endswith("/annotations/manifest.csv") for uri in fetching["uris"])
    assert "to plan from" in result.stderr and "manifest.csv" in result.stderr


def test_json_summary_on_a_run_stopped_by_bad_input(tmp_path: Path, capsys: CaptureFixture) -> None:
    result = run_cli(
        ["download", "ego4d", "--parts", "ful_scale", "-o", str(tmp_path), "--progress", "json"],
        capsys,
    )
    assert result.exit_code == 2
    (summary,) = events_of(result.stdout)
    assert summary["event"] == "summary" and summary["exit_code"] == 2
    assert "ful_scale" in summary["fatal"]


def test_a_file_retrying_is_counted_and_its_eta_unknown(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    http_server.files["/clip.mp4"] = b"x" * 300_000
    http_server.fail_statuses = [503, 503, 503]
    result = run_cli(
        ["fetch", f"{http_server.base_url}/clip.mp4", "-o", str(tmp_path), "--progress", "json"],
        capsys,
    )
    assert result.exit_code == 0, result.output
    events = events_of(result.stdout)
    retries = named(events, "retry")
    assert retries and all(e["path"] == "clip.mp4" and e["reason"] for e in retries)
    stuck = [e for e in named(events, "progress") if e["retrying"]]
    assert stuck and all(e["eta_s"] is None for e in stuck)
    assert named(events, "file_done")[0]["size"] == 300_000


def test_log_lines_say_when_the_total_is_a_lower_bound(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr("egoget.cli.progress.PLAIN_PROGRESS_INTERVAL_S", 0.0)
    uid_to_url(s3_server, clips, tmp_path / "map.json")
    result = run_cli([*by_map(tmp_path / "map.json", tmp_path / "es"), "-j", "1"], capsys)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if " files, " in line]
    assert any("at least" in line and "sizes not yet known" in line for line in lines), lines
    assert all("ETA unknown" in line for line in lines if "at least" in line)
    total = sum(obj.size for obj in clips.values()) / 1024
    assert lines[-1].startswith("egoget: 4/4 files") and f"of {total:.1f} KiB" in lines[-1]
    # One unit system: sizes and rates in binary units, never "MB".
    assert "MiB/s" in result.stderr or "KiB/s" in result.stderr
    assert "MB" not in result.stderr and "kB" not in result.stderr
    assert result.stdout == ""


def test_a_reader_that_quits_early_does_not_stop_the_download(
    demo_objects: list[MirrorObject], tmp_path: Path
) -> None:
    out = tmp_path / "e"
    process = egoget_process(
        ["download", "ego4d", "--parts", "clips", "-o", str(out), "-y", "--progress", "json",
         "--limit-rate", "2M"]  # still running when the reader has gone
    )  # fmt: skip
    assert process.stdout is not None
    assert json.loads(process.stdout.readline())["event"] == "fetching"
    process.stdout.close()  # as `| head -1` does
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "no more progress events" in stderr and "Traceback" not in stderr
    assert len(list((out / "v2" / "clips").glob("*.mp4"))) == 2
