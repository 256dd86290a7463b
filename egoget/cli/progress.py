"""Progress on stderr: a tqdm bar on a terminal, a plain line every few seconds in a log,
nothing when quiet. One ``Progress`` counts bytes (downloads, re-hashes) or items (chunks
encoded, clips cut); ``TransferView`` feeds it the engine's events."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..constants import PLAIN_PROGRESS_INTERVAL_S
from ..errors import EgogetError
from ..model import ItemProgress
from ..transfer.events import (
    BytesReceived,
    Event,
    FileDone,
    FileFailed,
    FileStarted,
    Restarting,
    Retrying,
)
from .render import err, human_bytes

RETRY_LINE_INTERVAL_S = 60.0


def progress_mode(quiet: bool) -> str:
    if quiet:
        return "quiet"
    return "bar" if sys.stderr.isatty() else "log"


class Progress:
    def __init__(self, total: int, mode: str, unit: str, label: Callable[[], str]):
        """``unit`` "B" counts bytes; any other word counts items of that name."""
        self._total = total
        self._mode = mode
        self._unit = unit
        self._label = label
        self._done = 0
        self._started = time.monotonic()
        self._last_line = self._started
        self.lock = threading.Lock()
        self._bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            in_bytes = unit == "B"
            self._bar = tqdm(
                total=total,
                unit="B" if in_bytes else f" {unit}",
                unit_scale=in_bytes,
                unit_divisor=1024,
                dynamic_ncols=True,
                file=sys.stderr,
                desc=label() or None,
            )

    def advance(self, amount: int) -> None:
        """Call with ``lock`` held."""
        self._done += amount
        if self._bar is not None:
            self._bar.update(amount)
        elif self._mode == "log":
            now = time.monotonic()
            finished = self._unit != "B" and self._done == self._total
            if now - self._last_line >= PLAIN_PROGRESS_INTERVAL_S or finished:
                self._last_line = now
                err(self._plain_line(now))

    def grow(self, amount: int) -> None:
        """More of the total became known (a file's size, once it starts)."""
        self._total += amount
        if self._bar is not None:
            self._bar.total = self._total
            self._bar.refresh()

    def relabel(self) -> None:
        if self._bar is not None:
            self._bar.set_description_str(self._label())

    def line(self, message: str, always: bool = False) -> None:
        """A line above the bar; dropped when quiet unless ``always`` (failures)."""
        if self._mode == "quiet" and not always:
            return
        if self._bar is not None:
            self._bar.write(f"egoget: {message}", file=sys.stderr)
        else:
            err(message)

    def _plain_line(self, now: float) -> str:
        if self._unit != "B":
            return f"{self._done}/{self._total} {self._unit}"
        elapsed = max(now - self._started, 1e-6)
        rate = self._done / elapsed
        remaining = max(0, self._total - self._done)
        eta = f", ETA {remaining / rate:.0f} s" if rate > 0 and self._total else ""
        return (
            f"{self._label()}, {human_bytes(self._done)} of {human_bytes(self._total)}, "
            f"{human_bytes(rate)}/s{eta}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class TransferView:
    """Renders the engine's events on a byte ``Progress`` labelled with files done."""

    def __init__(self, files: int, known_bytes: int, unknown_dests: set[str], mode: str):
        self._files_total = files
        self._files_done = 0
        self._unknown_dests = unknown_dests
        self._retries_said: dict[str, tuple[float, int]] = {}
        self.progress = Progress(known_bytes, mode, "B", self._files_label)

    def _files_label(self) -> str:
        return f"{self._files_done}/{self._files_total} files"

    def _retrying(self, event: Retrying) -> None:
        """One line per file per minute at most, its reason cut short: a file retrying for
        an hour says so a few times, not hundreds."""
        now = time.monotonic()
        last, skipped = self._retries_said.get(event.dest, (0.0, 0))
        if now - last < RETRY_LINE_INTERVAL_S:
            self._retries_said[event.dest] = (last, skipped + 1)
            return
        self._retries_said[event.dest] = (now, 0)
        reason = event.reason if len(event.reason) <= 160 else event.reason[:157] + "..."
        more = f" ({skipped} more retries since the last line)" if skipped else ""
        self.progress.line(
            f"retrying {event.dest} in {event.delay_s:.1f} s (attempt {event.attempt + 1})"
            f"{more}: {reason}"
        )

    def __call__(self, event: Event) -> None:
        progress = self.progress
        with progress.lock:
            if isinstance(event, BytesReceived):
                progress.advance(event.delta)
            elif isinstance(event, FileStarted) and event.dest in self._unknown_dests:
                self._unknown_dests.discard(event.dest)
                progress.grow(event.size)
            elif isinstance(event, FileDone):
                self._files_done += 1
                progress.relabel()
                progress.advance(0)
            elif isinstance(event, Retrying):
                self._retrying(event)
            elif isinstance(event, Restarting):
                progress.line(f"restarting {event.dest}: {event.reason}")
            elif isinstance(event, FileFailed):
                progress.line(f"failed {event.dest}: {event.error}", always=True)

    def close(self) -> None:
        self.progress.close()


def item_view(total: int, unit: str, mode: str) -> tuple[Progress, ItemProgress]:
    """Progress of items (chunks encoded, clips cut), and the callback each item reports to."""
    progress = Progress(total, mode, unit, lambda: "")

    def item_done(name: str, error: EgogetError | None) -> None:
        with progress.lock:
            if error is not None:
                progress.line(f"failed {name}: {error}", always=True)
            progress.advance(1)

    return progress, item_done
