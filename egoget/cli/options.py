"""The options commands share, and how flags meet JSON config files.

Official-CLI spellings are accepted as aliases so existing scripts port by changing the command
name; ``ManyValues`` options take their values as the official CLIs' argparse options do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..config import (
    EMPTY_OUTPUT,
    IoMode,
    Options,
    canonical_keys,
    is_bucket_output,
    load_json_config,
    url_output_problem,
)
from .progress import PROGRESS_MODES

F = TypeVar("F", bound=Callable[..., Any])


def split_commas(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


class OutputFolder(click.Path):
    """A folder to write into; an empty value is refused instead of meaning the current one.
    With ``bucket_ok``, s3://BUCKET/PREFIX/ too, kept as typed."""

    def __init__(self, exists: bool = False, bucket_ok: bool = False):
        super().__init__(file_okay=False, exists=exists, path_type=Path)
        self._bucket_ok = bucket_ok

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail(EMPTY_OUTPUT, param, ctx)
        problem = url_output_problem(value, self._bucket_ok) if isinstance(value, str) else None
        if problem:
            self.fail(problem, param, ctx)
        if isinstance(value, str) and self._bucket_ok and is_bucket_output(value):
            return value
        return super().convert(value, param, ctx)


class ManyValues(click.Option):
    """An option that takes every word up to the next option (``--benchmarks nlq vq``), as
    argparse's nargs="+" does in the official CLIs; commas and repeating the option work too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        # click's parser takes one word per occurrence; the words after it belong to it too.
        for name in self.opts:
            parsed = parser._long_opt.get(name) or parser._short_opt.get(name)
            take_one = parsed.process

            def take_all(value: Any, state: Any, take_one: Any = take_one) -> None:
                take_one(value, state)
                while state.rargs and not str(state.rargs[0]).startswith("-"):
                    take_one(state.rargs.pop(0), state)

            parsed.process = take_all

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        value = super().process_value(ctx, value)
        return tuple(split_commas(list(value or ())))


config_option = click.option(
    "--config",
    "--config_path",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file with any of these options (flags given here override it).",
)


def transfer_options(command: F) -> F:
    """Options of every command that downloads. Official-CLI spellings are accepted as aliases
    so existing scripts port by changing the command name."""
    options = [
        click.option(
            "-o",
            "--output",
            "--output-directory",
            "--output_directory",
            "--out_dir",
            "output",
            type=OutputFolder(bucket_ok=True),
            help="Directory to download into (egoget keeps its state in OUTPUT/.egoget), or "
            "s3://BUCKET/PREFIX/ to copy the files into a bucket, streamed, never staged on "
            "local disk.",
        ),
        click.option(
            "-j",
            "--procs",
            "--num_workers",
            "procs",
            type=int,
            help="At most N parallel connections, shared by all files; a run starts with 8 and "
            "doubles them while that raises the throughput, and halves them when the server "
            "pushes back [default: 32].",
        ),
        click.option(
            "--chunk-size-mib", type=int, help="Size of each ranged request [default: 16]."
        ),
        click.option(
            "--max-attempts", type=int, help="Attempts per chunk before a file fails [default: 8]."
        ),
        click.option(
            "--stall-timeout",
            "stall_timeout_s",
            type=float,
            help="Seconds without a byte before a connection counts as stalled and is retried "
            "[default: 30].",
        ),
        click.option("--limit-rate", help="Cap total bandwidth, e.g. 50M or 500k (bytes/s)."),
        click.option(
            "--io",
            "io_mode",
            type=click.Choice([mode.value for mode in IoMode]),
            help="How files are written. direct: bypass the page cache (less CPU, no copy of "
            "every byte); buffered: through the page cache; auto: files of 16 MiB and more direct "
            "on a local ext4/xfs disk that does not spin, the rest buffered [default: auto].",
        ),
        click.option(
            "--endpoint-url",
            help="S3-compatible endpoint (also AWS_ENDPOINT_URL), e.g. http://127.0.0.1:8333.",
        ),
        click.option(
            "--aws-profile",
            "--aws_profile_name",
            "--s3_profile",
            "aws_profile",
            help="AWS profile; without it boto3's usual chain (environment, default profile, "
            "SSO, instance role) applies.",
        ),
        click.option(
            "--dest-profile",
            help="With -o s3://...: the AWS profile of the destination bucket [default: the "
            "source's credentials].",
        ),
        click.option(
            "--dest-endpoint-url",
            help="With -o s3://...: the destination's S3 endpoint, e.g. a lab's Ceph or MinIO "
            "[default: the source's endpoint].",
        ),
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="With -o s3://...: where egoget keeps the copy's ledger and the manifests it "
            "plans from [default: $XDG_STATE_HOME/egoget/STORE/BUCKET/PREFIX, STORE the "
            "endpoint's host or aws].",
        ),
        click.option(
            "--proxy",
            help="Proxy for every request, http://[user:password@]host:port (overrides "
            "HTTPS_PROXY/HTTP_PROXY/ALL_PROXY; NO_PROXY still applies).",
        ),
        click.option(
            "--ca-bundle",
            type=click.Path(dir_okay=False, path_type=Path),
            help="PEM file of CA certificates to trust (overrides AWS_CA_BUNDLE, the profile's "
            "ca_bundle and REQUESTS_CA_BUNDLE).",
        ),
        click.option(
            "--no-verify-ssl",
            is_flag=True,
            default=None,
            help="Do not check TLS certificates (unsafe: anyone on the path can alter the data).",
        ),
        click.option(
            "--trust-existing",
            type=click.Choice(["hash", "size"]),
            help="Files already under their final names that egoget did not download (an "
            "official CLI's, a copy): kept if their content matches the ETag or checksum "
            "(hash, read from the disk) or, faster, their size alone (size, the official CLI's "
            "own standard) [default: hash].",
        ),
        click.option(
            "--cookies",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Google Drive: cookies.txt exported from a browser signed in to Google, for "
            "files past Drive's daily quota or shared only with you.",
        ),
        click.option("--dry-run", is_flag=True, default=None, help="Show the plan; fetch nothing."),
        config_option,
        click.option(
            "--skip-invalid",
            is_flag=True,
            default=None,
            help="Download the valid entries even if some are refused (unsafe or duplicate "
            "names, malformed manifest rows); the run then exits 1.",
        ),
        click.option("-q", "--quiet", is_flag=True, help="Print only errors and failures."),
        click.option(
            "--progress",
            type=click.Choice(PROGRESS_MODES),
            default="auto",
            show_default=True,
            help="How progress is shown: a bar on a terminal, log lines otherwise (auto); "
            "json: one JSON event per line on stdout for programs (plan, file_started, "
            "progress, retry, file_done, file_failed, summary; see the README), people's "
            "messages stay on stderr; none: no progress, messages only.",
        ),
        click.option(
            "--report",
            "report_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write a JSON summary of the run (for scripts).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


existing_output_option = click.option(
    "-o",
    "--output",
    "--output_directory",
    "output",
    required=True,
    type=OutputFolder(exists=True),
    help="The output directory of an earlier download.",
)

# Options of `egoget download DATASET` by config field; each dataset lists the ones it takes
# (egoget.datasets.DATASETS) and may give its own help text.
DATASET_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "parts": (("--parts", "--datasets", "parts"), {"cls": ManyValues, "help": "Parts."}),
    "version": (("--version", "version"), {"help": "The release."}),
    "metadata": (("--metadata/--no-metadata",), {"default": None, "help": "Also the metadata."}),
    "benchmarks": (("--benchmarks",), {"cls": ManyValues, "help": "Only these benchmarks."}),
    "universities": (("-u", "--universities"), {"cls": ManyValues, "help": "Universities."}),
    "video_uids": (
        ("--video-uids", "--video_uids", "video_uids"),
        {"cls": ManyValues, "help": "Only these videos."},
    ),
    "video_uid_file": (
        ("--video-uid-file", "--video_uid_file", "video_uid_file"),
        {
            "type": click.Path(dir_okay=False, path_type=Path),
            "help": "File of video uids, separated by white space.",
        },
    ),
    "uids": (("--uids",), {"cls": ManyValues, "help": "Only these takes or captures."}),
    "splits": (("--splits",), {"cls": ManyValues, "help": "Only these splits (train, val, test)."}),
    "views": (("--views",), {"cls": ManyValues, "help": "Only these views (ego, exo)."}),
    "release": (("--release",), {"help": "The Ego-Exo4D release [default: v2]."}),
    "base_uri": (
        ("--base-uri", "--base_dir", "base_uri"),
        {"help": "Where Ego-Exo4D releases live [default: the official bucket]."},
    ),
    "videos": (
        ("--videos",),
        {
            "type": click.Choice(["448", "takes"]),
            "help": "Also the takes' videos, downscaled to 448 px or full size.",
        },
    ),
    "uid_to_url": (
        ("--uid-to-url", "--uid_to_url", "uid_to_url"),
        {
            "type": click.Path(dir_okay=False, path_type=Path),
            "help": "The benchmark's uid_to_url.json (q_uid -> presigned link).",
        },
    ),
    "source": (
        ("--source",),
        {
            "cls": ManyValues,
            "help": "Routes to the clips, tried in this order until one can be planned: "
            "kaggle (the egoschema-public competition's archive, unpacked; needs a Kaggle API "
            "token), urls (presigned links), huggingface (lmms-lab/egoschema's zip archives, "
            "unpacked), drive-archive (videos.tar.gz, unpacked), drive-ids (one Drive file per "
            "clip) [default: all five in that order, kaggle only when a token is found; only "
            "urls when --uid-to-url is given].",
        },
    ),
    "hf_url": (
        ("--hf-url",),
        {
            "help": "Base URL of the huggingface route [default: lmms-lab/egoschema on "
            "huggingface.co]; e.g. a mirror such as hf-mirror.com."
        },
    ),
    "kaggle_url": (
        ("--kaggle-url",),
        {"help": "Base URL of Kaggle's API for the kaggle route [default: api.kaggle.com/v1]."},
    ),
    "metadata_url": (
        ("--metadata-url",),
        {"help": "Where the metadata is fetched from [default: where the benchmark keeps it]."},
    ),
    "cut_clips": (
        ("--cut-clips",),
        {
            "is_flag": True,
            "default": None,
            "help": "After the download, cut each annotated clip from its video into "
            "data/videos/<clip_uid>.mp4 with ffmpeg (must be installed).",
        },
    ),
    "cut_procs": (
        ("--cut-procs",),
        {
            "type": click.IntRange(min=1),
            "help": "ffmpeg processes at a time for --cut-clips [default: half the cores].",
        },
    ),
    "branch": (
        ("--branch",),
        {
            "type": click.Choice(["lam", "ttm"]),
            "help": "The baseline whose clips --cut-clips makes: lam (Looking-at-me: cut at "
            "video_start_sec..video_end_sec) or ttm (Talking-to-me: parent_start_sec.."
            "parent_end_sec) [default: lam].",
        },
    ),
    "test": (
        ("--test",),
        {
            "is_flag": True,
            "default": None,
            "help": "Also the test data: the social_test release (public/v1/social_test/, as "
            "the baselines' READMEs name it) into data/social_test/, archives unpacked, and "
            "the folder --branch reads linked: data/videos_challenge (lam) or "
            "data/final_test_data (ttm).",
        },
    ),
    "checkpoints": (
        ("--checkpoints",),
        {
            "is_flag": True,
            "default": None,
            "help": "Also the baselines' checkpoints from Google Drive, into checkpoints/.",
        },
    ),
    "manifest": (
        ("--manifest",),
        {
            "is_flag": True,
            "default": None,
            "help": "Also the full_scale manifest at OUTPUT/manifest.csv, as the official CLI.",
        },
    ),
    "list_datasets": (
        ("--list-datasets", "--list_datasets", "list_datasets"),
        {
            "is_flag": True,
            "default": None,
            "help": "Show the parts the release has (its datasets.csv) instead of downloading.",
        },
    ),
    "manifest_override_path": (
        ("--manifest-override-path", "--manifest_override_path", "manifest_override_path"),
        {
            "type": click.Path(dir_okay=False, path_type=Path),
            "help": "A local manifest.csv, read for every part instead of the release's.",
        },
    ),
    "bypass_version_check": (
        ("--bypass-existing", "--bypass_version_check", "bypass_version_check"),
        {
            "is_flag": True,
            "default": None,
            "help": "Accepted from the official CLI; changes nothing (egoget's check of what is "
            "present needs no request per file).",
        },
    ),
    "skip_s3_checks": (
        ("--skip-s3-checks", "--skip_s3_checks", "skip_s3_checks"),
        {
            "is_flag": True,
            "default": None,
            "help": "Accepted from the official CLI; changes nothing (see --bypass-existing).",
        },
    ),
    # Every dataset's:
    "shard": (
        ("--shard",),
        {
            "help": "K/N: download only share K of N disjoint shares of the plan, balanced "
            "by bytes (one per machine); all N together download everything. auto: K and N "
            "from a Slurm job array or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX with "
            "EGOGET_SHARD_COUNT)."
        },
    ),
    "yes": (
        ("-y", "--yes", "yes"),
        {"is_flag": True, "default": None, "help": "Start without asking."},
    ),
}
EVERY_DATASET_OPTIONS = ("shard", "yes")


def dataset_options(options: dict[str, str | None]) -> Callable[[F], F]:
    """The click options of one dataset: its own (with its help text where it has one), then
    --shard and -y."""

    def decorate(command: F) -> F:
        chosen = {**options, **dict.fromkeys(EVERY_DATASET_OPTIONS)}
        for name, own_help in reversed(list(chosen.items())):
            declarations, attrs = DATASET_OPTIONS[name]
            attrs = {**attrs, "help": own_help or attrs["help"]}
            command = click.option(*declarations, **attrs)(command)
        return command

    return decorate


_CLI_ONLY = {"config_file", "quiet", "progress", "report_file"}


def merged_values(
    ctx: click.Context, params: dict[str, Any], model: type[Options]
) -> dict[str, Any]:
    """JSON config values, overridden by every flag the user actually typed."""
    values: dict[str, Any] = {}
    config_file = params.get("config_file")
    if config_file is not None:
        values.update(canonical_keys(model, load_json_config(config_file)))
    for name, value in params.items():
        if name in _CLI_ONLY or value is None or value == ():
            continue
        if ctx.get_parameter_source(name) is click.core.ParameterSource.DEFAULT:
            continue
        values[name] = list(value) if isinstance(value, tuple) else value
    return values
