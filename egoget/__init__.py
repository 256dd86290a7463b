"""egoget: one resumable, verified, parallel downloader for egocentric-video datasets.

The public names are imported on first use, so `egoget --help` and every command pay only for
the modules they need (boto3 alone is ~70 ms).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import FetchConfig, TransferConfig
    from .model import Plan, RemoteFile
    from .run import RunResult, execute

_EXPORTS = {
    "FetchConfig": "config",
    "TransferConfig": "config",
    "Plan": "model",
    "RemoteFile": "model",
    "RunResult": "run",
    "execute": "run",
}
__all__ = ["FetchConfig", "Plan", "RemoteFile", "RunResult", "TransferConfig", "execute"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'egoget' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
