"""The plan for `egoget fetch`: explicit S3 objects and prefixes, URLs, or a list file of them.

A list file has one entry per line: ``URI`` or ``URI<whitespace>DEST`` (a relative destination);
blank lines and lines starting with ``#`` are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..config import FetchConfig
from ..errors import EgogetError, ManifestError, UnsafePathError, UsageError
from ..model import Plan, RemoteFile
from ..paths import safe_relative_path
from ..sources import SourceRegistry, scheme_of


def read_list_file(path: Path) -> list[tuple[str, str | None]]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read the list file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"the list file {path} is not UTF-8 text") from exc
    entries: list[tuple[str, str | None]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        uri, _, dest = line.partition("\t") if "\t" in line else line.partition(" ")
        entries.append((uri.strip(), dest.strip() or None))
    return entries


def _default_name(uri: str) -> str:
    return unquote(urlsplit(uri).path.rsplit("/", 1)[-1])


Refusal = tuple[str, EgogetError]  # the entry's URI and why it was refused


def fetch_entries(config: FetchConfig) -> list[tuple[str, str | None]]:
    """The URIs of `egoget fetch`: the arguments, then the list file's lines."""
    entries: list[tuple[str, str | None]] = [(uri, None) for uri in config.uris]
    if config.from_file is not None:
        entries += read_list_file(config.from_file)
    if not entries:
        raise UsageError("nothing to fetch", hint="give URIs as arguments or --from-file LIST")
    return entries


def plan_uris(
    entries: Iterable[tuple[str, str | None]], registry: SourceRegistry
) -> tuple[Plan, list[Refusal]]:
    """Expand prefixes by listing; return the plan and the entries refused, each with why."""
    files: list[RemoteFile] = []
    refused: list[Refusal] = []
    for uri, dest in entries:
        if uri.startswith("gdrive:") or "google.com/" in uri:
            from ..sources import gdrive

            uri = gdrive.drive_link(uri) or uri
            if uri.startswith("gdrive:"):
                _add_drive(files, refused, uri, dest, registry)
                continue
        scheme = scheme_of(uri)
        if scheme == "s3" and uri.endswith("/"):
            prefix_len = len(uri)
            for object_uri, stat in registry.for_uri(uri).list(uri):
                relative = object_uri[prefix_len:]
                if relative.endswith("/"):
                    continue  # folder placeholder objects
                name = f"{dest.rstrip('/')}/{relative}" if dest else relative
                _add(files, refused, object_uri, name, stat.size, stat.etag)
            continue
        registry.for_uri(uri)  # unknown schemes fail here, before anything is fetched
        _add(files, refused, uri, dest or _default_name(uri), None, None)

    unique: dict[str, RemoteFile] = {}
    for file in files:
        first = unique.setdefault(file.dest, file)
        if first is not file:
            shown = registry.for_uri(first.uri).redact(first.uri)
            refused.append((file.uri, ManifestError(f"{file.dest} is already the name of {shown}")))
    return Plan(list(unique.values())), refused


def _add_drive(
    files: list[RemoteFile],
    refused: list[Refusal],
    uri: str,
    dest: str | None,
    registry: SourceRegistry,
) -> None:
    """A Drive file (named by Drive unless ``dest`` names it) or, for ``gdrive://ID/``, every
    file in the folder under its path there."""
    from ..sources import gdrive

    source = registry.for_uri(uri)
    assert isinstance(source, gdrive.DriveSource)
    if uri.endswith("/"):
        folder_id = gdrive.file_id_of(uri)
        for file_id, path in source.list_folder(folder_id):
            name = f"{dest.rstrip('/')}/{path}" if dest else path
            _add(files, refused, gdrive.drive_uri(file_id), name, None, None)
        return
    _add(files, refused, uri, dest or source.file_name(uri), None, None)


def _add(
    files: list[RemoteFile],
    refused: list[Refusal],
    uri: str,
    name: str,
    size: int | None,
    etag: str | None,
) -> None:
    try:
        dest = safe_relative_path(name)
    except UnsafePathError as exc:
        refused.append((uri, exc))
        return
    files.append(RemoteFile(uri=uri, dest=dest, size=size, etag=etag))
