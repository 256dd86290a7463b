"""`egoget verify` and `egoget status`: what an output directory holds, checked."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..errors import ExitCode
from ..ledger import VerifiedFile
from ..report import output_status, verify_output
from ..transfer.events import BytesReceived, FileDone
from .options import existing_output_option
from .progress import TransferView, progress_mode
from .render import MAX_FAILURES_SHOWN, err, human_bytes


@click.command()
@existing_output_option
@click.option("--full", is_flag=True, help="Re-hash every file (slow) instead of checking sizes.")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems and the summary.")
def verify(output: Path, full: bool, quiet: bool) -> None:
    """Re-check downloaded files against what was verified at download time.

    Files that are missing or changed are forgotten, so the next download fetches them again.
    Exits 1 if any file failed the check.
    """
    view: TransferView | None = None

    def start(files: int, total_bytes: int) -> None:
        nonlocal view
        view = TransferView(files, total_bytes, set(), progress_mode(quiet))

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


@click.command()
@existing_output_option
def status(output: Path) -> None:
    """Summarise what is verified and what is partially downloaded in an output directory."""
    st = output_status(output)
    files = "file" if st.verified_files == 1 else "files"
    click.echo(f"verified: {st.verified_files} {files}, {human_bytes(st.verified_bytes)}")
    if st.last_verified_at is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.last_verified_at))
        click.echo(f"last verified: {when}")
    partial = len(st.partial_files) + len(st.unrecorded_parts)
    click.echo(f"partial: {partial} {'file' if partial == 1 else 'files'}")
    for dest, done, size in st.partial_files[:MAX_FAILURES_SHOWN]:
        pct = 100 * done / size if size else 0
        click.echo(f"  {dest}: {human_bytes(done)} of {human_bytes(size)} ({pct:.0f}%) kept")
    for dest, on_disk in st.unrecorded_parts[:MAX_FAILURES_SHOWN]:
        click.echo(f"  {dest}: {human_bytes(on_disk)} in its part file, to be fetched again")
    if partial > MAX_FAILURES_SHOWN:
        click.echo(f"  ... and {partial - MAX_FAILURES_SHOWN} more")
