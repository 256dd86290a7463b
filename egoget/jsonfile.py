"""Reading users' JSON files (configs, URL maps, questions) with errors that name the problem."""

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
