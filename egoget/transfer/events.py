"""What the engine reports. Any subscriber (the CLI's progress bars, a log, a test) renders them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import EgogetError


@dataclass(frozen=True)
class FileStarted:
    dest: str
    size: int
    resumed_bytes: int


@dataclass(frozen=True)
class BytesReceived:
    """Progress; negative when bytes already counted are thrown away (a file restarts)."""

    dest: str
    delta: int


@dataclass(frozen=True)
class Retrying:
    dest: str
    attempt: int
    reason: str
    delay_s: float


@dataclass(frozen=True)
class Restarting:
    dest: str
    reason: str


@dataclass(frozen=True)
class FileDone:
    dest: str
    size: int
    checked: str


@dataclass(frozen=True)
class FileFailed:
    dest: str
    error: EgogetError


Event = FileStarted | BytesReceived | Retrying | Restarting | FileDone | FileFailed
EventSink = Callable[[Event], None]


@dataclass
class TransferSummary:
    files_done: int = 0
    bytes_done: int = 0
    bytes_received: int = 0
    bytes_direct_io: int = 0  # of bytes_received, written bypassing the page cache
    failed: dict[str, EgogetError] = field(default_factory=dict)
    fatal: EgogetError | None = None
    interrupted: bool = False
    elapsed_s: float = 0.0
    hedged_ranges: int = 0  # ranges re-issued after their connection went silent
    connections: int = 0  # connections in use at the end, as the run found best (at most -j)
    peak_connections: int = 0

    def add(self, later: TransferSummary) -> None:
        """Count a later transfer of the same run (a fallback for failed files) in this one;
        its failures are the caller's to merge, as only it knows which files were retried."""
        self.files_done += later.files_done
        self.bytes_done += later.bytes_done
        self.bytes_received += later.bytes_received
        self.bytes_direct_io += later.bytes_direct_io
        self.elapsed_s += later.elapsed_s
        self.hedged_ranges += later.hedged_ranges
        self.peak_connections = max(self.peak_connections, later.peak_connections)
        self.fatal = self.fatal or later.fatal
        self.interrupted = self.interrupted or later.interrupted
