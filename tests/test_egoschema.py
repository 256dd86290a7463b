"""`egoget download egoschema` over real presigned URLs from the mirror, and scoring."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.mirror import SeaweedServer
from tests.mirror.seed import MirrorObject, object_bytes, seed_object

from .conftest import Outcome, assert_same_bytes, expired_link, run_cli
from .drivereplay import DriveReplay
from .httpserver import ContentServer
from .kaggleapi import KaggleApi, kaggle_api

DRIVE_FOLDER_ID = "1SS0VVz8rML1e5gWq7D7VtP1oxE2UtmhQ"
# lmms-lab/egoschema on Hugging Face: videos_chunked_01.zip .. videos_chunked_05.zip
HF_ARCHIVES = [f"videos_chunked_0{i}.zip" for i in range(1, 6)]
MAP_ID = "1uidtourl0000000000000000000000"

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
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], path: Path, expired: bool = False
) -> dict[str, str]:
    client = s3_server.client()
    mapping = {
        q_uid: expired_link(s3_server, obj.bucket, obj.key)
        if expired
        else client.generate_presigned_url(
            "get_object", Params={"Bucket": obj.bucket, "Key": obj.key}, ExpiresIn=3600
        )
        for q_uid, obj in clips.items()
    }
    path.write_text(json.dumps(mapping))
    return mapping


def by_map(path: Path, out: Path) -> list[str]:
    """The presigned-URL route with the user's own map, without the benchmark's metadata."""
    return [
        "download",
        "egoschema",
        "--no-metadata",
        "--uid-to-url",
        str(path),
        "-o",
        str(out),
        "-y",
    ]


def download(capsys: CaptureFixture, out: Path, *args: str) -> object:
    return run_cli(["download", "egoschema", "-o", str(out), "-y", *args], capsys)


def test_clips_land_at_videos_q_uid_mp4(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    uid_to_url(s3_server, clips, tmp_path / "uid_to_url.json")
    result = run_cli(
        [*by_map(tmp_path / "uid_to_url.json", tmp_path / "es"), "--procs", "8"], capsys
    )
    assert result.exit_code == 0, result.output
    for q_uid, obj in clips.items():
        assert_same_bytes(tmp_path / "es" / "videos" / f"{q_uid}.mp4", obj)
    assert "X-Amz-Signature" not in result.output


def test_expired_map_is_exit_3_saying_when(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    uid_to_url(s3_server, clips, tmp_path / "map.json", expired=True)
    result = run_cli([*by_map(tmp_path / "map.json", tmp_path / "es")], capsys)
    assert result.exit_code == 3, result.output
    assert "4 of 4 links have expired" in result.stderr and "UTC" in result.stderr
    assert not (tmp_path / "es" / "videos").exists()


def test_an_unreachable_metadata_host_blocks_no_clip(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    """GitHub out of reach (an offline node, a blocked host): every clip still arrives, and the
    run exits 1 naming the metadata files that did not."""
    uid_to_url(s3_server, clips, tmp_path / "map.json")
    out = tmp_path / "es"
    started = time.monotonic()
    result = run_cli(["download", "egoschema", "--uid-to-url", str(tmp_path / "map.json"),
                      "--metadata-url", "http://127.0.0.1:9/", "-o", str(out), "-y"],
                     capsys, report=tmp_path / "report.json")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 30
    for q_uid, obj in clips.items():
        assert_same_bytes(out / "videos" / f"{q_uid}.mp4", obj)
    assert result.report is not None
    assert set(result.report["failed"]) == {"questions.json", "subset_answers.json",
                                            "uid_to_ego4d.json"}  # fmt: skip
    assert "failed questions.json" in result.stderr


def test_an_expired_map_is_exit_3_before_any_request(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], http_server: ContentServer,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    """The links' expiry is a fact of the map: checked before the metadata host is asked."""
    uid_to_url(s3_server, clips, tmp_path / "map.json", expired=True)
    result = run_cli(["download", "egoschema", "--uid-to-url", str(tmp_path / "map.json"),
                      "--metadata-url", http_server.base_url + "/", "-o", str(tmp_path / "es"),
                      "-y"], capsys)  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "have expired" in result.stderr
    assert http_server.requests == []


def test_a_stale_link_fails_its_own_file_as_a_stale_link(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    mapping = uid_to_url(s3_server, clips, tmp_path / "map.json")
    stale = next(iter(mapping))
    mapping[stale] = mapping[stale].replace("X-Amz-Signature=", "X-Amz-Signature=00")
    (tmp_path / "map.json").write_text(json.dumps(mapping))
    result = run_cli([*by_map(tmp_path / "map.json", tmp_path / "es")], capsys)
    assert result.exit_code == 1, result.output
    assert f"{stale}.mp4" in result.stderr and "refused access" in result.stderr
    assert "stale" in result.stderr
    assert "questions.json is missing, so their Drive ids are unknown" in result.stderr
    assert len(list((tmp_path / "es" / "videos").glob("*.mp4"))) == len(clips) - 1


def test_hostile_question_uids_are_refused(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    mapping = uid_to_url(s3_server, clips, tmp_path / "map.json")
    url = next(iter(mapping.values()))
    (tmp_path / "map.json").write_text(json.dumps({"../../escape": url, "ok-uid": url}))
    result = run_cli([*by_map(tmp_path / "map.json", tmp_path / "es")], capsys)
    assert result.exit_code == 2, result.output
    assert "../../escape" in result.stderr
    assert not (tmp_path / "escape.mp4").exists()


def test_without_any_map_the_error_says_what_to_pass(
    tmp_path: Path, capsys: CaptureFixture
) -> None:
    drive = DriveReplay()
    drive.folders[DRIVE_FOLDER_ID] = ("EgoSchema", [])  # the map is gone from the folder
    with drive.active():
        result = run_cli(["download", "egoschema", "--source", "urls", "--no-metadata",
                          "-o", str(tmp_path), "-y"], capsys)  # fmt: skip
    assert result.exit_code == 2
    assert "has no uid_to_url.json" in result.stderr
    assert "--uid-to-url" in result.stderr and "--source drive-ids" in result.stderr


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


class ValidationServer(ThreadingHTTPServer):
    """A local stand-in for the benchmark's validation server: records each POST."""

    daemon_threads = True

    def __init__(self, status: int, reply: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _ValidationHandler)
        self.status = status
        self.reply = reply
        self.posts: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/upload/"


class _ValidationHandler(BaseHTTPRequestHandler):
    server: ValidationServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append((dict(self.headers), body))
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.reply)))
        self.end_headers()
        self.wfile.write(self.server.reply)


@pytest.fixture
def validation_server() -> Iterator[ValidationServer]:
    server = ValidationServer(200, b'{"accuracy": 0.5, "correct": 1, "total": 2}')
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_submit_posts_the_predictions_as_validate_py_does(
    validation_server: ValidationServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    predictions = {"q0": 3, "q1": 0}
    (tmp_path / "pred.json").write_text(json.dumps(predictions))
    result = run_cli(["egoschema", "submit", str(tmp_path / "pred.json"), "--url",
                      validation_server.url], capsys)  # fmt: skip
    assert result.exit_code == 0, result.output
    ((headers, body),) = validation_server.posts
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == predictions
    assert "validation server: HTTP 200" in result.stdout
    assert '"accuracy": 0.5' in result.stdout

    (tmp_path / "bad.json").write_text(json.dumps({"q0": 9}))
    bad = run_cli(["egoschema", "submit", str(tmp_path / "bad.json"), "--url",
                   validation_server.url], capsys)  # fmt: skip
    assert bad.exit_code == 2 and "1 problem in" in bad.stderr
    assert len(validation_server.posts) == 1  # a malformed file never reaches the server

    validation_server.status, validation_server.reply = 400, b'{"error": "missing uids"}'
    refused = run_cli(["egoschema", "submit", str(tmp_path / "pred.json"), "--url",
                       validation_server.url], capsys)  # fmt: skip
    assert refused.exit_code == 1
    assert "HTTP 400" in refused.stdout and "missing uids" in refused.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [('{"a": ', "is not valid JSON"), ("[1, 2]", "must be a JSON object"),
     ('{"q1": 42}', "not an http(s) URL"), ("{}", "is empty")],
)  # fmt: skip
def test_malformed_url_maps_are_exit_2_naming_the_problem(
    content: str, expected: str, tmp_path: Path, capsys: CaptureFixture
) -> None:
    (tmp_path / "map.json").write_text(content)
    result = run_cli([*by_map(tmp_path / "map.json", tmp_path / "es")], capsys)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output


# --- routes without a map of one's own: the Drive folder's map, per-video Drive ids ----------


@pytest.fixture
def benchmark(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], http_server: ContentServer
) -> DriveReplay:
    """The benchmark's GitHub files on a local server; its Drive folder and per-clip files."""
    drive = DriveReplay()
    questions = []
    for i, (q_uid, obj) in enumerate(clips.items()):
        drive_id = f"1clip{i:028d}"
        drive.files[drive_id] = (f"{q_uid}.mp4", object_bytes(obj.key, obj.size))
        questions.append({"q_uid": q_uid, "google_drive_id": drive_id, "question": "why?",
                          **{f"option {k}": f"answer {k}" for k in range(5)}})  # fmt: skip
    http_server.files["/egoschema/questions.json"] = json.dumps(questions).encode()
    http_server.files["/egoschema/subset_answers.json"] = json.dumps(
        {q: 1 for q in list(clips)[:2]}
    ).encode()
    http_server.files["/egoschema/uid_to_ego4d.json"] = json.dumps(
        {q: {"video_uid": "v", "starting_sec": 0, "ending_sec": 180} for q in clips}
    ).encode()
    drive.folders[DRIVE_FOLDER_ID] = ("EgoSchema", [MAP_ID])
    drive.files[MAP_ID] = ("uid_to_url.json", b"{}")
    return drive


def publish_map(drive: DriveReplay, mapping: dict[str, str]) -> None:
    drive.files[MAP_ID] = ("uid_to_url.json", json.dumps(mapping).encode())


def download_from(
    http_server: ContentServer, capsys: CaptureFixture, out: Path, *args: str,
    report: Path | None = None,
) -> Outcome:  # fmt: skip
    metadata = f"{http_server.base_url}/egoschema/"
    hugging_face = f"{http_server.base_url}/hf/lmms-lab/egoschema/resolve/main/"
    args = ("--metadata-url", metadata, "--hf-url", hugging_face, "-o", str(out), "-y", *args)
    return run_cli(["download", "egoschema", *args], capsys, report=report)


def test_without_a_map_the_drive_folders_map_is_used_and_metadata_lands_beside(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], benchmark: DriveReplay,
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    publish_map(benchmark, uid_to_url(s3_server, clips, tmp_path / "fresh.json"))
    out = tmp_path / "es"
    with benchmark.active():
        result = download_from(http_server, capsys, out)
    assert result.exit_code == 0, result.output
    for q_uid, obj in clips.items():
        assert_same_bytes(out / "videos" / f"{q_uid}.mp4", obj)
    for name in ("questions.json", "subset_answers.json", "uid_to_ego4d.json", "uid_to_url.json"):
        assert (out / name).is_file(), name
    assert "route urls" in result.stderr
    assert benchmark.requests_seen["drive.usercontent.google.com/download"] <= 3  # just the map


def test_an_expired_drive_map_falls_back_to_per_video_drive_ids(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], benchmark: DriveReplay,
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    publish_map(benchmark, uid_to_url(s3_server, clips, tmp_path / "old.json", expired=True))
    out = tmp_path / "es"
    with benchmark.active():
        result = download_from(http_server, capsys, out)
    assert result.exit_code == 0, result.output
    assert "route urls unavailable" in result.stderr and "expired" in result.stderr
    assert "route huggingface unavailable" in result.stderr
    assert "route drive-archive unavailable" in result.stderr
    assert "route drive-ids" in result.stderr
    for q_uid, obj in clips.items():
        assert_same_bytes(out / "videos" / f"{q_uid}.mp4", obj)


def test_source_drive_ids_alone_never_asks_for_the_map(
    clips: dict[str, MirrorObject], benchmark: DriveReplay, http_server: ContentServer,
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    out = tmp_path / "es"
    with benchmark.active():
        result = download_from(http_server, capsys, out, "--source", "drive-ids", "-j", "2")
    assert result.exit_code == 0, result.output
    assert len(list((out / "videos").glob("*.mp4"))) == len(clips)
    assert not (out / "uid_to_url.json").exists()
    assert benchmark.requests_seen["drive.google.com/embeddedfolderview"] == 0


def stale_map(s3_server: SeaweedServer, clips: dict[str, MirrorObject], path: Path) -> str:
    """A fresh map with one link whose signature no longer matches; returns that clip's uid."""
    mapping = uid_to_url(s3_server, clips, path)
    stale = next(iter(mapping))
    mapping[stale] = mapping[stale].replace("X-Amz-Signature=", "X-Amz-Signature=00")
    path.write_text(json.dumps(mapping))
    return stale


def test_a_clip_whose_link_fails_comes_by_its_drive_id_in_the_same_run(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], benchmark: DriveReplay,
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    stale = stale_map(s3_server, clips, tmp_path / "map.json")
    out = tmp_path / "es"
    with benchmark.active():
        result = download_from(http_server, capsys, out, "--uid-to-url", str(tmp_path / "map.json"))
    assert result.exit_code == 0, result.output
    assert f"failed videos/{stale}.mp4" in result.stderr  # by its link, first
    assert "1 clip failed on route urls; trying 1 of them by Drive id" in result.stderr
    for q_uid, obj in clips.items():
        assert_same_bytes(out / "videos" / f"{q_uid}.mp4", obj)
    clip_downloads = benchmark.requests_seen["drive.usercontent.google.com/download"]
    assert clip_downloads >= 1
    assert not list(out.rglob("*.part"))
    with benchmark.active():
        again = download_from(http_server, capsys, out, "--uid-to-url", str(tmp_path / "map.json"))
    assert again.exit_code == 0, again.output
    assert "0 files verified (0 B), 7 already present, 0 failed" in again.stderr
    assert benchmark.requests_seen["drive.usercontent.google.com/download"] == clip_downloads


def test_without_the_drive_ids_route_a_failed_link_stays_failed(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], benchmark: DriveReplay,
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    stale = stale_map(s3_server, clips, tmp_path / "map.json")
    out = tmp_path / "es"
    with benchmark.active():
        result = download_from(http_server, capsys, out, "--uid-to-url",
                               str(tmp_path / "map.json"), "--source", "urls")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert not (out / "videos" / f"{stale}.mp4").exists()
    assert benchmark.requests_seen["drive.usercontent.google.com/download"] == 0


def test_unknown_source_suggests_the_close_name(
    benchmark: DriveReplay, http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    with benchmark.active():
        result = download_from(http_server, capsys, tmp_path / "es", "--source", "drive-id")
    assert result.exit_code == 2
    assert "did you mean 'drive-ids'" in result.stderr


def make_archive(clips: dict[str, MirrorObject], hostile: bool) -> bytes:
    """videos.tar.gz as the benchmark ships it: every clip under good_clips_git/."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for q_uid, obj in clips.items():
            data = object_bytes(obj.key, obj.size)
            info = tarfile.TarInfo(f"good_clips_git/{q_uid}.mp4")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if hostile:
            escape = tarfile.TarInfo("good_clips_git/../../escape.mp4")
            escape.size = 3
            archive.addfile(escape, io.BytesIO(b"bad"))
            link = tarfile.TarInfo("good_clips_git/passwd.mp4")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(link)
    return buffer.getvalue()


ARCHIVE_ID = "1videostargz00000000000000000000"


@pytest.mark.parametrize("hostile", [False, True])
def test_drive_archive_unpacks_into_videos_without_good_clips_git(
    hostile: bool, clips: dict[str, MirrorObject], benchmark: DriveReplay,
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    benchmark.files[ARCHIVE_ID] = ("videos.tar.gz", make_archive(clips, hostile))
    benchmark.folders[DRIVE_FOLDER_ID][1].append(ARCHIVE_ID)
    out = tmp_path / "es"
    with benchmark.active():
        result = download_from(http_server, capsys, out, "--source", "drive-archive")
    for q_uid, obj in clips.items():
        assert_same_bytes(out / "videos" / f"{q_uid}.mp4", obj)
    assert not list(out.rglob("good_clips_git"))
    if hostile:
        assert result.exit_code == 1, result.output
        assert "escape.mp4" in result.stderr and "passwd.mp4" in result.stderr
        assert not (tmp_path / "escape.mp4").exists()
        assert not (out / "videos" / "passwd.mp4").exists()
        return
    assert result.exit_code == 0, result.output
    assert f"{len(clips)} files written" in result.stderr
    # A rerun neither fetches the archive again nor rewrites a clip.
    served = benchmark.body_bytes
    with benchmark.active():
        again = download_from(http_server, capsys, out, "--source", "drive-archive")
    assert again.exit_code == 0, again.output
    assert f"0 files written, {len(clips)} already there" in again.stderr
    assert benchmark.body_bytes == served


def publish_hf_archives(
    http_server: ContentServer, clips: dict[str, MirrorObject], hostile: bool
) -> None:
    """lmms-lab/egoschema's layout: five zip archives, each holding videos/<q_uid>.mp4."""
    import io
    import stat
    import zipfile

    names = list(clips)
    for i, archive in enumerate(HF_ARCHIVES):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for q_uid in names[i :: len(HF_ARCHIVES)]:
                obj = clips[q_uid]
                bundle.writestr(f"videos/{q_uid}.mp4", object_bytes(obj.key, obj.size))
            if hostile and i == 0:
                bundle.writestr("videos/../../escape.mp4", b"bad")
                link = zipfile.ZipInfo("videos/passwd.mp4")
                link.external_attr = (stat.S_IFLNK | 0o777) << 16
                bundle.writestr(link, "/etc/passwd")
        http_server.files[f"/hf/lmms-lab/egoschema/resolve/main/{archive}"] = buffer.getvalue()


@pytest.mark.parametrize("hostile", [False, True])
def test_hugging_face_zips_unpack_into_videos(
    hostile: bool, clips: dict[str, MirrorObject], benchmark: DriveReplay,
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    publish_hf_archives(http_server, clips, hostile)
    out = tmp_path / "es"
    with benchmark.active():
        result = download_from(http_server, capsys, out, "--source", "huggingface")
    for q_uid, obj in clips.items():
        assert_same_bytes(out / "videos" / f"{q_uid}.mp4", obj)
    assert sorted(p.name for p in (out / "archives").iterdir()) == sorted(HF_ARCHIVES)
    assert not (out / "videos" / "videos").exists()
    if hostile:
        assert result.exit_code == 1, result.output
        assert (
            "escape.mp4" in result.stderr and "refusing link 'videos/passwd.mp4'" in result.stderr
        )
        assert not (tmp_path / "escape.mp4").exists()
        assert not (out / "videos" / "passwd.mp4").exists()
        return
    assert result.exit_code == 0, result.output
    assert "route huggingface" in result.stderr
    served = http_server.bytes_served
    with benchmark.active():
        again = download_from(http_server, capsys, out, "--source", "huggingface")
    assert again.exit_code == 0, again.output
    assert "0 files to fetch" in again.stderr
    assert again.stderr.count("0 files written") == len(HF_ARCHIVES)
    # Planning probes each archive with a tiny ranged GET; no archive comes again.
    assert http_server.bytes_served - served < 100


def test_a_missing_hugging_face_mirror_falls_back_to_the_next_route(
    clips: dict[str, MirrorObject], benchmark: DriveReplay,
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    out = tmp_path / "es"
    with benchmark.active():
        result = download_from(http_server, capsys, out, "--source", "huggingface", "drive-ids")
    assert result.exit_code == 0, result.output
    assert "route huggingface unavailable" in result.stderr
    assert "videos_chunked_01.zip" in result.stderr and "route drive-ids" in result.stderr
    for q_uid, obj in clips.items():
        assert_same_bytes(out / "videos" / f"{q_uid}.mp4", obj)


# --- the Kaggle route: the competition's archive through Kaggle's API --------------------------


def kaggle_zip(clips: dict[str, MirrorObject]) -> bytes:
    """The competition's archive: clips two folders deep (videos/videos/<q_uid>.mp4, as a
    third-party setup unpacks it), the question file beside them, and a macOS zipper's
    AppleDouble twin that is not a clip."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for q_uid, obj in clips.items():
            archive.writestr(f"videos/videos/{q_uid}.mp4", object_bytes(obj.key, obj.size))
        archive.writestr("questions.json", b"[]")
        archive.writestr(f"__MACOSX/videos/videos/._{next(iter(clips))}.mp4", b"\x00\x05\x16\x07")
    return buffer.getvalue()


BASIC_ALICE = "Basic " + base64.b64encode(b"alice:secretkey").decode()


@pytest.fixture
def kaggle(clips: dict[str, MirrorObject], http_server: ContentServer) -> Iterator[KaggleApi]:
    from .kaggleapi import ARCHIVE_PATH

    http_server.files[ARCHIVE_PATH] = kaggle_zip(clips)
    with kaggle_api(http_server.base_url, BASIC_ALICE, "egoschema-public") as api:
        yield api


def test_kaggle_route_unpacks_every_clip_into_videos_and_reruns_fetch_nothing(
    clips: dict[str, MirrorObject], kaggle: KaggleApi, http_server: ContentServer,
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("KAGGLE_USERNAME", "alice")
    monkeypatch.setenv("KAGGLE_KEY", "secretkey")
    out = tmp_path / "es"
    args = ("--source", "kaggle", "--no-metadata", "--kaggle-url", kaggle.url)
    kaggle.fail_statuses = [503]  # a busy API is asked again
    result = download_from(http_server, capsys, out, *args)
    assert result.exit_code == 0, result.output
    busy, (headers, body) = kaggle.posts
    assert busy[0]["Authorization"] == BASIC_ALICE
    assert headers["Authorization"] == BASIC_ALICE
    assert json.loads(body) == {"competitionName": "egoschema-public"}
    assert sorted(p.name for p in (out / "videos").iterdir()) == sorted(f"{q}.mp4" for q in clips)
    for q_uid, obj in clips.items():
        assert_same_bytes(out / "videos" / f"{q_uid}.mp4", obj)
    assert (out / "archives" / "egoschema-public.zip").is_file()
    assert "2 other members left in it" in result.stderr
    assert "Signature=" not in result.output
    served = http_server.bytes_served
    again = download_from(http_server, capsys, out, *args)
    assert again.exit_code == 0, again.output
    assert "0 files verified (0 B), 1 already present" in again.stderr
    assert http_server.bytes_served - served < 1024  # the size probe, not the archive


def test_a_kaggle_token_puts_the_kaggle_route_first(
    clips: dict[str, MirrorObject], kaggle: KaggleApi, http_server: ContentServer,
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    config_dir = tmp_path / "kaggle-config"
    config_dir.mkdir()
    (config_dir / "kaggle.json").write_text('{"username": "alice", "key": "secretkey"}')
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config_dir))
    result = download_from(http_server, capsys, tmp_path / "es", "--no-metadata",
                           "--kaggle-url", kaggle.url)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "clips by route kaggle" in result.stderr
    assert len(list((tmp_path / "es" / "videos").glob("*.mp4"))) == len(clips)


def test_kaggle_without_a_token_is_exit_3_saying_where_to_get_one(
    kaggle: KaggleApi, http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    result = download_from(http_server, capsys, tmp_path / "es", "--source", "kaggle",
                           "--kaggle-url", kaggle.url)  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "no Kaggle API token found" in result.stderr
    assert "kaggle.json" in result.stderr and "egoschema-public/rules" in result.stderr
    assert kaggle.posts == []


def test_kaggle_rules_not_accepted_name_the_rules_page_or_fall_through(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], kaggle: KaggleApi,
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_0123456789abcdef")
    kaggle.authorization = "Bearer KGAT_0123456789abcdef"
    kaggle.rules_accepted = False
    alone = download_from(http_server, capsys, tmp_path / "alone", "--source", "kaggle",
                          "--kaggle-url", kaggle.url)  # fmt: skip
    assert alone.exit_code == 3, alone.output
    assert "You must accept this competition's rules" in alone.stderr
    assert "https://www.kaggle.com/competitions/egoschema-public/rules" in alone.stderr
    uid_to_url(s3_server, clips, tmp_path / "map.json")
    fallen = download_from(http_server, capsys, tmp_path / "es", "--no-metadata", "--source",
                           "kaggle", "urls", "--uid-to-url", str(tmp_path / "map.json"),
                           "--kaggle-url", kaggle.url)  # fmt: skip
    assert fallen.exit_code == 0, fallen.output
    assert "route kaggle unavailable" in fallen.stderr and "route urls" in fallen.stderr
    for q_uid, obj in clips.items():
        assert_same_bytes(tmp_path / "es" / "videos" / f"{q_uid}.mp4", obj)


def test_a_refused_kaggle_key_is_exit_3_naming_where_it_came_from(
    kaggle: KaggleApi, http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    home = Path(os.environ["HOME"])  # the test's own (conftest), with no Kaggle token in it
    (home / ".kaggle").mkdir()
    (home / ".kaggle" / "kaggle.json").write_text('{"username": "alice", "key": "old"}')
    result = download_from(http_server, capsys, tmp_path / "es", "--source", "kaggle",
                           "--kaggle-url", kaggle.url)  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "Kaggle refused the credentials from" in result.stderr
    assert ".kaggle/kaggle.json (HTTP 401)" in result.stderr
    assert base64.b64encode(b"alice:old").decode() not in result.output  # the secret, sent


def test_a_drive_fallback_that_fails_too_keeps_both_errors(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], benchmark: DriveReplay,
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    stale = stale_map(s3_server, clips, tmp_path / "map.json")
    del benchmark.files["1clip" + "0" * 28]  # the stale clip's Drive file is gone too
    out = tmp_path / "es"
    with benchmark.active():
        result = download_from(http_server, capsys, out, "--uid-to-url",
                               str(tmp_path / "map.json"), "-j", "2",
                               report=tmp_path / "r.json")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.report is not None
    error = result.report["failed"][f"videos/{stale}.mp4"]
    assert "refused access" in error and "then by gdrive://" in error and "no file" in error
    assert not (out / "videos" / f"{stale}.mp4").exists()
    assert len(list((out / "videos").glob("*.mp4"))) == len(clips) - 1


def test_an_unreadable_kaggle_json_skips_the_kaggle_route_with_a_note(
    s3_server: SeaweedServer, clips: dict[str, MirrorObject], benchmark: DriveReplay,
    http_server: ContentServer, tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    """A user who never asked for Kaggle is not stopped by a broken Kaggle setup."""
    (Path(os.environ["HOME"]) / ".kaggle").mkdir()
    (Path(os.environ["HOME"]) / ".kaggle" / "kaggle.json").write_text("{not json")
    publish_map(benchmark, uid_to_url(s3_server, clips, tmp_path / "fresh.json"))
    with benchmark.active():
        result = download_from(http_server, capsys, tmp_path / "es", "--no-metadata")
    assert result.exit_code == 0, result.output
    assert "route kaggle skipped" in result.stderr and "kaggle.json is not a JSON" in result.stderr
    assert "clips by route urls" in result.stderr


def test_kaggle_clips_of_the_same_name_in_two_folders_are_named_not_overwritten(
    clips: dict[str, MirrorObject], kaggle: KaggleApi, http_server: ContentServer,
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import io
    import zipfile

    from .kaggleapi import ARCHIVE_PATH

    q_uid = next(iter(clips))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"videos/{q_uid}.mp4", b"the first")
        archive.writestr(f"subset/{q_uid}.mp4", b"another, longer")
        archive.writestr("videos/upper.MP4", b"any case")
    http_server.files[ARCHIVE_PATH] = buffer.getvalue()
    monkeypatch.setenv("KAGGLE_USERNAME", "alice")
    monkeypatch.setenv("KAGGLE_KEY", "secretkey")
    out = tmp_path / "es"
    args = ("--source", "kaggle", "--no-metadata", "--kaggle-url", kaggle.url)
    for _ in range(2):  # and a rerun keeps the first, rewriting nothing
        result = download_from(http_server, capsys, out, *args)
        assert result.exit_code == 1, result.output
        assert f"'subset/{q_uid}.mp4' has the same file name as 'videos/{q_uid}.mp4'" in (
            result.stderr
        )
        assert (out / "videos" / f"{q_uid}.mp4").read_bytes() == b"the first"
        assert (out / "videos" / "upper.MP4").read_bytes() == b"any case"
