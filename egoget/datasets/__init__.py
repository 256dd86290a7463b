"""Dataset families: each turns options and manifests into RemoteFiles to download.

A dataset never moves bytes itself: it asks a ``Fetcher`` for the small files it plans from
(manifests, metadata), which arrive verified in the output directory, and reads them there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..model import RemoteFile


class Fetcher(Protocol):
    def fetch(self, files: list[RemoteFile]) -> dict[str, Path]:
        """Make these files present and verified; return where each landed, by dest."""
        ...
