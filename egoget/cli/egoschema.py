"""`egoget egoschema`: the benchmark's tools beyond downloading."""

from __future__ import annotations

from pathlib import Path

import click

from ..datasets import egoschema


@click.group(name="egoschema")
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
