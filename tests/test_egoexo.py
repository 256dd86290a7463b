"""`egoget download egoexo` against an Ego-Exo4D-shaped release on the mirror."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from egoget import jsonlist, processes
from egoget.datasets.drive_assets import EGO2EXO_METADATA
from egoget.datasets.ego2exo import benchmark_takes
from tests.mirror import SeaweedServer
from tests.mirror.seed import CONSORTIUM_BUCKET, EGOEXO_PREFIX, EGOEXO_TAKES, MirrorObject

from .conftest import Outcome, assert_same_bytes, run_cli
from .drivereplay import DriveReplay
from .httpserver import ContentServer

CaptureFixture = pytest.CaptureFixture[str]
DEFAULT_PARTS = ("metadata", "captures", "takes", "take_trajectory", "take_vrs_noimagestream",
                 "annotations")  # fmt: skip


def download(capsys: CaptureFixture, out: Path, *args: str, report: Path | None = None) -> Outcome:
    return run_cli(["download", "egoexo", "-o", str(out), "-y", *args], capsys, report=report)


def data_files(out: Path) -> set[str]:
    return {
        str(p.relative_to(out)) for p in out.rglob("*")
        if p.is_file() and not str(p.relative_to(out)).startswith(".egoget")
    }  # fmt: skip


class Reading:
    """How the run reads its manifests: whole, or (as a large manifest is read) cut into
    pieces that other processes read."""

    def __init__(self, in_pieces: bool):
        self.in_pieces = in_pieces
        self.pieces: list[int] = []
        # Of each manifest read: into how many pieces it was cut, how many results it gave
        # (fewer when a piece failed and the rest was read whole).
        self.reads: list[tuple[int, int]] = []

    def was_as_asked(self) -> bool:
        if not self.in_pieces:
            return not self.pieces
        cut = [(pieces, results) for pieces, results in self.reads if pieces > 1]
        return bool(cut) and all(pieces == results for pieces, results in cut)


@pytest.fixture(params=["read whole", "read in pieces"])
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Reading:
    reading = Reading(request.param == "read in pieces")
    if reading.in_pieces:
        monkeypatch.setattr(jsonlist, "MIN_PIECE_BYTES", 64)
        monkeypatch.setattr(processes, "processes_available", lambda: 4)
    split = jsonlist.split_json_list

    def counted(*args: Any) -> list[jsonlist.Piece]:
        pieces = split(*args)
        reading.pieces.append(len(pieces))
        return pieces

    monkeypatch.setattr(jsonlist, "split_json_list", counted)
    read = jsonlist.read_in_pieces

    def read_counted(*args: Any) -> Iterator[Any]:
        before = len(reading.pieces)
        results = 0
        for result in read(*args):
            results += 1
            yield result
        reading.reads.append((reading.pieces[before] if len(reading.pieces) > before else 1,
                              results))  # fmt: skip

    monkeypatch.setattr("egoget.datasets.egoexo.read_in_pieces", read_counted)
    return reading


def relative(obj: MirrorObject) -> str:
    return obj.key.removeprefix(f"{EGOEXO_PREFIX}/")


def in_parts(
    objects: list[MirrorObject], s3_server: SeaweedServer, parts: tuple[str, ...]
) -> set[str]:
    client = s3_server.client()
    wanted = set()
    for part in parts:
        body = client.get_object(
            Bucket=CONSORTIUM_BUCKET, Key=f"{EGOEXO_PREFIX}/{part}/manifest.json"
        )
        for entry in json.loads(body["Body"].read()):
            wanted.update(p["relative_path"] for p in entry["paths"])
    return wanted


def test_default_parts_land_at_their_relative_paths(
    s3_server: SeaweedServer, egoexo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture, reading: Reading,
) -> None:  # fmt: skip
    out = tmp_path / "egoexo"
    result = download(capsys, out)
    assert result.exit_code == 0, result.output
    assert reading.was_as_asked()
    expected = in_parts(egoexo_objects, s3_server, DEFAULT_PARTS)
    assert data_files(out) == expected
    for obj in egoexo_objects:
        if relative(obj) in expected:
            assert_same_bytes(out / relative(obj), obj)


def test_uids_select_takes_but_keep_metadata_and_annotations(
    egoexo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    uid, name = EGOEXO_TAKES[0][0], EGOEXO_TAKES[0][1]
    result = download(capsys, tmp_path / "o", "--parts", "takes", "metadata", "annotations",
                      "--uids", uid)  # fmt: skip
    assert result.exit_code == 0, result.output
    files = data_files(tmp_path / "o")
    assert {"takes.json", "captures.json"} <= files
    assert any(f.startswith("annotations/") for f in files)
    takes = {f.split("/")[1] for f in files if f.startswith("takes/")}
    assert takes == {name}


def test_uids_keep_the_listed_takes_own_annotations_and_commentary(
    egoexo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture, reading: Reading
) -> None:
    """The release's annotation files come whole, but per-take annotations (uid = take uid) and
    expert commentary (uid "<take_uid>_<expert>") only for the listed takes: upstream's own
    --uids drops all of them (cli.py:37-70)."""
    (uid, name, *_), (other_uid, other_name, *_) = EGOEXO_TAKES[0], EGOEXO_TAKES[1]
    result = download(capsys, tmp_path / "o", "--parts", "annotations", "expert_commentary",
                      "--uids", uid)  # fmt: skip
    assert result.exit_code == 0, result.output
    files = data_files(tmp_path / "o")
    assert "annotations/keystep_train.json" in files
    assert any(f.endswith(f"/{uid}.json") for f in files)
    assert not any(f.endswith(f"/{other_uid}.json") for f in files)
    assert f"annotations/expert_commentary/{name}/expert1/commentary.json" in files
    assert not any(other_name in f for f in files)
    assert reading.was_as_asked()


def test_a_part_the_release_has_beyond_the_table_and_manifests_kept_with_the_state(
    egoexo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    out = tmp_path / "o"
    result = download(capsys, out, "--parts", "keystep_benchmark/clips_448p", "--views", "ego")
    assert result.exit_code == 0, result.output
    assert "keystep_benchmark/clips_448p: not in egoget's table" in result.stderr
    assert len([f for f in data_files(out) if f.startswith("keystep_benchmark/")]) == 3
    kept = out / ".egoget/manifests/egoexo/v2/keystep_benchmark/clips_448p/manifest.json"
    assert json.loads(kept.read_text())
    assert not (out / ".egoexo-manifests").exists()
    wrong = download(capsys, tmp_path / "w", "--parts", "keystep_benchmark/clips_449p")
    assert wrong.exit_code == 2 and "unknown part: keystep_benchmark/clips_449p" in wrong.stderr


def test_views_universities_splits_and_benchmarks_filter(
    egoexo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture, reading: Reading
) -> None:
    result = download(capsys, tmp_path / "v", "--parts", "takes", "--views", "exo")
    assert result.exit_code == 0, result.output
    assert data_files(tmp_path / "v") and all(
        f.endswith("cam01.mp4") for f in data_files(tmp_path / "v")
    )

    result = download(capsys, tmp_path / "u", "--parts", "takes", "-u", "upenn")
    assert {f.split("/")[1] for f in data_files(tmp_path / "u")} == {"upenn_cook03_4"}

    result = download(capsys, tmp_path / "s", "--parts", "takes", "--splits", "test")
    assert {f.split("/")[1] for f in data_files(tmp_path / "s")} == {"sfu_basket07_1"}

    result = download(capsys, tmp_path / "b", "--parts", "takes", "annotations",
                      "--benchmarks", "keystep")  # fmt: skip
    files = data_files(tmp_path / "b")
    assert {f.split("/")[1] for f in files if f.startswith("takes/")} == {
        "cmu_bike01_2", "upenn_cook03_4"}  # fmt: skip
    assert files & {"annotations/keystep_train.json"}
    assert "annotations/proficiency_demonstration_train.json" not in files
    assert reading.was_as_asked()


def test_unknown_benchmark_is_an_error_not_an_empty_selection(
    egoexo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    result = download(capsys, tmp_path / "o", "--parts", "takes", "--benchmarks", "keysteps")
    assert result.exit_code == 2, result.output
    assert "unknown benchmark: keysteps" in result.stderr
    assert "did you mean 'keystep'" in result.stderr
    assert not data_files(tmp_path / "o")


def test_parts_all_and_nested_parts(
    s3_server: SeaweedServer, egoexo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    result = download(capsys, tmp_path / "n", "--parts", "features/omnivore_video",
                      "downscaled_takes/448", "--dry-run")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "features/omnivore_video 3" in result.stderr
    assert "downscaled_takes/448 3" in result.stderr
    missing = download(capsys, tmp_path / "a", "--parts", "all", "--dry-run")
    # The mirror does not carry every part of the real release: that is named, not skipped.
    assert missing.exit_code == 2
    assert "manifest.json does not exist" in missing.stderr


def test_size_differing_from_the_manifest_fails_the_run(
    s3_server: SeaweedServer, egoexo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    base = "s3://ego4d-consortium-sharing/egoexo-bad/"
    client = s3_server.client()
    obj = next(o for o in egoexo_objects if o.key.endswith("takes.json"))
    entry = [{"uid": "takes", "paths": [{"source_path": obj.uri, "relative_path": "takes.json",
                                         "size": obj.size + 1}]}]  # fmt: skip
    client.put_object(Bucket=CONSORTIUM_BUCKET, Key="egoexo-bad/v2/metadata/manifest.json",
                      Body=json.dumps(entry).encode())  # fmt: skip
    result = download(capsys, tmp_path / "o", "--parts", "metadata", "--base-uri", base)
    assert result.exit_code == 1, result.output
    assert "takes.json" in result.stderr and "the plan expected" in result.stderr
    assert not (tmp_path / "o" / "takes.json").exists()


def test_hostile_relative_paths_are_refused(
    s3_server: SeaweedServer, egoexo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture, reading: Reading,
) -> None:  # fmt: skip
    base = "s3://ego4d-consortium-sharing/egoexo-hostile/"
    obj = next(o for o in egoexo_objects if o.key.endswith("takes.json"))
    names = ["../../escaped.json", "/etc/cron.d/x", "ok/takes.json"]
    entries = [{"uid": f"takes{i}", "paths": [
        {"source_path": obj.uri, "relative_path": name, "size": obj.size}]}
        for i, name in enumerate(names)]  # fmt: skip
    s3_server.client().put_object(Bucket=CONSORTIUM_BUCKET,
                                  Key="egoexo-hostile/v2/metadata/manifest.json",
                                  Body=json.dumps(entries).encode())  # fmt: skip
    out = tmp_path / "inside" / "o"
    args = ["--parts", "metadata", "--base-uri", base]
    refused = download(capsys, out, *args)
    assert refused.exit_code == 2, refused.output
    assert "../../escaped.json" in refused.stderr and "/etc/cron.d/x" in refused.stderr
    assert not data_files(out)
    partial = download(capsys, out, *args, "--skip-invalid")
    assert partial.exit_code == 1, partial.output
    assert data_files(out) == {"ok/takes.json"}
    assert (
        not (tmp_path / "escaped.json").exists()
        and not (tmp_path / "inside" / "escaped.json").exists()
    )
    assert reading.was_as_asked()


def test_manifests_read_a_block_at_a_time_give_the_same_download(
    s3_server: SeaweedServer, egoexo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Blocks of 97 characters: every entry, string and number of the manifests is cut somewhere.
    monkeypatch.setattr("egoget.jsonlist.BLOCK_CHARS", 97)
    out = tmp_path / "egoexo"
    result = download(capsys, out)
    assert result.exit_code == 0, result.output
    assert data_files(out) == in_parts(egoexo_objects, s3_server, DEFAULT_PARTS)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (b'[{"uid": "x", "paths": [{"relative_path": 3}]}]',
         "entry 0 is malformed (paths.source_path: expected a string)"),
        (b'[{"uid": "x", "paths": []},\n{"uid": "y", "paths": [{"source_path": "s3://b/k", '
         b'"relative_path": "k", "size": -1}]}]',
         "entry 1 is malformed (paths.size: expected a whole number of bytes or null)"),
        (b'[{"uid": "x", "paths": []},\n {"uid": "y", "pa', "is not valid JSON"),
        (b'[{"uid": "x", "paths": []}\n\n {"uid": "y"}]',
         "is not valid JSON (expecting ',' or ']' after an entry, line 3)"),
        (b'{"uid": "x"}', "must be a JSON list of entries"),
        (b"", "is not valid JSON (empty file"),
    ],
)  # fmt: skip
def test_malformed_manifest_is_exit_2_naming_the_entry_or_line(
    s3_server: SeaweedServer, egoexo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture, broken: bytes, message: str, reading: Reading,
) -> None:  # fmt: skip
    s3_server.client().put_object(
        Bucket=CONSORTIUM_BUCKET, Key="egoexo-broken/v2/metadata/manifest.json", Body=broken
    )
    result = download(capsys, tmp_path / "o", "--parts", "metadata",
                      "--base-uri", "s3://ego4d-consortium-sharing/egoexo-broken/")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_official_delete_option_is_refused(
    egoexo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    (tmp_path / "o").mkdir()
    precious = tmp_path / "o" / "my_notes.txt"
    precious.write_text("not part of any manifest")
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"out_dir": str(tmp_path / "o"), "parts": ["metadata"],
                                  "delete": True, "yes": True}))  # fmt: skip
    result = run_cli(["download", "egoexo", "--config", str(config)], capsys)
    assert result.exit_code == 2
    assert "never deletes" in result.stderr
    assert precious.exists()


# --- the Ego2Exo recipe: keystep takes' features + the Drive metadata, one run ---------------


def test_ego2exo_is_its_249_takes_features_and_the_hugging_face_metadata(
    egoexo_objects: list[MirrorObject], http_server: ContentServer, tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    """Exactly the benchmark's takes (not every keystep take), the parts upstream's scripts
    and loader use, and metadata/ego2exo.json from Hugging Face (a local stand-in)."""
    metadata = b'{"categories": [], "ego_train": {"clips": []}}'
    http_server.files["/datasets/Tarun23/Ego2Exo/resolve/main/ego2exo.json"] = metadata
    url = f"{http_server.base_url}/datasets/Tarun23/Ego2Exo/resolve/main/ego2exo.json"
    out = tmp_path / "ego2exo"
    result = run_cli(["download", "ego2exo", "--parts", "features/omnivore_video", "takes",
                      "--metadata-url", url, "-o", str(out), "-y"], capsys)  # fmt: skip
    # The mirror holds one of the 249: the others are named and the run exits 1.
    assert result.exit_code == 1, result.output
    assert "248 of the 249 Ego2Exo takes are in none of the selected parts' manifests" in (
        result.stderr
    )
    ego2exo = set(benchmark_takes())
    in_benchmark = [(uid, name) for uid, name, *_ in EGOEXO_TAKES if uid in ego2exo]
    assert in_benchmark and len(in_benchmark) < len(EGOEXO_TAKES)  # the mirror tells them apart
    expected = {f"features/omnivore_video/{uid}_aria01_rgb.pt" for uid, _ in in_benchmark}
    for _, name in in_benchmark:
        expected |= {f"takes/{name}/frame_aligned_videos/aria01_214-1.mp4",
                     f"takes/{name}/frame_aligned_videos/cam01.mp4"}  # fmt: skip
    expected.add("metadata/ego2exo.json")
    assert data_files(out) == expected
    assert (out / "metadata" / "ego2exo.json").read_bytes() == metadata
    assert "run Ego2Exo's training code from the output directory" in result.stderr


def test_ego2exo_metadata_falls_back_to_drive(
    egoexo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    drive = DriveReplay()
    metadata = b'{"categories": []}'
    drive.files[EGO2EXO_METADATA.drive_id] = ("ego2exo.json", metadata)
    out = tmp_path / "ego2exo"
    with drive.active():
        result = run_cli(["download", "ego2exo", "--videos", "448", "--uids", EGOEXO_TAKES[0][0],
                          "--metadata-url", "http://127.0.0.1:9/ego2exo.json", "-o", str(out),
                          "-y"], capsys)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "metadata/ego2exo.json from Google Drive" in result.stderr
    assert (out / "metadata" / "ego2exo.json").read_bytes() == metadata
    assert any(f.startswith("takes/") and "/downscaled/448/" in f for f in data_files(out))
    assert len(benchmark_takes()) == 249


def test_ego2exo_refuses_uids_outside_the_benchmark(
    egoexo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    other = EGOEXO_TAKES[1][0]
    result = run_cli(["download", "ego2exo", "--uids", other, "-o", str(tmp_path), "-y",
                      "--no-metadata"], capsys)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "not Ego2Exo takes" in result.stderr


def test_a_rerun_takes_its_selection_from_the_state_until_a_manifest_or_an_option_changes(
    s3_server: SeaweedServer, egoexo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A million-file part is not read again to find that nothing changed; a changed manifest,
    option or kept file is."""
    videos = [o for o in egoexo_objects if o.key.endswith(".mp4")][:3]
    assert len(videos) == 3

    def publish(objs: list[MirrorObject]) -> None:
        entries = [{"uid": f"take{i}", "paths": [
            {"source_path": o.uri, "relative_path": f"takes/t{i}/{view}.mp4", "size": o.size,
             "views": [view]} for view in ("ego", "exo")]} for i, o in enumerate(objs)]  # fmt: skip
        s3_server.client().put_object(Bucket=CONSORTIUM_BUCKET, Body=json.dumps(entries).encode(),
                                      Key="egoexo-kept/v2/takes/manifest.json")  # fmt: skip

    reads: list[str] = []
    read = jsonlist.read_in_pieces

    def counted(path: Path, *args: Any) -> Any:
        reads.append(path.name)
        return read(path, *args)

    monkeypatch.setattr(jsonlist, "read_in_pieces", counted)
    monkeypatch.setattr("egoget.datasets.egoexo.read_in_pieces", counted)
    out = tmp_path / "o"
    args = ["--parts", "takes", "--base-uri", "s3://ego4d-consortium-sharing/egoexo-kept/"]

    def run(*extra: str) -> set[str]:
        reads.clear()
        result = download(capsys, out, *args, *extra)
        assert result.exit_code == 0, result.output
        return data_files(out)

    publish(videos[:2])
    assert run("--views", "exo") == {"takes/t0/exo.mp4", "takes/t1/exo.mp4"} and reads
    assert run("--views", "exo") == {"takes/t0/exo.mp4", "takes/t1/exo.mp4"} and not reads
    kept = out / ".egoget/selections/egoexo"
    assert kept.is_file()
    # Another option: another selection.
    assert run("--views", "ego", "exo") == {f"takes/t{i}/{v}.mp4" for i in (0, 1)
                                            for v in ("ego", "exo")} and reads  # fmt: skip
    # A new manifest upstream: fetched again, read again.
    publish(videos)
    assert "takes/t2/ego.mp4" in run("--views", "ego", "exo") and reads
    assert run("--views", "ego", "exo") and not reads
    # A kept file damaged on disk is not believed.
    damaged = bytearray(kept.read_bytes())
    damaged[-40] ^= 0xFF
    kept.write_bytes(bytes(damaged))
    assert len(run("--views", "ego", "exo")) == 6 and reads
    assert not any(p.name.endswith(".tmp") for p in kept.parent.iterdir())


def test_a_release_already_on_disk_is_kept_by_size_and_recorded_once(
    egoexo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    """Entries with a size and a null checksum (upstream's schema allows both): files another
    tool left are checked by size in place, their records committed together, and the next run
    has nothing to do."""
    first = tmp_path / "first"
    assert download(capsys, first, "--parts", "takes").exit_code == 0
    files = sorted(data_files(first))
    assert len(files) >= 3
    other = tmp_path / "other"
    for name in files:
        (other / name).parent.mkdir(parents=True, exist_ok=True)
        (other / name).write_bytes((first / name).read_bytes())
    cut = other / files[0]
    cut.write_bytes(cut.read_bytes()[:-1])
    report = tmp_path / "r.json"
    kept = download(capsys, other, "--parts", "takes", report=report)
    assert kept.exit_code == 0, kept.output
    assert kept.report is not None
    assert kept.report["files_adopted"] == len(files) - 1
    assert kept.report["bytes_received"] == (first / files[0]).stat().st_size
    again = download(capsys, other, "--parts", "takes", report=report)
    assert again.report is not None
    assert again.report["files_adopted"] == 0 and again.report["bytes_received"] == 0
    assert again.report["files_present"] == len(files)
