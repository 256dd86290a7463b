"""Ego2Exo (github.com/ViLab-UCSD/LaGTran_ICML2024) in one run: the benchmark's 249 Ego-Exo4D
takes and its metadata file, where its code reads them.

Upstream's scripts call the `egoexo` CLI once per take (../shared/upstream/ego2exo_scripts.txt):
takes_download.sh with --parts takes, omnivore_features_download.sh with --parts
downscaled_takes/448 despite its name. The training code reads features/omnivore_video (the
default here) below --data_root, and metadata/ego2exo.json relative to the directory it runs in
(src/args.py:64,100), from its current home on Hugging Face, the Drive file of the README's
older version as the fallback.
"""

from __future__ import annotations

from importlib import resources

from ..config import Ego2ExoConfig, EgoExoConfig
from ..errors import EgogetError, TransferError, UnreachableError, UsageError
from ..model import Plan, PlannedRun, RemoteFile
from ..paths import safe_relative_path
from ..sources import SourceRegistry
from . import Fetcher, egoexo
from .choices import check_choices
from .drive_assets import EGO2EXO_METADATA, asset_files

FEATURE_PART = "features/omnivore_video"  # what the loader reads (ego4d_loader.py:153-154)
PARTS = (FEATURE_PART, "downscaled_takes/448", "takes")
VIDEO_PARTS = {None: [], "448": ["downscaled_takes/448"], "takes": ["takes"]}
BENCHMARK = "keystep"  # as upstream's scripts ask for it beside each take's uid
METADATA_DEST = "metadata/ego2exo.json"


def benchmark_takes() -> tuple[str, ...]:
    text = resources.files(__package__).joinpath("ego2exo_takes.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip()[:1] not in "#")


def plan_run(config: Ego2ExoConfig, registry: SourceRegistry, fetcher: Fetcher) -> PlannedRun:
    parts = list(dict.fromkeys([*(config.parts or [FEATURE_PART]), *VIDEO_PARTS[config.videos]]))
    check_choices("part", parts, PARTS)
    takes = benchmark_takes()
    if config.uids:
        outside = sorted(set(config.uids) - set(takes))
        if outside:
            raise UsageError(
                f"{len(outside)} of the --uids are not Ego2Exo takes: {', '.join(outside[:5])}",
                hint="Ego2Exo has 249 takes (`egoget list ego2exo`); for others, use "
                "`egoget download egoexo`",
            )
    values = config.values(exclude={"dataset", "videos", "metadata", "metadata_url", "shard"})
    values.update(
        parts=parts,
        benchmarks=config.benchmarks or [BENCHMARK],
        uids=list(config.uids or takes),
    )
    planned = egoexo.plan_run(EgoExoConfig(**values), registry, fetcher, uids_from="Ego2Exo")
    files, refused = list(planned.plan.files), list(planned.refused)
    notes = [
        f"ego2exo: {', '.join(parts)} of {len(config.uids or takes)} Ego2Exo takes",
        *planned.notes,
    ]
    if config.metadata:
        metadata, refused_metadata, note = _metadata(config, registry)
        files += metadata
        refused += refused_metadata
        notes.append(note)
    return PlannedRun(Plan(files).share(config.this_shard), refused, notes)


def _metadata(
    config: Ego2ExoConfig, registry: SourceRegistry
) -> tuple[list[RemoteFile], list[tuple[str, EgogetError]], str]:
    """ego2exo.json from Hugging Face, or, where that does not answer, from Google Drive."""
    dest = safe_relative_path(METADATA_DEST)
    try:
        stat = registry.for_uri(config.metadata_url).stat(config.metadata_url)
    except (TransferError, UnreachableError) as exc:
        files, refused = asset_files([EGO2EXO_METADATA], registry)
        return files, refused, f"{METADATA_DEST} from Google Drive ({exc.message})"
    file = RemoteFile(config.metadata_url, dest, size=stat.size, etag=stat.etag)
    shown = registry.for_uri(config.metadata_url).redact(config.metadata_url)
    note = (
        f"{METADATA_DEST} from {shown}; run Ego2Exo's training code from the output directory "
        "(it reads metadata/ relative to where it runs), with --data_root set to it"
    )
    return [file], [], note


def describe() -> list[tuple[str, list[str]]]:
    return [
        ("takes", [f"the {len(benchmark_takes())} takes of the benchmark (--uids: some of them)"]),
        ("parts (--parts)", [f"{FEATURE_PART} (default: what the loader reads)",
                             "downscaled_takes/448 (omnivore_features_download.sh)",
                             "takes (takes_download.sh)"]),
        ("metadata", [f"{METADATA_DEST} from Hugging Face Tarun23/Ego2Exo, Google Drive "
                      f"{EGO2EXO_METADATA.drive_id} as the fallback"]),
    ]  # fmt: skip
