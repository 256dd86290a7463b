"""`egoget list` and `egoget config schema`: what egoget knows, from the dataset registry."""

from __future__ import annotations

import json

import click

from ..config import FetchConfig, Options, TransferConfig, build_config, config_schema
from ..datasets import DATASETS, ego4d
from ..datasets.choices import check_choices
from ..run import read_small_object, source_registry
from ..sources import SourceRegistry


@click.command(name="list")
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
    names = [dataset_name.lower()] if dataset_name else list(DATASETS)
    check_choices("dataset", names, DATASETS)
    for name in names:
        dataset = DATASETS[name]
        click.echo(f"{name}: {dataset.summary}")
        for heading, values in dataset.describe():
            click.echo(f"  {heading}: {', '.join(values)}")
    if live and "ego4d" in names:
        config = build_config(
            TransferConfig,
            {"output": ".", "endpoint_url": endpoint_url, "aws_profile": aws_profile},
            "options",
        )
        show_release_parts(source_registry(config), version or ego4d.DEFAULT_VERSION)


def show_release_parts(registry: SourceRegistry, version: str) -> None:
    """The parts an Ego4D release lists in its datasets.csv, as `ego4d --list-datasets`."""
    text = read_small_object(registry, ego4d.datasets_csv_uri(version))
    parts = ego4d.parse_datasets_csv(text.decode("utf-8", "replace"))
    click.echo(f"ego4d {version} on the remote: {', '.join(parts)}")


@click.group()
def config() -> None:
    """Configuration files: their schema."""


@config.command()
@click.argument("command", type=click.Choice(["fetch", *DATASETS]), default="ego4d")
def schema(command: str) -> None:
    """Print the JSON Schema of the config file for COMMAND (fetch or a dataset's download)."""
    model: type[Options] = FetchConfig if command == "fetch" else DATASETS[command].config_model
    click.echo(json.dumps(config_schema(model), indent=2))
