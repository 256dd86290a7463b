"""Every dataset egoget downloads, in one table.

``egoget download``, ``egoget list``, ``egoget config schema``, the Python API and the docs test
all read ``DATASETS``. A dataset is a module here with ``plan_run(config, registry, fetcher)``
(options and manifests -> a PlannedRun) and ``describe()`` (what ``egoget list`` shows), an
options model in ``config.py``, and one line below. A dataset never moves bytes itself: it asks
the ``Fetcher`` for the small files it plans from (manifests, metadata), which arrive verified
in the output directory, and reads them there.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..config import (
    DatasetConfig,
    Ego2ExoConfig,
    Ego4dConfig,
    Ego4dSocialConfig,
    EgoExoConfig,
    EgoSchemaConfig,
    EgoVlpConfig,
)
from ..model import PlannedRun, RemoteFile

if TYPE_CHECKING:
    from ..sources import SourceRegistry


class Fetcher(Protocol):
    def fetch(self, files: list[RemoteFile]) -> dict[str, Path]:
        """Make these files present and verified; return where each landed, by dest."""
        ...

    def kept_file(self, name: str) -> Path:
        """Where a dataset may keep what it made of the fetched files, for the next run to
        read back (a file of the output's state, which may not exist yet)."""
        ...


@dataclass(frozen=True)
class Dataset:
    name: str
    summary: str  # one line: what it is, where it comes from
    config_model: type[DatasetConfig]
    module: str  # egoget.datasets.<module>, imported when first used
    # Its own options (config field names), beside the transfer options every dataset has;
    # each may carry help text of its own instead of the generic one.
    options: dict[str, str | None] = field(default_factory=dict)

    def _module(self) -> Any:
        return importlib.import_module(f"{__name__}.{self.module}")

    def plan(self, config: DatasetConfig, registry: SourceRegistry, fetcher: Fetcher) -> PlannedRun:
        plan: PlannedRun = self._module().plan_run(config, registry, fetcher)
        return plan

    def describe(self) -> list[tuple[str, list[str]]]:
        """(heading, values) pairs: parts, benchmarks, versions, ... as `egoget list` shows."""
        described: list[tuple[str, list[str]]] = self._module().describe()
        return described


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "ego4d",
            "Ego4D from its S3 buckets: videos, annotations, features and models, by part, "
            "benchmark, university and video uid, in the official `ego4d` CLI's layout",
            Ego4dConfig,
            "ego4d",
            {
                "parts": "Parts, e.g. full_scale annotations clips [default: annotations]. "
                "`egoget list ego4d` shows them all.",
                "version": "Release: v1, v2 or v2_1 [default: v2_1].",
                "metadata": "Also fetch ego4d.json [default: yes].",
                "benchmarks": "Only videos of these benchmarks, e.g. nlq vq.",
                "universities": "Only videos from these universities, e.g. unict cmu.",
                "video_uids": None,
                "video_uid_file": None,
                "manifest": None,
                "list_datasets": None,
                "manifest_override_path": None,
                "bypass_version_check": None,
                "skip_s3_checks": None,
            },
        ),
        Dataset(
            "egoexo",
            "Ego-Exo4D from S3: takes, captures, annotations and features by part, take uid, "
            "benchmark, split, view and university, in the official `egoexo` CLI's layout",
            EgoExoConfig,
            "egoexo",
            {
                "parts": "Parts: default, all, or names such as takes downscaled_takes/448 "
                "features/omnivore_video [default: default]. `egoget list egoexo` shows them.",
                "uids": None,
                "benchmarks": "Only takes of these benchmarks, e.g. keystep proficiency.",
                "splits": None,
                "views": None,
                "universities": "Only takes from these universities.",
                "release": None,
                "base_uri": None,
            },
        ),
        Dataset(
            "egoschema",
            "EgoSchema's 5,031 clips (Kaggle, presigned links, Hugging Face, or Google Drive) and "
            "its question files",
            EgoSchemaConfig,
            "egoschema",
            {
                "uid_to_url": None,
                "source": None,
                "hf_url": None,
                "kaggle_url": None,
                "metadata_url": "Where questions.json, subset_answers.json and "
                "uid_to_ego4d.json are fetched from [default: the benchmark's GitHub repository].",
                "metadata": "Also fetch questions.json, subset_answers.json and "
                "uid_to_ego4d.json [default: yes].",
            },
        ),
        Dataset(
            "egovlp",
            "EgoVLP's EgoClip/EgoMCQ metadata, checkpoints and features from Google Drive, where "
            "an EgoVLP checkout reads them",
            EgoVlpConfig,
            "egovlp",
            {
                "parts": "Parts, e.g. egoclip egomcq weights [default: egoclip egomcq]. "
                "`egoget list egovlp` shows them all."
            },
        ),
        Dataset(
            "ego2exo",
            "Ego2Exo: the benchmark's 249 Ego-Exo4D takes (features, and videos if asked) "
            "plus metadata/ego2exo.json, in one run",
            Ego2ExoConfig,
            "ego2exo",
            {
                "parts": "features/omnivore_video (the default), downscaled_takes/448, takes.",
                "videos": None,
                "metadata_url": "Where ego2exo.json is fetched first [default: Hugging Face "
                "Tarun23/Ego2Exo]; Google Drive is the fallback.",
                "metadata": "Also fetch metadata/ego2exo.json [default: yes].",
                "universities": "Only takes from these universities.",
                "uids": None,
                "splits": None,
                "views": None,
                "release": None,
                "base_uri": None,
            },
        ),
        Dataset(
            "ego4d-social",
            "The Ego4D social benchmarks' data/ folder (Looking-at-me, Talking-to-me): "
            "manifest, AV annotations, canonical videos, clips cut with ffmpeg",
            Ego4dSocialConfig,
            "ego4d_social",
            {
                "version": "Release: v1, v2 or v2_1 [default: v2_1].",
                "universities": "Only videos from these universities.",
                "cut_clips": None,
                "branch": None,
                "cut_procs": None,
                "checkpoints": None,
                "test": None,
            },
        ),
    )
}
