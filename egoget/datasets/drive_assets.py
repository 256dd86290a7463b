"""Named files on Google Drive (EgoClip, EgoMCQ, EgoVLP weights and features, ...), each placed
where the code that consumes it looks for it.

Paths follow the consumers' READMEs: an EgoVLP checkout reads ``dataset/egoclip.csv``,
``dataset/egomcq.json`` and ``pretrained/egovlp.pth``; Ego2Exo reads ``metadata/ego2exo.json``.
Features are kept as the archives Drive serves. A size or MD5 given here is checked on
download; Drive's own answers give the size of the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import EgogetError, UnsafePathError
from ..model import RemoteFile
from ..paths import safe_relative_path
from ..sources import SourceRegistry


@dataclass(frozen=True)
class DriveAsset:
    part: str
    drive_id: str
    # A file's path, or for a Drive folder the directory (ending in /) its files go under.
    dest: str
    description: str
    size: int | None = None
    md5: str | None = None

    @property
    def is_folder(self) -> bool:
        return self.dest.endswith("/")


EGO2EXO_METADATA = DriveAsset(
    "metadata",
    "1pe4F8zYSfA-VYvx296opzHpggrzV-jYE",
    "metadata/ego2exo.json",
    "Ego2Exo metadata (~64 MB; also on Hugging Face, Tarun23/Ego2Exo)",
)

SOCIAL_CHECKPOINTS = DriveAsset(
    "checkpoints",
    "1MGrhm3J1dKoWPSL3RvC3qb3QeiIqe9vi",
    "checkpoints/",
    "Ego4D social (Looking-at-me / Talking-to-me) baseline checkpoints (Drive folder)",
)


def asset_files(
    assets: list[DriveAsset], registry: SourceRegistry
) -> tuple[list[RemoteFile], list[tuple[str, EgogetError]]]:
    """The files of these assets; a folder is listed on Drive (one request per folder)."""
    from ..sources.gdrive import drive_folder, drive_uri  # requests loads only when needed

    files: list[RemoteFile] = []
    refused: list[tuple[str, EgogetError]] = []
    for asset in assets:
        tags = {"part": asset.part}
        if not asset.is_folder:
            dest = safe_relative_path(asset.dest)
            uri = drive_uri(asset.drive_id)
            files.append(RemoteFile(uri, dest, asset.size, md5=asset.md5, tags=tags))
            continue
        for file_id, path in drive_folder(registry, asset.drive_id):
            try:
                dest = safe_relative_path(asset.dest + path)
            except UnsafePathError as exc:
                refused.append((drive_uri(file_id), exc))
                continue
            files.append(RemoteFile(drive_uri(file_id), dest, tags=tags))
    return files, refused
