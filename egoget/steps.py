"""Steps that run on the output once every file of a plan is verified: unpacking an archive,
cutting clips. Each step is resumable on its own (a rerun redoes only what is missing)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .errors import EgogetError

# Called once per finished item (the item's name, and its error if it failed).
ItemProgress = Callable[[str, "EgogetError | None"], None]
# Opens a progress display for a step's items: (how many, what they are called).
StartProgress = Callable[[int, str], ItemProgress]


@dataclass
class StepOutcome:
    summary: str
    failed: list[tuple[str, EgogetError]] = field(default_factory=list)
    # Whether each failure was already printed through the step's progress as it happened.
    failures_shown: bool = False


class FinishingStep(Protocol):
    def run(
        self, output: Path, cancelled: threading.Event, start_progress: StartProgress
    ) -> StepOutcome: ...
