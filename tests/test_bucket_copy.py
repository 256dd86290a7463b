"""A lab's own bucket as the destination (-o s3://BUCKET/PREFIX/): the files are streamed into it
through the engine, under the lab's own credentials, verified, and a re-run copies nothing."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from egoget import run
from tests.mirror import SeaweedServer
from tests.mirror.seed import MirrorObject, ensure_bucket, object_bytes

from .conftest import LAB_BUCKET, LAB_KEYS, LIMITED_KEYS, egoget_process, run_cli
from .proxy import PROXY_ONLY_HOST, Tinyproxy
from .test_resume_and_signals import finished_chunks, wait_for
from .tls import PrivateCa

CaptureFixture = pytest.CaptureFixture[str]
MIB = 1024 * 1024


@pytest.fixture
def lab_bucket(s3_server: SeaweedServer, tmp_path: Path) -> str:
    """An empty prefix in the lab's bucket, and an AWS profile `lab` with the lab's keys (which
    cannot read the dataset's buckets; the run reads those with the keys in the environment)."""
    ensure_bucket(s3_server.client(), LAB_BUCKET)
    credentials = Path(tmp_path / "home" / "aws-credentials")
    credentials.write_text(
        f"[lab]\naws_access_key_id = {LAB_KEYS[0]}\naws_secret_access_key = {LAB_KEYS[1]}\n"
    )
    return f"s3://{LAB_BUCKET}/{tmp_path.name}/"


def copies(s3_server: SeaweedServer, url: str) -> dict[str, dict[str, object]]:
    """Every object under the prefix, by its name below it: ETag and bytes."""
    client = s3_server.client()
    prefix = url.removeprefix(f"s3://{LAB_BUCKET}/")
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=LAB_BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=LAB_BUCKET, Key=item["Key"])["Body"].read()
            found[item["Key"][len(prefix) :]] = {"etag": item["ETag"], "bytes": body}
    return found


def source_etag(s3_server: SeaweedServer, obj: MirrorObject) -> str:
    return s3_server.client().head_object(Bucket=obj.bucket, Key=obj.key)["ETag"]


def the_only_copy_is(
    obj: MirrorObject, s3_server: SeaweedServer, lab_bucket: str
) -> dict[str, object]:
    """The prefix holds one object: ``obj``'s bytes, with its source's ETag."""
    (copy,) = copies(s3_server, lab_bucket).values()
    assert copy["bytes"] == object_bytes(obj.key, obj.size)
    assert copy["etag"] == source_etag(s3_server, obj)
    return copy


def test_a_release_copied_into_a_bucket_is_verified_and_a_rerun_copies_nothing(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], lab_bucket: str,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    state = tmp_path / "state"
    args = ["download", "ego4d", "--parts", "full_scale", "-y", "-o", lab_bucket,
            "--dest-profile", "lab", "--state-dir", str(state)]  # fmt: skip
    first = run_cli(args, capsys, report=tmp_path / "r1.json")
    assert first.exit_code == 0, first.output
    assert first.report is not None
    copied = copies(s3_server, lab_bucket)
    videos = {name: c for name, c in copied.items() if name.endswith(".mp4")}
    assert len(videos) == first.report["files_done"] > 0
    by_key = {o.key.rsplit("/", 1)[1]: o for o in demo_objects}
    for name, copy in videos.items():
        obj = by_key[name.rsplit("/", 1)[1]]
        assert copy["bytes"] == object_bytes(obj.key, obj.size), name
        # Cut into the source's own parts: the copy's ETag is the source's, multipart or not.
        assert copy["etag"] == source_etag(s3_server, obj), name
    assert any(by_key[n.rsplit("/", 1)[1]].multipart for n in videos), "no multipart source"
    # Nothing staged on local disk: the state dir holds egoget's ledger, what it plans from and
    # the bookkeeping it keeps adding to.
    local = {p.relative_to(state).parts[0] for p in state.rglob("*") if p.is_file()}
    assert local <= {".egoget", "planning", "records"}, local
    assert not any(p.suffix == ".mp4" for p in state.rglob("*"))
    # The layout of a local download, manifest.ver (the official CLI's record) included.
    folder = tmp_path / "local"
    assert run_cli([*args[:6], str(folder)], capsys).exit_code == 0
    local_tree = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".egoget" not in p.parts
    }
    assert {name: c["bytes"] for name, c in copied.items()} == local_tree
    assert any(name.endswith("manifest.ver") for name in local_tree)

    again = run_cli(args, capsys, report=tmp_path / "r2.json")
    assert again.exit_code == 0, again.output
    assert again.report is not None
    assert again.report["bytes_received"] == 0
    assert again.report["files_done"] == 0
    assert f"{len(videos)} already present" in again.stderr

    # A copy changed in the bucket behind egoget's back (same size, other bytes) is copied
    # again, and only that one.
    changed = sorted(videos)[0]
    prefix = lab_bucket.removeprefix(f"s3://{LAB_BUCKET}/")
    size = len(videos[changed]["bytes"])  # type: ignore[arg-type]
    s3_server.client().put_object(Bucket=LAB_BUCKET, Key=prefix + changed, Body=b"\0" * size)
    third = run_cli(args, capsys, report=tmp_path / "r3.json")
    assert third.exit_code == 0, third.output
    assert third.report is not None and third.report["files_done"] == 1
    obj = by_key[changed.rsplit("/", 1)[1]]
    assert copies(s3_server, lab_bucket)[changed]["bytes"] == object_bytes(obj.key, obj.size)


def test_a_multipart_object_is_copied_part_for_part(
    s3_server: SeaweedServer, large_object: MirrorObject, lab_bucket: str,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    """40 MiB in 8 parts of 5 MiB, fetched in 16 MiB chunks: sent as the same 8 parts."""
    result = run_cli(
        ["fetch", large_object.uri, "-o", lab_bucket, "--dest-profile", "lab",
         "--state-dir", str(tmp_path / "state")],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    copy = the_only_copy_is(large_object, s3_server, lab_bucket)
    assert str(copy["etag"]).endswith('-8"')


def test_the_destination_uses_its_own_credentials(
    demo_objects: list[MirrorObject], lab_bucket: str, tmp_path: Path, capsys: CaptureFixture
) -> None:
    """The lab's keys cannot read the dataset, and the dataset's keys are not the lab's: a
    profile that does not exist, or keys the store refuses, stop the run before any copy."""
    obj = next(o for o in demo_objects if o.key.endswith(".mp4"))
    missing = run_cli(
        ["fetch", obj.uri, "-o", lab_bucket, "--dest-profile", "nosuch",
         "--state-dir", str(tmp_path / "s1")],
        capsys,
    )  # fmt: skip
    assert missing.exit_code == 3, missing.output
    assert "AWS profile 'nosuch' does not exist" in missing.stderr
    assert "Traceback" not in missing.output

    credentials = Path(tmp_path / "home" / "aws-credentials")
    credentials.write_text(
        "[wrong]\naws_access_key_id = NOPE\naws_secret_access_key = nope\n"
        f"[limited]\naws_access_key_id = {LIMITED_KEYS[0]}\n"
        f"aws_secret_access_key = {LIMITED_KEYS[1]}\n"
    )
    # Keys the store knows, without access to the lab's bucket: the hint is the destination's.
    denied = run_cli(
        ["fetch", obj.uri, "-o", lab_bucket, "--dest-profile", "limited",
         "--state-dir", str(tmp_path / "s0")],
        capsys,
    )  # fmt: skip
    assert denied.exit_code in (1, 3), denied.output
    assert "--dest-profile" in denied.stderr and "--aws-profile" not in denied.stderr
    refused = run_cli(
        ["fetch", obj.uri, "-o", lab_bucket, "--dest-profile", "wrong",
         "--state-dir", str(tmp_path / "s2")],
        capsys,
    )  # fmt: skip
    assert refused.exit_code == 3, refused.output
    assert "Traceback" not in refused.output


def test_bucket_options_without_a_bucket_and_steps_a_bucket_cannot_hold_are_refused(
    tmp_path: Path, capsys: CaptureFixture
) -> None:
    local = run_cli(["fetch", "s3://x/y", "-o", str(tmp_path / "out"), "--dest-profile", "lab"],
                    capsys)  # fmt: skip
    assert local.exit_code == 2, local.output
    assert "--dest-profile: only with a bucket output" in local.stderr
    nobucket = run_cli(["fetch", "s3://x/y", "-o", "s3://"], capsys)
    assert nobucket.exit_code == 2 and "names no bucket" in nobucket.stderr
    other = run_cli(["fetch", "s3://x/y", "-o", "gs://bucket/p"], capsys)
    assert other.exit_code == 2 and "is a URL" in other.stderr
    assert not (tmp_path / "out").exists()


def test_a_config_file_names_the_bucket_too(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], lab_bucket: str,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    obj = next(o for o in demo_objects if o.key.endswith(".mp4"))
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"output_directory": lab_bucket, "dest_profile": "lab",
                                  "state_dir": str(tmp_path / "state")}))  # fmt: skip
    result = run_cli(["fetch", obj.uri, "--config", str(config)], capsys)
    assert result.exit_code == 0, result.output
    (copy,) = copies(s3_server, lab_bucket).values()
    assert copy["bytes"] == object_bytes(obj.key, obj.size)


def test_a_killed_copy_resumes_its_upload_and_sends_only_the_missing_parts(
    s3_server: SeaweedServer, large_object: MirrorObject, lab_bucket: str,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    state = tmp_path / "state"
    chunk = 5 * MIB
    args = ["fetch", large_object.uri, "-o", lab_bucket, "--dest-profile", "lab",
            "--state-dir", str(state), "-j", "2", "--chunk-size-mib", "5"]  # fmt: skip
    process = egoget_process([*args, "--limit-rate", "10M"])
    wait_for(lambda: finished_chunks(state) >= 3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = finished_chunks(state)
    assert 3 <= done < large_object.size // chunk, "the kill must land mid-file"
    prefix = lab_bucket.removeprefix(f"s3://{LAB_BUCKET}/")
    client = s3_server.client()
    (upload,) = client.list_multipart_uploads(Bucket=LAB_BUCKET, Prefix=prefix)["Uploads"]
    with sqlite3.connect(state / ".egoget" / "ledger.sqlite") as db:
        (recorded,) = db.execute("SELECT upload_id FROM uploads").fetchone()
    assert recorded == upload["UploadId"]

    rerun = run_cli(args, capsys, report=tmp_path / "rerun.json")
    assert rerun.exit_code == 0, rerun.output
    assert rerun.report is not None
    assert rerun.report["bytes_received"] == large_object.size - done * chunk
    the_only_copy_is(large_object, s3_server, lab_bucket)
    assert not client.list_multipart_uploads(Bucket=LAB_BUCKET, Prefix=prefix).get("Uploads")


def test_a_single_part_object_cut_into_parts_is_checked_by_reading_the_copy_back(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], lab_bucket: str,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    """Its ETag is the MD5 of the whole, which no chunk's hash gives: the copy (in 5 MiB parts,
    so with an ETag of its own) is read back and its MD5 compared."""
    obj = next(o for o in demo_objects if not o.multipart and o.size > 5 * MIB)
    state = tmp_path / "state"
    result = run_cli(
        ["fetch", obj.uri, "-o", lab_bucket, "--dest-profile", "lab", "--state-dir", str(state),
         "--chunk-size-mib", "1"],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (copy,) = copies(s3_server, lab_bucket).values()
    assert copy["bytes"] == object_bytes(obj.key, obj.size)
    parts = -(-obj.size // (5 * MIB))  # --chunk-size-mib 1 is raised to S3's least part
    assert str(copy["etag"]).endswith(f'-{parts}"')
    with sqlite3.connect(state / ".egoget" / "ledger.sqlite") as db:
        (checked,) = db.execute("SELECT checked FROM files").fetchone()
    assert checked == "size+md5"


def test_objects_another_tool_copied_are_kept_when_their_content_is_the_sources(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], lab_bucket: str,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    """Same content in the same parts: the same ETag, kept without reading it. The same content
    in other parts (aws s3 cp's 8 MiB) has another ETag: read back, its source's multipart ETag
    recomputed, kept. The right size with other bytes: copied again."""
    from boto3.s3.transfer import TransferConfig

    videos = [o for o in demo_objects if "/full_scale/" in o.key and o.key.endswith(".mp4")]
    same = next(o for o in videos if not o.multipart)
    other_parts = next(o for o in videos if o.multipart and o.size > 8 * MIB)
    wrong = next(o for o in videos if o not in (same, other_parts))
    client = s3_server.client()
    prefix = lab_bucket.removeprefix(f"s3://{LAB_BUCKET}/")
    args = ["download", "ego4d", "--parts", "full_scale", "-y", "-o", lab_bucket,
            "--dest-profile", "lab", "--state-dir", str(tmp_path / "state")]  # fmt: skip
    for obj in (same, other_parts, wrong):
        body = object_bytes(obj.key, obj.size) if obj is not wrong else b"\0" * obj.size
        client.upload_fileobj(
            io.BytesIO(body), LAB_BUCKET, f"{prefix}v2/full_scale/{obj.key.rsplit('/', 1)[1]}",
            Config=TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB),
        )  # fmt: skip

    result = run_cli(args, capsys, report=tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "1 file found in the bucket with the source's size and ETag kept" in result.stderr
    assert "1 of 2 files found in the bucket match and are kept" in result.stderr
    assert result.report is not None and result.report["files_adopted"] == 2
    assert list(result.report["fetched_again"]) == [f"v2/full_scale/{wrong.key.rsplit('/', 1)[1]}"]
    total = sum(o.size for o in videos)
    assert result.report["bytes_received"] == total - same.size - other_parts.size
    copied = copies(s3_server, lab_bucket)
    for obj in videos:
        copy = copied["v2/full_scale/" + obj.key.rsplit("/", 1)[1]]
        assert copy["bytes"] == object_bytes(obj.key, obj.size)
        # The one kept in its own parts keeps its own ETag; the ledger knows it by that.
        assert (copy["etag"] == source_etag(s3_server, obj)) is (obj is not other_parts)
    again = run_cli(args, capsys, report=tmp_path / "again.json")
    assert again.exit_code == 0 and again.report is not None
    assert again.report["bytes_received"] == 0 and again.report["files_adopted"] == 0


def test_ctrl_c_mid_copy_then_a_rerun_completes_it(
    s3_server: SeaweedServer, large_object: MirrorObject, lab_bucket: str, tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    """Ctrl-C abandons the files in flight: a chunk fetched but not yet sent must not be
    recorded as sent, or every later run fails completing the upload."""
    state = tmp_path / "state"
    args = ["fetch", large_object.uri, "-o", lab_bucket, "--dest-profile", "lab",
            "--state-dir", str(state), "-j", "2", "--chunk-size-mib", "5"]  # fmt: skip
    process = egoget_process([*args, "--limit-rate", "6M"])
    wait_for(lambda: finished_chunks(state) >= 2)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    rerun = run_cli(args, capsys)
    assert rerun.exit_code == 0, rerun.output
    the_only_copy_is(large_object, s3_server, lab_bucket)


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """Accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for connection in accepted:
        connection.close()


@pytest.mark.parametrize("endpoint", ["closed", "silent"])
def test_a_destination_that_cannot_be_reached_fails_fast_naming_the_dest_options(
    endpoint: str, demo_objects: list[MirrorObject], silent_endpoint: str, tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    obj = next(o for o in demo_objects if o.key.endswith(".mp4"))
    url = "http://127.0.0.1:1" if endpoint == "closed" else silent_endpoint
    started = time.monotonic()
    result = run_cli(
        ["fetch", obj.uri, "-o", "s3://lab-copy/x/", "--dest-endpoint-url", url,
         "--stall-timeout", "1", "--state-dir", str(tmp_path / "state")],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 6, result.output
    assert time.monotonic() - started < 20
    assert "cannot reach the destination s3://lab-copy/x/" in result.stderr
    assert "--dest-endpoint-url" in result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.output


def test_verify_refuses_a_copys_state_dir_and_forgets_nothing(
    demo_objects: list[MirrorObject], lab_bucket: str, tmp_path: Path, capsys: CaptureFixture
) -> None:
    obj = next(o for o in demo_objects if o.key.endswith(".mp4"))
    state = tmp_path / "state"
    args = ["fetch", obj.uri, "-o", lab_bucket, "--dest-profile", "lab", "--state-dir", str(state)]
    assert run_cli(args, capsys).exit_code == 0
    refused = run_cli(["verify", "-o", str(state)], capsys)
    assert refused.exit_code == 2, refused.output
    assert "keeps the ledger of a copy in a bucket" in refused.stderr
    status = run_cli(["status", "-o", str(state)], capsys)
    assert status.exit_code == 0 and "verified: 1 file" in status.output
    again = run_cli(args, capsys, report=tmp_path / "r.json")
    assert again.exit_code == 0 and again.report is not None
    assert again.report["bytes_received"] == 0


def test_a_labs_store_behind_a_proxy_with_a_private_ca(
    s3_server: SeaweedServer, large_object: MirrorObject, forward_proxy: Tinyproxy,
    private_ca: PrivateCa, lab_bucket: str, tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The destination only the proxy can resolve, over TLS signed by the lab's own CA: the
    copy goes through a CONNECT tunnel and trusts --ca-bundle; without it, exit 6 at once."""
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url())
    dest = ["-o", lab_bucket, "--dest-profile", "lab", "--dest-endpoint-url",
            s3_server.https_endpoint_url(PROXY_ONLY_HOST)]  # fmt: skip
    started = time.monotonic()
    untrusted = run_cli(
        ["fetch", large_object.uri, *dest, "--state-dir", str(tmp_path / "s1")], capsys
    )
    assert untrusted.exit_code == 6, untrusted.output
    assert time.monotonic() - started < 15
    assert "--ca-bundle" in untrusted.stderr and "Traceback" not in untrusted.output

    before = len(forward_proxy.requests_seen())
    result = run_cli(
        ["fetch", large_object.uri, *dest, "--ca-bundle", str(private_ca.ca_file),
         "--state-dir", str(tmp_path / "s2")],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    the_only_copy_is(large_object, s3_server, lab_bucket)
    seen = forward_proxy.requests_seen()[before:]
    assert seen and all(line.startswith(f"CONNECT {PROXY_ONLY_HOST}:") for line in seen), seen


def test_shares_copied_from_two_machines_make_the_whole_release_and_one_manifest_ver(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], lab_bucket: str,
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Each share from its own state dir (its own machine), share 2 running from start to end
    while share 1 is between its plan and its transfer (a job array's tasks start together):
    together, exactly the unsharded copy, and manifest.ver in the bucket lists both shares'
    files, as a local download's."""
    base = ["download", "ego4d", "--parts", "full_scale", "-y"]

    def share(k: int) -> None:
        result = run_cli([*base, "-o", lab_bucket, "--dest-profile", "lab", "--shard", f"{k}/2",
                          "--state-dir", str(tmp_path / f"state-{k}")], capsys)  # fmt: skip
        assert result.exit_code == 0, result.output

    transfer = run.OutputSession.transfer
    overlapped: list[bool] = []

    def share_2_meanwhile(session: run.OutputSession, *args: Any) -> Any:
        if session.config.bucket_output and not overlapped and len(args[0]) > 1:
            overlapped.append(True)
            share(2)
        return transfer(session, *args)

    monkeypatch.setattr(run.OutputSession, "transfer", share_2_meanwhile)
    share(1)
    assert overlapped
    monkeypatch.setattr(run.OutputSession, "transfer", transfer)
    local = tmp_path / "local"
    assert run_cli([*base, "-o", str(local)], capsys).exit_code == 0
    copied = copies(s3_server, lab_bucket)
    videos = sorted(p.relative_to(local).as_posix() for p in local.rglob("*.mp4"))
    assert sorted(n for n in copied if n.endswith(".mp4")) == videos
    version_file = "v2/full_scale/manifest.ver"

    def rows(text: bytes) -> set[str]:
        return set(text.decode().splitlines())

    assert rows(copied[version_file]["bytes"]) == rows((local / version_file).read_bytes())  # type: ignore[arg-type]
    assert len(rows((local / version_file).read_bytes())) == len(videos) + 1  # + the header


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("s3://lab-copy/../x/", "not a usable prefix"),
        ("s3://lab-copy/a//b/", "not a usable prefix"),
        ("s3:///x", "names no bucket"),
        ("s3://lab*bucket/x/", "not a valid bucket name"),
    ],
)
def test_a_bucket_output_that_cannot_be_right_is_refused_before_anything(
    output: str, expected: str, tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    result = run_cli(["download", "ego4d", "--parts", "full_scale", "-y", "-o", output], capsys)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("flag", ["--dest-endpoint-url", "--endpoint-url"])
def test_an_endpoint_without_a_scheme_is_refused(
    flag: str, lab_bucket: str, tmp_path: Path, capsys: CaptureFixture
) -> None:
    result = run_cli(
        ["fetch", "s3://x/y", "-o", lab_bucket, flag, "127.0.0.1:9000",
         "--state-dir", str(tmp_path / "state")],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "'127.0.0.1:9000' is not an http:// or https:// URL" in result.stderr
    assert "internal error" not in result.output


def test_the_plan_the_question_and_the_report_name_the_bucket(
    demo_objects: list[MirrorObject], lab_bucket: str, tmp_path: Path, capsys: CaptureFixture
) -> None:
    obj = next(o for o in demo_objects if o.key.endswith(".mp4"))
    args = ["fetch", obj.uri, "-o", lab_bucket, "--dest-profile", "lab",
            "--state-dir", str(tmp_path / "state")]  # fmt: skip
    dry = run_cli([*args, "--dry-run"], capsys, report=tmp_path / "dry.json")
    assert dry.exit_code == 0, dry.output
    assert f"into {lab_bucket}" in dry.stderr
    assert dry.report is not None and dry.report["destination"] == lab_bucket
    typo = run_cli([*args[:1], obj.uri, "-o", lab_bucket, "--dest-profile", "labb",
                    "--state-dir", str(tmp_path / "s2")], capsys)  # fmt: skip
    assert typo.exit_code == 3, typo.output
    assert "--dest-profile" in typo.stderr and "--aws-profile" not in typo.stderr


def test_an_empty_endpoint_means_none_as_it_always_did(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    """`--endpoint-url "$S3_ENDPOINT"` with the variable unset: the default endpoint."""
    obj = next(o for o in demo_objects if o.key.endswith(".mp4"))
    result = run_cli(["fetch", obj.uri, "-o", str(tmp_path / "out"), "--endpoint-url", ""],
                     capsys)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / obj.key.rsplit("/", 1)[1]).stat().st_size == obj.size


@pytest.mark.parametrize(
    ("response", "is_md5"),
    [
        ({}, True),  # plaintext, as SeaweedFS answers
        ({"ServerSideEncryption": "AES256"}, True),  # SSE-S3
        ({"ServerSideEncryption": "aws:kms"}, False),
        ({"ServerSideEncryption": "aws:kms:dsse"}, False),
        ({"SSECustomerAlgorithm": "AES256"}, False),
    ],
)
def test_an_etag_is_taken_for_an_md5_only_where_s3_makes_it_one(
    response: dict[str, str], is_md5: bool
) -> None:
    """The mirror has no KMS: the response shapes of the S3 API reference, where a copy's part
    and object ETags would otherwise fail a store that encrypts with its own keys."""
    from egoget.transfer.upload import etag_is_md5

    assert etag_is_md5(response) is is_md5
