"""What users bring from the official `ego4d` CLI: its config files, its flags, the dataset
names and versions a release has beyond egoget's table (upstream facts:
../shared/upstream/ego4d_cli_behaviour.txt, ego4d_datasets.txt)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest

from tests.mirror import SeaweedServer
from tests.mirror.seed import CONSORTIUM_BUCKET, MirrorObject

from .conftest import REPO, run_cli

CaptureFixture = pytest.CaptureFixture[str]
EXTRA_RELEASE = "v2_2"  # in the bucket, not in egoget's table of versions
EXTRA_PART = "omnivore_video_swinl_fp16"  # in that release, not in egoget's table of parts


@pytest.fixture(scope="module")
def extra_release(s3_server: SeaweedServer, demo_objects: list[MirrorObject]) -> list[str]:
    """public/v2_2/ with the demo's clips manifest and a file part egoget's table lacks, whose
    rows name two of the annotation files."""
    client = s3_server.client()
    base = f"public/{EXTRA_RELEASE}"
    clips = client.get_object(Bucket=CONSORTIUM_BUCKET, Key="public/v2_1/clips/manifest.csv")
    client.put_object(Bucket=CONSORTIUM_BUCKET, Key=f"{base}/clips/manifest.csv",
                      Body=clips["Body"].read())  # fmt: skip
    names = ["nlq_train.json", "av_train.json"]
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["file_uid", "canonical_s3_location", "type"])
    for i, name in enumerate(names):
        writer.writerow(
            [f"feature-{i}", f"s3://{CONSORTIUM_BUCKET}/public/v2_1/annotations/{name}", "file"]
        )
    client.put_object(Bucket=CONSORTIUM_BUCKET, Key=f"{base}/{EXTRA_PART}/manifest.csv",
                      Body=rows.getvalue().encode())  # fmt: skip
    client.put_object(Bucket=CONSORTIUM_BUCKET, Key=f"{base}/ego4d.json",
                      Body=json.dumps({"version": EXTRA_RELEASE}).encode())  # fmt: skip
    client.put_object(Bucket=CONSORTIUM_BUCKET, Key=f"{base}/datasets.csv",
                      Body=f"dataset,description\nclips,x\n{EXTRA_PART},y\n".encode())  # fmt: skip
    return names


def official_config(tmp_path: Path, **overrides: object) -> dict[str, object]:
    """Every key the official CLI's config takes (config.py:85-105), as its users write them."""
    return {
        "output_directory": "$EGO_SCRATCH/ego4d",
        "assume_yes": True,
        "version": "v2_1",
        "datasets": ["clips"],
        "benchmarks": [],
        "aws_profile_name": "default",
        "metadata": True,
        "manifest": True,
        "bypass_version_check": False,
        "skip_s3_checks": False,
        "video_uid_file": "~/uids.txt",
        "universities": [],
        "annotations": False,
        "list_datasets": False,
        "manifest_override_path": None,
        **overrides,
    }


def test_an_official_config_runs_unchanged(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """$VARS and ~ expanded, aws_profile_name "default" without such a profile falling back to
    the keys in the environment, --config_path, and --manifest's <out>/manifest.csv."""
    monkeypatch.setenv("EGO_SCRATCH", str(tmp_path / "scratch"))
    home = Path.home()  # the isolated HOME of this test
    clips = csv.DictReader(
        io.StringIO(
            s3_server.client()
            .get_object(Bucket=CONSORTIUM_BUCKET, Key="public/v2_1/clips/manifest.csv")["Body"]
            .read()
            .decode()
        )
    )
    first = next(iter(clips))["video_uid"]
    (home / "uids.txt").write_text(f"{first}\n")
    config = tmp_path / "official.json"
    config.write_text(json.dumps(official_config(tmp_path)))
    result = run_cli(["download", "--dataset", "ego4d", "--config_path", str(config)], capsys)
    assert result.exit_code == 0, result.output
    out = tmp_path / "scratch" / "ego4d"
    assert sorted(p.name for p in (out / "v2" / "clips").glob("*.mp4")) == [f"{first}.mp4"]
    assert (out / "manifest.csv").read_text().startswith("video_uid,")
    assert (out / "ego4d.json").is_file()
    assert "AWS profile 'default' does not exist; using the standard credential chain" in (
        result.stderr
    )
    assert not (Path.cwd() / "$EGO_SCRATCH").exists()


@pytest.mark.parametrize(
    "path",
    [*sorted((REPO / "configs").glob("*.json")), "official"],
    ids=lambda p: getattr(p, "name", str(p)),
)
def test_the_exported_schema_validates_the_configs_that_run(
    path: Path | str, tmp_path: Path, capsys: CaptureFixture
) -> None:
    content = (
        official_config(tmp_path) if path == "official" else json.loads(Path(path).read_text())
    )
    command = "fetch" if str(getattr(path, "name", "")).startswith("fetch") else "ego4d"
    command = content.get("dataset", command) if isinstance(content, dict) else command
    result = run_cli(["config", "schema", str(command)], capsys)
    assert result.exit_code == 0, result.output
    jsonschema.validate(content, json.loads(result.stdout))
    with pytest.raises(jsonschema.ValidationError):  # and still refuses a misspelt key
        jsonschema.validate({**content, "output_directroy": "x"}, json.loads(result.stdout))


def test_a_part_the_release_has_beyond_egogets_table_downloads(
    extra_release: list[str], s3_server: SeaweedServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    out = tmp_path / "o"
    result = run_cli(
        ["download", "ego4d", "--version", EXTRA_RELEASE, "--datasets", EXTRA_PART, "clips",
         "-o", str(out), "-y"],
        capsys,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{EXTRA_PART}: not in egoget's table of Ego4D parts" in result.stderr
    client = s3_server.client()
    for name in extra_release:
        served = client.get_object(Bucket=CONSORTIUM_BUCKET, Key=f"public/v2_1/annotations/{name}")
        assert (out / "v2" / EXTRA_PART / name).read_bytes() == served["Body"].read()
    assert len(list((out / "v2" / "clips").glob("*.mp4"))) == 2


def test_names_the_release_does_not_have_stay_errors_with_suggestions(
    extra_release: list[str], tmp_path: Path, capsys: CaptureFixture
) -> None:
    part = run_cli(["download", "ego4d", "--version", EXTRA_RELEASE, "--datasets",
                    "omnivore_video_swinl_fp61", "-o", str(tmp_path), "-y"], capsys)  # fmt: skip
    assert part.exit_code == 2, part.output
    assert "unknown part: omnivore_video_swinl_fp61" in part.stderr
    version = run_cli(["download", "ego4d", "--version", "v2_3", "-o", str(tmp_path), "-y"],
                      capsys)  # fmt: skip
    assert version.exit_code == 2, version.output
    assert "unknown version: v2_3" in version.stderr
    assert "did you mean 'v2_2'" in version.stderr or "did you mean 'v2_1'" in version.stderr
    assert "v2_1" in version.stderr and EXTRA_RELEASE in version.stderr  # listed from public/


def test_list_datasets_shows_the_release_instead_of_downloading(
    extra_release: list[str], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    result = run_cli(["download", "ego4d", "--list-datasets", "--version", EXTRA_RELEASE], capsys)
    assert result.exit_code == 0, result.output
    assert f"ego4d {EXTRA_RELEASE} on the remote: clips, {EXTRA_PART}" in result.stdout
    assert list(here.iterdir()) == []  # nothing written, not even .egoget


def test_manifest_override_and_the_flags_that_change_nothing(
    demo_objects: list[MirrorObject], s3_server: SeaweedServer, tmp_path: Path,
    capsys: CaptureFixture,
) -> None:  # fmt: skip
    """--manifest-override-path reads a local manifest for the part; --bypass-existing and
    --skip-s3-checks are accepted, with a note on why they change nothing."""
    body = (
        s3_server.client()
        .get_object(Bucket=CONSORTIUM_BUCKET, Key="public/v2_1/clips/manifest.csv")["Body"]
        .read()
        .decode()
    )
    rows = body.splitlines()
    local = tmp_path / "one-clip.csv"
    local.write_text("\n".join(rows[:2]) + "\n")  # the header and one clip
    out = tmp_path / "o"
    result = run_cli(["download", "ego4d", "--datasets", "clips", "--manifest-override-path",
                      str(local), "--bypass-existing", "--skip-s3-checks", "-o", str(out), "-y"],
                     capsys)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(list((out / "v2" / "clips").glob("*.mp4"))) == 1
    assert "--bypass-existing / --skip-s3-checks change nothing here" in result.stderr
