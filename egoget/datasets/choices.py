"""Checking a user's names against the valid ones, with the closest match as a hint."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ..errors import UsageError


def check_choices(kind: str, given: Iterable[str], valid: Iterable[str]) -> None:
    valid_list = sorted(valid)
    unknown = sorted(set(given) - set(valid_list))
    if not unknown:
        return
    suggestions = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid_list, n=1, cutoff=0.6)
        if close:
            suggestions.append(f"did you mean {close[0]!r} for {name!r}?")
    raise UsageError(
        f"unknown {plural_of(kind) if len(unknown) > 1 else kind}: {', '.join(unknown)}",
        hint=" ".join([*suggestions, f"valid {plural_of(kind)}: {', '.join(valid_list)}"]),
    )


def plural_of(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def shown_names(names: list[str], limit: int = 10) -> str:
    """The first ``limit`` names, and how many more there are: for messages about long lists."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
