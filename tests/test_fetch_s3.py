"""Whole downloads from a real S3 server (SeaweedFS), checked byte for byte."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from egoget.run import StatsElsewhere
from tests.mirror import SeaweedServer
from tests.mirror.seed import CONSORTIUM_BUCKET, MirrorObject, object_bytes, put_object

from .conftest import assert_same_bytes, no_part_files, run_cli

CaptureFixture = pytest.CaptureFixture[str]
MIB = 1024 * 1024


def videos(objects: list[MirrorObject]) -> list[MirrorObject]:
    return [o for o in objects if o.key.endswith(".mp4")]


def test_fetch_prefix_downloads_every_object_byte_for_byte(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    out = tmp_path / "out"
    result = run_cli(
        ["fetch", f"s3://{CONSORTIUM_BUCKET}/public/v2_1/", "-o", str(out)],
        capsys,
        report=tmp_path / "report.json",
    )
    assert result.exit_code == 0, result.output
    consortium = [o for o in demo_objects if o.bucket == CONSORTIUM_BUCKET]
    for obj in consortium:
        relative = obj.key.removeprefix("public/v2_1/")
        assert (out / relative).read_bytes() == object_bytes(obj.key, obj.size) or (
            (out / relative).stat().st_size == obj.size
        )
    assert result.report is not None
    assert result.report["files_done"] == len(consortium)
    assert not no_part_files(out)


def test_fetch_videos_verifies_multipart_etags(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    out = tmp_path / "out"
    uris = [o.uri for o in videos(demo_objects)]
    result = run_cli(["fetch", *uris, "-o", str(out), "--chunk-size-mib", "5"], capsys)
    assert result.exit_code == 0, result.output
    for obj in videos(demo_objects):
        assert_same_bytes(out / obj.key.rsplit("/", 1)[1], obj)
    ledger = sqlite3.connect(out / ".egoget" / "ledger.sqlite")
    checked = dict(ledger.execute("SELECT dest, checked FROM files").fetchall())
    for obj in videos(demo_objects):
        name = obj.key.rsplit("/", 1)[1]
        assert ("etag-multipart" if obj.multipart else "md5") in checked[name], checked


@pytest.mark.parametrize("looked_up", ["by name", "whole ledger read", "statted by a child"])
def test_rerun_of_finished_download_transfers_nothing(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch, looked_up: str,
) -> None:  # fmt: skip
    children = []
    if looked_up != "by name":
        # What a plan of more than 10,000 files does.
        monkeypatch.setattr("egoget.ledger._FEW_FILES", 0)
    if looked_up == "statted by a child":
        # What a plan of more than 50,000 does (in a process of one thread: fixtures' servers
        # may run threads in this one).
        monkeypatch.setattr("egoget.run.STAT_ELSEWHERE_MIN_FILES", 0)
        monkeypatch.setattr("egoget.processes.fork_is_safe", lambda: True)
        result = StatsElsewhere.result
        monkeypatch.setattr(StatsElsewhere, "result",
                            lambda self: children.append(result(self)) or children[-1])  # fmt: skip
    out = tmp_path / "out"
    files = videos(demo_objects)
    args = ["fetch", *(o.uri for o in files), "-o", str(out)]
    assert run_cli(args, capsys).exit_code == 0
    assert len(files) >= 3
    on_disk = [out / obj.key.rsplit("/", 1)[1] for obj in files]
    on_disk[0].write_bytes(b"changed by hand")
    on_disk[1].unlink()
    mtime = on_disk[2].stat().st_mtime_ns
    os.utime(on_disk[2], ns=(mtime, mtime + 1))  # the same size, touched
    again = run_cli(args, capsys, report=tmp_path / "again.json")
    assert again.exit_code == 0, again.output
    assert again.report is not None
    # The touched file is read on disk and found the same (adopted), the other two fetched.
    assert again.report["bytes_received"] == files[0].size + files[1].size
    assert again.report["files_adopted"] == 1
    assert again.report["files_present"] == len(files) - 2
    assert all(stats is not None for stats in children)
    assert bool(children) == (looked_up == "statted by a child")
    again = run_cli(args, capsys, report=tmp_path / "again.json")
    assert again.exit_code == 0, again.output
    assert again.report is not None
    assert again.report["bytes_received"] == 0
    assert again.report["files_present"] == len(videos(demo_objects))


def test_locally_modified_file_is_fetched_again(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    obj = videos(demo_objects)[0]
    out = tmp_path / "out"
    assert run_cli(["fetch", obj.uri, "-o", str(out)], capsys).exit_code == 0
    target = out / obj.key.rsplit("/", 1)[1]
    target.write_bytes(b"truncated by a careless script")
    result = run_cli(["fetch", obj.uri, "-o", str(out)], capsys, report=tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert_same_bytes(target, obj)
    assert result.report is not None and result.report["bytes_received"] == obj.size


def test_verify_full_detects_a_flipped_byte_and_the_next_run_repairs_it(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    obj = next(o for o in videos(demo_objects) if o.multipart)
    out = tmp_path / "out"
    assert run_cli(["fetch", obj.uri, "-o", str(out)], capsys).exit_code == 0
    target = out / obj.key.rsplit("/", 1)[1]
    assert run_cli(["verify", "-o", str(out), "--full"], capsys).exit_code == 0
    with open(target, "r+b") as f:
        f.seek(obj.size // 2)
        byte = f.read(1)
        f.seek(obj.size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    # Size-only verification cannot see it; --full must.
    assert run_cli(["verify", "-o", str(out)], capsys).exit_code == 0
    bad = run_cli(["verify", "-o", str(out), "--full"], capsys)
    assert bad.exit_code == 1
    assert "multipart ETag" in bad.stderr
    assert run_cli(["fetch", obj.uri, "-o", str(out)], capsys).exit_code == 0
    assert_same_bytes(target, obj)


def test_remote_replaced_between_runs_is_downloaded_again(
    s3_server: SeaweedServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    client = s3_server.client()
    client.create_bucket(Bucket="egoget-replaced")
    first = object_bytes("first", 3 * 1024 * 1024)
    put_object(client, "egoget-replaced", "data/file.bin", first, multipart=False)
    out = tmp_path / "out"
    args = ["fetch", "s3://egoget-replaced/data/", "-o", str(out)]
    assert run_cli(args, capsys).exit_code == 0
    second = object_bytes("second", 3 * 1024 * 1024)
    put_object(client, "egoget-replaced", "data/file.bin", second, multipart=False)
    result = run_cli(args, capsys)
    assert result.exit_code == 0, result.output
    assert (out / "file.bin").read_bytes() == second


def test_missing_object_fails_with_exit_1_and_names_it(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    good = videos(demo_objects)[0]
    missing = f"s3://{good.bucket}/public/v2_1/full_scale/no-such-video.mp4"
    result = run_cli(["fetch", good.uri, missing, "-o", str(tmp_path / "o")], capsys)
    assert result.exit_code == 1
    assert "no-such-video.mp4" in result.stderr
    assert "does not exist" in result.stderr
    assert_same_bytes(tmp_path / "o" / good.key.rsplit("/", 1)[1], good)


@pytest.mark.parametrize("target", ["object", "listing"])
def test_wrong_secret_key_is_exit_3_with_a_hint(
    target: str,
    demo_objects: list[MirrorObject],
    tmp_path: Path,
    capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    uri = videos(demo_objects)[0].uri
    if target == "listing":
        uri = f"s3://{CONSORTIUM_BUCKET}/public/v2_1/"
    result = run_cli(["fetch", uri, "-o", str(tmp_path / "o")], capsys)
    assert result.exit_code == 3, result.output
    assert "SignatureDoesNotMatch" in result.stderr or "InvalidAccessKeyId" in result.stderr
    assert "hint:" in result.stderr
    assert "not-the-secret" not in result.output


def test_no_credentials_is_exit_3_with_a_hint(
    demo_objects: list[MirrorObject],
    tmp_path: Path,
    capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run_cli(["fetch", videos(demo_objects)[0].uri, "-o", str(tmp_path / "o")], capsys)
    assert result.exit_code == 3, result.output
    assert "no AWS credentials" in result.stderr
    assert "aws configure" in result.stderr


def test_endpoint_url_flag_overrides_environment(
    demo_objects: list[MirrorObject],
    s3_server: SeaweedServer,
    tmp_path: Path,
    capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    obj = videos(demo_objects)[0]
    result = run_cli(
        ["fetch", obj.uri, "-o", str(tmp_path / "o"), "--endpoint-url", s3_server.endpoint_url],
        capsys,
    )
    assert result.exit_code == 0, result.output
    assert_same_bytes(tmp_path / "o" / obj.key.rsplit("/", 1)[1], obj)


def test_keys_and_session_token_never_reach_output_report_or_ledger(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch, s3_server: SeaweedServer,
) -> None:  # fmt: skip
    token = "FQoGZXIvYXdzEXAMPLESESSIONTOKENVALUE"
    secrets = (s3_server.secret_key, token, "X-Amz-Signature", "X-Amz-Credential")
    monkeypatch.setenv("EGOGET_DEBUG", "1")  # tracebacks on: they must be clean too
    objects = videos(demo_objects)[:2]
    missing = f"s3://{objects[0].bucket}/nope.mp4"
    # A run that works (one object missing, so error paths print too), then one whose session
    # token the server rejects.
    for name, expected_exit in (("ok", 1), ("token", 3)):
        if name == "token":
            monkeypatch.setenv("AWS_SESSION_TOKEN", token)
        out = tmp_path / name
        result = run_cli(["fetch", *(o.uri for o in objects), missing, "-o", str(out)], capsys,
                         report=tmp_path / f"{name}.json")  # fmt: skip
        assert result.exit_code == expected_exit, result.output
        ledger = "\n".join(sqlite3.connect(out / ".egoget" / "ledger.sqlite").iterdump())
        for text in (result.output, (tmp_path / f"{name}.json").read_text(), ledger):
            for secret in secrets:
                assert secret not in text, (name, secret)


def test_verify_shows_progress_on_long_rehashes(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    objects = videos(demo_objects)
    out = tmp_path / "o"
    assert run_cli(["fetch", *(o.uri for o in objects), "-o", str(out)], capsys).exit_code == 0
    monkeypatch.setattr("egoget.cli.progress.PLAIN_PROGRESS_INTERVAL_S", 0.0)
    result = run_cli(["verify", "-o", str(out), "--full"], capsys)
    assert result.exit_code == 0, result.output
    assert f"{len(objects)}/{len(objects)} files" in result.stderr
    quiet = run_cli(["verify", "-o", str(out), "--full", "-q"], capsys)
    assert "files," not in quiet.stderr
    assert f"{len(objects)} ok, 0 bad" in quiet.stdout


ODD_KEYS = ["odd/a b+c.bin", "odd/ünï%20code.bin", "odd/deep/x&y<z>.bin", "odd/plain.bin"]


def test_listing_across_pages_keeps_every_key_however_spelled(
    s3_server: SeaweedServer,
    tmp_path: Path,
    capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = s3_server.client()
    bodies = {key: object_bytes(key, 1000 + i) for i, key in enumerate(ODD_KEYS)}
    for key, body in bodies.items():
        client.put_object(Bucket=CONSORTIUM_BUCKET, Key=key, Body=body)
    monkeypatch.setattr("egoget.sources.s3.LISTING_PAGE_KEYS", 1)  # four pages
    out = tmp_path / "out"
    result = run_cli(["fetch", f"s3://{CONSORTIUM_BUCKET}/odd/", "-o", str(out)], capsys)
    assert result.exit_code == 0, result.output
    for key, body in bodies.items():
        assert (out / key.removeprefix("odd/")).read_bytes() == body
    assert sorted(p.name for p in out.rglob("*.bin")) == sorted(k.rsplit("/")[-1] for k in ODD_KEYS)


def write_profile(s3_server: SeaweedServer, name: str, secret: str) -> None:
    path = Path.home() / "aws-credentials"
    path.write_text(
        f"[{name}]\naws_access_key_id = {s3_server.access_key}\naws_secret_access_key = {secret}\n"
    )


def test_named_profile_supplies_credentials_and_wins_over_the_environment(
    demo_objects: list[MirrorObject],
    s3_server: SeaweedServer,
    tmp_path: Path,
    capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_profile(s3_server, "mirror", s3_server.secret_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "stale-secret-in-the-environment")
    obj = videos(demo_objects)[0]
    prefix = obj.uri.rsplit("/", 1)[0] + "/"
    out = tmp_path / "o"
    result = run_cli(["fetch", prefix, "-o", str(out), "--aws-profile", "mirror"], capsys)
    assert result.exit_code == 0, result.output
    assert_same_bytes(out / obj.key.rsplit("/", 1)[1], obj)

    write_profile(s3_server, "mirror", "wrong-secret-in-the-profile")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    again = run_cli(
        ["fetch", prefix, "-o", str(tmp_path / "o2"), "--aws-profile", "mirror"], capsys
    )
    assert again.exit_code == 3, again.output


def test_unknown_profile_is_exit_3_naming_it(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    prefix = f"s3://{CONSORTIUM_BUCKET}/public/v2_1/"
    result = run_cli(["fetch", prefix, "-o", str(tmp_path / "o"), "--aws-profile", "nope"], capsys)
    assert result.exit_code == 3, result.output
    assert "'nope' does not exist" in result.stderr
    assert "hint:" in result.stderr


def test_a_mirror_run_with_keys_in_the_environment_never_imports_botocore(
    s3_server: SeaweedServer, tmp_path: Path
) -> None:
    """Importing botocore and building a client cost a third of a second per run: listings,
    sizes of named objects and multipart part sizes need neither. Nor does a run this size
    need multiprocessing (child processes serve plans of 50,000 files and more) or pydantic
    (0.18 s, no longer used)."""
    client = s3_server.client()
    for i in range(3):
        client.put_object(Bucket=CONSORTIUM_BUCKET, Key=f"light/{i}.bin", Body=b"x" * (i + 1))
    parts = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    multipart = object_bytes("light/multi.bin", 11 * MIB)
    client.upload_fileobj(io.BytesIO(multipart), CONSORTIUM_BUCKET, "light/multi.bin", Config=parts)
    client.put_object(Bucket=CONSORTIUM_BUCKET, Key="named/empty.bin", Body=b"")
    client.put_object(Bucket=CONSORTIUM_BUCKET, Key="named/one.bin", Body=b"named")
    script = (
        "import sys\nfrom egoget.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "finally:\n    heavy = ('botocore', 'multiprocessing', 'pydantic')\n"
        "    print('loaded:', [m for m in heavy if m in sys.modules], file=sys.stderr)\n"
    )
    out = tmp_path / "out"
    uris = [
        f"s3://{CONSORTIUM_BUCKET}/{key}" for key in ("light/", "named/empty.bin", "named/one.bin")
    ]
    done = subprocess.run(
        [sys.executable, "-c", script, "fetch", *uris, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "2.bin").read_bytes() == b"xxx"
    assert (out / "multi.bin").read_bytes() == multipart
    assert (out / "empty.bin").read_bytes() == b""
    assert (out / "one.bin").read_bytes() == b"named"
    ledger = sqlite3.connect(out / ".egoget" / "ledger.sqlite")
    checked = dict(ledger.execute("SELECT dest, checked FROM files").fetchall())
    assert "etag-multipart" in checked["multi.bin"], checked
    assert "loaded: []" in done.stderr, done.stderr


def test_files_already_on_disk_are_checked_by_hash_or_by_size_when_asked(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    """A copy put in place by hand, egoget's ledger knowing nothing of it: kept when its
    content matches; with --trust-existing size, kept on its size alone (said so)."""
    obj = next(o for o in demo_objects if o.key.endswith(".mp4") and not o.multipart)
    name = obj.key.rsplit("/", 1)[1]
    good, lookalike = tmp_path / "good", tmp_path / "lookalike"
    for folder in (good, lookalike):
        folder.mkdir()
    (good / name).write_bytes(object_bytes(obj.key, obj.size))
    (lookalike / name).write_bytes(b"\0" * obj.size)  # the right size, the wrong bytes

    kept = run_cli(["fetch", obj.uri, "-o", str(good)], capsys, report=tmp_path / "r1.json")
    assert kept.exit_code == 0, kept.output
    assert kept.report and kept.report["files_adopted"] == 1
    assert kept.report["bytes_received"] == 0
    assert "1 of 1 files found on disk match and are kept" in kept.stderr

    dry = run_cli(["fetch", obj.uri, "-o", str(lookalike), "--dry-run"], capsys)
    assert "1 of the files to fetch are already on disk" in dry.stderr

    by_size = run_cli(["fetch", obj.uri, "-o", str(lookalike), "--trust-existing", "size"],
                      capsys, report=tmp_path / "r2.json")  # fmt: skip
    assert by_size.exit_code == 0 and by_size.report
    assert by_size.report["files_adopted"] == 1 and by_size.report["bytes_received"] == 0
    assert "(by size: --trust-existing size)" in by_size.stderr

    (lookalike / ".egoget" / "ledger.sqlite").unlink()
    by_hash = run_cli(["fetch", obj.uri, "-o", str(lookalike)], capsys,
                      report=tmp_path / "r3.json")  # fmt: skip
    assert by_hash.exit_code == 0 and by_hash.report
    assert by_hash.report["files_adopted"] == 0 and by_hash.report["bytes_received"] == obj.size
    assert "MD5" in by_hash.report["fetched_again"][name]
    assert_same_bytes(lookalike / name, obj)
