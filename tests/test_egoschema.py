"""`egoget download egoschema` over real presigned URLs from the mirror, and scoring."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from egoget.mirror import SeaweedServer
from egoget.mirror.seed import MirrorObject, seed_object

from .conftest import assert_same_bytes, run_cli

CaptureFixture = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def clips(s3_server: SeaweedServer) -> dict[str, MirrorObject]:
    return {
        str(uuid.UUID(int=i + 1)): seed_object(
            s3_server.client(), "egoschema-wasabi", f"good_clips_git/{i}.mp4", 150_000 + i
        )
        for i in range(4)
    }


def uid_to_url(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], path: Path, expires_s: int = 3600
) -> dict[str, str]:
    client = s3_server.client()
    mapping = {
        q_uid: client.generate_presigned_url(
            "get_object", Params={"Bucket": obj.bucket, "Key": obj.key}, ExpiresIn=expires_s
        )
        for q_uid, obj in clips.items()
    }
    path.write_text(json.dumps(mapping))
    return mapping


def download(capsys: CaptureFixture, out: Path, *args: str) -> object:
    return run_cli(["download", "egoschema", "-o", str(out), "-y", *args], capsys)


def test_clips_land_at_videos_q_uid_mp4(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    uid_to_url(s3_server, clips, tmp_path / "uid_to_url.json")
    result = run_cli(["download", "egoschema", "--uid-to-url", str(tmp_path / "uid_to_url.json"),
                      "-o", str(tmp_path / "es"), "-y", "--procs", "8"], capsys)  # fmt: skip
    assert result.exit_code == 0, result.output
    for q_uid, obj in clips.items():
        assert_same_bytes(tmp_path / "es" / "videos" / f"{q_uid}.mp4", obj)
    assert "X-Amz-Signature" not in result.output


def test_expired_map_is_exit_3_saying_when(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    uid_to_url(s3_server, clips, tmp_path / "map.json", expires_s=1)
    time.sleep(2)
    result = run_cli(["download", "egoschema", "--uid-to-url", str(tmp_path / "map.json"),
                      "-o", str(tmp_path / "es"), "-y"], capsys)  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "4 of 4 links have expired" in result.stderr and "UTC" in result.stderr
    assert not (tmp_path / "es" / "videos").exists()


def test_a_stale_link_fails_its_own_file_as_a_stale_link(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    mapping = uid_to_url(s3_server, clips, tmp_path / "map.json")
    stale = next(iter(mapping))
    mapping[stale] = mapping[stale].replace("X-Amz-Signature=", "X-Amz-Signature=00")
    (tmp_path / "map.json").write_text(json.dumps(mapping))
    result = run_cli(["download", "egoschema", "--uid-to-url", str(tmp_path / "map.json"),
                      "-o", str(tmp_path / "es"), "-y"], capsys)  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"{stale}.mp4" in result.stderr and "refused access" in result.stderr
    assert "stale" in result.stderr
    assert len(list((tmp_path / "es" / "videos").glob("*.mp4"))) == len(clips) - 1


def test_hostile_question_uids_are_refused(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    mapping = uid_to_url(s3_server, clips, tmp_path / "map.json")
    url = next(iter(mapping.values()))
    (tmp_path / "map.json").write_text(json.dumps({"../../escape": url, "ok-uid": url}))
    result = run_cli(["download", "egoschema", "--uid-to-url", str(tmp_path / "map.json"),
                      "-o", str(tmp_path / "es"), "-y"], capsys)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "../../escape" in result.stderr
    assert not (tmp_path / "escape.mp4").exists()


def test_without_the_map_the_error_says_what_to_pass(
    tmp_path: Path, capsys: CaptureFixture
) -> None:
    result = run_cli(["download", "egoschema", "-o", str(tmp_path), "-y"], capsys)
    assert result.exit_code == 2
    assert "--uid-to-url" in result.stderr


def test_score_checks_the_format_and_reports_accuracy(
    tmp_path: Path, capsys: CaptureFixture
) -> None:
    answers = {f"q{i}": i % 5 for i in range(10)}
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    predictions = {f"q{i}": (i % 5 if i < 7 else 0) for i in range(12)}
    (tmp_path / "pred.json").write_text(json.dumps(predictions))
    result = run_cli(["egoschema", "score", str(tmp_path / "pred.json"), "--answers",
                      str(tmp_path / "answers.json")], capsys)  # fmt: skip
    assert result.exit_code == 0, result.output
    # q0..q6 right, q7..q9 answered 0 against 2, 3, 4: 7 of 10 scored; q10, q11 have no answer.
    assert "12 answers; 10 have public answers: 7 correct, accuracy 70.0%" in result.stdout

    (tmp_path / "bad.json").write_text(json.dumps({"q1": 7, "q2": "b", "q3": True}))
    bad = run_cli(["egoschema", "score", str(tmp_path / "bad.json"), "--answers",
                   str(tmp_path / "answers.json")], capsys)  # fmt: skip
    assert bad.exit_code == 2
    assert "3 problems" in bad.stderr and "not an answer index 0-4" in bad.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [('{"a": ', "is not valid JSON"), ("[1, 2]", "must be a JSON object"),
     ('{"q1": 42}', "not an http(s) URL"), ("{}", "is empty")],
)  # fmt: skip
def test_malformed_url_maps_are_exit_2_naming_the_problem(
    content: str, expected: str, tmp_path: Path, capsys: CaptureFixture
) -> None:
    (tmp_path / "map.json").write_text(content)
    result = run_cli(["download", "egoschema", "--uid-to-url", str(tmp_path / "map.json"),
                      "-o", str(tmp_path / "es"), "-y"], capsys)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output
