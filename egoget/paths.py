"""Safe relative paths: every remote-provided name passes through here before touching the disk.

A ``SafeRelPath`` can only be made by :func:`safe_relative_path`, so the type checker proves a
name was validated before :func:`destination_inside` joins it to the output directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NewType

from .errors import UnsafePathError

SafeRelPath = NewType("SafeRelPath", str)

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_RESERVED_COMPONENTS = {"", ".", ".."}
# Names that pass every rule below at a glance: components of letters, digits, "_", "-" and
# ".", none starting with "." (so no "", ".", ".." or ".egoget"). A million-file manifest's
# names are all like this; the others take the careful way, which names the rule broken.
_PLAIN_NAME = re.compile(r"[\w-][\w.-]*(?:/[\w-][\w.-]*)*", re.ASCII)


def safe_relative_path(name: str) -> SafeRelPath:
    """Validate a remote-provided relative file name; refuse anything that could escape."""
    if _PLAIN_NAME.fullmatch(name):
        return SafeRelPath(name)
    shown = name.encode("unicode_escape").decode("ascii")
    if _CONTROL_CHARS.search(name):
        raise UnsafePathError(f"refusing file name with a control character: {shown!r}")
    if "\\" in name:
        raise UnsafePathError(f"refusing file name with a backslash: {shown!r}")
    if name.startswith("/") or _DRIVE_LETTER.match(name):
        raise UnsafePathError(f"refusing absolute file name: {shown!r}")
    parts = name.split("/")
    if any(part in _RESERVED_COMPONENTS for part in parts):
        raise UnsafePathError(f"refusing file name with an empty, '.' or '..' component: {shown!r}")
    if parts[0] == ".egoget":
        raise UnsafePathError(f"refusing file name inside egoget's state directory: {shown!r}")
    return SafeRelPath(name)


# egoget's own files kept with the rest of its state: copies of the manifests a plan was made
# from. Never the ledger or the lock, and never a name a remote chose.
STATE_CACHE_PREFIX = ".egoget/manifests/"


def state_path(name: str) -> SafeRelPath:
    """A name egoget makes for a file of its own under OUTPUT/.egoget/manifests/."""
    if not name.startswith(STATE_CACHE_PREFIX):
        raise UnsafePathError(f"not a name under {STATE_CACHE_PREFIX}: {name!r}")
    safe_relative_path(name.removeprefix(".egoget/"))  # the rest obeys the usual rules
    return SafeRelPath(name)


def destination_inside(root: Path, rel: SafeRelPath) -> Path:
    """Join a validated name to ``root``; refuse if a planted symlink would lead outside it."""
    real_root = Path(os.path.realpath(root))
    dest = real_root / rel
    parent = Path(os.path.realpath(dest.parent))
    if parent != real_root and real_root not in parent.parents:
        raise UnsafePathError(
            f"refusing to write {rel!r}: its folder resolves outside the output directory "
            f"(through a symlink) to {parent}"
        )
    return dest
