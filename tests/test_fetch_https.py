"""HTTP(S) URLs against a real local server with Range and If-Range."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from tests.mirror import SeaweedServer
from tests.mirror.seed import MirrorObject, object_bytes

from .conftest import expired_link, no_part_files, run_cli
from .httpserver import ContentServer

CaptureFixture = pytest.CaptureFixture[str]
MIB = 1024 * 1024
SECRET_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIASECRETCRED"
    "&X-Amz-Signature=deadbeefsecretsignature"
)


def test_fetch_urls_in_ranged_chunks_pinned_with_if_range(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    body = object_bytes("clip", 9 * MIB + 17)
    http_server.files["/videos/clip.mp4"] = body
    url = f"{http_server.base_url}/videos/clip.mp4"
    result = run_cli(["fetch", url, "-o", str(tmp_path), "--chunk-size-mib", "2"], capsys)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "clip.mp4").read_bytes() == body
    ranged = [
        r["headers"] for r in http_server.requests if r["headers"].get("Range") != "bytes=0-0"
    ]
    assert sorted(h["Range"] for h in ranged) == sorted(
        f"bytes={s}-{min(len(body), s + 2 * MIB) - 1}" for s in range(0, len(body), 2 * MIB)
    )
    assert {h.get("If-Range") for h in ranged} == {ContentServer.etag(body)}


def test_remote_changed_mid_download_restarts_instead_of_splicing(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    old = object_bytes("old", 8 * MIB)
    new = object_bytes("new", 8 * MIB)
    http_server.files["/v.mp4"] = old
    http_server.replace_after_bytes = (3 * MIB, "/v.mp4", new)
    result = run_cli(
        ["fetch", f"{http_server.base_url}/v.mp4", "-o", str(tmp_path), "--chunk-size-mib", "1",
         "-j", "2"],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "restarting v.mp4" in result.stderr
    assert (tmp_path / "v.mp4").read_bytes() == new


def test_server_errors_are_retried(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    body = object_bytes("retry", 3 * MIB)
    http_server.files["/r.bin"] = body
    http_server.fail_statuses = [503, 500, 429]
    result = run_cli(["fetch", f"{http_server.base_url}/r.bin", "-o", str(tmp_path)], capsys)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.bin").read_bytes() == body


def test_server_without_range_support_is_fetched_in_one_piece(
    http_server: ContentServer,
    tmp_path: Path,
    capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = object_bytes("norange", 5 * MIB)
    http_server.files["/n.bin"] = body
    monkeypatch.setattr("tests.httpserver._RANGE", __import__("re").compile(r"^(?!)$"))
    result = run_cli(
        ["fetch", f"{http_server.base_url}/n.bin", "-o", str(tmp_path), "--chunk-size-mib", "1"],
        capsys,
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "n.bin").read_bytes() == body


def test_presigned_secrets_never_reach_output_report_or_ledger(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    body = object_bytes("signed", 2 * MIB)
    http_server.files["/ok.mp4"] = body
    listing = tmp_path / "urls.txt"
    listing.write_text(
        f"{http_server.base_url}/ok.mp4?{SECRET_QUERY}\n"
        f"{http_server.base_url}/gone.mp4?{SECRET_QUERY}\n"
    )
    out = tmp_path / "out"
    result = run_cli(
        ["fetch", "--from-file", str(listing), "-o", str(out)], capsys, report=tmp_path / "r.json"
    )
    assert result.exit_code == 1
    assert "gone.mp4" in result.stderr
    assert (out / "ok.mp4").read_bytes() == body
    ledger_dump = "\n".join(sqlite3.connect(out / ".egoget" / "ledger.sqlite").iterdump())
    for text in (result.output, (tmp_path / "r.json").read_text(), ledger_dump):
        assert "deadbeefsecretsignature" not in text
        assert "AKIASECRETCRED" not in text


def test_presigned_s3_style_etag_is_checked_as_md5(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    body = object_bytes("md5", 1 * MIB)
    http_server.files["/m.mp4"] = body
    result = run_cli(
        ["fetch", f"{http_server.base_url}/m.mp4?{SECRET_QUERY}", "-o", str(tmp_path)], capsys
    )
    assert result.exit_code == 0, result.output
    row = (
        sqlite3.connect(tmp_path / ".egoget" / "ledger.sqlite")
        .execute("SELECT checked FROM files")
        .fetchone()
    )
    assert row[0] == "size+md5"
    assert hashlib.md5((tmp_path / "m.mp4").read_bytes()).hexdigest() in ContentServer.etag(body)


def test_expired_link_is_reported_as_expired(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    http_server.forbidden_body = (
        b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    )
    result = run_cli(
        ["fetch", f"{http_server.base_url}/x.mp4?{SECRET_QUERY}", "-o", str(tmp_path)], capsys
    )
    assert result.exit_code == 1
    assert "has expired" in result.stderr
    assert "fresh" in result.stderr
    assert not no_part_files(tmp_path)


def test_expired_presigned_link_is_caught_before_any_request(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    http_server.files["/v.mp4"] = b"x" * 1000
    signed = "X-Amz-Date=20260101T000000Z&X-Amz-Expires=604800&X-Amz-Signature=abc"
    result = run_cli(["fetch", f"{http_server.base_url}/v.mp4?{signed}", "-o", str(tmp_path)],
                     capsys)  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "expired at 2026-01-08 00:00 UTC" in result.stderr
    assert "fresh list of links" in result.stderr
    assert http_server.requests == []


def test_real_presigned_urls_from_the_s3_mirror_fresh_and_expired(
    demo_objects: list[MirrorObject], s3_server: SeaweedServer, tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    obj = next(o for o in demo_objects if o.key.endswith(".mp4"))
    client = s3_server.client()
    params = {"Bucket": obj.bucket, "Key": obj.key}
    fresh = client.generate_presigned_url("get_object", Params=params, ExpiresIn=3600)
    result = run_cli(["fetch", fresh, "-o", str(tmp_path / "fresh")], capsys)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh" / obj.key.rsplit("/", 1)[1]).read_bytes() == object_bytes(
        obj.key, obj.size
    )
    stale = expired_link(s3_server, obj.bucket, obj.key)
    result = run_cli(["fetch", stale, "-o", str(tmp_path / "stale")], capsys)
    assert result.exit_code == 3, result.output
    assert "have expired" in result.stderr
    assert "X-Amz-Signature" not in result.output


def test_a_url_with_a_space_fails_its_file_with_a_hint_and_never_reaches_the_wire(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    http_server.files["/ok.bin"] = b"fine"
    urls = [f"{http_server.base_url}/ok.bin", f"{http_server.base_url}/a b.mp4"]
    result = run_cli(["fetch", *urls, "-o", str(tmp_path / "o")], capsys)
    assert result.exit_code == 1, result.output
    assert "a b.mp4 has spaces" in result.stderr and "percent-encode" in result.stderr
    assert (tmp_path / "o" / "ok.bin").read_bytes() == b"fine"
    assert all(" " not in r["path"] for r in http_server.requests)


def test_verify_full_does_not_take_an_opaque_etag_for_an_md5(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A plain HTTPS server's ETag may be 32 hex digits without being an MD5 (a SHA-1 cut
    short, an inode hash): the download does not check it as one, and neither may verify."""
    monkeypatch.setattr(
        ContentServer, "etag", staticmethod(lambda body: f'"{hashlib.sha1(body).hexdigest()[:32]}"')
    )
    body = object_bytes("opaque", 2 * MIB + 3)
    http_server.files["/o.bin"] = body
    fetched = run_cli(["fetch", f"{http_server.base_url}/o.bin", "-o", str(tmp_path)], capsys)
    assert fetched.exit_code == 0, fetched.output
    result = run_cli(["verify", "-o", str(tmp_path), "--full"], capsys)
    assert result.exit_code == 0, result.output
    assert "1 ok, 0 bad" in result.stdout


def test_retries_of_one_file_are_summarised_not_printed_each_time(
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    http_server.files["/flaky.bin"] = object_bytes("flaky", 1000)
    http_server.fail_statuses = [503] * 4
    result = run_cli(["fetch", f"{http_server.base_url}/flaky.bin", "-o", str(tmp_path)], capsys)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("retrying flaky.bin") == 1
