"""egoget: one resumable, verified, parallel downloader for egocentric-video datasets.

    import egoget
    result = egoget.download("ego4d", "ego4d_data", parts=["annotations"])

The public names are imported on first use, so `egoget --help` and every command pay only for
the modules they need (boto3 alone is ~70 ms).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import errors
    from .api import download, fetch, plan
    from .datasets import DATASETS
    from .run import PlanDiff, RunResult

_EXPORTS = {
    "download": "api",
    "fetch": "api",
    "plan": "api",
    "DATASETS": "datasets",
    "PlanDiff": "run",
    "RunResult": "run",
}
__all__ = ["DATASETS", "PlanDiff", "RunResult", "download", "errors", "fetch", "plan"]


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module(".errors", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module 'egoget' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
