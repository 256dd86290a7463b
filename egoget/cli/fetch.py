"""`egoget fetch`: S3 objects and prefixes, HTTP(S) URLs and Drive files, by URI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..config import FetchConfig, build_config
from ..datasets.uris import fetch_entries, plan_uris
from ..errors import UsageError
from ..model import PlannedRun
from ..run import plural, source_registry
from .options import merged_values, transfer_options
from .render import err
from .runner import Display, run_and_exit


@click.command()
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
    entries = fetch_entries(config)
    display = Display(params, ask_first=False)
    registry = source_registry(config, display.note)
    if not display.quiet:
        err(f"planning {len(entries)} {plural(len(entries), 'entry', 'entries')} ...")
    # Listed before the output directory is touched: a bad URI leaves nothing behind.
    planned = PlannedRun(*plan_uris(entries, registry))
    run_and_exit(config, registry, lambda *_: planned, display)
