"""`egoget download ego4d` against a mirror with the real bucket names and manifest shapes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mirror import SeaweedServer
from tests.mirror.seed import CONSORTIUM_BUCKET, MirrorObject, object_bytes, put_object

from .conftest import LIMITED_KEYS, Outcome, assert_same_bytes, run_cli
from .faultproxy import FaultProxy

CaptureFixture = pytest.CaptureFixture[str]


def manifest_rows(s3_server: SeaweedServer, part: str) -> list[dict[str, str]]:
    body = (
        s3_server.client()
        .get_object(Bucket=CONSORTIUM_BUCKET, Key=f"public/v2_1/{part}/manifest.csv")["Body"]
        .read()
    )
    return list(csv.DictReader(io.StringIO(body.decode())))


def by_uri(objects: list[MirrorObject]) -> dict[str, MirrorObject]:
    return {o.uri: o for o in objects}


def downloaded(out: Path) -> set[str]:
    """The data and manifests a run left, without the bookkeeping (egoget's .egoget/ and the
    official CLI's manifest.ver, which test_official_cli_accepts_an_egoget_download checks)."""
    return {
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.is_file() and ".egoget" not in p.parts and p.name != "manifest.ver"
    }


def download(capsys: CaptureFixture, out: Path, *args: str, report: Path | None = None) -> Outcome:
    return run_cli(["download", "ego4d", "-o", str(out), "-y", *args], capsys, report=report)


def test_layout_is_the_official_clis(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    out = tmp_path / "ego4d"
    result = download(capsys, out, "--parts", "full_scale", "annotations")
    assert result.exit_code == 0, result.output
    objects = by_uri(demo_objects)
    expected = {"ego4d.json", "v2/full_scale/manifest.csv", "v2/annotations/manifest.csv"}
    for row in manifest_rows(s3_server, "full_scale"):
        expected.add(f"v2/full_scale/{row['video_uid']}.mp4")
        assert_same_bytes(out / f"v2/full_scale/{row['video_uid']}.mp4",
                          objects[row["canonical_s3_location"]])  # fmt: skip
    for row in manifest_rows(s3_server, "annotations"):
        expected.add(f"v2/annotations/{row['canonical_s3_location'].rsplit('/', 1)[1]}")
    assert downloaded(out) == expected
    assert json.loads((out / "ego4d.json").read_text())["version"] == "v2_1"


def test_benchmark_filter_selects_videos_and_leaves_annotations_whole(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    out = tmp_path / "o"
    result = download(capsys, out, "--parts", "full_scale", "annotations", "--benchmarks", "NLQ")
    assert result.exit_code == 0, result.output
    nlq = {
        r["video_uid"] for r in manifest_rows(s3_server, "full_scale") if "NLQ" in r["benchmarks"]
    }
    got = {p.split("/")[-1].removesuffix(".mp4") for p in downloaded(out) if p.endswith(".mp4")}
    assert got == nlq and 0 < len(nlq) < len(manifest_rows(s3_server, "full_scale"))
    assert len([p for p in downloaded(out) if p.startswith("v2/annotations/")]) == 3
    assert "--benchmarks does not apply" in result.stderr


def test_university_and_uid_filters(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    rows = manifest_rows(s3_server, "full_scale")
    unict = {r["video_uid"] for r in rows if "unict-milan" in r["canonical_s3_location"]}
    result = download(capsys, tmp_path / "u", "--parts", "full_scale", "--universities", "unict")
    assert result.exit_code == 0, result.output
    assert {
        p.split("/")[-1][:-4] for p in downloaded(tmp_path / "u") if p.endswith(".mp4")
    } == unict

    chosen = sorted(r["video_uid"] for r in rows)[:2]
    uid_file = tmp_path / "uids.txt"
    uid_file.write_text(f"{chosen[0]}\n  {chosen[1]}\n")
    for args in (["--video-uids", *chosen], ["--video_uid_file", str(uid_file)],
                 ["--video_uids", ",".join(chosen)]):  # fmt: skip
        out = tmp_path / f"uid{len(args)}"
        result = download(capsys, out, "--parts", "full_scale", *args)
        assert result.exit_code == 0, result.output
        assert {p.split("/")[-1][:-4] for p in downloaded(out) if p.endswith(".mp4")} == set(chosen)


def test_requested_uid_missing_from_the_manifest_is_named(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    result = download(capsys, tmp_path / "o", "--parts", "full_scale",
                      "--video-uids", "00000000-0000-0000-0000-000000000000")  # fmt: skip
    assert result.exit_code == 2
    assert "00000000-0000-0000-0000-000000000000" in result.stderr


@pytest.mark.parametrize(
    ("args", "message", "suggestion"),
    [
        (["--parts", "ful_scale"], "unknown part: ful_scale", "'full_scale'"),
        (["--benchmarks", "nql"], "unknown benchmark: nql", "'nlq'"),
        (["--universities", "unictt"], "unknown university: unictt", "'unict'"),
        (["--version", "v2.1"], "unknown version: v2.1", "'v2_1'"),
    ],
)
def test_unknown_names_are_exit_2_with_the_closest_match(
    args: list[str], message: str, suggestion: str, demo_objects: list[MirrorObject],
    tmp_path: Path, capsys: CaptureFixture,
) -> None:  # fmt: skip
    result = download(capsys, tmp_path / "o", "--parts", "full_scale", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert f"did you mean {suggestion}" in result.stderr


def test_unknown_dataset_is_exit_2(tmp_path: Path, capsys: CaptureFixture) -> None:
    result = run_cli(["download", "ego4", "-o", str(tmp_path)], capsys)
    assert result.exit_code == 2
    assert "did you mean 'ego4d'" in result.stderr


@pytest.fixture
def proxy(s3_server: SeaweedServer) -> Iterator[FaultProxy]:
    p = FaultProxy(s3_server.port)
    yield p
    p.close()


def test_rerun_over_full_scale_and_clips_fetches_no_object_bytes(
    demo_objects: list[MirrorObject], proxy: FaultProxy, tmp_path: Path, capsys: CaptureFixture
) -> None:
    out = tmp_path / "o"
    args = ["--parts", "full_scale", "clips", "--endpoint-url", proxy.endpoint_url]
    first = download(capsys, out, *args)
    assert first.exit_code == 0, first.output
    assert any(p.startswith("v2/clips/") for p in downloaded(out))
    served_before = proxy.bytes_to_client
    again = download(capsys, out, *args, report=tmp_path / "r.json")
    assert again.exit_code == 0, again.output
    assert again.report is not None
    assert again.report["bytes_received"] == 0
    # Only listings and manifest checks: a few KiB of XML, no object bodies.
    assert proxy.bytes_to_client - served_before < 64 * 1024


def test_changed_remote_object_is_the_only_one_fetched_again(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    out = tmp_path / "o"
    assert download(capsys, out, "--parts", "clips").exit_code == 0
    row = manifest_rows(s3_server, "clips")[0]
    bucket, key = row["canonical_s3_location"][5:].split("/", 1)
    new_body = b"re-encoded clip" * 1000
    put_object(s3_server.client(), bucket, key, new_body, multipart=False)
    try:
        again = download(capsys, out, "--parts", "clips", report=tmp_path / "r.json")
        assert again.exit_code == 0, again.output
        assert again.report is not None
        assert again.report["bytes_received"] == len(new_body)
        assert (out / f"v2/clips/{row['video_uid']}.mp4").read_bytes() == new_body
    finally:
        original = next(o for o in demo_objects if o.key == key)
        from tests.mirror.seed import object_bytes

        put_object(s3_server.client(), bucket, key, object_bytes(key, original.size), False)


def test_shards_are_disjoint_and_cover_the_plan(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    everything = tmp_path / "all"
    assert download(capsys, everything, "--parts", "full_scale", "clips").exit_code == 0
    videos = {p for p in downloaded(everything) if p.endswith(".mp4")}
    shards = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        result = download(capsys, out, "--parts", "full_scale", "clips", "--shard", f"{k}/3")
        assert result.exit_code == 0, result.output
        shards.append({p for p in downloaded(out) if p.endswith(".mp4")})
    assert set().union(*shards) == videos
    assert sum(len(s) for s in shards) == len(videos)
    assert max(len(s) for s in shards) < len(videos)


def test_expired_or_invalid_keys_are_exit_3_with_the_licence_hint(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXPIREDKEY000000")
    result = download(capsys, tmp_path / "o", "--parts", "full_scale")
    assert result.exit_code == 3, result.output
    assert "InvalidAccessKeyId" in result.stderr
    assert "14 days" in result.stderr


def test_official_ego4d_config_file_runs_unchanged(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    config = tmp_path / "official.json"
    config.write_text(json.dumps({
        "output_directory": str(tmp_path / "o"), "datasets": ["clips"], "version": "v2_1",
        "benchmarks": ["EM"], "assume_yes": True, "metadata": True, "manifest": True,
        "bypass_version_check": False,
    }))  # fmt: skip
    result = run_cli(["download", "--dataset", "ego4d", "--config", str(config)], capsys)
    assert result.exit_code == 0, result.output
    assert len([p for p in downloaded(tmp_path / "o") if p.startswith("v2/clips/")]) == 3


def test_multi_value_spellings_agree(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    plans = []
    for args in (
        ["--parts", "full_scale", "clips", "--universities", "unict", "cmu"],
        ["--datasets", "full_scale,clips", "--universities", "unict,cmu"],
        ["--parts", "full_scale", "--parts", "clips", "--universities", "unict",
         "--universities", "cmu"],
    ):  # fmt: skip
        result = download(capsys, tmp_path / "o", "--dry-run", *args)
        assert result.exit_code == 0, result.output
        plans.append([line for line in result.stderr.splitlines() if "by " in line])
    assert plans[0] == plans[1] == plans[2] and plans[0]


def test_without_yes_a_script_is_told_to_confirm(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    result = run_cli(["download", "ego4d", "--parts", "clips", "-o", str(tmp_path / "o")], capsys)
    assert result.exit_code == 2
    assert "pass -y" in result.stderr
    assert not any(p.endswith(".mp4") for p in downloaded(tmp_path / "o"))


def test_malformed_manifest_is_exit_2_naming_the_file(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    put_object(s3_server.client(), CONSORTIUM_BUCKET, "public/v1/full_scale/manifest.csv",
               b"<html>Access denied by proxy</html>\n", multipart=False)  # fmt: skip
    result = download(capsys, tmp_path / "o", "--parts", "full_scale", "--version", "v1",
                      "--no-metadata")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "v1/full_scale/manifest.csv is not an Ego4D manifest" in result.stderr
    assert "Traceback" not in result.output


def test_partial_university_access_downloads_the_rest_and_exits_1(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LIMITED_KEYS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LIMITED_KEYS[1])
    out = tmp_path / "o"
    result = download(capsys, out, "--parts", "full_scale", report=tmp_path / "r.json")
    assert result.exit_code == 1, result.output
    rows = manifest_rows(s3_server, "full_scale")
    denied = {r["video_uid"] for r in rows if "unict-milan" in r["canonical_s3_location"]}
    allowed = {r["video_uid"] for r in rows} - denied
    assert {p.split("/")[-1][:-4] for p in downloaded(out) if p.endswith(".mp4")} == allowed
    assert f"unict ({len(denied)} files)" in result.stderr
    assert result.report is not None
    assert len(result.report["refused"]) == len(denied)


def test_a_large_folder_is_listed_in_key_ranges_side_by_side(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A folder is listed in ranges cut at the planned keys (here 3 keys a range, 2 a page):
    every planned object is sized from the listing, the one missing in the middle of a range
    is named, and keys no range asked about are never mistaken for planned ones."""
    from egoget.sources.s3 import S3Source

    client = s3_server.client()
    folder = "public/v2_1/full_scale_ranged"
    uids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(11)]
    missing = uids[5]
    bodies = {}
    for i, uid in enumerate(uids):
        if uid != missing:
            bodies[uid] = object_bytes(uid, 700 + i)
            put_object(client, "ego4d-cmu", f"{folder}/{uid}.mp4", bodies[uid], False)
    put_object(client, "ego4d-cmu", f"{folder}/unplanned.mp4", b"x", False)
    manifest = tmp_path / "ranged.csv"
    manifest.write_text("video_uid,canonical_s3_location,type\n" + "".join(
        f"{uid},s3://ego4d-cmu/{folder}/{uid}.mp4,mp4\n" for uid in uids))  # fmt: skip
    monkeypatch.setattr("egoget.resolve.LISTING_RANGE_MIN_KEYS", 3)
    monkeypatch.setattr("egoget.sources.s3.LISTING_PAGE_KEYS", 2)
    starts: list[str | None] = []
    pages: list[str] = []
    listing, page = S3Source.list, S3Source._listing_page

    def spy(self: S3Source, prefix_uri: str, after: str | None = None) -> object:
        starts.append(after)
        return listing(self, prefix_uri, after)

    def count(self: S3Source, *args: object) -> object:
        pages.append("page")
        return page(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(S3Source, "list", spy)
    monkeypatch.setattr(S3Source, "_listing_page", count)
    out = tmp_path / "o"
    result = run_cli(["download", "ego4d", "--datasets", "full_scale", "--manifest-override-path",
                      str(manifest), "-o", str(out), "-y"], capsys)  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"refused s3://ego4d-cmu/{folder}/{missing}.mp4" in result.stderr
    assert "does not exist" in result.stderr
    assert len(starts) == 3 and starts[0] is None and all(starts[1:])
    # Each range stops past its last planned key: 7 pages of 2 keys, where ranges listed to
    # the folder's end would take 13.
    assert len(pages) == 7, pages
    for uid, body in bodies.items():
        assert (out / "v2" / "full_scale" / f"{uid}.mp4").read_bytes() == body
    assert "unplanned" not in {p.stem for p in (out / "v2" / "full_scale").iterdir()}


def test_a_record_that_cannot_be_written_is_named_in_the_output_and_the_report(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "v2" / "full_scale" / "manifest.ver").mkdir(parents=True)  # in the way
    result = run_cli(["download", "ego4d", "--parts", "full_scale", "-o", str(out), "-y"],
                     capsys, report=tmp_path / "r.json")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "1 record not written" in result.stderr
    assert "cannot update" in result.stderr and "manifest.ver" in result.stderr
    assert result.report is not None
    assert [k for k in result.report["failed"] if k.endswith("manifest.ver")]
    assert result.report["files_done"] == 6
