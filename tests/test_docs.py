"""The documentation tells the truth: every command and option explains itself, every dataset
and command is in the README, and the README's Python example runs."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from egoget.cli import cli
from egoget.datasets import DATASETS
from tests.mirror.seed import MirrorObject

from .conftest import run_cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def all_commands() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []

    def walk(prefix: str, command: click.Command) -> None:
        found.append((prefix, command))
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"{prefix} {name}"
                walk(f"{prefix} {name}".strip(), sub)

    walk("", cli)
    return found


COMMANDS = all_commands()[1:]


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_and_option_has_help(
    name: str, command: click.Command, capsys: pytest.CaptureFixture[str]
) -> None:
    assert command.help and len(command.help) > 20, f"egoget {name} has no help text"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"egoget {name} {param.opts} has no help text"
    result = run_cli([*name.split(), "--help"], capsys)
    assert result.exit_code == 0, result.output
    assert f"Usage: egoget {name}" in result.stdout


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_is_in_the_readme(name: str) -> None:
    assert f"egoget download {name}" in README, f"the README shows no `egoget download {name}`"


@pytest.mark.parametrize("name", sorted(name for name, _ in COMMANDS if " " not in name))
def test_every_command_is_in_the_readme(name: str) -> None:
    assert re.search(rf"egoget {re.escape(name)}\b", README), f"`egoget {name}` is not in README"


def test_the_readme_python_example_runs(
    demo_objects: list[MirrorObject], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = README.split("## Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md (Python)", "exec"), {})
    assert (tmp_path / "ego4d_data" / "v2" / "annotations" / "manifest.csv").is_file()
    assert (tmp_path / "meta" / "ego4d.json").is_file()
