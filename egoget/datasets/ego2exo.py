"""Ego2Exo in one run: the keystep takes' Ego-Exo4D features (and optionally videos) from S3
plus the recipe's metadata file from Google Drive.

Ego2Exo's own scripts call the `egoexo` CLI once per take; here one plan covers every take and
the metadata, with one progress view, one resume state and one exit code.
"""

from __future__ import annotations

from ..config import Ego2ExoConfig, EgoExoConfig
from ..model import Plan, PlannedRun
from ..sources import SourceRegistry
from . import Fetcher, egoexo
from .drive_assets import EGO2EXO_METADATA, asset_files

FEATURE_PART = "features/omnivore_video"
VIDEO_PARTS = {None: [], "448": ["downscaled_takes/448"], "takes": ["takes"]}
BENCHMARK = "keystep"


def plan_run(config: Ego2ExoConfig, registry: SourceRegistry, fetcher: Fetcher) -> PlannedRun:
    parts = config.parts or [FEATURE_PART, *VIDEO_PARTS[config.videos]]
    values = config.model_dump(exclude={"dataset", "videos", "metadata", "shard"})
    values.update(parts=parts, benchmarks=config.benchmarks or [BENCHMARK])
    takes = egoexo.plan_run(EgoExoConfig.model_validate(values), registry, fetcher)
    files, refused = list(takes.plan.files), list(takes.refused)
    if config.metadata:
        metadata, refused_metadata = asset_files([EGO2EXO_METADATA], registry)
        files += metadata
        refused += refused_metadata
    notes = [*takes.notes, f"ego2exo: {', '.join(parts)} of the {BENCHMARK} takes"]
    return PlannedRun(Plan(files).share(config.shard_parts), refused, notes)


def describe() -> list[tuple[str, list[str]]]:
    return [
        ("takes", [f"the Ego-Exo4D takes of benchmark {BENCHMARK}"]),
        ("parts", [f"{FEATURE_PART} (always)", "downscaled_takes/448 (--videos 448)",
                   "takes (--videos takes)"]),
        ("metadata", [f"{EGO2EXO_METADATA.dest} (Google Drive {EGO2EXO_METADATA.drive_id})"]),
    ]  # fmt: skip
