"""Ego-Exo4D: one manifest.json per part under ``<base><release>/<part>/``.

Files land at ``<out>/<relative_path>`` as with the official ``egoexo`` CLI, whose traps this
fixes: ``--uids`` selects takes and captures but keeps the release's general files (metadata
and annotations), an unknown benchmark is an error instead of silently selecting nothing, a
file whose size differs from the manifest fails the run, and nothing is ever deleted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import marshal
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..config import EgoExoConfig
from ..errors import (
    AccessDeniedError,
    EgogetError,
    ManifestError,
    NotFoundError,
    UnsafePathError,
    UsageError,
)
from ..jsonlist import Piece, iter_json_piece, read_in_pieces
from ..model import Plan, PlannedRun, RemoteFile
from ..paths import SafeRelPath, safe_relative_path, state_path
from ..sources import SourceRegistry
from . import Fetcher
from .choices import check_choices
from .ego4d import UNIVERSITY_BUCKETS

DEFAULT_RELEASE: str = EgoExoConfig.default_of("release")
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


# Entries are upstream's ManifestEntry {uid, paths, splits, benchmarks} and PathSpecification
# {source_path, relative_path, views, universities, file_type, size, checksum}
# (internal/download/manifest.py), read as the JSON gives them. Each field is checked where it
# is used, and only there: validating every field of a million entries up front (pydantic, then
# by hand) was most of the time to plan them.
class _Malformed(Exception):
    def __init__(self, field: str, expected: str):
        super().__init__(f"{field}: expected {expected}")


def _strings(value: Any, field: str) -> list[str] | None:
    """A filterable field: null (applies to all) or a list of strings."""
    if value is None or (type(value) is list and all(type(v) is str for v in value)):
        return value
    raise _Malformed(field, "a list of strings or null")


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


def _matches(wanted: frozenset[str], values: Any, field: str) -> bool:
    """A filter passes an entry that says nothing (null means general) or shares a value."""
    if not wanted:
        return True
    values = _strings(values, field)
    return values is None or bool(wanted & {v.lower() for v in values})


# A chosen file as one piece of a manifest reports it: (source, dest, size, md5, sha256).
ChosenFile = tuple[str, SafeRelPath, int | None, str | None, str | None]


@dataclass
class Chosen:
    """What one piece of a part's manifest chose, and what it saw on the way: plain values, as
    another process hands them back."""

    files: list[ChosenFile] = field(default_factory=list)
    # Names that would land outside the output directory: (source, why).
    refused: list[tuple[str, str]] = field(default_factory=list)
    # The benchmarks and universities the entries name (gathered only when asked for, to check
    # the request against), and the requested uids they hold.
    benchmarks: set[str] = field(default_factory=set)
    universities: set[str] = field(default_factory=set)
    found_uids: set[str] = field(default_factory=set)


@dataclass
class Selected:
    """What one pass over the parts' manifests chose."""

    files: list[RemoteFile] = field(default_factory=list)
    refused: list[tuple[str, EgogetError]] = field(default_factory=list)
    found_uids: set[str] = field(default_factory=set)


def select_files(
    selection: EgoExoSelection,
    manifests: list[tuple[str, Path]],
    kept: Path | None = None,
    keep: bool = True,
) -> Selected:
    """Each part's manifest (part, where it was saved) read once, in pieces when it is large; a
    benchmark or university that none of them names (nor egoget's table) is an error once all
    are read. With ``kept`` (a file in the output's state), what the same selection chose from
    the same manifests is read back from there instead, and (``keep``) kept there when not."""
    key = _selection_key(selection, manifests) if kept is not None else None
    if kept is None or key is None:
        return _select(selection, manifests)
    selected = _read_kept(kept, key)
    if selected is None:
        selected = _select(selection, manifests)
        if keep:
            _keep(kept, key, selected)
    return selected


def _select(selection: EgoExoSelection, manifests: list[tuple[str, Path]]) -> Selected:
    selected = Selected()
    files: dict[SafeRelPath, RemoteFile] = {}
    benchmarks: set[str] = set()
    universities: set[str] = set()
    for part, path in manifests:
        # One mapping for all of a part's files: a million small dicts were ~100 MiB.
        tags = {"part": part}
        choose = partial(choose_in_piece, selection, part in GENERAL_PARTS)
        for chosen in read_in_pieces(path, str(path), choose, _is_entry):
            for source, dest, size, md5, sha256 in chosen.files:
                file = RemoteFile.listed(source, dest, size, md5, sha256, tags)
                earlier = files.setdefault(dest, file)
                if earlier.uri != source:
                    selected.refused.append(
                        (source, ManifestError(f"{dest} is already the file of {earlier.uri}"))
                    )
            selected.refused += [(source, UnsafePathError(why)) for source, why in chosen.refused]
            benchmarks |= chosen.benchmarks
            universities |= chosen.universities
            selected.found_uids |= chosen.found_uids
    seen_benchmarks = {b.lower() for b in benchmarks} | set(BENCHMARKS)
    check_choices("benchmark", selection.benchmarks, seen_benchmarks)
    seen_universities = {u.lower() for u in universities} | set(UNIVERSITY_BUCKETS)
    check_choices("university", selection.universities, seen_universities)
    selected.files = list(files.values())
    return selected


# A re-run over an unchanged release makes the same selection from the same manifests: what it
# chose is kept in the output's state and read back (a million files: ~2.5 s instead of ~8).
# The key names everything the choice depends on, this code included; a stale or broken file
# is only a file to read the manifests again for.
_KEPT_FORMAT = b"egoget selection 1"
_CHOOSING_CODE = tuple(
    Path(__file__).parent.parent / name
    for name in ("datasets/egoexo.py", "datasets/choices.py", "datasets/ego4d.py", "paths.py",
                 "jsonlist.py")
)  # fmt: skip


def _selection_key(selection: EgoExoSelection, manifests: list[tuple[str, Path]]) -> bytes | None:
    digest = hashlib.md5(_KEPT_FORMAT, usedforsecurity=False)
    try:
        for code in _CHOOSING_CODE:
            digest.update(code.read_bytes())
        for part, path in manifests:
            st = path.stat()
            stamp = (part, str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            digest.update(repr(stamp).encode())
    except OSError:
        return None  # code not on disk as files (a zip), or a manifest gone: nothing kept
    options = {
        name: sorted(value) if isinstance(value, frozenset) else value
        for name, value in dataclasses.asdict(selection).items()
    }
    digest.update(repr(sorted(options.items())).encode())
    return digest.hexdigest().encode()


def _keep(kept: Path, key: bytes, selected: Selected) -> None:
    parts = sorted({file.tags["part"] for file in selected.files})
    index = {part: i for i, part in enumerate(parts)}
    body = marshal.dumps(
        (
            parts,
            [
                (f.uri, f.dest, f.size, f.md5, f.sha256, index[f.tags["part"]])
                for f in selected.files
            ],
            [(uri, e.message, isinstance(e, UnsafePathError)) for uri, e in selected.refused],
            sorted(selected.found_uids),
        )
    )
    check = hashlib.md5(body, usedforsecurity=False).hexdigest().encode()
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        written = kept.with_name(kept.name + ".tmp")
        with written.open("wb") as out:
            out.write(key + b" " + check + b"\n")
            out.write(body)
        os.replace(written, kept)
    except OSError:
        pass  # not kept: the next run reads the manifests again


def _read_kept(kept: Path, key: bytes) -> Selected | None:
    try:
        with kept.open("rb") as stored:
            stored_key, _, check = stored.readline().rstrip(b"\n").partition(b" ")
            if stored_key != key:
                return None
            body = stored.read()
    except OSError:
        return None
    if hashlib.md5(body, usedforsecurity=False).hexdigest().encode() != check:
        return None
    try:
        parts, rows, refused, found_uids = marshal.loads(body)
    except (ValueError, EOFError, TypeError):
        return None  # not a file this code wrote
    del body  # 170 MB for a million files, not held while they are made
    tags = [{"part": part} for part in parts]
    return Selected(
        files=[
            RemoteFile.listed(uri, dest, size, md5, sha256, tags[part])
            for uri, dest, size, md5, sha256, part in rows
        ],
        refused=[
            (uri, UnsafePathError(message) if unsafe else ManifestError(message))
            for uri, message, unsafe in refused
        ],
        found_uids=set(found_uids),
    )


def _is_entry(item: Any) -> bool:
    return type(item) is dict and "uid" in item and "paths" in item


def choose_in_piece(
    selection: EgoExoSelection, general: bool, path: Path, piece: Piece, origin: str
) -> Chosen:
    """The files one piece of a part's manifest holds that the selection keeps. Run in other
    processes for the pieces of a large manifest: it reads the file itself, and returns plain
    values."""
    chosen = Chosen()
    filtering = bool(
        selection.uids
        or selection.benchmarks
        or selection.splits
        or selection.views
        or selection.universities
    )
    try:
        for index, entry in enumerate(iter_json_piece(path, piece, origin)):
            try:
                if filtering:
                    _select_entry(selection, chosen, entry, general)
                else:
                    _keep_entry(chosen, entry)
            except (_Malformed, TypeError, AttributeError, KeyError) as exc:
                reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
                raise ManifestError(f"{origin}: entry {index} is malformed ({reason})") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{origin} is not UTF-8 text", hint="delete it and rerun") from exc
    return chosen


def _keep_entry(chosen: Chosen, entry: dict[str, Any]) -> None:
    """Every file of an entry, when nothing is filtered: the checks of _select_entry that a
    malformed entry fails, without the filters."""
    _, paths = _uid_and_paths(entry)
    for path in paths:
        if type(path) is not dict:
            raise _Malformed("paths", "a list of objects")
        _add(chosen, path)


def _uid_and_paths(entry: dict[str, Any]) -> tuple[str, list[Any]]:
    if type(entry) is not dict:
        raise _Malformed("entry", "an object")
    uid = entry["uid"]
    paths = entry["paths"]
    if type(uid) is not str:
        raise _Malformed("uid", "a string")
    if type(paths) is not list:
        raise _Malformed("paths", "a list")
    return uid, paths


def _select_entry(
    selection: EgoExoSelection, chosen: Chosen, entry: dict[str, Any], general: bool
) -> None:
    uid, paths = _uid_and_paths(entry)
    if selection.benchmarks and entry.get("benchmarks"):
        chosen.benchmarks.update(_strings(entry["benchmarks"], "benchmarks") or ())
    for path in paths:
        if type(path) is not dict:
            raise _Malformed("paths", "a list of objects")
        if selection.universities:
            chosen.universities.update(_strings(path.get("universities"), "universities") or ())
    if selection.uids and uid in selection.uids:
        chosen.found_uids.add(uid)
    if not _wanted_by_uid(selection.uids, uid, general):
        return
    if not _matches(selection.benchmarks, entry.get("benchmarks"), "benchmarks"):
        return
    if not _matches(selection.splits, entry.get("splits"), "splits"):
        return
    for path in paths:
        if _matches(selection.views, path.get("views"), "views") and _matches(
            selection.universities, path.get("universities"), "universities"
        ):
            _add(chosen, path)


def _add(chosen: Chosen, path: dict[str, Any]) -> None:
    source = path.get("source_path")
    if type(source) is not str:
        raise _Malformed("paths.source_path", "a string")
    relative = path.get("relative_path")
    if type(relative) is not str:
        raise _Malformed("paths.relative_path", "a string")
    size = path.get("size")
    if size is not None and (type(size) is not int or size < 0):
        raise _Malformed("paths.size", "a whole number of bytes or null")
    try:
        dest = safe_relative_path(relative)
    except UnsafePathError as exc:
        chosen.refused.append((source, str(exc)))
        return
    checksum = path.get("checksum")
    md5 = sha256 = None
    if checksum:
        if type(checksum) is not str:
            raise _Malformed("paths.checksum", "a string or null")
        md5 = checksum.lower() if _MD5.match(checksum) else None
        sha256 = checksum.lower() if _SHA256.match(checksum) else None
    chosen.files.append((source, dest, size, md5, sha256))


def manifest_uri(selection: EgoExoSelection, part: str) -> str:
    return f"{selection.base_uri}{selection.release}/{part}/manifest.json"


def manifest_file(selection: EgoExoSelection, part: str) -> RemoteFile:
    # Kept with egoget's state, as its record of what the plan was made from.
    return RemoteFile(
        uri=manifest_uri(selection, part),
        dest=state_path(f".egoget/manifests/egoexo/{selection.release}/{part}/manifest.json"),
    )


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
    selected = select_files(
        selection,
        [(part, paths[file.dest]) for part, file in wanted.items()],
        fetcher.kept_file("selections/egoexo"),
        keep=not config.dry_run,
    )
    refused = selected.refused
    notes = []
    if selection.uids:
        missing = sorted(selection.uids - selected.found_uids)
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
    return PlannedRun(Plan(selected.files).share(config.this_shard), refused, notes)


def describe() -> list[tuple[str, list[str]]]:
    return [
        ("releases", [f"{DEFAULT_RELEASE} (default)"]),
        ("default parts", list(DEFAULT_PARTS)),
        ("more parts (all = default + these)", list(EXTRA_PARTS)),
        ("benchmarks", list(BENCHMARKS)),
        ("splits", list(SPLITS)),
        ("views", list(VIEWS)),
    ]
