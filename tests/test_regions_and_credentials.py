"""Buckets in another region and temporary credentials that expire during a run, against a
scripted S3 endpoint answering as AWS does (tests/s3script.py)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.mirror.seed import object_bytes

from .conftest import run_cli
from .s3script import ScriptedS3

CaptureFixture = pytest.CaptureFixture[str]
MIB = 1024 * 1024
EU_BUCKET = "lab-videos-eu"
US_BUCKET = "lab-videos-us"


@pytest.fixture
def scripted_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedS3]:
    server = ScriptedS3({EU_BUCKET: "eu-west-1", US_BUCKET: "us-east-1"})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def seed(server: ScriptedS3, bucket: str, names: list[str], size: int) -> dict[str, bytes]:
    bodies = {}
    for name in names:
        bodies[name] = object_bytes(f"{bucket}/{name}", size)
        server.put(bucket, f"data/{name}", bodies[name])
    return bodies


# --- regions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["query-error", "permanent-redirect"])
def test_a_bucket_in_another_region_is_re_signed_once_and_remembered(
    answer: str, scripted_s3: ScriptedS3, tmp_path: Path, capsys: CaptureFixture
) -> None:
    scripted_s3.wrong_region_answer = answer
    bodies = seed(scripted_s3, EU_BUCKET, ["a.bin", "b.bin", "c.bin"], 3 * MIB + 11)
    result = run_cli(
        ["fetch", f"s3://{EU_BUCKET}/data/", "-o", str(tmp_path), "--chunk-size-mib", "1"], capsys
    )
    assert result.exit_code == 0, result.output
    for name, body in bodies.items():
        assert (tmp_path / name).read_bytes() == body
    note = f"note: S3 bucket {EU_BUCKET} is in region eu-west-1, not us-east-1"
    assert result.stderr.count(note) == 1, result.stderr
    # The listing was refused once; everything after it was signed for eu-west-1 at once.
    assert scripted_s3.answered("redirected") == 1
    assert scripted_s3.answered("served") == 3 * 4  # 3 files x 4 ranges, none refused


def test_a_head_request_in_the_wrong_region_learns_it_from_the_header(
    scripted_s3: ScriptedS3, tmp_path: Path, capsys: CaptureFixture
) -> None:
    """An empty object is sized by HEAD, whose wrong-region answer has no body at all."""
    scripted_s3.put(EU_BUCKET, "data/empty.txt", b"")
    result = run_cli(["fetch", f"s3://{EU_BUCKET}/data/empty.txt", "-o", str(tmp_path)], capsys)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty.txt").read_bytes() == b""
    assert "is in region eu-west-1" in result.stderr


def test_boto3_follows_the_same_answers(scripted_s3: ScriptedS3) -> None:
    """botocore's own redirector accepts the scripted answers: they are AWS's shapes."""
    body = seed(scripted_s3, EU_BUCKET, ["boto.bin"], 1000)["boto.bin"]
    client = boto3.client(
        "s3",
        endpoint_url=scripted_s3.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIATEST",
        aws_secret_access_key="secret",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    assert client.get_object(Bucket=EU_BUCKET, Key="data/boto.bin")["Body"].read() == body
    assert scripted_s3.answered("redirected") == 1


def test_a_region_that_still_fails_is_named_with_the_endpoint(
    scripted_s3: ScriptedS3, tmp_path: Path, capsys: CaptureFixture
) -> None:
    scripted_s3.named_regions[EU_BUCKET] = "eu-central-1"  # a gateway that names the wrong one
    seed(scripted_s3, EU_BUCKET, ["x.bin"], 1000)
    started = time.monotonic()
    result = run_cli(["fetch", f"s3://{EU_BUCKET}/data/x.bin", "-o", str(tmp_path)], capsys)
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 10
    assert "even signed for region eu-central-1 at http://127.0.0.1:" in result.stderr
    assert "HTTP 400" not in result.stderr.replace("(HTTP 400)", "")
    assert not (tmp_path / "x.bin").exists()


# --- temporary credentials ----------------------------------------------------------------------

CREDENTIAL_PROCESS = """\
import json, sys, time
from datetime import datetime, timezone
lifetime_s = float(sys.argv[1])
with open(sys.argv[2], "a") as calls:
    calls.write("x")
now = time.time()
expires = now + lifetime_s
print(json.dumps({
    "Version": 1,
    "AccessKeyId": "ASIATEMPORARY",
    "SecretAccessKey": "temporary-secret",
    "SessionToken": f"token-issued-{now:.3f}-expires-{expires:.3f}",
    "Expiration": datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
}))
"""


# A run of ~10 s: ranges of 1 MiB, two at a time, half a MiB per second.
SLOW_RANGES = ["--chunk-size-mib", "1", "--limit-rate", "512k", "-j", "2"]


def credential_process_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lifetime_s: float
) -> Path:
    """The default profile gets its keys from credential_process (as SSO helpers, aws-vault
    and instance-role tools do); no keys in the environment."""
    script = tmp_path / "issue_token.py"
    script.write_text(CREDENTIAL_PROCESS)
    calls = tmp_path / "calls"
    config = tmp_path / "aws-config"
    config.write_text(
        f"[default]\ncredential_process = {sys.executable} {script} {lifetime_s} {calls}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    return calls


def token_times(token: str) -> tuple[float, float]:
    parts = token.split("-")
    return float(parts[2]), float(parts[4])


def test_urls_never_outlive_credentials_that_expire_every_few_seconds(
    scripted_s3: ScriptedS3, tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Tokens good for 4 s, a run of ~10 s: every range is signed with a live token."""
    calls = credential_process_profile(tmp_path, monkeypatch, lifetime_s=4)
    scripted_s3.token_valid = lambda token: time.time() < token_times(token)[1]
    bodies = seed(scripted_s3, US_BUCKET, ["a.bin", "b.bin"], 5 * MIB // 2)
    uris = [f"s3://{US_BUCKET}/data/{name}" for name in bodies]
    out = tmp_path / "out"
    started = time.monotonic()
    result = run_cli(["fetch", *uris, "-o", str(out), *SLOW_RANGES], capsys)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started > 6  # the run outlived its first tokens
    for name, body in bodies.items():
        assert (out / name).read_bytes() == body
    assert scripted_s3.answered("ExpiredToken") == 0
    assert len(calls.read_text()) >= 3  # credentials were fetched again as they ran out


def test_a_token_revoked_early_is_refreshed_and_the_range_repeated(
    scripted_s3: ScriptedS3, tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Tokens that claim an hour but are refused 2 s after issue (rotated by the provider, or
    a clock that runs ahead): S3's ExpiredToken refreshes the credentials, never stops the run."""
    calls = credential_process_profile(tmp_path, monkeypatch, lifetime_s=3600)
    scripted_s3.token_valid = lambda token: time.time() < token_times(token)[0] + 2
    bodies = seed(scripted_s3, US_BUCKET, ["a.bin", "b.bin"], 5 * MIB // 2)
    uris = [f"s3://{US_BUCKET}/data/{name}" for name in bodies]
    out = tmp_path / "out"
    result = run_cli(["fetch", *uris, "-o", str(out), *SLOW_RANGES], capsys)
    assert result.exit_code == 0, result.output
    for name, body in bodies.items():
        assert (out / name).read_bytes() == body
    assert scripted_s3.answered("ExpiredToken") >= 1
    assert len(calls.read_text()) >= 2


def test_expired_keys_from_the_environment_stop_the_run_with_exit_3(
    scripted_s3: ScriptedS3, tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Keys pasted into the environment cannot be refreshed: exit 3 at once, with the hint."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-issued-0-expires-1")
    scripted_s3.token_valid = lambda token: time.time() < token_times(token)[1]
    seed(scripted_s3, US_BUCKET, ["a.bin"], 1000)
    result = run_cli(["fetch", f"s3://{US_BUCKET}/data/a.bin", "-o", str(tmp_path)], capsys)
    assert result.exit_code == 3, result.output
    assert "ExpiredToken" in result.stderr and "aws sts get-caller-identity" in result.stderr
