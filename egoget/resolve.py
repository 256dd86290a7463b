"""Sizes and ETags for a plan: one listing per folder instead of a request per object.

A manifest names objects but not their sizes. Listing each folder they live in (1,000 keys per
request) answers for thousands of objects at once; where listing is denied, bounded parallel
one-byte GETs answer instead. Objects the remote does not have, or refuses, are reported with
the reason and never silently dropped.

A listing is a chain of pages, each asking for the next: one folder of a million keys is a
thousand round trips in a row. So folders are listed side by side, and a large folder in key
ranges side by side too, cut at the planned keys themselves (``start-after`` one range's last
key, stop past the next's), since the manifest already says which keys to expect.
"""

from __future__ import annotations

import posixpath
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from .constants import LIST_INSTEAD_OF_HEAD_MIN_KEYS, LISTING_RANGE_MIN_KEYS, MAX_LISTINGS
from .errors import (
    RUN_FATAL_ERRORS,
    AccessDeniedError,
    EgogetError,
    ExpiredLinkError,
    NotFoundError,
)
from .model import RemoteFile
from .sources import SourceRegistry, scheme_of
from .sources.base import RemoteStat


@dataclass
class Resolution:
    files: list[RemoteFile] = field(default_factory=list)
    missing: list[tuple[RemoteFile, EgogetError]] = field(default_factory=list)
    denied: list[tuple[RemoteFile, EgogetError]] = field(default_factory=list)


def resolve_sizes(
    files: list[RemoteFile],
    registry: SourceRegistry,
    procs: int,
) -> Resolution:
    """Fill in size and ETag for every file that lacks them."""
    result = Resolution()
    groups: dict[str, list[RemoteFile]] = defaultdict(list)
    for file in files:
        if file.size is not None and file.etag is not None:
            result.files.append(file)
        elif scheme_of(file.uri) == "s3":
            groups[posixpath.dirname(file.uri) + "/"].append(file)
        else:
            groups[""].append(file)  # HTTP: nothing to list
    listed = {
        prefix: members
        for prefix, members in groups.items()
        if prefix and len(members) >= LIST_INSTEAD_OF_HEAD_MIN_KEYS
    }
    ranges = {prefix: _key_ranges(prefix, members) for prefix, members in listed.items()}
    folder_stats = _list_folders(ranges, registry, procs)
    for prefix, members in sorted(groups.items()):
        stats = folder_stats.get(prefix)
        if stats is None:
            _stat_each(members, registry, procs, result)
            continue
        unlisted = []
        for file in members:
            stat = stats.get(file.uri)
            if stat is not None:
                result.files.append(_with_stat(file, stat))
            elif len(ranges[prefix]) > 1:
                unlisted.append(file)
            else:
                result.missing.append((file, NotFoundError(f"{file.uri} does not exist")))
        # Absent from a listing in ranges: asked for one by one, in case a store orders its
        # keys otherwise than S3 (whose order the ranges rely on).
        if unlisted:
            _stat_each(unlisted, registry, procs, result)
    return result


@dataclass(frozen=True)
class _KeyRange:
    """The keys of ``prefix`` past ``after`` up to ``last`` (None: to the end)."""

    prefix: str
    after: str | None
    last: str | None


def _key_ranges(prefix: str, members: list[RemoteFile]) -> list[_KeyRange]:
    """A folder cut into ranges of about LISTING_RANGE_MIN_KEYS planned keys each. Python
    orders str by code point, as S3 orders keys by their UTF-8 bytes."""
    keys = sorted({file.uri for file in members})
    count = max(1, len(keys) // LISTING_RANGE_MIN_KEYS)
    bounds = [keys[len(keys) * i // count - 1] for i in range(1, count)]
    starts: list[str | None] = [None, *bounds]
    ends: list[str | None] = [*bounds, None]
    return [_KeyRange(prefix, a, b) for a, b in zip(starts, ends, strict=True)]


def _list_folders(
    folders: dict[str, list[_KeyRange]], registry: SourceRegistry, procs: int
) -> dict[str, dict[str, RemoteStat]]:
    """Every object of each folder, its ranges listed side by side; a folder whose listing is
    refused is left out (its files fall back to GETs). The first error stops the rest."""
    ranges = [key_range for prefix_ranges in folders.values() for key_range in prefix_ranges]
    stats: dict[str, dict[str, RemoteStat]] = {prefix: {} for prefix in folders}
    refused: set[str] = set()
    pool = ThreadPoolExecutor(max(1, min(procs, MAX_LISTINGS, len(ranges))))
    try:
        futures = {pool.submit(_list_range, r, registry): r for r in ranges}
        for future in as_completed(futures):
            listing = future.result()
            if listing is None:
                refused.add(futures[future].prefix)
            else:
                stats[futures[future].prefix].update(listing)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return {prefix: found for prefix, found in stats.items() if prefix not in refused}


def _list_range(key_range: _KeyRange, registry: SourceRegistry) -> dict[str, RemoteStat] | None:
    """The objects of one key range; None when listing is refused."""
    stats: dict[str, RemoteStat] = {}
    try:
        for uri, stat in registry.for_uri(key_range.prefix).list(key_range.prefix, key_range.after):
            stats[uri] = stat
            if key_range.last is not None and uri >= key_range.last:
                break
    except AccessDeniedError:
        return None
    return stats


def _stat_each(
    files: list[RemoteFile], registry: SourceRegistry, procs: int, result: Resolution
) -> None:
    def stat(file: RemoteFile) -> tuple[RemoteFile, RemoteStat | EgogetError]:
        try:
            return file, registry.for_uri(file.uri).stat(file.uri)
        except RUN_FATAL_ERRORS:
            raise  # bad credentials or an unreachable server doom the whole run
        except (NotFoundError, AccessDeniedError) as exc:
            return file, exc
        except EgogetError as exc:
            # Left for the engine, which retries; the plan just lacks this size for now.
            return file, exc

    with ThreadPoolExecutor(max(1, min(procs, 32))) as pool:
        for file, answer in pool.map(stat, files):
            if isinstance(answer, RemoteStat):
                result.files.append(_with_stat(file, answer))
            elif isinstance(answer, NotFoundError):
                result.missing.append((file, answer))
            elif isinstance(answer, AccessDeniedError):
                result.denied.append((file, answer))
            else:
                result.files.append(file)


def _with_stat(file: RemoteFile, stat: RemoteStat) -> RemoteFile:
    # Made, not replace()d: a million-object listing called this a million times (5 vs 1.7 us).
    return RemoteFile(
        file.uri,
        file.dest,
        stat.size,
        stat.etag,
        stat.version_id or file.version_id,
        file.md5,
        file.sha256,
        file.tags,
    )


def check_link_expiry(files: list[RemoteFile], registry: SourceRegistry) -> None:
    """Expired links are caught before the first request: every one would fail with 403."""
    now = time.time()
    expired = []
    for file in files:
        expiry = registry.for_uri(file.uri).expires_at(file.uri)
        if expiry is not None and expiry <= now:
            expired.append((expiry, file))
    if not expired:
        return
    expiry, file = min(expired, key=lambda pair: pair[0])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expiry))
    raise ExpiredLinkError(
        f"{len(expired)} of {len(files)} links have expired; the earliest, for {file.dest}, "
        f"expired at {when} ({(now - expiry) / 3600:.1f} hours ago)",
        hint="presigned links are valid for a limited time: get a fresh list of links from the "
        "dataset's source and run again (finished files are kept)",
    )
