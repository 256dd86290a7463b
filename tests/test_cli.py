"""The command line itself: help, config files, dry runs, quiet mode, errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from egoget.cli import cli
from egoget.datasets import DATASETS
from tests.mirror.seed import MirrorObject

from .conftest import assert_same_bytes, run_cli

CaptureFixture = pytest.CaptureFixture[str]


def first_video(objects: list[MirrorObject]) -> MirrorObject:
    return next(o for o in objects if o.key.endswith(".mp4"))


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_each_dataset_download_shows_its_own_options_only(
    name: str, capsys: CaptureFixture
) -> None:
    result = run_cli(["download", name, "--help"], capsys)
    assert result.exit_code == 0, result.output
    assert f"Usage: egoget download {name}" in result.stdout
    assert "--output" in result.stdout and "--proxy" in result.stdout  # the shared ones
    download = cli.get_command(click.Context(cli), "download")
    assert isinstance(download, click.Group)
    command = download.get_command(click.Context(download), name)
    assert command is not None
    own = {p.name for p in command.params if isinstance(p, click.Option)}
    for option in command.params:
        assert option.help, f"download {name} {option.opts} has no help text"
    for other in DATASETS.values():
        for field_name in set(other.options) - own:
            shown = "--" + field_name.replace("_", "-")
            assert f"{shown} " not in result.stdout, f"{name} shows {other.name}'s {shown}"


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_list_describes_every_dataset(name: str, capsys: CaptureFixture) -> None:
    result = run_cli(["list", name], capsys)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{name}: {DATASETS[name].summary}")
    assert len(result.stdout.splitlines()) >= 2


def test_an_unknown_dataset_suggests_the_closest(capsys: CaptureFixture) -> None:
    result = run_cli(["download", "ego4", "-o", "x"], capsys)
    assert result.exit_code == 2
    assert "did you mean 'ego4d'" in result.stderr


def test_download_config_names_the_dataset(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    config = tmp_path / "run.json"
    out = tmp_path / "out"
    config.write_text(json.dumps({"dataset": "ego4d", "output": str(out), "yes": True}))
    result = run_cli(["download", "--config", str(config)], capsys)
    assert result.exit_code == 0, result.output
    assert (out / "v2" / "annotations" / "manifest.csv").is_file()
    # The same file given before the dataset's name, a flag after it overriding the file.
    again = run_cli(["download", "--config", str(config), "ego4d", "-o", str(tmp_path / "b")],
                    capsys)  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (tmp_path / "b" / "v2" / "annotations" / "manifest.csv").is_file()
    wrong = run_cli(["download", "egoexo", "--config", str(config)], capsys)
    assert wrong.exit_code == 2 and "the config file is for dataset 'ego4d'" in wrong.stderr


def test_multi_value_options_take_words_commas_and_repeats(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    """`--parts a b`, `--parts a,b` and `--parts a --parts b` plan the same files."""
    plans = []
    for parts in (["clips", "annotations"], ["clips,annotations"],
                  ["clips", "--parts", "annotations"]):  # fmt: skip
        result = run_cli(["download", "ego4d", "--parts", *parts, "--universities", "cmu",
                          "-o", str(tmp_path / str(len(plans))), "--dry-run"], capsys)  # fmt: skip
        assert result.exit_code == 0, result.output
        plans.append(result.stderr.split("plan:", 1)[1].splitlines()[:2])
    assert plans[0] == plans[1] == plans[2]
    by_part = plans[0][1]
    assert "by part: annotations" in by_part and "clips" in by_part, plans[0]


def test_unknown_option_is_a_usage_error_without_traceback(capsys: CaptureFixture) -> None:
    result = run_cli(["fetch", "--no-such-flag"], capsys)
    assert result.exit_code == 2
    assert "No such option" in result.stderr
    assert "Traceback" not in result.output


def test_official_cli_spellings_are_accepted(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    obj = first_video(demo_objects)
    out = tmp_path / "out"
    result = run_cli(
        ["fetch", obj.uri, "--output_directory", str(out), "--num_workers", "3"], capsys
    )
    assert result.exit_code == 0, result.output
    assert_same_bytes(out / obj.key.rsplit("/", 1)[1], obj)


def test_config_file_supplies_options_and_flags_override_it(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    obj = first_video(demo_objects)
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"uris": [obj.uri], "output": str(tmp_path / "a"), "procs": 2}))
    result = run_cli(["fetch", "--config", str(config)], capsys)
    assert result.exit_code == 0, result.output
    assert_same_bytes(tmp_path / "a" / obj.key.rsplit("/", 1)[1], obj)

    overridden = run_cli(["fetch", "--config", str(config), "-o", str(tmp_path / "b")], capsys)
    assert overridden.exit_code == 0, overridden.output
    assert_same_bytes(tmp_path / "b" / obj.key.rsplit("/", 1)[1], obj)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"output": "x", "proccs": 4}', "unknown option 'proccs'"),
        ('{"output": "x", "procs": "many"}', "procs:"),
        ('{"output": "x", "procs": 0}', "procs:"),
        ('{"output": "x", "limit_rate": "fast"}', "not a rate"),
        ('{"output": "x",', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_bad_config_is_exit_2_naming_the_problem(
    content: str, expected: str, tmp_path: Path, capsys: CaptureFixture
) -> None:
    config = tmp_path / "bad.json"
    config.write_text(content)
    result = run_cli(["fetch", "s3://b/k", "--config", str(config)], capsys)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_config_values_as_strings_are_read_as_the_options_types(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    """A config written by a shell script quotes everything: "2" is 2, "false" is false."""
    obj = first_video(demo_objects)
    config = tmp_path / "run.json"
    config.write_text(json.dumps({
        "uris": [obj.uri], "output_directory": str(tmp_path / "a"), "procs": "2",
        "max_attempts": "3", "stall_timeout_s": "12.5", "dry_run": "false",
    }))  # fmt: skip
    result = run_cli(["fetch", "--config", str(config)], capsys)
    assert result.exit_code == 0, result.output
    assert_same_bytes(tmp_path / "a" / obj.key.rsplit("/", 1)[1], obj)


def test_every_bad_value_in_a_config_is_named_at_once(
    tmp_path: Path, capsys: CaptureFixture
) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({
        "output": "x", "procs": 300, "dry_run": "perhaps", "uris": ["s3://b/k", 7],
        "io_mode": "fast", "trust_existing": "never",
    }))  # fmt: skip
    result = run_cli(["fetch", "--config", str(config)], capsys)
    assert result.exit_code == 2, result.output
    for problem in ("procs: Input should be less than or equal to 256", "dry_run:", "uris.1:",
                    "io_mode: Input should be one of 'auto', 'direct', 'buffered'",
                    "trust_existing:"):  # fmt: skip
        assert problem in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_dry_run_prints_the_plan_and_fetches_nothing(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    out = tmp_path / "out"
    result = run_cli(
        ["fetch", "s3://ego4d-consortium-sharing/public/v2_1/", "-o", str(out), "--dry-run"],
        capsys,
    )
    assert result.exit_code == 0, result.output
    consortium = [o for o in demo_objects if o.bucket == "ego4d-consortium-sharing"]
    assert f"{len(consortium)} files to fetch" in result.stderr
    assert not out.exists()  # no trace: not even the folder or egoget's state in it


def test_quiet_success_prints_nothing(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    result = run_cli(["fetch", first_video(demo_objects).uri, "-o", str(tmp_path), "-q"], capsys)
    assert result.exit_code == 0
    assert result.output == ""


def test_missing_output_directory_is_a_clear_usage_error(capsys: CaptureFixture) -> None:
    result = run_cli(["fetch", "s3://bucket/key"], capsys)
    assert result.exit_code == 2
    assert "no output directory" in result.stderr
    assert "hint: pass -o DIR" in result.stderr


def test_unknown_scheme_is_refused(tmp_path: Path, capsys: CaptureFixture) -> None:
    result = run_cli(["fetch", "ftp://host/file", "-o", str(tmp_path)], capsys)
    assert result.exit_code == 2
    assert "no source handles ftp" in result.stderr


def test_status_of_a_directory_without_downloads_says_so(
    tmp_path: Path, capsys: CaptureFixture
) -> None:
    result = run_cli(["status", "-o", str(tmp_path)], capsys)
    assert result.exit_code == 2
    assert "holds no egoget download" in result.stderr


def test_debug_env_shows_the_traceback_of_a_user_error(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "egoget", "status", "-o", str(tmp_path)]
    plain = subprocess.run(args, capture_output=True, text=True)
    debug = subprocess.run(
        args, capture_output=True, text=True, env={**__import__("os").environ, "EGOGET_DEBUG": "1"}
    )
    assert plain.returncode == debug.returncode == 2
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr


@pytest.mark.parametrize("path", sorted(Path(__file__).parent.parent.glob("configs/*.json")))
def test_example_configs_are_valid_and_mean_what_they_say(path: Path) -> None:
    from egoget.config import FetchConfig, build_config, canonical_keys, load_json_config

    raw = load_json_config(path)
    kind = raw.get("dataset") or path.name.split("_", 1)[0]
    model = FetchConfig if kind == "fetch" else DATASETS[kind].config_model
    values = canonical_keys(model, raw)
    config = build_config(model, values, str(path))
    for key, value in values.items():
        got = getattr(config, key)
        if isinstance(got, Path):  # "~/x" and "$VAR/x" are expanded, as the official CLI does
            got, value = str(got), os.path.expandvars(os.path.expanduser(value))
        assert got == value, f"{path.name}: {key} is {got!r}, the file says {value!r}"


def test_plain_progress_lines_when_output_is_not_a_terminal(
    demo_objects: list[MirrorObject],
    tmp_path: Path,
    capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("egoget.cli.progress.PLAIN_PROGRESS_INTERVAL_S", 0.0)
    result = run_cli(["fetch", first_video(demo_objects).uri, "-o", str(tmp_path)], capsys)
    assert result.exit_code == 0, result.output
    assert "1/1 files" in result.stderr
    assert "MiB/s" in result.stderr


def test_progress_bar_on_a_terminal(demo_objects: list[MirrorObject], tmp_path: Path) -> None:
    import fcntl
    import os
    import pty
    import struct
    import termios

    obj = first_video(demo_objects)
    controller, terminal = pty.openpty()
    # A fresh pty is 0x0; give it a real terminal's size so the bar has room to draw.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "egoget", "fetch", obj.uri, "-o", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO once the process closes the terminal
            break
        if not data:
            break
        shown += data
    assert process.wait(timeout=60) == 0
    os.close(controller)
    text = shown.decode(errors="replace")
    assert "1/1 files" in text and "100%" in text, text


def test_list_shows_catalogues_and_asks_the_remote_with_live(
    demo_objects: list[MirrorObject], capsys: CaptureFixture
) -> None:
    result = run_cli(["list"], capsys)
    assert result.exit_code == 0
    assert "full_scale" in result.stdout and "features/omnivore_video" in result.stdout
    assert "unict (ego4d-unict-milan)" in result.stdout
    live = run_cli(["list", "ego4d", "--live"], capsys)
    assert live.exit_code == 0, live.output
    assert "ego4d v2_1 on the remote: full_scale, clips, annotations" in live.stdout
    wrong = run_cli(["list", "ego4dd"], capsys)
    assert wrong.exit_code == 2 and "did you mean 'ego4d'" in wrong.stderr


@pytest.mark.parametrize("command", ["fetch", "ego4d", "egoexo"])
def test_config_schema_is_json_schema_of_the_accepted_keys(
    command: str, capsys: CaptureFixture
) -> None:
    result = run_cli(["config", "schema", command], capsys)
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert "output" in schema["properties"] and "procs" in schema["properties"]
    if command != "fetch":
        assert "parts" in schema["properties"] and "shard" in schema["properties"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "names no uid, so it would select nothing"), (b"\x00\x01\xff\xfe", "not a text file")],
)
def test_a_uid_file_that_selects_nothing_or_is_not_text_is_exit_2(
    content: bytes, expected: str, tmp_path: Path, capsys: CaptureFixture
) -> None:
    uids = tmp_path / "uids.txt"
    uids.write_bytes(content)
    result = run_cli(["download", "ego4d", "--parts", "full_scale", "--video-uid-file",
                      str(uids), "-o", str(tmp_path / "o"), "-y"], capsys)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and "internal error" not in result.stderr


def test_a_bucket_that_does_not_exist_is_refused_and_creates_no_local_folder(
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    result = run_cli(["fetch", "s3://bucket/key", "-o", "s3://lab-bucket/ego4d/"], capsys)
    assert result.exit_code == 2, result.output
    assert "the destination bucket lab-bucket does not exist" in result.stderr
    assert "aws s3 mb s3://lab-bucket" in result.stderr and "valid options" not in result.stderr
    assert not (tmp_path / "s3:").exists() and not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["fetch", "s3://bucket/key", "-o", ""],
        ["download", "ego4d", "--parts", "annotations", "-o", " ", "-y"],
        ["prepare", "egovlp", "--videos", ".", "-o", ""],
    ],
)
def test_an_empty_output_directory_is_refused_not_taken_for_the_current_one(
    args: list[str], tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `-o "$OUT"` with OUT unset in a job script.
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = run_cli(args, capsys)
    assert result.exit_code == 2, result.output
    assert "the output directory is empty" in result.stderr
    assert list(work.iterdir()) == []


def test_an_empty_output_directory_in_a_config_file_is_refused(
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    config = work / "run.json"
    config.write_text('{"output_directory": "", "datasets": ["annotations"]}')
    result = run_cli(["download", "ego4d", "--config", str(config), "-y"], capsys)
    assert result.exit_code == 2, result.output
    assert "the output directory is empty" in result.stderr
    assert sorted(p.name for p in work.iterdir()) == ["run.json"]


@pytest.mark.parametrize("case", ["usage", "credentials", "locked"])
def test_the_report_is_written_however_the_run_ends(
    case: str, demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    out = tmp_path / "out"
    args = ["download", "ego4d", "--parts", "annotations", "-o", str(out), "-y"]
    expected_code = {"usage": 2, "credentials": 3, "locked": 5}[case]
    if case == "usage":
        args += ["--benchmarks", "nql"]
    elif case == "credentials":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    else:
        import fcntl

        (out / ".egoget").mkdir(parents=True)
        holder = open(out / ".egoget" / "lock", "w")  # noqa: SIM115 - held for the test
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    result = run_cli(args, capsys, report=tmp_path / "report.json")
    assert result.exit_code == expected_code, result.output
    assert result.report is not None, "no report"
    assert result.report["exit_code"] == expected_code
    assert result.report["fatal"] and result.report["hint"]


def test_the_report_is_written_even_when_the_options_are_wrong(
    tmp_path: Path, capsys: CaptureFixture
) -> None:
    for args in (["--procs", "0"], ["--no-such-option"]):
        report = tmp_path / "report.json"
        report.unlink(missing_ok=True)
        result = run_cli(["fetch", "s3://b/k", "-o", str(tmp_path / "o"), *args], capsys,
                         report=report)  # fmt: skip
        assert result.exit_code == 2, result.output
        assert result.report is not None and result.report["exit_code"] == 2, args
        assert result.report["fatal"]


def test_a_dry_run_leaves_no_trace_and_the_real_run_reuses_its_manifests(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    out = tmp_path / "ego4d"
    dry = run_cli(["download", "ego4d", "--parts", "annotations", "-o", str(out), "--dry-run"],
                  capsys)  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert not out.exists()
    cached = list((Path.home() / ".cache" / "egoget" / "manifests").rglob("manifest.csv"))
    assert len(cached) == 1
    # Doctor the cached manifest to list one file, same size and mtime: the real run must take
    # it from the cache rather than the network, so its plan shrinks to that one file.
    manifest, mtime = cached[0], cached[0].stat().st_mtime_ns
    rows = manifest.read_text().splitlines()
    doctored = "\n".join(rows[:2]) + "\n"
    manifest.write_text(doctored + "\n" * (manifest.stat().st_size - len(doctored)))
    os.utime(manifest, ns=(mtime, mtime))
    real = run_cli(["download", "ego4d", "--parts", "annotations", "-o", str(out), "-y"], capsys)
    assert real.exit_code == 0, real.output
    files = [p for p in (out / "v2" / "annotations").iterdir() if p.name != "manifest.ver"]
    assert sorted(p.name for p in files) == sorted(
        ["manifest.csv", rows[1].split(",")[1].rsplit("/", 1)[1]]
    )


def test_status_lists_part_files_the_ledger_has_no_chunks_of(
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture
) -> None:
    obj = first_video(demo_objects)
    assert run_cli(["fetch", obj.uri, "-o", str(tmp_path)], capsys).exit_code == 0
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "clip.mp4.egoget-part").write_bytes(b"x" * 3000)  # a killed small file
    result = run_cli(["status", "-o", str(tmp_path)], capsys)
    assert result.exit_code == 0
    assert "verified: 1 file, 3.0 MiB" in result.stdout
    assert "partial: 1 file\n" in result.stdout
    assert "sub/clip.mp4: 2.9 KiB in its part file, to be fetched again" in result.stdout
