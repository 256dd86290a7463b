"""egoget from Python: download, plan and fetch against the mirror, errors as exceptions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import egoget
from egoget.errors import AuthError, UsageError
from egoget.transfer.events import BytesReceived, Event, FileDone
from tests.mirror import SeaweedServer
from tests.mirror.seed import CONSORTIUM_BUCKET, MirrorObject

from .conftest import assert_same_bytes


def annotations(objects: list[MirrorObject]) -> list[MirrorObject]:
    prefix = "public/v2_1/annotations/"
    return [
        o for o in objects
        if o.bucket == CONSORTIUM_BUCKET and o.key.startswith(prefix) and "manifest" not in o.key
    ]  # fmt: skip


def test_download_from_python_with_progress_events(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path
) -> None:
    events: list[Event] = []
    notes: list[str] = []
    result = egoget.download(
        "ego4d", tmp_path / "ego4d", parts=["annotations"], progress=events.append,
        notes=notes.append,
    )  # fmt: skip
    assert result.ok and not result.failed
    wanted = annotations(demo_objects)
    assert wanted
    client = s3_server.client()
    for obj in wanted:
        served = client.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()
        assert (
            tmp_path / "ego4d/v2/annotations" / obj.key.rsplit("/", 1)[1]
        ).read_bytes() == served
    done = {e.dest for e in events if isinstance(e, FileDone)}
    assert {f"v2/annotations/{o.key.rsplit('/', 1)[1]}" for o in wanted} <= done
    # The manifests it planned from arrive as events too, before the files of the plan.
    received = sum(e.delta for e in events if isinstance(e, BytesReceived))
    assert received > result.summary.bytes_received > 0
    # A second run finds everything in place.
    again = egoget.download("ego4d", tmp_path / "ego4d", parts=["annotations"])
    assert again.ok and again.summary.files_done == 0 and len(again.diff.present) >= len(wanted)


def test_plan_says_what_would_be_fetched_and_fetches_no_video(
    demo_objects: list[MirrorObject], tmp_path: Path
) -> None:
    diff = egoget.plan("ego4d", tmp_path / "o", parts=["full_scale"], benchmarks=["nlq"])
    assert diff.todo and all(f.dest.endswith(".mp4") for f in diff.todo)
    assert all("nlq" in f.tags.get("benchmarks", "nlq").lower() for f in diff.todo)
    assert not list((tmp_path / "o").rglob("*.mp4"))


def test_fetch_uris_from_python(demo_objects: list[MirrorObject], tmp_path: Path) -> None:
    video = next(o for o in demo_objects if o.key.endswith(".mp4"))
    result = egoget.fetch([video.uri], tmp_path, procs=2)
    assert result.ok
    assert_same_bytes(tmp_path / video.key.rsplit("/", 1)[1], video)


def test_errors_are_exceptions_not_exits(
    demo_objects: list[MirrorObject], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UsageError, match="unknown part"):
        egoget.download("ego4d", tmp_path / "a", parts=["full_scael"])
    with pytest.raises(UsageError, match="unknown option 'partz'"):
        egoget.download("ego4d", tmp_path / "b", partz=["annotations"])
    with pytest.raises(UsageError, match="unknown dataset: ego4") as unknown:
        egoget.download("ego4", tmp_path / "c")
    assert "did you mean 'ego4d'" in (unknown.value.hint or "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(AuthError):
        egoget.download("ego4d", tmp_path / "d", parts=["annotations"])


def test_a_script_in_its_own_process(demo_objects: list[MirrorObject], tmp_path: Path) -> None:
    """As a notebook would: import egoget, download, look at the result; nothing else."""
    script = (
        "import egoget, sys\n"
        "result = egoget.download('ego4d', sys.argv[1], parts=['annotations'])\n"
        "print(result.ok, result.summary.files_done)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "nb")], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ok, files = done.stdout.split()
    assert ok == "True" and int(files) >= len(annotations(demo_objects))
    assert done.stderr == ""  # a library prints nothing
