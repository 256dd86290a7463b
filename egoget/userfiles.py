"""Reading users' files (JSON configs, URL maps, questions, lists of uids) with errors that name
the file and the problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ManifestError, UsageError


def read_json(path: Path, what: str, error: type[UsageError] = ManifestError) -> Any:
    """The JSON value in ``path``; ``error`` (a usage error: exit 2) says what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise error(
            f"{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    return data


def read_json_object(path: Path, what: str, error: type[UsageError]) -> dict[str, Any]:
    """The JSON object in ``path``; ``error`` (a usage error: exit 2) says what is wrong."""
    data = read_json(path, what, error)
    if not isinstance(data, dict):
        raise error(f"{what} {path} must be a JSON object, not {type(data).__name__}")
    return data


def read_uid_file(path: Path, what: str = "uid file") -> list[str]:
    """The uids in a text file, separated by white space. A file that names none is an error,
    not a selection of everything."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = "\0"
    if "\0" in text:
        raise UsageError(
            f"the {what} {path} is not a text file",
            hint="write one uid per line (or separated by spaces)",
        )
    uids = text.split()
    if not uids:
        raise UsageError(
            f"the {what} {path} names no uid, so it would select nothing",
            hint="fill it with uids, or drop the option to select by the other filters",
        )
    return uids
