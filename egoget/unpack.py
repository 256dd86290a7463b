"""Unpacking a downloaded archive into the output directory, safely and resumably.

Each member is written to ``<name>.egoget-part`` and renamed when complete, so a kill leaves no
half file under a final name; a member already present with its size is skipped, so a rerun
picks up where the last one stopped. Only regular files are unpacked; a name that would leave
the target directory, and links of any kind, are refused and named.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from .constants import PART_SUFFIX
from .errors import DiskFullError, EgogetError, Interrupted, ManifestError, UnsafePathError
from .model import StartProgress, StepOutcome
from .paths import SafeRelPath, destination_inside, safe_relative_path


@dataclass(frozen=True)
class Unpack:
    archive: SafeRelPath
    into: SafeRelPath
    # The archive's own top folder (e.g. EgoSchema's good_clips_git/), dropped from names.
    strip_prefix: str = ""
    # For an archive whose folders are not known: only members with this ending (lower case;
    # matched in any case), each placed by its file name alone; the others stay in it.
    by_file_name: str = ""

    def run(
        self, output: Path, cancelled: threading.Event, start_progress: StartProgress
    ) -> StepOutcome:
        done = unpack(output, self, cancelled)
        left = f"; {done.left_in_archive} other members left in it" if done.left_in_archive else ""
        if self.by_file_name and not done.written + done.skipped:
            error = ManifestError(
                f"{self.archive} holds no *{self.by_file_name} file",
                hint=f"look inside it (it is kept) and unpack it by hand into {self.into}/",
            )
            done.refused.append((str(self.archive), error))
        return StepOutcome(
            f"unpacked {self.archive} into {self.into}/: {done.written} files written, "
            f"{done.skipped} already there{left}",
            done.refused,
        )


@dataclass
class UnpackResult:
    written: int = 0
    skipped: int = 0
    left_in_archive: int = 0
    refused: list[tuple[str, EgogetError]] = field(default_factory=list)


@dataclass
class _Member:
    name: str
    # "file", "dir", "link" or "special"
    kind: str
    size: int
    open: Callable[[], IO[bytes] | None]


def _tar_members(archive: Path) -> Iterator[_Member]:
    # Streamed: a .tar.gz is read once, front to back, whatever its size.
    with tarfile.open(archive, mode="r|*") as stream:
        for member in stream:
            kind = (
                "file" if member.isfile()
                else "dir" if member.isdir()
                else "link" if member.issym() or member.islnk()
                else "special"
            )  # fmt: skip
            yield _Member(member.name, kind, member.size, partial(stream.extractfile, member))


def _zip_members(archive: Path) -> Iterator[_Member]:
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            # Unix zippers store the file type in the high bits; others store none (0).
            file_type = stat.S_IFMT(info.external_attr >> 16)
            kind = (
                "dir" if info.is_dir()
                else "link" if file_type == stat.S_IFLNK
                else "file" if file_type in (0, stat.S_IFREG)
                else "special"
            )  # fmt: skip
            yield _Member(info.filename, kind, info.file_size, partial(bundle.open, info))


def unpack(output: Path, step: Unpack, cancelled: threading.Event) -> UnpackResult:
    """Unpack a .tar(.gz/.bz2/.xz) or .zip archive (told apart by content, not name)."""
    result = UnpackResult()
    archive = output / step.archive
    placed: dict[str, str] = {}  # by_file_name: each name placed, and the member it came from
    try:
        members = _zip_members(archive) if zipfile.is_zipfile(archive) else _tar_members(archive)
        for member in members:
            if cancelled.is_set():
                raise Interrupted("interrupted while unpacking; rerun to continue")
            if member.kind == "dir":
                continue
            name = member.name.removeprefix("./").removeprefix(step.strip_prefix)
            if step.by_file_name:
                folder, _, name = name.rpartition("/")
                # macOS zippers add AppleDouble twins (__MACOSX/.../._x.mp4): never data.
                if not name.lower().endswith(step.by_file_name) or _apple_double(folder, name):
                    result.left_in_archive += 1
                    continue
                if name in placed:
                    error = ManifestError(
                        f"{archive.name}: {member.name!r} has the same file name as "
                        f"{placed[name]!r}; the first is kept in {step.into}/"
                    )
                    result.refused.append((member.name, error))
                    continue
                placed[name] = member.name
            if member.kind != "file":
                kind = "link" if member.kind == "link" else "special file"
                error = UnsafePathError(f"{archive.name}: refusing {kind} {member.name!r}")
                result.refused.append((member.name, error))
                continue
            try:
                dest = destination_inside(output, safe_relative_path(f"{step.into}/{name}"))
            except UnsafePathError as exc:
                result.refused.append((member.name, exc))
                continue
            if dest.is_file() and dest.stat().st_size == member.size:
                result.skipped += 1
                continue
            source = member.open()
            assert source is not None  # a regular file always has content
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(dest.name + PART_SUFFIX)
            with source, open(part, "wb") as target:
                shutil.copyfileobj(source, target, 1024 * 1024)
            os.replace(part, dest)
            result.written += 1
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"no space left on {output} while unpacking {step.archive}",
                hint="free space and rerun: members already unpacked are kept",
            ) from exc
        if exc.errno is not None:
            raise EgogetError(f"cannot unpack {step.archive}: {exc.strerror}") from exc
        raise _unreadable(step, archive, exc) from exc
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise _unreadable(step, archive, exc) from exc
    return result


def _apple_double(folder: str, name: str) -> bool:
    return name.startswith("._") or folder.split("/", 1)[0] == "__MACOSX"


def _unreadable(step: Unpack, archive: Path, exc: BaseException) -> ManifestError:
    return ManifestError(
        f"{step.archive} is not a readable archive ({exc})",
        hint=f"delete {archive} and rerun to fetch it again",
    )
