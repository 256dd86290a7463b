"""Ego-Exo4D: one manifest.json per part under ``<base><release>/<part>/``.

Files land at ``<out>/<relative_path>`` as with the official ``egoexo`` CLI, whose traps this
fixes: ``--uids`` selects takes and captures but keeps the release's general files (metadata
and annotations), an unknown benchmark is an error instead of silently selecting nothing, a
file whose size differs from the manifest fails the run, and nothing is ever deleted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..config import EgoExoConfig
from ..errors import (
    AccessDeniedError,
    EgogetError,
    ManifestError,
    NotFoundError,
    UnsafePathError,
    UsageError,
)
from ..model import Plan, PlannedRun, RemoteFile
from ..paths import safe_relative_path, state_path
from ..sources import SourceRegistry
from . import Fetcher
from .choices import check_choices
from .ego4d import UNIVERSITY_BUCKETS

DEFAULT_RELEASE: str = EgoExoConfig.model_fields["release"].default
DEFAULT_PARTS = (
    "metadata", "captures", "takes", "take_trajectory", "take_vrs_noimagestream", "annotations",
)  # fmt: skip
EXTRA_PARTS = (
    "take_eye_gaze", "take_point_cloud", "take_vrs", "take_transcription", "take_audio",
    "capture_trajectory", "capture_eye_gaze", "capture_point_cloud", "downscaled_takes/448",
    "features/omnivore_video", "features/maws_clip_2b", "ego_pose_pseudo_gt", "expert_commentary",
)  # fmt: skip
PARTS = DEFAULT_PARTS + EXTRA_PARTS
PART_GROUPS = {"default": DEFAULT_PARTS, "all": PARTS}
# Parts whose entries are the release's general files rather than takes or captures.
GENERAL_PARTS = frozenset({"metadata", "annotations"})
BENCHMARKS = (
    "atomic_action_descriptions", "correspondence", "egopose", "keystep", "proficiency",
    "proficiency_demonstration", "proficiency_demonstrator", "relations", "translation",
)  # fmt: skip
SPLITS = ("train", "val", "test")
VIEWS = ("ego", "exo")
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class _Path(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source_path: str
    relative_path: str
    views: list[str] | None = None
    universities: list[str] | None = None
    file_type: str | None = None
    size: int | None = None
    checksum: str | None = None


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uid: str
    paths: list[_Path]
    splits: list[str] | None = None
    benchmarks: list[str] | None = None


@dataclass
class PartManifest:
    part: str
    entries: list[_Entry]


def parse_manifest(part: str, text: str, origin: str) -> PartManifest:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"{origin} is not valid JSON ({exc.msg} at line {exc.lineno})",
            hint="the download may have been cut short; delete the file and rerun",
        ) from exc
    if not isinstance(raw, list):
        raise ManifestError(f"{origin} must be a JSON list of entries, not {type(raw).__name__}")
    entries = []
    for index, item in enumerate(raw):
        try:
            entries.append(_Entry.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ManifestError(
                f"{origin}: entry {index} is malformed ({where}: {first['msg']})"
            ) from exc
    return PartManifest(part, entries)


@dataclass(frozen=True)
class EgoExoSelection:
    base_uri: str
    release: str
    parts: tuple[str, ...]
    uids: frozenset[str]
    benchmarks: frozenset[str]
    splits: frozenset[str]
    views: frozenset[str]
    universities: frozenset[str]


def expand_parts(parts: Iterable[str], release_parts: Iterable[str] = ()) -> tuple[str, ...]:
    chosen = requested_parts(parts)
    check_choices("part", chosen, (*PARTS, *release_parts))
    return chosen


def requested_parts(parts: Iterable[str]) -> tuple[str, ...]:
    chosen: list[str] = []
    for part in parts or ("default",):
        part = part.strip("/").lower()
        chosen.extend(PART_GROUPS.get(part, (part,)))
    return tuple(dict.fromkeys(chosen))


def release_parts(config: EgoExoConfig, registry: SourceRegistry) -> tuple[str, ...]:
    """Parts beyond egoget's table that the release has (a manifest.json in the bucket), e.g.
    keystep_benchmark/clips_448p, added upstream after the CLI's help was written."""
    base = config.base_uri if config.base_uri.endswith("/") else config.base_uri + "/"
    found = []
    for part in requested_parts(config.parts):
        if part in PARTS:
            continue
        uri = f"{base}{config.release}/{part}/manifest.json"
        try:
            registry.for_uri(uri).stat(uri)
        except (NotFoundError, AccessDeniedError):
            continue  # left to expand_parts: an unknown part, with the closest names
        found.append(part)
    return tuple(found)


def validate_selection(config: EgoExoConfig, release_parts: Iterable[str] = ()) -> EgoExoSelection:
    if config.delete:
        raise UsageError(
            "egoget never deletes files during a download (the official --delete removes "
            "everything outside the current selection)",
            hint="drop `delete` from the config; remove unwanted files yourself",
        )
    views = frozenset(v.lower() for v in config.views)
    check_choices("view", views, VIEWS)
    splits = frozenset(s.lower() for s in config.splits)
    check_choices("split", splits, SPLITS)
    base = config.base_uri if config.base_uri.endswith("/") else config.base_uri + "/"
    return EgoExoSelection(
        base_uri=base,
        release=config.release,
        parts=expand_parts(config.parts, release_parts),
        uids=frozenset(config.uids),
        benchmarks=frozenset(b.lower() for b in config.benchmarks),
        splits=splits,
        views=views,
        universities=frozenset(u.lower() for u in config.universities),
    )


_TAKE_UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _take_of(uid: str) -> str | None:
    """The take an entry belongs to, where its uid says: a take uid itself (ego_pose
    annotations, manifest_gen.py:658-690) or "<take_uid>_<expert>" (expert commentary,
    manifest_gen.py:711). General files' uids are names ("keystep", "takes")."""
    match = _TAKE_UID.match(uid)
    return match.group(0) if match else None


def _wanted_by_uid(uids: frozenset[str], uid: str, general: bool) -> bool:
    """--uids keeps the listed takes and captures; of the general parts it keeps the files of
    the whole release and the per-take files of the listed takes only."""
    if not uids or uid in uids:
        return True
    take = _take_of(uid)
    if take is not None:
        return take in uids
    return general


def _matches(wanted: frozenset[str], values: list[str] | None) -> bool:
    """A filter passes an entry that says nothing (null means general) or shares a value."""
    return not wanted or values is None or bool(wanted & {v.lower() for v in values})


def select_files(
    selection: EgoExoSelection, manifests: list[PartManifest]
) -> tuple[list[RemoteFile], list[tuple[str, EgogetError]]]:
    seen_benchmarks = {b.lower() for m in manifests for e in m.entries for b in e.benchmarks or ()}
    check_choices("benchmark", selection.benchmarks, seen_benchmarks | set(BENCHMARKS))
    seen_universities = {
        u.lower()
        for m in manifests
        for e in m.entries
        for p in e.paths
        for u in p.universities or ()
    }
    check_choices("university", selection.universities, seen_universities | set(UNIVERSITY_BUCKETS))
    files: dict[str, RemoteFile] = {}
    refused: list[tuple[str, EgogetError]] = []
    for manifest in manifests:
        general = manifest.part in GENERAL_PARTS
        for entry in manifest.entries:
            if not _wanted_by_uid(selection.uids, entry.uid, general):
                continue
            if not _matches(selection.benchmarks, entry.benchmarks):
                continue
            if not _matches(selection.splits, entry.splits):
                continue
            for path in entry.paths:
                if not _matches(selection.views, path.views):
                    continue
                if not _matches(selection.universities, path.universities):
                    continue
                try:
                    dest = safe_relative_path(path.relative_path)
                except UnsafePathError as exc:
                    refused.append((path.source_path, exc))
                    continue
                checksum = path.checksum or ""
                file = RemoteFile(
                    uri=path.source_path,
                    dest=dest,
                    size=path.size,
                    md5=checksum.lower() if _MD5.match(checksum) else None,
                    sha256=checksum.lower() if _SHA256.match(checksum) else None,
                    tags={"part": manifest.part},
                )
                earlier = files.setdefault(dest, file)
                if earlier.uri != file.uri:
                    refused.append(
                        (file.uri, ManifestError(f"{dest} is already the file of {earlier.uri}"))
                    )
    return list(files.values()), refused


def manifest_uri(selection: EgoExoSelection, part: str) -> str:
    return f"{selection.base_uri}{selection.release}/{part}/manifest.json"


def manifest_file(selection: EgoExoSelection, part: str) -> RemoteFile:
    # Kept with egoget's state, as its record of what the plan was made from.
    return RemoteFile(
        uri=manifest_uri(selection, part),
        dest=state_path(f".egoget/manifests/egoexo/{selection.release}/{part}/manifest.json"),
    )


def read_manifest(part: str, path: Path) -> PartManifest:
    try:
        return parse_manifest(part, path.read_text(encoding="utf-8"), str(path))
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path} is not UTF-8 text", hint="delete it and rerun") from exc


def plan_run(
    config: EgoExoConfig,
    registry: SourceRegistry,
    fetcher: Fetcher,
    uids_from: str | None = None,
) -> PlannedRun:
    """``uids_from``: the --uids are a benchmark's list (named so): a take missing from the
    release is reported and fails the run (exit 1) instead of stopping it before it starts."""
    extra = release_parts(config, registry)
    selection = validate_selection(config, extra)
    wanted = {part: manifest_file(selection, part) for part in selection.parts}
    paths = fetcher.fetch(list(wanted.values()))
    manifests = [read_manifest(part, paths[file.dest]) for part, file in wanted.items()]
    files, refused = select_files(selection, manifests)
    notes = []
    if selection.uids:
        found = {e.uid for m in manifests for e in m.entries}
        missing = sorted(selection.uids - found)
        if missing and uids_from:
            notes.append(
                f"{len(missing)} of the {len(selection.uids)} {uids_from} takes are in none of "
                "the selected parts' manifests (listed with the summary); the run will exit 1"
            )
            refused += [
                (uid, NotFoundError(f"{uids_from} take {uid} is not in this release"))
                for uid in missing
            ]
        elif missing:
            raise UsageError(
                f"{len(missing)} requested uids are in none of the selected parts' manifests: "
                f"{', '.join(missing[:10])}",
                hint="check the uids and the --parts (take uids live in take parts)",
            )
        notes.append(
            "--uids selects takes and captures; metadata and the release's annotation files "
            "come whole, per-take annotations and expert commentary for the listed takes"
        )
    notes[:0] = [
        f"{part}: not in egoget's table of Ego-Exo4D parts, but release {config.release} has "
        "its manifest: downloading what the manifest lists"
        for part in extra
    ]
    return PlannedRun(Plan(files).share(config.this_shard), refused, notes)


def describe() -> list[tuple[str, list[str]]]:
    return [
        ("releases", [f"{DEFAULT_RELEASE} (default)"]),
        ("default parts", list(DEFAULT_PARTS)),
        ("more parts (all = default + these)", list(EXTRA_PARTS)),
        ("benchmarks", list(BENCHMARKS)),
        ("splits", list(SPLITS)),
        ("views", list(VIEWS)),
    ]
