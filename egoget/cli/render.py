"""Everything egoget writes for people: one stderr writer, sizes, plans, summaries, reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import EgogetError, ExitCode
from ..run import PlanDiff, RunResult, plural
from ..shards import Shard
from ..sources import SourceRegistry
from ..sources.http import redact_url

MAX_FAILURES_SHOWN = 20


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


def hint(text: str) -> None:
    click.echo(f"  hint: {text}", err=True)


def show_error(error: EgogetError) -> None:
    err(f"error: {error.message}")
    if error.hint:
        hint(error.hint)


def shown_uri(registry: SourceRegistry | None, uri: str) -> str:
    """A URI as it may be printed. Refused entries may not be URIs at all: still never print
    a query string."""
    if registry is None:
        return redact_url(uri)
    try:
        return registry.for_uri(uri).redact(uri)
    except EgogetError:
        return redact_url(uri)


def show_refused(entries: list[tuple[str, EgogetError]], registry: SourceRegistry | None) -> None:
    for uri, error in entries[:MAX_FAILURES_SHOWN]:
        err(f"refused {shown_uri(registry, uri)}: {error}")


def print_plan(diff: PlanDiff, quiet: bool) -> None:
    if quiet:
        return
    sizes = human_bytes(diff.todo_bytes_known)
    unknown = f"; {diff.sizes_unknown} sized as they start" if diff.sizes_unknown else ""
    adopted = f", {diff.adopted} of them found already there and verified" if diff.adopted else ""
    err(
        f"plan: {len(diff.todo)} {plural(len(diff.todo), 'file', 'files')} to fetch "
        f"({sizes}{unknown}), {len(diff.present)} already present "
        f"({human_bytes(diff.present_bytes)}{adopted})"
    )
    if diff.destination.startswith("s3://"):
        err(f"  into {diff.destination}")
    if diff.shard is not None:
        show_shares(diff.shard, diff.share_bytes)
    for dest, why in list(diff.mismatched.items())[:MAX_FAILURES_SHOWN]:
        err(f"  on disk but fetched again: {dest}: {why}")
    if diff.unchecked_on_disk:
        err(
            f"  {diff.unchecked_on_disk} of the files to fetch are already on disk: a real run "
            "checks them first and fetches only those that do not match"
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
    if diff.free_bytes is not None and diff.todo_bytes_known > diff.free_bytes:
        err(
            f"warning: the plan needs {human_bytes(diff.todo_bytes_known)} but only "
            f"{human_bytes(diff.free_bytes)} is free in the output directory"
        )


def show_shares(shard: Shard, share_bytes: list[int]) -> None:
    mean = sum(share_bytes) / len(share_bytes) if share_bytes else 0
    balance = f"; largest share {max(share_bytes) / mean:.3f}x the mean" if mean else ""
    err(f"  share {shard} of the plan (balanced by bytes{balance}):")
    shown = [f"{k}: {human_bytes(b)}" for k, b in enumerate(share_bytes, start=1)]
    for start in range(0, len(shown), 8):
        err("    " + ", ".join(shown[start : start + 8]))


def print_summary(result: RunResult, registry: SourceRegistry, quiet: bool) -> None:
    s = result.summary
    show_refused(result.refused, registry)
    if result.dry_run:
        return
    if result.finishing_failed:
        err(f"{len(result.finishing_failed)} failed after the download (listed above)")
    if s.fatal is not None:
        show_error(s.fatal)
    rate = s.bytes_received / s.elapsed_s if s.elapsed_s > 0 else 0.0
    if not quiet or s.failed or s.fatal or s.interrupted:
        # On stderr with every other message: stdout is for data (--progress json).
        err(
            f"{s.files_done} {plural(s.files_done, 'file', 'files')} verified "
            f"({human_bytes(s.bytes_done)}), {len(result.diff.present)} already present, "
            f"{len(s.failed)} failed; received {human_bytes(s.bytes_received)} in "
            f"{s.elapsed_s:.1f} s ({human_bytes(rate)}/s)"
        )
    if s.hedged_ranges and not quiet:
        err(
            f"{s.hedged_ranges} {plural(s.hedged_ranges, 'range', 'ranges')} went silent while "
            "others flowed and continued on a new connection"
        )
    # Each failure was printed as it happened; repeat only the distinct hints.
    for text in dict.fromkeys(e.hint for e in s.failed.values() if e.hint):
        hint(text)
    if s.interrupted:
        err("interrupted: finished chunks are kept; rerun the same command to resume")
    elif s.failed or result.unaccounted:
        err("rerun the same command to retry the failed files; finished ones are kept")


def report_fields(
    result: RunResult | None,
    registry: SourceRegistry | None,
    error: EgogetError | None = None,
    exit_code: ExitCode | None = None,
) -> dict[str, Any]:
    """How a run ended, for scripts (the --report file, the json progress's summary event), on
    every way it ends: a run that stopped before its plan was made (a usage, credential or
    network error) says so with what is known."""
    s = result.summary if result is not None else None
    fatal = error or (s.fatal if s is not None else None)
    code = exit_code if exit_code is not None else result.exit_code if result else ExitCode.OK
    diff = result.diff if result is not None else None
    return {
        "exit_code": int(code),
        "destination": diff.destination if diff else None,
        "files_planned": len(diff.todo) + len(diff.present) if diff else 0,
        "files_present": len(diff.present) if diff else 0,
        "files_adopted": diff.adopted if diff else 0,
        "fetched_again": dict(diff.mismatched) if diff else {},
        "files_done": s.files_done if s else 0,
        "bytes_done": s.bytes_done if s else 0,
        "bytes_received": s.bytes_received if s else 0,
        "bytes_direct_io": s.bytes_direct_io if s else 0,
        "failed": {
            **({dest: e.message for dest, e in s.failed.items()} if s else {}),
            # What failed after the download (unpacking, cutting, records), by item.
            **({name: e.message for name, e in result.finishing_failed} if result else {}),
        },
        "refused": [[shown_uri(registry, u), e.message] for u, e in result.refused]
        if result
        else [],
        "fatal": fatal.message if fatal else None,
        "hint": fatal.hint if fatal else None,
        "interrupted": s.interrupted if s else code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED),
        "elapsed_s": round(s.elapsed_s, 3) if s else 0.0,
        "hedged_ranges": s.hedged_ranges if s else 0,
        "connections": s.connections if s else 0,
        "peak_connections": s.peak_connections if s else 0,
    }


def write_report(path: Path | None, report: dict[str, Any]) -> None:
    if path is None:
        return
    try:
        path.write_text(json.dumps(report, indent=2) + "\n")
    except OSError as exc:
        err(f"cannot write the report {path}: {exc.strerror}")
