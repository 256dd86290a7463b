"""What a run is made of: remote files, the plan that selects them, and the steps that run on
the output once every file of the plan is verified (unpacking an archive, cutting clips; each
resumable on its own)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .errors import EgogetError
from .paths import SafeRelPath
from .shards import Shard

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


class RecordStep(Protocol):
    """Bookkeeping after a transfer for the files verified so far, whatever else failed (the
    official ego4d CLI's manifest.ver). ``versions``: every verified file's object version, by
    destination. Returns what could not be recorded, with why."""

    @property
    def path(self) -> str:
        """The file it keeps, relative to the output."""
        ...

    def record(
        self, output: Path, versions: Mapping[str, str | None]
    ) -> list[tuple[str, EgogetError]]: ...


class Fallback(Protocol):
    """Another way to files the plan's route could not deliver (a stale presigned link): given
    the destinations that failed, the same destinations from another source, and a note for
    the user saying which (None when there is nothing to say)."""

    def replacements(
        self, output: Path, failed: Sequence[str]
    ) -> tuple[list[RemoteFile], str | None]: ...


# A RemoteFile tag: a side file (metadata beside the data). A server that cannot be reached or
# trusted fails that file, named at the end of the run, instead of stopping the run.
SIDE_FILE_TAG = "side"


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One object to fetch. ``dest`` is relative to the output directory and already validated.

    ``size`` and ``etag`` may be unknown when planned; the planner fills them from a listing or a
    HEAD before transfer. ``md5``/``sha256`` come from a manifest when it has them.
    """

    uri: str
    dest: SafeRelPath
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    md5: str | None = None
    sha256: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def listed(
        cls,
        uri: str,
        dest: SafeRelPath,
        size: int | None,
        md5: str | None,
        sha256: str | None,
        tags: Mapping[str, str],
    ) -> RemoteFile:
        """A file as a manifest lists it, made the fast way: the dataclass's ``__init__`` sets
        each field of a frozen class through ``object.__setattr__`` (1.7 µs a file, seconds for a
        million-file plan); this sets them through the slots (0.8 µs)."""
        file = object.__new__(cls)
        _SET_URI(file, uri)
        _SET_DEST(file, dest)
        _SET_SIZE(file, size)
        _SET_ETAG(file, None)
        _SET_VERSION_ID(file, None)
        _SET_MD5(file, md5)
        _SET_SHA256(file, sha256)
        _SET_TAGS(file, tags)
        return file


_SLOTS = vars(RemoteFile)
_SET_URI = _SLOTS["uri"].__set__
_SET_DEST = _SLOTS["dest"].__set__
_SET_SIZE = _SLOTS["size"].__set__
_SET_ETAG = _SLOTS["etag"].__set__
_SET_VERSION_ID = _SLOTS["version_id"].__set__
_SET_MD5 = _SLOTS["md5"].__set__
_SET_SHA256 = _SLOTS["sha256"].__set__
_SET_TAGS = _SLOTS["tags"].__set__


@dataclass
class Plan:
    files: list[RemoteFile]
    # Of a sharded plan: this machine's share, and the known bytes of every share (1..N).
    shard: Shard | None = None
    share_bytes: list[int] = field(default_factory=list)

    def share(self, shard: Shard | None) -> Plan:
        """This machine's share of the plan (``egoget.shards``), or the whole plan for None."""
        if shard is None:
            return self
        shares = shard.split(self.files)
        share_bytes = [sum(f.size or 0 for f in files) for files in shares]
        return Plan(shares[shard.index - 1], shard, share_bytes)


@dataclass
class PlannedRun:
    """A plan plus what planning refused (named, with why) and notes for the user."""

    plan: Plan
    refused: list[tuple[str, EgogetError]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Work on the output once every file of the plan is verified (unpacking, cutting clips).
    finishing: list[FinishingStep] = field(default_factory=list)
    records: Sequence[RecordStep] = ()
    fallback: Fallback | None = None
