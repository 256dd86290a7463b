"""Ego4D: manifests in the consortium bucket, videos in per-university buckets.

The output layout is the official ``ego4d`` CLI's, so code written against it keeps working:
``<out>/ego4d.json``, ``<out>/<v>/<part>/manifest.csv`` and ``<out>/<v>/<part>/<uid>.mp4`` (or
the key's basename for file parts), where ``<v>`` is the release's major version (v2_1 -> v2).
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Ego4dConfig
from ..errors import (
    AccessDeniedError,
    EgogetError,
    ManifestError,
    NotFoundError,
    TransferError,
    UnsafePathError,
    UsageError,
)
from ..model import Plan, PlannedRun, RemoteFile
from ..paths import SafeRelPath, safe_relative_path
from ..resolve import resolve_sizes
from ..shards import Shard
from ..sources import SourceRegistry
from ..sources.s3 import S3Source
from . import Fetcher
from .choices import check_choices, shown_names

CONSORTIUM_BUCKET = "ego4d-consortium-sharing"
VERSIONS = ("v1", "v2", "v2_1")
DEFAULT_VERSION: str = Ego4dConfig.default_of("version")
DEFAULT_PARTS = ("annotations",)  # as the official CLI
VIDEO_PARTS = ("full_scale", "clips", "components/videos", "video_540ss")
FILE_PARTS = (
    "annotations", "annotations_540ss", "viz", "imu", "gaze", "3d", "3d_scans",
    "3d_scan_keypoints", "av_models", "social_test", "vq2d_models", "vq2d_detections",
    "sta_models", "lta_models", "moments_models", "nlq_models", "slowfast8x8_r101_k400",
    "omnivore_video_swinl", "omnivore_image_swinl", "fut_loc", "egotracks",
    "paco_annotations", "paco_frames",
)  # fmt: skip
PARTS = VIDEO_PARTS + FILE_PARTS
UNIVERSITY_BUCKETS = {
    "bristol": "ego4d-bristol",
    "cmu": "ego4d-cmu",
    "cmu_africa": "ego4d-universityaf",
    "fair": "ego4d-fair",
    "frl_track_1_public": CONSORTIUM_BUCKET,
    "georgiatech": "ego4d-georgiatech",
    "iiith": "ego4d-iiith",
    "indiana": "ego4d-indiana",
    "kaust": "ego4d-kaust",
    "minnesota": "ego4d-minnesota",
    "nus": "ego4d-speac",
    "sfu": "ego4d-sfu",
    "uniandes": "ego4d-university-sa",
    "unc": "ego4d-unc",
    "unict": "ego4d-unict-milan",
    "upenn": "ego4d-penn",
    "utokyo": "ego4d-utokyo",
}
BUCKET_UNIVERSITIES = {bucket: name for name, bucket in UNIVERSITY_BUCKETS.items()}
# Benchmark tags seen in Ego4D manifests; names found in the manifests themselves count too.
BENCHMARKS = ("av", "em", "fho", "lta", "mq", "nlq", "oscc", "pnr", "social", "sta", "vq")

_ID_COLUMNS = ("file_uid", "video_uid")
_LOCATION_COLUMNS = ("canonical_s3_location", "s3_path")
_VIDEO_TYPES = frozenset({"mp4", "video"})
_FILE_TYPES = frozenset({"file", "json"})
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(.+)$")


def local_version(version: str) -> str:
    """The folder a release lands in: its major version, as the official CLI does."""
    return version.split("_", 1)[0]


def metadata_uri(version: str) -> str:
    return f"s3://{CONSORTIUM_BUCKET}/public/{version}/ego4d.json"


def manifest_uri(version: str, part: str) -> str:
    return f"s3://{CONSORTIUM_BUCKET}/public/{version}/{part}/manifest.csv"


def manifest_dest(version: str, part: str) -> SafeRelPath:
    return safe_relative_path(f"{local_version(version)}/{part}/manifest.csv")


def parse_benchmarks(value: str | None) -> frozenset[str] | None:
    """'[EM|NLQ|VQ]' -> {'em', 'nlq', 'vq'}; an empty cell means the row has no benchmark."""
    if value is None or not value.strip():
        return None
    names = re.split(r"[|,\s]+", value.strip().strip("[]").lower())
    return frozenset(name for name in names if name)


@dataclass(frozen=True)
class ManifestRow:
    part: str
    line: int
    uid: str
    uri: str
    bucket: str
    is_video: bool
    benchmarks: frozenset[str] | None

    @property
    def university(self) -> str:
        return BUCKET_UNIVERSITIES.get(self.bucket, self.bucket)

    @property
    def file_name(self) -> str:
        return f"{self.uid}.mp4" if self.is_video else posixpath.basename(self.uri)


@dataclass
class Manifest:
    part: str
    rows: list[ManifestRow]
    has_benchmarks: bool
    refused: list[tuple[str, EgogetError]] = field(default_factory=list)

    @property
    def is_video(self) -> bool:
        """A video part: one of the table's, or one the release has whose rows are videos."""
        return self.part in VIDEO_PARTS or any(row.is_video for row in self.rows[:1])


def parse_manifest(part: str, text: str, origin: str) -> Manifest:
    """Read one manifest.csv; a bad row is refused with its line number, a bad header is fatal."""
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    id_column = next((c for c in _ID_COLUMNS if c in columns), None)
    location_column = next((c for c in _LOCATION_COLUMNS if c in columns), None)
    if id_column is None or location_column is None:
        raise ManifestError(
            f"{origin} is not an Ego4D manifest: it needs a {' or '.join(_ID_COLUMNS)} column "
            f"and a {' or '.join(_LOCATION_COLUMNS)} column, and has {columns}",
            hint="the file may be truncated or from another dataset; delete it and rerun",
        )
    manifest = Manifest(part, [], has_benchmarks="benchmarks" in columns)
    for line, row in enumerate(reader, start=2):
        uid = (row.get(id_column) or "").strip()
        location = (row.get(location_column) or "").strip()
        match = _S3_URI.match(location)
        if not uid or not match:
            manifest.refused.append(
                (f"{origin}:{line}", ManifestError(f"{origin} line {line}: no uid or S3 location"))
            )
            continue
        kind = (row.get("type") or "").strip().lower()
        is_video = (
            kind in _VIDEO_TYPES if kind in _VIDEO_TYPES | _FILE_TYPES else id_column == "video_uid"
        )
        manifest.rows.append(
            ManifestRow(
                part=part,
                line=line,
                uid=uid,
                uri=location,
                bucket=match.group(1),
                is_video=is_video,
                benchmarks=parse_benchmarks(row.get("benchmarks")),
            )
        )
    return manifest


def read_manifest(part: str, path: Path) -> Manifest:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path} is not UTF-8 text", hint="delete it and rerun") from exc
    return parse_manifest(part, text, str(path))


@dataclass(frozen=True)
class Ego4dSelection:
    version: str
    parts: tuple[str, ...]
    benchmarks: frozenset[str]
    universities: frozenset[str]
    video_uids: frozenset[str]


def validate_selection(
    version: str,
    parts: Iterable[str],
    benchmarks: Iterable[str],
    universities: Iterable[str],
    video_uids: Iterable[str],
    names: ReleaseNames | None = None,
) -> Ego4dSelection:
    """The selection, its names checked against ``names`` (egoget's table by default)."""
    names = names or ReleaseNames()
    check_choices("version", [version], names.versions)
    parts = normalized_parts(parts)
    check_choices("part", parts, names.parts)
    universities = frozenset(u.lower() for u in universities)
    check_choices("university", universities, UNIVERSITY_BUCKETS)
    uids = frozenset(uid.strip() for uid in video_uids if uid.strip())
    upper = sorted(uid for uid in uids if uid != uid.lower())
    if upper:
        raise UsageError(
            f"video uids are lower case; got {', '.join(upper[:5])}",
            hint="Ego4D uids look like 0a1b2c3d-...; check the list for typos",
        )
    return Ego4dSelection(
        version=version,
        parts=parts,
        benchmarks=frozenset(b.lower() for b in benchmarks),
        universities=universities,
        video_uids=uids,
    )


def normalized_parts(parts: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip("/").lower() for p in parts)) or DEFAULT_PARTS


@dataclass(frozen=True)
class ReleaseNames:
    """The versions and parts a selection may name, and why some beyond egoget's table."""

    versions: tuple[str, ...] = VERSIONS
    parts: tuple[str, ...] = PARTS
    notes: tuple[str, ...] = ()


def release_names(version: str, parts: Iterable[str], registry: SourceRegistry) -> ReleaseNames:
    """egoget's table, and what the release holds beyond it, as the official CLI allows
    (config.py:297-301: "Non-standard Dataset Specified (Allowed, will attempt download)"): a
    part whose manifest is in the bucket, a version the bucket has under public/. Nothing is
    asked when every name is in the table."""
    unknown = [p for p in normalized_parts(parts) if p not in PARTS]
    if version in VERSIONS and not unknown:
        return ReleaseNames()
    s3 = registry.for_uri(f"s3://{CONSORTIUM_BUCKET}/")
    versions: tuple[str, ...] = VERSIONS
    if version not in VERSIONS:
        assert isinstance(s3, S3Source)
        try:
            public = s3.folders(f"s3://{CONSORTIUM_BUCKET}/public/")
        except AccessDeniedError:
            public = []  # cannot list: the known versions are all there is to suggest
        versions = tuple(uri.rstrip("/").rsplit("/", 1)[-1] for uri in public) or VERSIONS
        check_choices("version", [version], versions)
    found: list[str] = []
    for part in unknown:
        try:
            s3.stat(manifest_uri(version, part))
        except (NotFoundError, AccessDeniedError):
            continue  # left to validate_selection: an unknown part, with the closest names
        found.append(part)
    notes = tuple(
        f"{part}: not in egoget's table of Ego4D parts, but release {version} has its manifest: "
        "downloading what the manifest lists"
        for part in found
    )
    return ReleaseNames(versions, (*PARTS, *found), notes)


def _wanted(row: ManifestRow, manifest: Manifest, selection: Ego4dSelection) -> bool:
    by_benchmark = selection.benchmarks and manifest.has_benchmarks
    if by_benchmark and not (row.benchmarks or frozenset()) & selection.benchmarks:
        return False
    if not manifest.is_video:
        return True  # universities and uids select videos; file parts are shared by all
    if selection.universities and row.university not in selection.universities:
        return False
    return not selection.video_uids or row.uid in selection.video_uids


@dataclass
class Ego4dPlan:
    files: list[RemoteFile]
    refused: list[tuple[str, EgogetError]]
    notes: list[str]


def select_files(selection: Ego4dSelection, manifests: list[Manifest]) -> Ego4dPlan:
    """Apply the filters to the manifests and lay the chosen rows out as the official CLI does."""
    seen_benchmarks = {b for m in manifests for r in m.rows for b in (r.benchmarks or ())}
    unknown = selection.benchmarks - seen_benchmarks - set(BENCHMARKS)
    if unknown:
        check_choices("benchmark", unknown, sorted(seen_benchmarks | set(BENCHMARKS)))
    notes: list[str] = []
    refused: list[tuple[str, EgogetError]] = [r for m in manifests for r in m.refused]
    files: list[RemoteFile] = []
    found_uids: set[str] = set()
    folder = local_version(selection.version)
    for manifest in manifests:
        video_part = manifest.is_video
        if selection.benchmarks and not manifest.has_benchmarks:
            notes.append(f"{manifest.part}: no benchmarks column, so --benchmarks does not apply")
        if selection.video_uids and not video_part:
            notes.append(f"{manifest.part}: a file part, so --video-uids does not apply")
        for row in manifest.rows:
            if not _wanted(row, manifest, selection):
                continue
            if video_part and selection.video_uids:
                found_uids.add(row.uid)
            try:
                dest = safe_relative_path(f"{folder}/{manifest.part}/{row.file_name}")
            except UnsafePathError as exc:
                refused.append((row.uri, exc))
                continue
            files.append(
                RemoteFile(
                    uri=row.uri,
                    dest=dest,
                    tags=(
                        {"part": manifest.part, "university": row.university, "uid": row.uid}
                        if video_part
                        else {"part": manifest.part, "uid": row.uid}
                    ),
                )
            )
    if selection.video_uids and any(p in VIDEO_PARTS for p in selection.parts):
        missing = sorted(selection.video_uids - found_uids)
        if missing:
            raise UsageError(
                f"{len(missing)} requested video uids are not in the "
                f"{'/'.join(p for p in selection.parts if p in VIDEO_PARTS)} manifest of "
                f"{selection.version}: {shown_names(missing)}",
                hint="check the uids, the --version, or the --universities filter",
            )
    return Ego4dPlan(files, refused, notes)


def plan_download(
    selection: Ego4dSelection,
    metadata: bool,
    fetcher: Fetcher,
    top_manifest: bool = False,
    manifest_override: Path | None = None,
) -> Ego4dPlan:
    """Fetch the metadata and the selected parts' manifests, then select from them.
    ``top_manifest``: also the full_scale manifest at <out>/manifest.csv (the official
    --manifest, cli.py:85-97); ``manifest_override``: a local manifest read for every part
    instead of the release's (the official --manifest-override-path, cli.py:112-117)."""
    manifests = {
        part: RemoteFile(
            manifest_uri(selection.version, part),
            manifest_dest(selection.version, part),
            tags={"part": part},
        )
        for part in selection.parts
    }
    wanted = [] if manifest_override else list(manifests.values())
    if metadata:
        wanted.append(RemoteFile(metadata_uri(selection.version), safe_relative_path("ego4d.json")))
    if top_manifest:
        top = manifest_uri(selection.version, "full_scale")
        wanted.append(RemoteFile(top, safe_relative_path("manifest.csv")))
    paths = fetcher.fetch(wanted)
    return select_files(
        selection,
        [
            read_manifest(part, manifest_override or paths[file.dest])
            for part, file in manifests.items()
        ],
    )


def plan_run(config: Ego4dConfig, registry: SourceRegistry, fetcher: Fetcher) -> PlannedRun:
    """Everything `egoget download ego4d` plans before it asks to start."""
    names = release_names(config.version, config.parts, registry)
    selection = validate_selection(
        config.version,
        config.parts,
        config.benchmarks,
        config.universities,
        config.all_video_uids(),
        names,
    )
    chosen = plan_download(
        selection, config.metadata, fetcher, config.manifest, config.manifest_override_path
    )
    run = resolved_run(chosen, registry, config.procs, config.this_shard)
    run.notes[:0] = names.notes
    if config.bypass_version_check or config.skip_s3_checks:
        run.notes.append(
            "--bypass-existing / --skip-s3-checks change nothing here: egoget finds what is "
            "already downloaded from its ledger and one listing per folder, with no request "
            "per file, and always checks sizes and checksums"
        )
    return run


def resolved_run(
    chosen: Ego4dPlan, registry: SourceRegistry, procs: int, shard: Shard | None
) -> PlannedRun:
    """The run of this machine's share of the chosen files, with their sizes from the buckets.
    Every machine of a job array resolves every size (one listing per folder) to split the
    plan by bytes; a file that could not be sized belongs to the share its name hashes to."""
    resolution = resolve_sizes(chosen.files, registry, procs)
    plan = Plan(resolution.files).share(shard)
    missing, denied = (
        [(f, e) for f, e in lost if shard is None or shard.holds_unsized(f.dest)]
        for lost in (resolution.missing, resolution.denied)
    )
    refused = chosen.refused + [(f.uri, e) for f, e in missing + denied]
    notes = list(chosen.notes)
    if denied:
        by_university = Counter(f.tags.get("university", "?") for f, _ in denied)
        shown = ", ".join(f"{name} ({n} files)" for name, n in sorted(by_university.items()))
        notes.append(
            f"no access to the buckets of {len(by_university)} universities: {shown}; their "
            "files are skipped and the run will exit 1. Your licence may not cover them, or "
            "your keys may have expired (Ego4D keys expire 14 days after approval)."
        )
    records = version_files(plan.files + [f for f, _ in missing + denied])
    return PlannedRun(plan, refused, notes, records=records)


VERSION_FILE_NAME = "manifest.ver"  # download.py:27
VERSION_FILE_FIELDS = ("uid", "version", "filename")  # VersionEntry, download.py:40-44


@dataclass(frozen=True)
class VersionFile:
    """The official CLI's ``<major>/<dataset>/manifest.ver``: one row (uid, S3 version id,
    file name) per file it downloaded. It deletes and fetches again every file on disk that
    has no row there or whose version differs (download.py:213-236, 303-305), so egoget keeps
    the rows of the files it verified, in the same CSV (download.py:411-420), and leaves the
    others' rows as they are."""

    folder: str
    files: tuple[tuple[str, str], ...]  # (uid, dest)

    @property
    def path(self) -> str:
        return f"{self.folder}/{VERSION_FILE_NAME}"

    def record(
        self, output: Path, versions: Mapping[str, str | None]
    ) -> list[tuple[str, EgogetError]]:
        path = output / self.path
        try:
            entries = read_version_file(path)
            before = dict(entries)
            for uid, dest in self.files:
                if dest in versions:
                    # A file found on disk keeps the version the official CLI recorded for it;
                    # the official writer puts "" for an unversioned object's None.
                    known = entries.get(uid, ("", ""))[0]
                    version = versions[dest] or known
                    entries[uid] = (version, posixpath.basename(dest))
            if entries != before:
                write_version_file(path, entries)
        except (OSError, csv.Error, UnicodeDecodeError) as exc:
            return [(str(path), TransferError(f"cannot update {path}: {exc}"))]
        return []


def read_version_file(path: Path) -> dict[str, tuple[str, str]]:
    """uid -> (version, filename), in the file's order; none when there is no file."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return {
                row["uid"]: (row.get("version") or "", row.get("filename") or "")
                for row in csv.DictReader(f)
                if row.get("uid")
            }
    except FileNotFoundError:
        return {}


def write_version_file(path: Path, entries: dict[str, tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # a bucket copy's records start empty
    part = path.with_name(path.name + ".egoget-part")
    with open(part, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, VERSION_FILE_FIELDS)
        writer.writeheader()
        writer.writerows(
            {"uid": uid, "version": version, "filename": filename}
            for uid, (version, filename) in entries.items()
        )
    os.replace(part, path)


def version_files(files: Iterable[RemoteFile]) -> list[VersionFile]:
    """One manifest.ver per dataset folder of the plan, as the official CLI keeps them."""
    by_folder: dict[str, list[tuple[str, str]]] = {}
    for file in files:
        uid = file.tags.get("uid")
        if uid:
            by_folder.setdefault(posixpath.dirname(file.dest), []).append((uid, file.dest))
    return [VersionFile(folder, tuple(entries)) for folder, entries in by_folder.items()]


def datasets_csv_uri(version: str) -> str:
    return f"s3://{CONSORTIUM_BUCKET}/public/{version}/datasets.csv"


def parse_datasets_csv(text: str) -> list[str]:
    """The parts a release really has, from its datasets.csv (first column, header skipped)."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row and row[0].strip()]
    return [row[0].strip() for row in rows[1:]]


def describe() -> list[tuple[str, list[str]]]:
    return [
        ("versions", [f"{v} (default)" if v == DEFAULT_VERSION else v for v in VERSIONS]),
        ("video parts", list(VIDEO_PARTS)),
        ("file parts", list(FILE_PARTS)),
        ("benchmarks", list(BENCHMARKS)),
        ("universities", [f"{u} ({b})" for u, b in UNIVERSITY_BUCKETS.items()]),
    ]
