"""The `egoget` command: the only package that prints, prompts, draws progress and picks exit
codes. Each command is a thin wrapper over a library call (egoget.run, egoget.datasets, ...)."""

from __future__ import annotations

import gc
import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import click

from ..constants import ENV_DEBUG
from ..errors import EgogetError, ExitCode, Interrupted, UsageError
from .progress import JsonEvents
from .render import err, report_fields, show_error, write_report

# Each command's module is imported when the command runs (or --help lists it): `egoget fetch`
# starts without the dataset catalogues, the Drive and video code it never uses.
COMMANDS = {
    "download": "download:download",
    "fetch": "fetch:fetch",
    "verify": "inspect:verify",
    "status": "inspect:status",
    "list": "catalogue:list_command",
    "config": "catalogue:config",
    "egoschema": "egoschema:egoschema_group",
    "prepare": "prepare:prepare",
}


class LazyCommands(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, name = COMMANDS[cmd_name].partition(":")
        command: click.Command = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return command


@click.group(
    cls=LazyCommands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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


def debug_enabled() -> bool:
    return os.environ.get(ENV_DEBUG, "") not in ("", "0")


def stopped(args: list[str], error: EgogetError, code: ExitCode | None = None) -> NoReturn:
    """A run that ended on an error: its --report and its json summary event say so (scripts
    read them on every exit path), then the exit code."""
    exit_code = code if code is not None else error.exit_code
    report = report_fields(None, None, error=error, exit_code=exit_code)
    if typed_option(args, "--progress") == "json":
        JsonEvents().write("summary", **report)
    report_file = typed_option(args, "--report")
    write_report(Path(report_file) if report_file else None, report)
    sys.exit(exit_code)


def typed_option(args: list[str], name: str) -> str | None:
    """An option's value from the command line as typed: read here too, so that a run stopped
    before its options were parsed (an unknown option) still honours --report and --progress."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.partition("=")[2]
    return None


def main(argv: list[str] | None = None) -> None:
    # Modules, classes and functions live as long as the process: keeping them out of the
    # cyclic collector's full passes saves those passes' time on runs of many files.
    gc.freeze()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        cli.main(args=args, prog_name="egoget", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err("aborted")
        stopped(args, Interrupted("aborted"))
    except click.ClickException as exc:
        exc.show()
        stopped(args, UsageError(exc.format_message()), ExitCode.USAGE)
    except EgogetError as exc:
        if debug_enabled():
            traceback.print_exc()
        show_error(exc)
        stopped(args, exc)
    except KeyboardInterrupt:
        err("interrupted")
        stopped(args, Interrupted("interrupted"))
    except Exception:
        if debug_enabled():
            raise
        err(f"internal error: {traceback.format_exc().strip().splitlines()[-1]}")
        click.echo(
            "  hint: rerun with EGOGET_DEBUG=1 to see the traceback, and report it", err=True
        )
        sys.exit(ExitCode.SOME_FILES_FAILED)
