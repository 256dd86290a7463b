"""The `egoget` command: the only module that prints, prompts, draws progress, picks exit codes."""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click
from pydantic import BaseModel

from .config import (
    DatasetConfig,
    Ego2ExoConfig,
    Ego4dConfig,
    Ego4dSocialConfig,
    EgoExoConfig,
    EgoSchemaConfig,
    EgoVlpConfig,
    FetchConfig,
    TransferConfig,
    build_config,
    canonical_keys,
    load_json_config,
)
from .constants import ENV_DEBUG, PLAIN_PROGRESS_INTERVAL_S
from .datasets import (
    drive_assets,
    ego2exo,
    ego4d,
    ego4d_social,
    egoexo,
    egoschema,
    egovlp_videos,
)
from .datasets.choices import check_choices
from .datasets.uris import plan_uris, read_list_file
from .errors import EgogetError, ExitCode, Interrupted, ManifestError, UsageError
from .ledger import VerifiedFile
from .model import PlannedRun
from .report import output_status, verify_output
from .run import (
    MetadataFetcher,
    OutputSession,
    PlanDiff,
    RunResult,
    ensure_output_dir,
    read_small_object,
    run_plan,
    source_registry,
)
from .sources import SourceRegistry
from .sources.http import redact_url
from .steps import ItemProgress
from .transfer.diskio import IoMode
from .transfer.events import (
    BytesReceived,
    Event,
    EventSink,
    FileDone,
    FileFailed,
    FileStarted,
    Restarting,
    Retrying,
)
from .video import default_encoders, not_made_yet, run_encodes

F = TypeVar("F", bound=Callable[..., Any])
MAX_FAILURES_SHOWN = 20


# --- rendering ------------------------------------------------------------------------------


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def err(message: str) -> None:
    click.echo(f"egoget: {message}", err=True)


def note(message: str) -> None:
    err(f"note: {message}")


def shown_uri(registry: SourceRegistry, uri: str) -> str:
    """A URI as it may be printed. Refused entries may not be URIs at all: still never print
    a query string."""
    try:
        return registry.for_uri(uri).redact(uri)
    except EgogetError:
        return redact_url(uri)


def show_error(error: EgogetError) -> None:
    err(f"error: {error.message}")
    if error.hint:
        click.echo(f"  hint: {error.hint}", err=True)


class ProgressView:
    """Renders engine events: tqdm bars on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, files: int, known_bytes: int, unknown_dests: set[str], mode: str):
        self._files_total = files
        self._files_done = 0
        self._unknown_dests = unknown_dests
        self._mode = mode
        self._lock = threading.Lock()
        self._bytes = 0
        self._total_bytes = known_bytes
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=known_bytes,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                dynamic_ncols=True,
                file=sys.stderr,
                desc=self._files_label(),
            )

    def _files_label(self) -> str:
        return f"{self._files_done}/{self._files_total} files"

    def _note(self, message: str) -> None:
        if self._mode == "quiet":
            return
        if self._bar is not None:
            self._bar.write(f"egoget: {message}", file=sys.stderr)
        else:
            err(message)

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, BytesReceived):
                self._bytes += event.delta
                if self._bar is not None:
                    self._bar.update(event.delta)
            elif isinstance(event, FileStarted) and event.dest in self._unknown_dests:
                self._unknown_dests.discard(event.dest)
                self._total_bytes += event.size
                if self._bar is not None:
                    self._bar.total = self._total_bytes
                    self._bar.refresh()
            elif isinstance(event, FileDone):
                self._files_done += 1
                if self._bar is not None:
                    self._bar.set_description_str(self._files_label())
            elif isinstance(event, Retrying):
                self._note(
                    f"retrying {event.dest} in {event.delay_s:.1f} s "
                    f"(attempt {event.attempt + 1}): {event.reason}"
                )
            elif isinstance(event, Restarting):
                self._note(f"restarting {event.dest}: {event.reason}")
            elif isinstance(event, FileFailed):
                if self._bar is not None:
                    self._bar.write(f"egoget: failed {event.dest}: {event.error}", file=sys.stderr)
                else:
                    err(f"failed {event.dest}: {event.error}")
            if self._mode == "log":
                now = time.monotonic()
                if now - self._last_line >= PLAIN_PROGRESS_INTERVAL_S:
                    self._last_line = now
                    err(self._plain_line(now))

    def _plain_line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-6)
        rate = self._bytes / elapsed
        remaining = max(0, self._total_bytes - self._bytes)
        eta = f", ETA {remaining / rate:.0f} s" if rate > 0 and self._total_bytes else ""
        return (
            f"{self._files_label()}, {human_bytes(self._bytes)} of "
            f"{human_bytes(self._total_bytes)}, {human_bytes(rate)}/s{eta}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class CountProgress:
    """Progress of work counted in items (chunks encoded, clips cut), not bytes."""

    def __init__(self, total: int, unit: str, mode: str):
        self._total = total
        self._unit = unit
        self._mode = mode
        self._done = 0
        self._lock = threading.Lock()
        self._last_line = time.monotonic()
        self._bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=f" {unit}", dynamic_ncols=True, file=sys.stderr)

    def __call__(self, name: str, error: EgogetError | None) -> None:
        with self._lock:
            self._done += 1
            if error is not None:
                line = f"egoget: failed {name}: {error}"
                if self._bar is not None:
                    self._bar.write(line, file=sys.stderr)
                else:
                    click.echo(line, err=True)
            if self._bar is not None:
                self._bar.update(1)
            elif self._mode == "log":
                now = time.monotonic()
                if now - self._last_line >= PLAIN_PROGRESS_INTERVAL_S or self._done == self._total:
                    self._last_line = now
                    err(f"{self._done}/{self._total} {self._unit}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def print_plan(diff: PlanDiff, quiet: bool) -> None:
    if quiet:
        return
    sizes = human_bytes(diff.todo_bytes_known)
    unknown = f"; {diff.sizes_unknown} sized as they start" if diff.sizes_unknown else ""
    err(
        f"plan: {len(diff.todo)} files to fetch ({sizes}{unknown}), "
        f"{len(diff.present)} already present ({human_bytes(diff.present_bytes)})"
    )
    for tag in ("part", "university"):
        groups: dict[str, list[int]] = {}
        for file in diff.todo:
            if tag in file.tags:
                counts = groups.setdefault(file.tags[tag], [0, 0])
                counts[0] += 1
                counts[1] += file.size or 0
        if len(groups) > 1 or (groups and tag == "part"):
            shown = ", ".join(
                f"{name} {n} ({human_bytes(b)})" for name, (n, b) in sorted(groups.items())
            )
            err(f"  by {tag}: {shown}")
    if diff.todo_bytes_known > diff.free_bytes:
        err(
            f"warning: the plan needs {human_bytes(diff.todo_bytes_known)} but only "
            f"{human_bytes(diff.free_bytes)} is free in the output directory"
        )


def print_summary(result: RunResult, registry: SourceRegistry, quiet: bool) -> None:
    s = result.summary
    for uri, error in result.refused[:MAX_FAILURES_SHOWN]:
        err(f"refused {shown_uri(registry, uri)}: {error}")
    if result.dry_run:
        return
    if result.finishing_failed:
        err(f"{len(result.finishing_failed)} failed after the download (listed above)")
    if s.fatal is not None:
        show_error(s.fatal)
    rate = s.bytes_received / s.elapsed_s if s.elapsed_s > 0 else 0.0
    if not quiet or s.failed or s.fatal or s.interrupted:
        click.echo(
            f"egoget: {s.files_done} files verified ({human_bytes(s.bytes_done)}), "
            f"{len(result.diff.present)} already present, {len(s.failed)} failed; "
            f"received {human_bytes(s.bytes_received)} in {s.elapsed_s:.1f} s "
            f"({human_bytes(rate)}/s)"
        )
    if s.hedged_ranges and not quiet:
        err(
            f"{s.hedged_ranges} range(s) went silent while others flowed and were continued on "
            "a new connection"
        )
    # Each failure was printed as it happened; repeat only the distinct hints.
    for hint in dict.fromkeys(e.hint for e in s.failed.values() if e.hint):
        click.echo(f"  hint: {hint}", err=True)
    if s.interrupted:
        err("interrupted: finished chunks are kept; rerun the same command to resume")
    elif s.failed or result.unaccounted:
        err("rerun the same command to retry the failed files; finished ones are kept")


def write_report(path: Path | None, result: RunResult, registry: SourceRegistry) -> None:
    if path is None:
        return
    s = result.summary
    report = {
        "exit_code": int(result.exit_code),
        "files_planned": len(result.diff.todo) + len(result.diff.present),
        "files_present": len(result.diff.present),
        "files_done": s.files_done,
        "bytes_done": s.bytes_done,
        "bytes_received": s.bytes_received,
        "bytes_direct_io": s.bytes_direct_io,
        "failed": {dest: error.message for dest, error in s.failed.items()},
        "refused": [[shown_uri(registry, u), e.message] for u, e in result.refused],
        "fatal": s.fatal.message if s.fatal else None,
        "interrupted": s.interrupted,
        "elapsed_s": round(s.elapsed_s, 3),
        "hedged_ranges": s.hedged_ranges,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")


# --- signals --------------------------------------------------------------------------------


@contextmanager
def stop_on_signals(cancelled: threading.Event) -> Iterator[list[ExitCode]]:
    """Ctrl-C / SIGTERM ask the engine to stop and keep partial work; a second Ctrl-C quits."""
    received: list[ExitCode] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if cancelled.is_set() and signum == signal.SIGINT:
            os._exit(ExitCode.INTERRUPTED)
        received.append(ExitCode.INTERRUPTED if signum == signal.SIGINT else ExitCode.TERMINATED)
        cancelled.set()
        err("stopping: keeping finished chunks (press Ctrl-C again to quit at once)")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- shared options -------------------------------------------------------------------------


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
            type=click.Path(file_okay=False, path_type=Path),
            help="Directory to download into (egoget keeps its state in OUTPUT/.egoget).",
        ),
        click.option(
            "-j",
            "--procs",
            "--num_workers",
            "procs",
            type=int,
            help="Parallel connections, shared by all files [default: 8].",
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
            "every byte); buffered: through the page cache; auto: direct on a local ext4/xfs "
            "disk that does not spin [default: auto].",
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
            "--cookies",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Google Drive: cookies.txt exported from a browser signed in to Google, for "
            "files past Drive's daily quota or shared only with you.",
        ),
        click.option("--dry-run", is_flag=True, default=None, help="Show the plan; fetch nothing."),
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="JSON file with any of these options (flags given here override it).",
        ),
        click.option(
            "--skip-invalid",
            is_flag=True,
            default=None,
            help="Download the valid entries even if some are refused (unsafe or duplicate "
            "names, malformed manifest rows); the run then exits 1.",
        ),
        click.option("-q", "--quiet", is_flag=True, help="Print only errors and failures."),
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
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The output directory of an earlier download.",
)

_CLI_ONLY = {"config_file", "quiet", "report_file"}


def merged_values(
    ctx: click.Context, params: dict[str, Any], model: type[BaseModel]
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


def progress_mode(quiet: bool) -> str:
    if quiet:
        return "quiet"
    return "bar" if sys.stderr.isatty() else "log"


# --- commands -------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="egoget")
def cli() -> None:
    """egoget: one resumable, verified, parallel downloader for egocentric-video datasets.

    Every download goes to .egoget-part files in fixed-size chunks, is checked against the
    remote's size, ETag or checksum, and only then appears under its final name. Interrupt it
    any time: rerunning the same command fetches only what is missing.

    Exit codes: 0 all selected files verified; 1 some files failed (rerun to resume);
    2 usage, config or manifest error; 3 credentials or access; 4 disk full; 5 output directory
    locked by another run; 6 a server cannot be reached or trusted (name, proxy, certificate);
    130/143 interrupted. Set EGOGET_DEBUG=1 for tracebacks.
    """


@cli.command()
@click.argument("uris", nargs=-1)
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File with one URI per line, optionally followed by a relative destination.",
)
@transfer_options
@click.pass_context
def fetch(ctx: click.Context, /, **params: Any) -> None:
    """Download S3 objects or prefixes and HTTP(S) URLs.

    \b
    URIS are s3://bucket/key (saved as OUTPUT/<basename>), s3://bucket/prefix/ (ending in /:
    every object below it, saved under OUTPUT/ by its path relative to the prefix),
    https://... URLs (presigned ones too; their query strings are never printed), or Google
    Drive files and folders: gdrive://ID, gdrive://FOLDER_ID/, or their drive.google.com links
    (a file keeps its Drive name; a folder's files keep their paths in it).

    \b
    Examples:
      egoget fetch s3://ego4d-consortium-sharing/public/v2_1/annotations/ -o ego4d
      egoget fetch --from-file urls.txt -o videos -j 16
      egoget fetch https://drive.google.com/file/d/1-aaDu_Gi-Y2sQI_2rsI2D1zvQBJnHpXl/view -o .
    """
    values = merged_values(ctx, params, FetchConfig)
    if values.get("output") is None:
        raise UsageError("no output directory given", hint="pass -o DIR (or --output_directory)")
    config = build_config(FetchConfig, values, "options")
    entries: list[tuple[str, str | None]] = [(uri, None) for uri in config.uris]
    if config.from_file is not None:
        entries += read_list_file(config.from_file)
    if not entries:
        raise UsageError("nothing to fetch", hint="give URIs as arguments or --from-file LIST")
    registry = source_registry(config, note)
    quiet = bool(params.get("quiet"))
    if not quiet:
        err(f"planning {len(entries)} entries ...")
    plan, refused = plan_uris(entries, registry)
    planned = PlannedRun(plan, refused)
    run_and_exit(
        config, registry, lambda *_: planned, quiet, params.get("report_file"), ask_first=False
    )


# Makes the plan inside the session: a dataset fetches its manifests through it first.
Planner = Callable[[OutputSession, EventSink, threading.Event], PlannedRun]


def run_and_exit(
    config: TransferConfig,
    registry: SourceRegistry,
    planner: Planner,
    quiet: bool,
    report_file: Path | None,
    ask_first: bool,
) -> None:
    cancelled = threading.Event()
    view: ProgressView | None = None

    def start_view(diff: PlanDiff) -> bool:
        nonlocal view
        print_plan(diff, quiet)
        if ask_first and diff.todo and not confirm_download(diff):
            return False
        unknown: set[str] = {f.dest for f in diff.todo if f.size is None}
        view = ProgressView(len(diff.todo), diff.todo_bytes_known, unknown, progress_mode(quiet))
        return True

    def emit(event: Event) -> None:
        if view is not None:
            view(event)

    step_views: list[CountProgress] = []

    def start_step_progress(total: int, unit: str) -> ItemProgress:
        step_views.append(CountProgress(total, unit, progress_mode(quiet)))
        return step_views[-1]

    def close_step_progress() -> None:
        while step_views:
            step_views.pop().close()

    if config.no_verify_ssl:
        err(
            "warning: --no-verify-ssl: TLS certificates are not checked; anyone on the network "
            "path can read and alter what this run downloads"
        )
    ensure_output_dir(config.output)
    with stop_on_signals(cancelled) as received:
        try:
            with OutputSession(config, registry) as session:
                planned = planner(session, emit, cancelled)
                for message in planned.notes:
                    note(message)
                refuse_invalid_entries(planned, registry, config.skip_invalid)
                result = run_plan(
                    session, planned.plan, emit, cancelled, start_view, planned.refused
                )
                if result.exit_code == ExitCode.OK and not config.dry_run:
                    for step in planned.finishing:
                        outcome = step.run(config.output, cancelled, start_step_progress)
                        close_step_progress()
                        if not outcome.failures_shown:
                            for name, error in outcome.failed[:MAX_FAILURES_SHOWN]:
                                err(f"failed {name}: {error}")
                        err(outcome.summary)
                        result.finishing_failed.extend(outcome.failed)
        finally:
            if view is not None:
                view.close()
            close_step_progress()
    if received:
        result.signal_exit = received[0]
    if config.dry_run:
        print_plan(result.diff, quiet=False)
    print_summary(result, registry, quiet)
    write_report(report_file, result, registry)
    sys.exit(int(result.exit_code))


def refuse_invalid_entries(planned: PlannedRun, registry: SourceRegistry, skip: bool) -> None:
    """Unsafe names and malformed entries stop a run before any byte moves, unless the user
    asks for the valid rest (--skip-invalid). Missing or denied objects are not in this class:
    they are reported, the rest downloads, and the run exits 1."""
    invalid = [(uri, e) for uri, e in planned.refused if isinstance(e, ManifestError)]
    if not invalid or skip:
        return
    for uri, error in invalid[:MAX_FAILURES_SHOWN]:
        err(f"refused {shown_uri(registry, uri)}: {error}")
    raise UsageError(
        f"{len(invalid)} entries refused; nothing was downloaded",
        hint="fix the list or manifest, or pass --skip-invalid to download the valid entries",
    )


def confirm_download(diff: PlanDiff) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(
            "not starting a download without confirmation",
            hint="pass -y (--yes) to start it from a script, or --dry-run to see the plan",
        )
    return click.confirm(f"Download {human_bytes(diff.todo_bytes_known)}?", default=True)


# Datasets `egoget download` knows, by name, with the model of their options.
DATASET_CONFIGS: dict[str, type[DatasetConfig]] = {
    "ego4d": Ego4dConfig,
    "egoexo": EgoExoConfig,
    "egoschema": EgoSchemaConfig,
    "egovlp": EgoVlpConfig,
    "ego2exo": Ego2ExoConfig,
    "ego4d-social": Ego4dSocialConfig,
}
DOWNLOADABLE = tuple(DATASET_CONFIGS)
# Options that take several values, written as the official CLIs do (`--benchmarks nlq vq`),
# with commas, or by repeating the option.
MULTI_VALUE_OPTIONS = frozenset(
    {
        "--parts",
        "--datasets",
        "--benchmarks",
        "--universities",
        "-u",
        "--video-uids",
        "--video_uids",
        "--uids",
        "--splits",
        "--views",
        "--source",
    }
)


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """Rewrite `--opt a b` as `--opt a --opt b` for the multi-value options, so click sees one
    value per occurrence. A dataset name ends a list, so `--benchmarks nlq ego4d` still works."""
    out: list[str] = []
    current: str | None = None
    for token in argv:
        if token in MULTI_VALUE_OPTIONS:
            current = token
            out.append(token)
            continue
        if token.startswith("-") or token.lower() in DOWNLOADABLE:
            current = None
        elif current is not None and out[-1] != current:
            out.append(current)
        out.append(token)
    return out


def split_commas(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@cli.command()
@click.argument("dataset_name", metavar="DATASET", required=False)
@click.option("--dataset", "dataset_option", help="The dataset, as an option instead.")
@click.option(
    "--parts",
    "--datasets",
    "parts",
    multiple=True,
    help="Parts of the dataset, e.g. full_scale annotations clips [default: annotations]. "
    "`egoget list ego4d` shows them all.",
)
@click.option("--version", "version", help="Release: v1, v2 or v2_1 [default: v2_1].")
@click.option(
    "--metadata/--no-metadata",
    default=None,
    help="Also fetch the dataset's metadata [default: yes]: ego4d's ego4d.json, egoschema's "
    "questions and public answers, ego2exo's metadata/ego2exo.json.",
)
@click.option("--benchmarks", multiple=True, help="Only files of these benchmarks, e.g. nlq vq.")
@click.option(
    "-u",
    "--universities",
    multiple=True,
    help="Only videos from these universities, e.g. unict cmu.",
)
@click.option(
    "--video-uids", "--video_uids", "video_uids", multiple=True, help="Only these videos."
)
@click.option(
    "--video-uid-file",
    "--video_uid_file",
    "video_uid_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File of video uids, separated by white space.",
)
@click.option("--uids", multiple=True, help="egoexo: only these takes or captures.")
@click.option("--splits", multiple=True, help="egoexo: only these splits (train, val, test).")
@click.option("--views", multiple=True, help="egoexo: only these views (ego, exo).")
@click.option("--release", help="egoexo: the release [default: v2].")
@click.option(
    "--videos",
    type=click.Choice(["448", "takes"]),
    help="ego2exo: also the takes' videos, downscaled to 448 px or full size.",
)
@click.option(
    "--base-uri", "--base_dir", "base_uri", help="egoexo: where releases live [default: official]."
)
@click.option(
    "--uid-to-url",
    "--uid_to_url",
    "uid_to_url",
    type=click.Path(dir_okay=False, path_type=Path),
    help="egoschema: the benchmark's uid_to_url.json (q_uid -> presigned link).",
)
@click.option(
    "--source",
    multiple=True,
    help="egoschema: routes to the clips, tried in this order until one can be planned: urls "
    "(presigned links), huggingface (lmms-lab/egoschema's zip archives, unpacked), "
    "drive-archive (videos.tar.gz, unpacked), drive-ids (one Drive file per clip) [default: "
    "all four in that order; only urls when --uid-to-url is given].",
)
@click.option(
    "--hf-url",
    help="egoschema: base URL of the huggingface route [default: lmms-lab/egoschema on "
    "huggingface.co]; e.g. a mirror such as hf-mirror.com.",
)
@click.option(
    "--metadata-url",
    help="egoschema: where questions.json, subset_answers.json and uid_to_ego4d.json are "
    "fetched from [default: the benchmark's GitHub repository].",
)
@click.option(
    "--cut-clips",
    is_flag=True,
    default=None,
    help="ego4d-social: after the download, cut each annotated clip from its video into "
    "data/videos/<clip_uid>.mp4 with ffmpeg (must be installed).",
)
@click.option(
    "--checkpoints",
    is_flag=True,
    default=None,
    help="ego4d-social: also the baselines' checkpoints from Google Drive, into checkpoints/.",
)
@click.option(
    "--cut-procs",
    type=click.IntRange(min=1),
    help="ego4d-social: ffmpeg processes at a time for --cut-clips [default: half the cores].",
)
@click.option(
    "--shard",
    help="K/N: download only share K of N disjoint shares of the plan (one per machine of a "
    "job array); all N together download everything.",
)
@click.option("-y", "--yes", "yes", is_flag=True, default=None, help="Start without asking.")
@transfer_options
@click.pass_context
def download(ctx: click.Context, /, **params: Any) -> None:
    """Download a dataset, or parts of it, by name.

    \b
    Examples:
      egoget download ego4d --parts full_scale annotations --benchmarks nlq -o ego4d -y
      egoget download ego4d --parts full_scale --universities unict --dry-run -o ego4d
      egoget download --config configs/ego4d_nlq.json      # official ego4d configs work too
      egoget download egoschema -o egoschema -y
      egoget download ego4d-social --cut-clips -o social-interactions -y

    The files land where the official tools put them; re-running fetches only what is missing
    or changed. Before starting it prints the plan (files, bytes, already present, by part and
    university) and asks, unless -y.
    """
    positional = params.pop("dataset_name")
    option = params.pop("dataset_option")
    multi = ("parts", "benchmarks", "universities", "video_uids", "uids", "splits", "views")
    for name in (*multi, "source"):
        params[name] = tuple(split_commas(list(params[name])))
    values = merged_values(ctx, params, DatasetConfig)
    name = (positional or option or values.get("dataset") or "").lower()
    if not name:
        raise UsageError(
            "which dataset?",
            hint=f"egoget download DATASET ...; datasets: {', '.join(DOWNLOADABLE)}",
        )
    check_choices("dataset", [name], DOWNLOADABLE)
    values["dataset"] = name
    if values.get("output") is None:
        raise UsageError("no output directory given", hint="pass -o DIR (or --output_directory)")
    model = DATASET_CONFIGS[name]
    config = build_config(model, canonical_keys(model, values), "options")
    registry = source_registry(config, note)

    def planner(session: OutputSession, emit: EventSink, cancelled: threading.Event) -> PlannedRun:
        fetcher = MetadataFetcher(session, emit, cancelled)
        if isinstance(config, Ego4dConfig):
            return ego4d.plan_run(config, registry, fetcher)
        if isinstance(config, Ego4dSocialConfig):
            return ego4d_social.plan_run(config, registry, fetcher)
        if isinstance(config, Ego2ExoConfig):
            return ego2exo.plan_run(config, registry, fetcher)
        if isinstance(config, EgoExoConfig):
            return egoexo.plan_run(config, fetcher)
        if isinstance(config, EgoVlpConfig):
            return drive_assets.plan_egovlp(config, registry)
        assert isinstance(config, EgoSchemaConfig)
        return egoschema.plan_run(config, registry, fetcher)

    run_and_exit(
        config,
        registry,
        planner,
        bool(params.get("quiet")),
        params.get("report_file"),
        ask_first=not config.yes and not config.dry_run,
    )


@cli.command()
@existing_output_option
@click.option("--full", is_flag=True, help="Re-hash every file (slow) instead of checking sizes.")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems and the summary.")
def verify(output: Path, full: bool, quiet: bool) -> None:
    """Re-check downloaded files against what was verified at download time.

    Files that are missing or changed are forgotten, so the next download fetches them again.
    Exits 1 if any file failed the check.
    """
    view: ProgressView | None = None

    def start(files: int, total_bytes: int) -> None:
        nonlocal view
        view = ProgressView(files, total_bytes, set(), progress_mode(quiet))

    def checked(record: VerifiedFile) -> None:
        # Re-hashing terabytes takes hours: the same progress display as a download.
        if view is not None:
            view(BytesReceived(record.dest, record.size))
            view(FileDone(record.dest, record.size, "verify"))

    try:
        report = verify_output(output, full, on_start=start, on_file=checked)
    finally:
        if view is not None:
            view.close()
    for dest, problem in sorted(report.problems.items()):
        err(f"{dest}: {problem}")
    kind = "hashes" if full else "sizes"
    click.echo(
        f"egoget: checked {kind} of {report.checked} files ({human_bytes(report.checked_bytes)}): "
        f"{report.checked - len(report.problems)} ok, {len(report.problems)} bad"
    )
    if report.problems:
        err("rerun the download to fetch the bad files again")
        sys.exit(ExitCode.SOME_FILES_FAILED)


@cli.command()
@existing_output_option
def status(output: Path) -> None:
    """Summarise what is verified and what is partially downloaded in an output directory."""
    st = output_status(output)
    click.echo(f"verified: {st.verified_files} files, {human_bytes(st.verified_bytes)}")
    if st.last_verified_at is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.last_verified_at))
        click.echo(f"last verified: {when}")
    click.echo(f"partial: {len(st.partial_files)} files")
    for dest, done, size in st.partial_files[:MAX_FAILURES_SHOWN]:
        pct = 100 * done / size if size else 0
        click.echo(f"  {dest}: {human_bytes(done)} of {human_bytes(size)} ({pct:.0f}%)")


CATALOGUES = {
    "ego4d": ego4d.describe,
    "egoexo": egoexo.describe,
    "egovlp": drive_assets.describe_egovlp,
}


@cli.group(name="egoschema")
def egoschema_group() -> None:
    """EgoSchema tools beyond downloading."""


@egoschema_group.command(name="score")
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--answers",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="subset_answers.json: the 500 public answers ({q_uid: 0-4}).",
)
@click.option(
    "--uid-to-url",
    "uid_to_url",
    type=click.Path(dir_okay=False, path_type=Path),
    help="uid_to_url.json, to check that every predicted uid is a real question.",
)
def egoschema_score(predictions: Path, answers: Path, uid_to_url: Path | None) -> None:
    """Check a PREDICTIONS file ({q_uid: 0-4}) and print its accuracy on the public answers."""
    known = None
    if uid_to_url is not None:
        files, _ = egoschema.read_uid_to_url(uid_to_url)
        known = {f.dest.removeprefix("videos/").removesuffix(".mp4") for f in files}
    result = egoschema.score(predictions, answers, known)
    click.echo(
        f"{result.answered} answers; {result.scored} have public answers: "
        f"{result.correct} correct, accuracy {result.accuracy:.1%}"
    )


@cli.group()
def prepare() -> None:
    """Turn downloaded videos into the layout a model's loaders read (needs ffmpeg)."""


@prepare.command(name="egovlp")
@click.option(
    "--videos",
    "videos_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of Ego4D <video_uid>.mp4 files, e.g. OUT/v2/full_scale of "
    "`egoget download ego4d --parts full_scale -o OUT`.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"The EgoVLP checkout: chunks go to OUTPUT/{egovlp_videos.CHUNK_DIR}/<uid>/<k>.mp4.",
)
@click.option(
    "--video-uids", "--video_uids", "video_uids", multiple=True, help="Only these videos."
)
@click.option(
    "--video-uid-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="File of video uids, separated by white space.",
)
@click.option(
    "-j", "--procs", type=click.IntRange(min=1), default=default_encoders(),
    show_default="half the cores",
    help="ffmpeg processes at a time (each uses several threads).",
)  # fmt: skip
@click.option(
    "--chunk-seconds",
    type=click.IntRange(min=1),
    default=egovlp_videos.CHUNK_SECONDS,
    show_default=True,
    help="Length of each chunk; EgoVLP's loaders expect 600.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be made; run nothing.")
@click.option("-q", "--quiet", is_flag=True, help="Print only failures and the summary.")
def prepare_egovlp(
    videos_dir: Path,
    output: Path,
    video_uids: tuple[str, ...],
    video_uid_file: Path | None,
    procs: int,
    chunk_seconds: int,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Resize Ego4D videos to 256 px high and cut them into 600 s chunks for EgoVLP.

    \b
    Each chunk is one ffmpeg run (scale=trunc(oh*a/2)*2:256, libx264, audio copied) written to
    a part file and renamed when complete: interrupt it any time, and a rerun makes only the
    chunks that are missing. Videos whose chunks were all made are skipped without probing.

    \b
    Example:
      egoget download ego4d --parts full_scale --benchmarks nlq -o ego4d -y
      egoget prepare egovlp --videos ego4d/v2/full_scale -o EgoVLP -j 4
    """
    uids = split_commas(list(video_uids))
    if video_uid_file is not None:
        uids += video_uid_file.read_text().split()
    videos = egovlp_videos.find_videos(videos_dir, uids)
    if not quiet:
        err(f"probing {len(videos)} videos ...")
    plan = egovlp_videos.plan_chunks(videos, output, chunk_seconds, procs)
    todo = not_made_yet(plan.encodes)
    if not quiet or dry_run:
        err(
            f"plan: {len(videos)} videos, {len(plan.finished)} already chunked; "
            f"{len(todo)} chunks to make, {len(plan.encodes) - len(todo)} already there"
        )
    for video, error in plan.unreadable.items():
        err(f"failed {video}: {error}")
    if dry_run:
        sys.exit(ExitCode.SOME_FILES_FAILED if plan.unreadable else ExitCode.OK)
    cancelled = threading.Event()
    progress = CountProgress(len(todo), "chunks", progress_mode(quiet))
    try:
        with stop_on_signals(cancelled) as received:
            try:
                result = run_encodes(
                    todo, procs, cancelled, lambda e, error: progress(str(e.dest), error)
                )
            except Interrupted as exc:
                exc.exit_code = received[0] if received else exc.exit_code
                raise
    finally:
        progress.close()
        egovlp_videos.mark_finished(plan, output, chunk_seconds)
    failed = len(result.failed) + len(plan.unreadable)
    already = len(plan.encodes) - len(todo) + sum(plan.finished.values())
    click.echo(
        f"egoget: {result.written} chunks made, {already} already there, {failed} failed "
        f"(in {output / egovlp_videos.CHUNK_DIR})"
    )
    if failed:
        err("rerun the same command to retry the failed videos; finished chunks are kept")
        sys.exit(ExitCode.SOME_FILES_FAILED)


@cli.command(name="list")
@click.argument("dataset_name", metavar="[DATASET]", required=False)
@click.option(
    "--live",
    is_flag=True,
    help="Also ask the remote which parts the release has (needs credentials).",
)
@click.option("--version", "version", help="ego4d: the release to ask about with --live.")
@click.option("--endpoint-url", help="S3-compatible endpoint (also AWS_ENDPOINT_URL).")
@click.option("--aws-profile", "--aws_profile_name", "aws_profile", help="AWS profile.")
def list_command(
    dataset_name: str | None,
    live: bool,
    version: str | None,
    endpoint_url: str | None,
    aws_profile: str | None,
) -> None:
    """Show the datasets egoget downloads, with their parts, versions, benchmarks and more."""
    names = [dataset_name.lower()] if dataset_name else list(CATALOGUES)
    check_choices("dataset", names, CATALOGUES)
    for name in names:
        click.echo(name)
        for heading, values in CATALOGUES[name]():
            click.echo(f"  {heading}: {', '.join(values)}")
    if live and "ego4d" in names:
        release = version or ego4d.DEFAULT_VERSION
        check_choices("version", [release], ego4d.VERSIONS)
        config = TransferConfig.model_validate(
            {"output": ".", "endpoint_url": endpoint_url, "aws_profile": aws_profile}
        )
        text = read_small_object(source_registry(config), ego4d.datasets_csv_uri(release))
        parts = ego4d.parse_datasets_csv(text.decode("utf-8", "replace"))
        click.echo(f"ego4d {release} on the remote: {', '.join(parts)}")


@cli.group()
def config() -> None:
    """Configuration files: their schema."""


@config.command()
@click.argument("command", type=click.Choice(["fetch", *DATASET_CONFIGS]), default="ego4d")
def schema(command: str) -> None:
    """Print the JSON Schema of the config file for COMMAND (fetch or a dataset's download)."""
    model: type[BaseModel] = FetchConfig if command == "fetch" else DATASET_CONFIGS[command]
    click.echo(json.dumps(model.model_json_schema(), indent=2))


# --- entry point ----------------------------------------------------------------------------


def debug_enabled() -> bool:
    return os.environ.get(ENV_DEBUG, "") not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    # Modules, classes and functions live as long as the process: keeping them out of the
    # cyclic collector's full passes saves those passes' time on runs of many files.
    gc.freeze()
    args = expand_multi_value_options(sys.argv[1:] if argv is None else list(argv))
    try:
        cli.main(args=args, prog_name="egoget", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err("aborted")
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE)
    except EgogetError as exc:
        if debug_enabled():
            traceback.print_exc()
        show_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except Exception:
        if debug_enabled():
            raise
        err(f"internal error: {traceback.format_exc().strip().splitlines()[-1]}")
        click.echo(
            "  hint: rerun with EGOGET_DEBUG=1 to see the traceback, and report it", err=True
        )
        sys.exit(ExitCode.SOME_FILES_FAILED)
