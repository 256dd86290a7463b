"""EgoSchema: 5,031 three-minute clips behind presigned links, and offline scoring.

``uid_to_url.json`` maps each question uid to a presigned URL (Wasabi, S3-style); the clip
lands at ``<out>/videos/<q_uid>.mp4``. Expiry is read from the links before any request (the
run layer refuses expired ones), and a link that goes stale mid-run fails only its own file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..config import EgoSchemaConfig
from ..errors import (
    AuthError,
    EgogetError,
    ManifestError,
    TransferError,
    UnreachableError,
    UnsafePathError,
    UsageError,
)
from ..model import SIDE_FILE_TAG, FinishingStep, Plan, PlannedRun, RemoteFile
from ..paths import safe_relative_path
from ..resolve import check_link_expiry
from ..sources import SourceRegistry
from ..unpack import Unpack
from ..userfiles import read_json, read_json_object
from . import Fetcher
from .choices import check_choices

ANSWER_CHOICES = range(5)
# The benchmark's own files beside the clips: a failure of one fails the run at its end, never
# the clips (the engine reads this tag).
SIDE_FILE = {"part": "metadata", SIDE_FILE_TAG: "yes"}
DRIVE_FOLDER_ID = "1SS0VVz8rML1e5gWq7D7VtP1oxE2UtmhQ"
METADATA_FILES = ("questions.json", "subset_answers.json", "uid_to_ego4d.json")
# Routes to the clips, in the order tried by default.
ROUTES = {
    "kaggle": "the egoschema-public competition's archive from Kaggle (API token, rules accepted "
    "once), unpacked into videos/",
    "urls": "presigned Wasabi links from uid_to_url.json",
    "drive-archive": "videos.tar.gz from the benchmark's Drive folder, unpacked into videos/",
    "drive-ids": "one Google Drive file per clip, ids from questions.json",
    "huggingface": "the five zip archives of the public lmms-lab/egoschema dataset on Hugging "
    "Face (~105 GB), unpacked into videos/",
}
# The default order: Kaggle where the user has a token (upstream's README: "the most optimal
# way"), presigned links (the official route), then Hugging Face (a CDN with no per-file
# quota), then Drive, whose "too many users" quota hits big files most.
DEFAULT_ROUTES = ("urls", "huggingface", "drive-archive", "drive-ids")
KAGGLE_COMPETITION = "egoschema-public"
HF_ARCHIVES = tuple(f"videos_chunked_{i:02d}.zip" for i in range(1, 6))
# Where the archives are kept, and their top folder (its clips belong in videos/).
HF_ARCHIVE_DIR = "archives"
HF_TOP_FOLDER = "videos/"
ARCHIVE_NAME = "videos.tar.gz"
# The archive's top folder; its clips belong in videos/.
ARCHIVE_TOP_FOLDER = "good_clips_git/"
_DRIVE_ID = re.compile(r"^[-\w]{10,}$")
# q_uids are UUIDs in the released files; anything else is refused before it becomes a path.
_Q_UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def read_uid_to_url(path: Path) -> tuple[list[RemoteFile], list[tuple[str, EgogetError]]]:
    mapping = read_json_object(path, "the URL map", ManifestError)
    files: list[RemoteFile] = []
    refused: list[tuple[str, EgogetError]] = []
    for q_uid, url in mapping.items():
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            refused.append((str(url), ManifestError(f"{q_uid!r}: not an http(s) URL")))
            continue
        if not _Q_UID.match(q_uid):
            shown = q_uid.encode("unicode_escape").decode("ascii")
            refused.append((url, UnsafePathError(f"refusing question uid {shown!r} as a name")))
            continue
        files.append(RemoteFile(uri=url, dest=safe_relative_path(f"videos/{q_uid}.mp4"), tags={}))
    if not files and not refused:
        raise ManifestError(f"the URL map {path} is empty")
    return files, refused


def read_questions(path: Path) -> tuple[list[RemoteFile], list[tuple[str, EgogetError]]]:
    """The per-video Drive route: each question's ``google_drive_id`` -> videos/<q_uid>.mp4."""
    from ..sources.gdrive import drive_uri

    questions = read_json(path, "the questions file")
    if not isinstance(questions, list):
        raise ManifestError(f"{path} is not a list of questions")
    files: list[RemoteFile] = []
    refused: list[tuple[str, EgogetError]] = []
    for entry in questions:
        q_uid = entry.get("q_uid") if isinstance(entry, dict) else None
        drive_id = entry.get("google_drive_id") if isinstance(entry, dict) else None
        if not isinstance(q_uid, str) or not isinstance(drive_id, str):
            refused.append((str(entry)[:80], ManifestError("no q_uid or google_drive_id")))
            continue
        if not _Q_UID.match(q_uid) or not _DRIVE_ID.match(drive_id):
            shown = q_uid.encode("unicode_escape").decode("ascii")
            refused.append((drive_id, UnsafePathError(f"refusing question {shown!r}")))
            continue
        dest = safe_relative_path(f"videos/{q_uid}.mp4")
        files.append(RemoteFile(uri=drive_uri(drive_id), dest=dest))
    return files, refused


def plan_run(config: EgoSchemaConfig, registry: SourceRegistry, fetcher: Fetcher) -> PlannedRun:
    """The clips by the first route that can be planned, and the metadata beside them.

    Local facts come first: a map given by the user is read, and its links' expiry checked,
    before any request. The metadata files are side files: fetched in the same run as the
    clips, their failure named at the end (exit 1), never a reason to fetch no clip. Only the
    drive-ids route needs one (questions.json) to plan, and is skipped with a note without it.
    """
    notes: list[str] = []
    routes = config.source or (["urls"] if config.uid_to_url else default_routes(notes))
    check_choices("source", routes, ROUTES)
    user_map = None
    if config.uid_to_url is not None and "urls" in routes:
        user_map = read_uid_to_url(config.uid_to_url)
        check_link_expiry(user_map[0], registry)
    base = config.metadata_url.rstrip("/") + "/"
    metadata = {
        name: RemoteFile(uri=base + name, dest=safe_relative_path(name), tags=SIDE_FILE)
        for name in METADATA_FILES
    }
    refused: list[tuple[str, EgogetError]]
    for position, route in enumerate(routes):
        try:
            finishing: list[FinishingStep] = []
            if route == "kaggle":
                files, refused = [_kaggle_archive(config, registry)], []
                into = safe_relative_path("videos")
                # What the archive holds is not published: every clip, by its file name.
                finishing = [Unpack(files[0].dest, into, by_file_name=".mp4")]
            elif route == "urls":
                files, refused = user_map or read_uid_to_url(
                    _uid_to_url_path(config, registry, fetcher)
                )
                check_link_expiry(files, registry)
            elif route == "huggingface":
                files, refused = _hf_archives(config, registry), []
                into = safe_relative_path("videos")
                finishing = [Unpack(f.dest, into, strip_prefix=HF_TOP_FOLDER) for f in files]
            elif route == "drive-archive":
                files, refused = [_drive_folder_file(registry, ARCHIVE_NAME)], []
                into = safe_relative_path("videos")
                finishing = [Unpack(files[0].dest, into, strip_prefix=ARCHIVE_TOP_FOLDER)]
            else:
                questions = metadata["questions.json"]
                files, refused = read_questions(fetcher.fetch([questions])[questions.dest])
        except (AuthError, TransferError, ManifestError, UnreachableError) as exc:
            if position == len(routes) - 1:
                raise
            notes.append(f"route {route} unavailable: {exc.message}; trying {routes[position + 1]}")
            continue
        notes.append(f"clips by route {route}: {ROUTES[route]}")
        if config.metadata:
            files = [*files, *metadata.values()]
        fallback = None
        if route == "urls" and (not config.source or "drive-ids" in config.source):
            fallback = DriveIdFallback()
        return PlannedRun(
            Plan(files).share(config.this_shard), refused, notes, finishing, fallback=fallback
        )
    raise AssertionError("unreachable: the last route raises")


class DriveIdFallback:
    """Clips whose presigned link failed (stale, denied) fetched again in the same run by their
    Drive ids, read from the questions.json this run (or an earlier one) put in the output."""

    def replacements(
        self, output: Path, failed: Sequence[str]
    ) -> tuple[list[RemoteFile], str | None]:
        clips = [dest for dest in failed if dest.startswith("videos/")]
        if not clips:
            return [], None
        said = f"{len(clips)} {'clip' if len(clips) == 1 else 'clips'} failed on route urls"
        questions = output / "questions.json"
        if not questions.is_file():
            return [], f"{said}; questions.json is missing, so their Drive ids are unknown"
        try:
            by_dest = {str(file.dest): file for file in read_questions(questions)[0]}
        except ManifestError as exc:
            return [], f"{said}; their Drive ids are unknown: {exc.message}"
        found = [by_dest[dest] for dest in clips if dest in by_dest]
        if not found:
            return [], f"{said}; questions.json gives none of them a Drive id"
        return found, f"{said}; trying {len(found)} of them by Drive id (route drive-ids)"


def default_routes(notes: list[str]) -> list[str]:
    """The routes tried when none is named: Kaggle first when a token is found. A Kaggle
    setup that cannot be read is a note here, not a failure: the user did not ask for it."""
    from ..sources.kaggle import find_credentials

    try:
        kaggle = ["kaggle"] if find_credentials() else []
    except AuthError as exc:
        notes.append(f"route kaggle skipped: {exc.message}")
        kaggle = []
    return kaggle + list(DEFAULT_ROUTES)


def describe() -> list[tuple[str, list[str]]]:
    return [
        ("routes to the clips (--source), tried in this order", [
            f"{name}: {ROUTES[name]}" + (" (first when a Kaggle token is found)"
                                         if name == "kaggle" else "")
            for name in ("kaggle", *DEFAULT_ROUTES)]),
        ("metadata", list(METADATA_FILES)),
        ("layout", ["videos/<q_uid>.mp4"]),
    ]  # fmt: skip


def _hf_archives(config: EgoSchemaConfig, registry: SourceRegistry) -> list[RemoteFile]:
    """The Hugging Face archives, sized now: a mirror that does not answer fails the route
    while planning, so the next route is tried instead."""
    base = config.hf_url.rstrip("/") + "/"
    files = []
    for name in HF_ARCHIVES:
        uri = base + name
        stat = registry.for_uri(uri).stat(uri)
        dest = safe_relative_path(f"{HF_ARCHIVE_DIR}/{name}")
        files.append(RemoteFile(uri, dest, size=stat.size, etag=stat.etag))
    return files


def _kaggle_archive(config: EgoSchemaConfig, registry: SourceRegistry) -> RemoteFile:
    """The competition's archive behind the signed link Kaggle's API hands out, sized now."""
    from ..sources.kaggle import TOKEN_HINT, competition_download_link, find_credentials

    credentials = find_credentials()
    if credentials is None:
        raise AuthError(
            "no Kaggle API token found for the kaggle route",
            hint=f"{TOKEN_HINT}; then accept the rules of {KAGGLE_COMPETITION} once at "
            f"https://www.kaggle.com/competitions/{KAGGLE_COMPETITION}/rules",
        )
    link = competition_download_link(
        KAGGLE_COMPETITION, config.kaggle_url, credentials, registry.settings, registry.web_trust
    )
    stat = registry.for_uri(link).stat(link)
    # Named as the official client names it: the competition, then the link's own extension.
    extension = PurePosixPath(urlsplit(link).path).suffix or ".zip"
    dest = safe_relative_path(f"{HF_ARCHIVE_DIR}/{KAGGLE_COMPETITION}{extension}")
    return RemoteFile(link, dest, size=stat.size, etag=stat.etag)


def _uid_to_url_path(config: EgoSchemaConfig, registry: SourceRegistry, fetcher: Fetcher) -> Path:
    """The user's map, or the one in the benchmark's Drive folder (fetched into the output)."""
    if config.uid_to_url is not None:
        return config.uid_to_url
    remote = _drive_folder_file(registry, "uid_to_url.json")
    return fetcher.fetch([remote])[remote.dest]


def _drive_folder_file(registry: SourceRegistry, name: str) -> RemoteFile:
    from ..sources.gdrive import drive_folder, drive_uri

    listing = {path: file_id for file_id, path in drive_folder(registry, DRIVE_FOLDER_ID)}
    if name not in listing:
        raise ManifestError(
            f"the EgoSchema Drive folder {DRIVE_FOLDER_ID} has no {name}",
            hint="pass --uid-to-url FILE if you have a map, or --source drive-ids",
        )
    return RemoteFile(drive_uri(listing[name]), safe_relative_path(name))


@dataclass(frozen=True)
class Score:
    answered: int
    scored: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.scored if self.scored else 0.0


def score(predictions_path: Path, answers_path: Path, known_uids: set[str] | None) -> Score:
    """Check a submission's format and score it on the public answers it covers."""
    predictions = read_predictions(predictions_path, known_uids)
    answers = read_json_object(answers_path, "the answers", ManifestError)
    scored = [q for q in predictions if q in answers]
    correct = sum(1 for q in scored if predictions[q] == answers[q])
    return Score(answered=len(predictions), scored=len(scored), correct=correct)


# Where upstream's validate.py sends a submission: the JSON as the request body.
VALIDATION_URL = "https://validation-server.onrender.com/api/upload/"


@dataclass(frozen=True)
class ServerAnswer:
    status: int
    text: str


def submit(predictions_path: Path, known_uids: set[str] | None, url: str) -> ServerAnswer:
    """The POST of upstream's validate.py (json body, Content-Type application/json), after
    the same format check as `score`: a malformed file never reaches the server."""
    import requests

    predictions = read_predictions(predictions_path, known_uids)
    try:
        response = requests.post(url, json=predictions, timeout=(10, 120))
    except requests.RequestException as exc:
        raise TransferError(f"could not reach the validation server {url} ({exc})") from exc
    return ServerAnswer(response.status_code, response.text)


def read_predictions(path: Path, known_uids: set[str] | None) -> dict[str, int]:
    """A predictions file, checked: {q_uid: 0-4}, each uid a question where they are known."""
    predictions = read_json_object(path, "the predictions", ManifestError)
    problems = []
    for q_uid, choice in predictions.items():
        if known_uids is not None and q_uid not in known_uids:
            problems.append(f"{q_uid!r} is not a known question uid")
        if isinstance(choice, bool) or not isinstance(choice, int) or choice not in ANSWER_CHOICES:
            problems.append(f"{q_uid!r}: {choice!r} is not an answer index 0-4")
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise UsageError(
            f"{len(problems)} {'problem' if len(problems) == 1 else 'problems'} in {path}: {shown}",
            hint='write {"<q_uid>": <0-4>, ...}, the format the validation server accepts',
        )
    return predictions
