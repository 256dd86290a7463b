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
import tarfile
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .constants import PART_SUFFIX
from .errors import DiskFullError, EgogetError, Interrupted, ManifestError, UnsafePathError
from .paths import SafeRelPath, destination_inside, safe_relative_path
from .steps import StartProgress, StepOutcome


@dataclass(frozen=True)
class Unpack:
    archive: SafeRelPath
    into: SafeRelPath
    # The archive's own top folder (e.g. EgoSchema's good_clips_git/), dropped from names.
    strip_prefix: str = ""

    def run(
        self, output: Path, cancelled: threading.Event, start_progress: StartProgress
    ) -> StepOutcome:
        done = unpack(output, self, cancelled)
        return StepOutcome(
            f"unpacked {self.archive} into {self.into}/: {done.written} files written, "
            f"{done.skipped} already there",
            done.refused,
        )


@dataclass
class UnpackResult:
    written: int = 0
    skipped: int = 0
    refused: list[tuple[str, EgogetError]] = field(default_factory=list)


def unpack(output: Path, step: Unpack, cancelled: threading.Event) -> UnpackResult:
    result = UnpackResult()
    archive = output / step.archive
    try:
        with tarfile.open(archive, mode="r|*") as stream:
            for member in stream:
                if cancelled.is_set():
                    raise Interrupted("interrupted while unpacking; rerun to continue")
                if member.isdir():
                    continue
                name = member.name.removeprefix("./").removeprefix(step.strip_prefix)
                if not member.isfile():
                    kind = "link" if member.issym() or member.islnk() else "special file"
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
                source = stream.extractfile(member)
                assert source is not None  # a regular file always has content
                dest.parent.mkdir(parents=True, exist_ok=True)
                part = dest.with_name(dest.name + PART_SUFFIX)
                with open(part, "wb") as target:
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
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise _unreadable(step, archive, exc) from exc
    return result


def _unreadable(step: Unpack, archive: Path, exc: BaseException) -> ManifestError:
    return ManifestError(
        f"{step.archive} is not a readable archive ({exc})",
        hint=f"delete {archive} and rerun to fetch it again",
    )
