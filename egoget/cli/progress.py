"""Progress, for people on stderr and for programs on stdout.

People: a bar on a terminal, a plain line every few seconds in a log, nothing when quiet; every
size in KiB/MiB/GiB and every rate in MiB/s, as in the plan and the summary. Programs
(``--progress json``): one JSON object per line on stdout, described in the README ("Progress
for programs"). ``TransferTally`` adds the engine's events up once; every display reads it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import deque
from typing import Any, TextIO

from ..constants import PLAIN_PROGRESS_INTERVAL_S
from ..errors import EgogetError
from ..model import ItemProgress
from ..run import plural
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
# The rate is what the last few seconds moved: a stalled run shows a falling rate and an
# unknown ETA, not the average since it started.
RATE_WINDOW_S = 10.0
JSON_PROGRESS_INTERVAL_S = 1.0
BAR_TEXT_INTERVAL_S = 0.5
EVENTS_VERSION = 1

PROGRESS_MODES = ("auto", "bar", "log", "json", "none")


def progress_mode(quiet: bool, requested: str = "auto") -> str:
    """What stderr shows: "bar", "log" or "quiet"; "json" puts events on stdout and keeps
    stderr to plain lines (notes, failures, the summary)."""
    if requested == "json":
        return "json"
    if quiet or requested == "none":
        return "quiet"
    if requested != "auto":
        return requested
    return "bar" if sys.stderr.isatty() else "log"


def say_above(bar: Any, mode: str, message: str, always: bool) -> None:
    """A line above the bar, if any; dropped when quiet (and in json mode, where stdout has the
    event) unless ``always`` (failures)."""
    if mode in ("quiet", "json") and not always:
        return
    if bar is not None:
        bar.write(f"egoget: {message}", file=sys.stderr)
    else:
        err(message)


class JsonEvents:
    """``--progress json``: newline-delimited JSON on stdout, each object with ``"v"`` (the
    schema version), ``"event"`` and ``"time"`` (Unix seconds). Safe from any thread."""

    def __init__(self, out: TextIO | None = None):
        self._out = out if out is not None else sys.stdout
        self._lock = threading.Lock()
        self._reader_gone = False

    def write(self, event: str, **fields: Any) -> None:
        head = {"v": EVENTS_VERSION, "event": event, "time": round(time.time(), 3)}
        line = json.dumps(head | fields)
        with self._lock:
            if self._reader_gone:
                return
            try:
                self._out.write(line + "\n")
                self._out.flush()
            except BrokenPipeError:
                # The program reading the events quit (`| head`): the download is still
                # worth finishing; only the events stop.
                self._reader_gone = True
                os.dup2(os.open(os.devnull, os.O_WRONLY), self._out.fileno())
                err("stdout was closed: no more progress events; the download goes on")


class TransferTally:
    """What the engine's events add up to: files and bytes done, the total as far as sizes are
    known, the files retrying right now, the recent rate and the ETA."""

    def __init__(self, files: int, known_bytes: int, unknown_dests: set[str]):
        self.files_total = files
        self.files_done = 0
        self.files_failed = 0
        self.bytes_done = 0
        self.bytes_total = known_bytes
        self._unknown = set(unknown_dests)
        self.retrying: set[str] = set()
        # Bytes counted as done without crossing the network (chunks kept from an earlier run):
        # not part of the rate.
        self._not_received = 0
        self._samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])

    @property
    def sizes_unknown(self) -> int:
        return len(self._unknown)

    def apply(self, event: Event) -> None:
        if isinstance(event, BytesReceived):
            self.bytes_done += event.delta
            self.retrying.discard(event.dest)
            self._sample(time.monotonic())
        elif isinstance(event, FileStarted):
            self._not_received += event.resumed_bytes
            if event.dest in self._unknown:
                self._unknown.discard(event.dest)
                self.bytes_total += event.size
        elif isinstance(event, FileDone):
            self.files_done += 1
            self.retrying.discard(event.dest)
        elif isinstance(event, FileFailed):
            self.files_failed += 1
            self.retrying.discard(event.dest)
        elif isinstance(event, Retrying):
            self.retrying.add(event.dest)

    def _sample(self, now: float) -> None:
        samples = self._samples
        if now - samples[-1][0] >= 0.25:
            samples.append((now, self.bytes_done - self._not_received))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_S:
            samples.popleft()

    def rate(self, now: float) -> float:
        """Bytes per second received over the last ``RATE_WINDOW_S``."""
        since, received_then = self._samples[0]
        elapsed = now - since
        if elapsed <= 0:
            return 0.0
        return max(0.0, (self.bytes_done - self._not_received - received_then) / elapsed)

    def eta_s(self, now: float) -> float | None:
        """None while it cannot be known: sizes still unknown, or nothing arriving."""
        rate = self.rate(now)
        if self._unknown or rate <= 0 or not self.bytes_total:
            return None
        return max(0, self.bytes_total - self.bytes_done) / rate

    def text(self, now: float) -> str:
        """The same words on the bar and in a log: done, total, rate, ETA."""
        total = human_bytes(self.bytes_total)
        if self._unknown:
            unknown = self.sizes_unknown
            total = f"at least {total} ({unknown} {plural(unknown, 'size', 'sizes')} not yet known)"
        eta = self.eta_s(now)
        retrying = f", {len(self.retrying)} retrying" if self.retrying else ""
        return (
            f"{human_bytes(self.bytes_done)} of {total}, {human_bytes(self.rate(now))}/s, "
            f"ETA {'unknown' if eta is None else f'{eta:.0f} s'}{retrying}"
        )

    def as_json(self, now: float) -> dict[str, Any]:
        eta = self.eta_s(now)
        return {
            "files_done": self.files_done,
            "files_failed": self.files_failed,
            "files_total": self.files_total,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "sizes_unknown": self.sizes_unknown,
            "retrying": len(self.retrying),
            "rate_bytes_per_s": round(self.rate(now)),
            "eta_s": None if eta is None else round(eta, 1),
        }


class Progress:
    """Items of a step (files checked, chunks encoded, clips cut) on stderr, or as
    ``step_progress`` events in json mode."""

    def __init__(self, total: int, mode: str, unit: str, events: JsonEvents | None = None):
        self._total = total
        self._mode = mode
        self._unit = unit
        self._events = events if mode == "json" else None
        self._done = 0
        self._last_line = time.monotonic()
        self.lock = threading.Lock()
        self._bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=f" {unit}", dynamic_ncols=True, file=sys.stderr)

    def advance(self, amount: int) -> None:
        """Call with ``lock`` held."""
        self._done += amount
        if self._bar is not None:
            self._bar.update(amount)
            return
        now = time.monotonic()
        interval = JSON_PROGRESS_INTERVAL_S if self._events else PLAIN_PROGRESS_INTERVAL_S
        if now - self._last_line < interval and self._done != self._total:
            return
        self._last_line = now
        if self._events is not None:
            self._events.write("step_progress", unit=self._unit, done=self._done, total=self._total)
        elif self._mode == "log":
            err(f"{self._done}/{self._total} {self._unit}")

    def line(self, message: str, always: bool = False) -> None:
        say_above(self._bar, self._mode, message, always)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class TransferView:
    """The engine's events on stderr (a bar or log lines, each labelled with files done) and,
    in json mode, as events on stdout."""

    def __init__(
        self,
        files: int,
        known_bytes: int,
        unknown_dests: set[str],
        mode: str,
        events: JsonEvents | None = None,
    ):
        self.tally = TransferTally(files, known_bytes, unknown_dests)
        self._mode = mode
        self._events = events if mode == "json" else None
        self._retries_said: dict[str, tuple[float, int]] = {}
        self._last_line = time.monotonic()
        self._last_bar_text = 0.0
        self.lock = threading.Lock()
        self._bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=None if unknown_dests else known_bytes,
                dynamic_ncols=True,
                file=sys.stderr,
                bar_format=self._bar_format(),
                desc=f"{self._files_label()}, {self.tally.text(time.monotonic())}",
            )

    def _files_label(self) -> str:
        return f"{self.tally.files_done}/{self.tally.files_total} files"

    def _bar_format(self) -> str:
        # No percentage and no bar while the total is only a lower bound.
        if self.tally.sizes_unknown:
            return "{desc}: {postfix} [{elapsed}]"
        return "{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}]"

    def __call__(self, event: Event) -> None:
        if self._mode == "quiet":
            # Only failures are shown: no tally to keep (a few events per small file).
            if isinstance(event, FileFailed):
                with self.lock:
                    self._failed(event)
            return
        with self.lock:
            tally = self.tally
            known_before = tally.sizes_unknown
            tally.apply(event)
            now = time.monotonic()
            if self._events is not None:
                self._json(event, now)
            if isinstance(event, Retrying):
                self._retrying(event, now)
            elif isinstance(event, Restarting):
                self.line(f"restarting {event.dest}: {event.reason}")
            elif isinstance(event, FileFailed):
                self._failed(event)
            if self._bar is not None:
                self._draw(event, now, sizes_learnt=tally.sizes_unknown != known_before)
            elif self._mode == "log" and (
                now - self._last_line >= PLAIN_PROGRESS_INTERVAL_S
                or (isinstance(event, FileDone) and tally.files_done == tally.files_total)
            ):
                self._last_line = now
                err(f"{self._files_label()}, {tally.text(now)}")

    def _draw(self, event: Event, now: float, sizes_learnt: bool) -> None:
        bar, tally = self._bar, self.tally
        if sizes_learnt:
            bar.bar_format = self._bar_format()
            bar.total = None if tally.sizes_unknown else tally.bytes_total
        if now - self._last_bar_text >= BAR_TEXT_INTERVAL_S or not isinstance(event, BytesReceived):
            self._last_bar_text = now
            bar.set_description_str(f"{self._files_label()}, {tally.text(now)}", refresh=False)
        if isinstance(event, BytesReceived):
            bar.update(event.delta)
        else:
            bar.refresh()

    def _json(self, event: Event, now: float) -> None:
        assert self._events is not None
        write = self._events.write
        if isinstance(event, FileStarted):
            write(
                "file_started", path=event.dest, size=event.size, resumed_bytes=event.resumed_bytes
            )
        elif isinstance(event, FileDone):
            write("file_done", path=event.dest, size=event.size, checked=event.checked)
        elif isinstance(event, FileFailed):
            write("file_failed", path=event.dest, error=event.error.message, hint=event.error.hint)
        elif isinstance(event, Retrying):
            write(
                "retry", path=event.dest, attempt=event.attempt + 1,
                delay_s=round(event.delay_s, 3), reason=event.reason,
            )  # fmt: skip
        elif isinstance(event, Restarting):
            write("restart", path=event.dest, reason=event.reason)
        if now - self._last_line >= JSON_PROGRESS_INTERVAL_S or isinstance(
            event, Retrying | FileFailed
        ):
            self._last_line = now
            write("progress", **self.tally.as_json(now))

    def _retrying(self, event: Retrying, now: float) -> None:
        """One line per file per minute at most, its reason cut short: a file retrying for
        an hour says so a few times, not hundreds."""
        last, skipped = self._retries_said.get(event.dest, (0.0, 0))
        if now - last < RETRY_LINE_INTERVAL_S:
            self._retries_said[event.dest] = (last, skipped + 1)
            return
        self._retries_said[event.dest] = (now, 0)
        reason = event.reason if len(event.reason) <= 160 else event.reason[:157] + "..."
        more = f" ({skipped} more retries since the last line)" if skipped else ""
        self.line(
            f"retrying {event.dest} in {event.delay_s:.1f} s (attempt {event.attempt + 1})"
            f"{more}: {reason}"
        )

    def line(self, message: str, always: bool = False) -> None:
        say_above(self._bar, self._mode, message, always)

    def _failed(self, event: FileFailed) -> None:
        self.line(f"failed {event.dest}: {event.error}", always=True)

    def close(self) -> None:
        if self._events is not None:
            self._events.write("progress", **self.tally.as_json(time.monotonic()))
        if self._bar is not None:
            self._bar.close()


def item_view(
    total: int, unit: str, mode: str, events: JsonEvents | None = None
) -> tuple[Progress, ItemProgress]:
    """Progress of items (chunks encoded, clips cut), and the callback each item reports to."""
    progress = Progress(total, mode, unit, events)

    def item_done(name: str, error: EgogetError | None) -> None:
        with progress.lock:
            if error is not None:
                progress.line(f"failed {name}: {error}", always=True)
                if events is not None and mode == "json":
                    events.write("item_failed", unit=unit, name=name, error=error.message)
            progress.advance(1)

    return progress, item_done
