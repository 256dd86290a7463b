"""The file record a million-file plan is made of."""

from __future__ import annotations

import dataclasses

import pytest

from egoget.model import RemoteFile
from egoget.paths import safe_relative_path


def test_a_listed_file_is_the_file_the_dataclass_makes_and_as_frozen() -> None:
    dest = safe_relative_path("takes/a/cam01.mp4")
    tags = {"part": "takes"}
    listed = RemoteFile.listed("s3://b/k", dest, 12, "0" * 32, None, tags)
    made = RemoteFile("s3://b/k", dest, 12, md5="0" * 32, tags=tags)
    # Every field compared, those listed() leaves empty included: a field added to the class
    # and not to listed() is missing here, and this fails.
    assert dataclasses.astuple(listed) == dataclasses.astuple(made)
    assert listed == made
    with pytest.raises(dataclasses.FrozenInstanceError):
        listed.size = 13  # type: ignore[misc]
