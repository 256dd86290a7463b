"""What to download: remote files and the plan that selects them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import EgogetError
from .paths import SafeRelPath
from .steps import FinishingStep


@dataclass(frozen=True)
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


@dataclass
class Plan:
    files: list[RemoteFile]

    def shard(self, index: int, count: int) -> Plan:
        """Share ``index`` (1..count) of a split into ``count`` disjoint parts that together
        cover the plan. It depends only on each file's destination, so every machine of a job
        array computes the same split from the same manifests, in any order."""
        return Plan([f for f in self.files if _shard_of(f.dest, count) == index - 1])


def _shard_of(dest: str, count: int) -> int:
    return int.from_bytes(hashlib.sha1(dest.encode()).digest()[:8], "big") % count


@dataclass
class PlannedRun:
    """A plan plus what planning refused (named, with why) and notes for the user."""

    plan: Plan
    refused: list[tuple[str, EgogetError]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Work on the output once every file of the plan is verified (unpacking, cutting clips).
    finishing: list[FinishingStep] = field(default_factory=list)
