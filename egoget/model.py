"""What to download: remote files and the plan that selects them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .paths import SafeRelPath


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

    @property
    def total_bytes(self) -> int:
        return sum(f.size or 0 for f in self.files)

    def __len__(self) -> int:
        return len(self.files)
