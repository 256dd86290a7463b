"""`egoget download DATASET`: one subcommand per dataset of egoget.datasets.DATASETS, each with
its own options and the transfer options every download shares."""

from __future__ import annotations

from typing import Any

import click

from ..config import build_config, canonical_keys, load_json_config
from ..datasets import DATASETS, Dataset
from ..datasets.choices import check_choices
from ..errors import UsageError
from ..run import dataset_planner, source_registry
from .catalogue import show_release_parts
from .options import config_option, dataset_options, merged_values, transfer_options
from .runner import Display, run_and_exit

EXAMPLES = {
    "ego4d": [
        "egoget download ego4d --parts full_scale annotations --benchmarks nlq -o ego4d -y",
        "egoget download ego4d --parts full_scale --universities unict --dry-run -o ego4d",
        "egoget download ego4d --config configs/ego4d_nlq.json  # official ego4d configs work",
    ],
    "egoexo": [
        "egoget download egoexo --parts annotations takes --benchmarks keystep -o egoexo -y",
        "egoget download egoexo --parts take_vrs --uids <take_uid> -o egoexo -y",
    ],
    "egoschema": [
        "egoget download egoschema --uid-to-url uid_to_url.json -o egoschema -j 8 -y",
        "egoget download egoschema --source huggingface -o egoschema -y",
    ],
    "egovlp": ["egoget download egovlp --parts egoclip egomcq weights -o EgoVLP -y"],
    "ego2exo": ["egoget download ego2exo --videos 448 -o ego2exo -y"],
    "ego4d-social": ["egoget download ego4d-social --cut-clips --checkpoints -o social -y"],
}


GROUP_CONFIG_FILE = "egoget.download.config_file"


def run_download(ctx: click.Context, dataset: Dataset, params: dict[str, Any]) -> None:
    model = dataset.config_model
    if params.get("config_file") is None:
        params["config_file"] = ctx.meta.get(GROUP_CONFIG_FILE)
    values = merged_values(ctx, params, model)
    given = str(values.pop("dataset", dataset.name)).lower()
    if given != dataset.name:
        raise UsageError(
            f"the config file is for dataset {given!r}, not {dataset.name!r}",
            hint=f'run `egoget download {given} --config FILE`, or fix its "dataset" key',
        )
    if values.get("list_datasets"):
        values.setdefault("output", ".")  # nothing is written: the official CLI asks for none
    if values.get("output") is None:
        raise UsageError("no output directory given", hint="pass -o DIR (or --output_directory)")
    config = build_config(model, canonical_keys(model, values), "options")
    display = Display(params, ask_first=not config.yes and not config.dry_run)
    registry = source_registry(config, display.note)
    if getattr(config, "list_datasets", False):
        # The official CLI's --list-datasets: the release's parts instead of a download.
        show_release_parts(registry, getattr(config, "version", ""))
        return
    run_and_exit(config, registry, dataset_planner(dataset, config, registry), display)


def dataset_command(dataset: Dataset) -> click.Command:
    examples = "\n".join(f"  {line}" for line in EXAMPLES.get(dataset.name, []))

    @click.command(
        name=dataset.name,
        help=f"{dataset.summary}.\n\n\b\nExamples:\n{examples}\n\n`egoget list {dataset.name}` "
        "shows its parts and names. Before starting it prints the plan and asks, unless -y.",
    )
    @dataset_options(dataset.options)
    @transfer_options
    @click.pass_context
    def command(ctx: click.Context, /, **params: Any) -> None:
        run_download(ctx, dataset, params)

    return command


class DatasetGroup(click.Group):
    """The datasets as subcommands, made from the registry when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(DATASETS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        dataset = DATASETS.get(name.lower())
        return dataset_command(dataset) if dataset else None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if self.get_command(ctx, name) is None and not name.startswith("-"):
            check_choices("dataset", [name.lower()], DATASETS)
        return super().resolve_command(ctx, args)


@click.group(
    cls=DatasetGroup,
    invoke_without_command=True,
    subcommand_metavar="DATASET [OPTIONS]",
)
@click.option("--dataset", "dataset_option", help="The dataset, when a config file does not say.")
@config_option
@click.pass_context
def download(ctx: click.Context, dataset_option: str | None, config_file: Any) -> None:
    """Download a dataset, or parts of it, by name.

    \b
    Examples:
      egoget download ego4d --parts full_scale annotations --benchmarks nlq -o ego4d -y
      egoget download egoschema -o egoschema -y
      egoget download --config configs/ego4d_nlq.json         # the file names the dataset
      egoget download --dataset ego4d --config official.json  # an official ego4d config

    `egoget download DATASET --help` shows a dataset's options. The files land where the
    official tools put them; re-running fetches only what is missing or changed.
    """
    if ctx.invoked_subcommand is not None:
        # `download --config FILE DATASET ...`: the dataset's command reads it from here.
        ctx.meta[GROUP_CONFIG_FILE] = config_file
        return
    values = load_json_config(config_file) if config_file is not None else {}
    name = (dataset_option or str(values.get("dataset") or "")).lower()
    if not name:
        raise UsageError(
            "which dataset?",
            hint=f"egoget download DATASET ...; datasets: {', '.join(DATASETS)}",
        )
    check_choices("dataset", [name], DATASETS)
    command = dataset_command(DATASETS[name])
    ctx.invoke(command, config_file=config_file)
