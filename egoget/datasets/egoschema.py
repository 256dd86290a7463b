"""EgoSchema: 5,031 three-minute clips behind presigned links, and offline scoring.

``uid_to_url.json`` maps each question uid to a presigned URL (Wasabi, S3-style); the clip
lands at ``<out>/videos/<q_uid>.mp4``. Expiry is read from the links before any request (the
run layer refuses expired ones), and a link that goes stale mid-run fails only its own file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..config import EgoSchemaConfig, parse_shard
from ..errors import EgogetError, ManifestError, UnsafePathError, UsageError
from ..jsonfile import read_json_object
from ..model import Plan, PlannedRun, RemoteFile
from ..paths import safe_relative_path

ANSWER_CHOICES = range(5)
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


def plan_run(config: EgoSchemaConfig) -> PlannedRun:
    if config.uid_to_url is None:
        raise UsageError(
            "EgoSchema needs its URL map: pass --uid-to-url uid_to_url.json",
            hint="the file is in the benchmark's Google Drive folder; fetching it (and the other "
            "routes: videos.tar.gz, per-video Drive ids, Hugging Face) is not built yet",
        )
    files, refused = read_uid_to_url(config.uid_to_url)
    plan = Plan(files)
    if config.shard:
        plan = plan.shard(*parse_shard(config.shard))
    return PlannedRun(plan, refused, [])


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
    predictions = read_json_object(predictions_path, "the predictions", ManifestError)
    answers = read_json_object(answers_path, "the answers", ManifestError)
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
            f"{len(problems)} problems in {predictions_path}: {shown}",
            hint='write {"<q_uid>": <0-4>, ...}, the format the validation server accepts',
        )
    scored = [q for q in predictions if q in answers]
    correct = sum(1 for q in scored if predictions[q] == answers[q])
    return Score(answered=len(predictions), scored=len(scored), correct=correct)
