"""egoget from Python: the same downloads as the command line, for notebooks and pipelines.

    import egoget
    result = egoget.download("ego4d", "ego4d_data", parts=["annotations"])
    result.ok, result.failed

Options are named as the JSON config keys (``parts``, ``benchmarks``, ``video_uids``,
``procs``, ``endpoint_url``, ...; ``egoget config schema DATASET`` lists them), and a run never
asks before starting. Errors that stop a run are raised as ``egoget.errors`` exceptions (never
SystemExit); files that failed alone are in ``RunResult.failed``, the others are kept.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable
from typing import Any

from .config import FetchConfig, TransferConfig, build_config, canonical_keys
from .datasets import DATASETS
from .datasets.choices import check_choices
from .datasets.uris import fetch_entries, plan_uris
from .errors import Interrupted
from .model import PlannedRun
from .run import PlanDiff, Planner, RunHooks, RunResult, dataset_planner, execute, source_registry
from .sources import SourceRegistry
from .transfer.events import Event

Progress = Callable[[Event], None]
Notes = Callable[[str], None]


def download(
    dataset: str,
    output: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    notes: Notes | None = None,
    **options: Any,
) -> RunResult:
    """Download a dataset, or the parts of it the options select, into ``output``.

    ``progress`` receives the engine's events as the command line's display does
    (FileStarted, BytesReceived, Retrying, FileDone, FileFailed, ...); ``notes`` what a run
    wants its user to know (a redirect followed, a route chosen).
    """
    config, registry = _dataset_run(dataset, output, notes, options)
    spec = DATASETS[config.dataset]
    return _execute(config, registry, dataset_planner(spec, config, registry), progress, notes)


def plan(dataset: str, output: str | os.PathLike[str], **options: Any) -> PlanDiff:
    """What ``download`` with these options would fetch into ``output``, and what is already
    there; no file of the dataset is fetched (its manifests are, to make the plan)."""
    config, registry = _dataset_run(dataset, output, None, {**options, "dry_run": True})
    spec = DATASETS[config.dataset]
    return _execute(config, registry, dataset_planner(spec, config, registry), None, None).diff


def fetch(
    uris: Iterable[str],
    output: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    notes: Notes | None = None,
    **options: Any,
) -> RunResult:
    """Download S3 objects and prefixes (``s3://bucket/prefix/``), HTTP(S) URLs and Drive
    files into ``output``, as `egoget fetch` does."""
    values = canonical_keys(FetchConfig, {**options, "uris": list(uris), "output": output})
    config = build_config(FetchConfig, values, "options")
    registry = source_registry(config, notes)
    planned = PlannedRun(*plan_uris(fetch_entries(config), registry))
    return _execute(config, registry, lambda *_: planned, progress, notes)


def _dataset_run(
    dataset: str, output: str | os.PathLike[str], notes: Notes | None, options: dict[str, Any]
) -> tuple[Any, SourceRegistry]:
    name = dataset.lower()
    check_choices("dataset", [name], DATASETS)
    model = DATASETS[name].config_model
    values = canonical_keys(model, {**options, "output": output, "yes": True})
    config = build_config(model, values, "options")
    return config, source_registry(config, notes)


def _execute(
    config: TransferConfig,
    registry: SourceRegistry,
    planner: Planner,
    progress: Progress | None,
    notes: Notes | None,
) -> RunResult:
    hooks = RunHooks()
    if progress is not None:
        hooks.emit = progress
    if notes is not None:
        hooks.note = notes
    # A run freezes its plan out of the cyclic collector's passes. Given back when it is over,
    # unless the caller had frozen objects of its own (a pre-forking server): unfreezing would
    # give back theirs too, so the plan stays frozen (freed all the same when dropped).
    frozen_before = gc.get_freeze_count()
    try:
        result = execute(config, registry, planner, hooks)
    except KeyboardInterrupt:
        registry.settings.cancelled.set()
        raise Interrupted("interrupted; finished chunks are kept") from None
    finally:
        if frozen_before == 0:
            gc.unfreeze()
    if result.summary.fatal is not None:
        raise result.summary.fatal
    if result.summary.interrupted:
        raise Interrupted("interrupted; finished chunks are kept")
    return result
