"""`egoget egoschema`: the benchmark's tools beyond downloading."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..datasets import egoschema
from ..errors import ExitCode
from .render import err

uid_to_url_option = click.option(
    "--uid-to-url",
    "uid_to_url",
    type=click.Path(dir_okay=False, path_type=Path),
    help="uid_to_url.json, to check that every predicted uid is a real question.",
)


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
@uid_to_url_option
def egoschema_score(predictions: Path, answers: Path, uid_to_url: Path | None) -> None:
    """Check a PREDICTIONS file ({q_uid: 0-4}) and print its accuracy on the public answers."""
    result = egoschema.score(predictions, answers, known_questions(uid_to_url))
    click.echo(
        f"{result.answered} answers; {result.scored} have public answers: "
        f"{result.correct} correct, accuracy {result.accuracy:.1%}"
    )


@egoschema_group.command(name="submit")
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@uid_to_url_option
@click.option(
    "--url",
    default=egoschema.VALIDATION_URL,
    show_default=True,
    help="The benchmark's validation server (upstream's validate.py posts to it).",
)
def egoschema_submit(predictions: Path, uid_to_url: Path | None, url: str) -> None:
    """Check a PREDICTIONS file ({q_uid: 0-4}) as `score` does, then POST it to the validation
    server as upstream's validate.py does, and print the server's answer."""
    answer = egoschema.submit(predictions, known_questions(uid_to_url), url)
    click.echo(f"validation server: HTTP {answer.status}")
    click.echo(answer.text)
    if not 200 <= answer.status < 300:
        err("the validation server did not accept the submission")
        sys.exit(ExitCode.SOME_FILES_FAILED)


def known_questions(uid_to_url: Path | None) -> set[str] | None:
    if uid_to_url is None:
        return None
    files, _ = egoschema.read_uid_to_url(uid_to_url)
    return {f.dest.removeprefix("videos/").removesuffix(".mp4") for f in files}
