"""One run per output directory: an advisory lock the kernel drops when the holder dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .constants import LOCK_FILE_NAME
from .errors import LockedError, UsageError


def unwritable_output(path: Path, exc: OSError) -> UsageError:
    """An output directory egoget may not write into (read-only filesystem, permissions)."""
    return UsageError(
        f"cannot write to the output directory {path}: {exc.strerror}",
        hint="choose a writable --output directory (a read-only mount, or one owned by another "
        "user, cannot hold the download)",
    )


class OutputLock:
    def __init__(self, state_dir: Path):
        self._path = state_dir / LOCK_FILE_NAME
        self._fd: int | None = None

    def acquire(self, wait: bool = False) -> None:
        """``wait``: for a directory runs share (the manifest cache), take turns instead of
        refusing the second one."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise unwritable_output(self._path.parent.parent, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"another egoget run (pid {holder}) is writing to {self._path.parent.parent}",
                hint="wait for it to finish, or give this run a different --output directory",
            ) from None
        # A lock left by a killed run is no obstacle: flock dies with its process.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
