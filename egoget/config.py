"""The options of a run: flags, JSON config files and EGOGET_* share them.

Declared as frozen dataclasses whose fields carry their rules (other spellings, bounds, a
pattern, a check), and checked here. Not pydantic: importing it and building its validators
was ~0.2 s of CPU before every run's first request, as much as the rest of egoget's imports,
and a run of 2000 small files takes 3-4 s. The few coercions a JSON config needs ("4" for 4,
"true" for true, "~" in a path) are below.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .constants import (
    DEFAULT_CHUNK_SIZE_MIB,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PROCS,
    DEFAULT_STALL_TIMEOUT_S,
    default_encoders,
    endpoint_from_environment,
)
from .errors import ConfigError, UnsafePathError
from .paths import safe_relative_path
from .shards import Shard, parse_shard
from .userfiles import read_json_object, read_uid_file

# --- how an option is declared ---------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """What a field accepts beyond its type. ``before`` sees the raw value (and may replace
    it); ``check`` sees the typed one and raises ValueError to refuse it."""

    aliases: tuple[str, ...] = ()
    description: str | None = None
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    pattern: str | None = None
    before: Callable[[Any], Any] | None = None
    check: Callable[[Any], object] | None = None


def rule(**kwargs: Any) -> dict[str, Rule]:
    """A field's metadata: ``field(default=..., metadata=rule(ge=1, aliases=("num_workers",)))``."""
    return {"rule": Rule(**kwargs)}


def _rule_of(f: dataclasses.Field[Any]) -> Rule:
    found = f.metadata.get("rule")
    return found if isinstance(found, Rule) else Rule()


def _expand_user_path(value: Any) -> Any:
    """~ and $VARS in a path, as the official CLIs and shells expand them (config.py:124)."""
    if isinstance(value, str | os.PathLike):
        return os.path.expandvars(os.path.expanduser(os.fspath(value)))
    return value


class _Invalid(ValueError):
    """One value refused, with where it sits inside the field (a list's index)."""

    def __init__(self, message: str, where: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.where = where


_TRUE = {"true", "1", "yes", "y", "on", "t"}
_FALSE = {"false", "0", "no", "n", "off", "f"}


def _coerce(kind: Any, value: Any) -> Any:
    """``value`` as ``kind`` (str, int, float, bool, Path, an Enum, list[X], unions with None),
    with the lax conversions a JSON file or an environment variable needs."""
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        arms = typing.get_args(kind)
        if value is None and type(None) in arms:
            return None
        first: _Invalid | None = None
        for arm in (a for a in arms if a is not type(None)):
            try:
                return _coerce(arm, value)
            except _Invalid as exc:
                first = first or exc
        assert first is not None
        raise first
    if origin is list:
        if not isinstance(value, list | tuple):
            raise _Invalid("Input should be a valid list")
        (item_kind,) = typing.get_args(kind)
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_coerce(item_kind, item))
            except _Invalid as exc:
                raise _Invalid(exc.message, (str(index), *exc.where)) from None
        return items
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _Invalid("Input should be a valid boolean")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _Invalid("Input should be a valid integer")
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise _Invalid("Input should be a valid number")
    if kind is str:
        if isinstance(value, str):
            return value
        raise _Invalid("Input should be a valid string")
    if kind is Path:
        if isinstance(value, str | os.PathLike):
            return Path(_expand_user_path(value))
        raise _Invalid("Input should be a path (a string)")
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError:
            choices = ", ".join(repr(member.value) for member in kind)
            raise _Invalid(f"Input should be one of {choices}") from None
    raise TypeError(f"no rule for options of type {kind!r}")  # a bug in a declaration


def _constrain(value: Any, spec: Rule) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if spec.ge is not None and value < spec.ge:
            raise _Invalid(f"Input should be greater than or equal to {spec.ge:g}")
        if spec.le is not None and value > spec.le:
            raise _Invalid(f"Input should be less than or equal to {spec.le:g}")
        if spec.gt is not None and value <= spec.gt:
            raise _Invalid(f"Input should be greater than {spec.gt:g}")
    if spec.pattern is not None and isinstance(value, str) and not re.search(spec.pattern, value):
        raise _Invalid(f"String should match pattern {spec.pattern!r}")


_KINDS: dict[type, dict[str, Any]] = {}


def _kinds(model: type) -> dict[str, Any]:
    """The fields' types, resolved once per model (this module postpones annotations)."""
    if model not in _KINDS:
        _KINDS[model] = typing.get_type_hints(model)
    return _KINDS[model]


@dataclass(frozen=True, kw_only=True, eq=False)
class Options:
    """The root of every options model: how a dict of values becomes one, and back."""

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        """The raw values before any field is read: rewrite them, or raise ValueError."""
        return values

    def finish(self) -> None:
        """Checks across fields once each is valid: raise ValueError to refuse."""

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def default_of(cls, name: str) -> Any:
        found = next(f for f in dataclasses.fields(cls) if f.name == name)
        return found.default

    def values(self, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
        """The options as a dict (lists copied): what ``build_config`` takes back."""
        return {
            f.name: list(value) if isinstance(value, list) else value
            for f in dataclasses.fields(self)
            if f.name not in exclude
            for value in [getattr(self, f.name)]
        }


OptionsT = TypeVar("OptionsT", bound=Options)


def _validate(model: type[OptionsT], values: dict[str, Any]) -> tuple[OptionsT | None, list[str]]:
    """The model built from ``values``, or None and every problem found, each as pydantic
    worded it ("KEY: what is wrong"), so that a config file's mistakes come out at once."""
    problems: list[str] = []
    try:
        values = model.prepare(dict(values))
    except ValueError as exc:
        return None, [f"(top level): {exc}"]
    spellings = {s for f in dataclasses.fields(model) for s in (f.name, *_rule_of(f).aliases)}
    problems += [f"unknown option {key!r}" for key in values if key not in spellings]
    kinds = _kinds(model)
    chosen: dict[str, Any] = {}
    for f in dataclasses.fields(model):
        spec = _rule_of(f)
        given = next((s for s in (f.name, *spec.aliases) if s in values), None)
        if given is None:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{f.name}: Field required")
            continue
        value = values[given]
        try:
            if spec.before is not None:
                value = spec.before(value)
            value = _coerce(kinds[f.name], value)
            _constrain(value, spec)
            if spec.check is not None and value is not None:
                spec.check(value)
        except _Invalid as exc:
            problems.append(f"{'.'.join((given, *exc.where))}: {exc.message}")
            continue
        except ValueError as exc:
            problems.append(f"{given}: {exc}")
            continue
        chosen[f.name] = value
    if problems:
        return None, problems
    built = model(**chosen)
    try:
        built.finish()
    except ValueError as exc:
        return None, [f"(top level): {exc}"]
    return built, []


def build_config(model: type[OptionsT], values: dict[str, Any], origin: str) -> OptionsT:
    built, problems = _validate(model, values)
    if built is None:
        # The list of every option helps with a misspelt key, not with a bad value.
        unknown = any(problem.startswith("unknown option") for problem in problems)
        hint = f"valid options: {', '.join(sorted(model.option_names()))}" if unknown else None
        raise ConfigError(f"invalid {origin}: " + "; ".join(problems), hint=hint)
    return built


# --- outputs ---------------------------------------------------------------------------------

# `-o "$OUT"` with OUT unset: the current directory is never what was meant.
EMPTY_OUTPUT = "the output directory is empty: give a folder to write into"
# A flag's path arrives with "//" already folded to "/": match either.
_URL_OUTPUT = re.compile(r"^(s3|gs|gcs|https?|ftp|az|abfss?):/", re.IGNORECASE)
_BUCKET_OUTPUT = re.compile(r"^s3:/{1,2}([^/]*)", re.IGNORECASE)
# What botocore accepts (legacy buckets and relaxed Ceph names have capitals and "_").
_BUCKET_NAME = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_OUTPUT_KEYS = ("output", "output_directory", "out_dir")


def is_bucket_output(text: str) -> bool:
    return bool(_BUCKET_OUTPUT.match(text))


def url_output_problem(text: str, bucket_ok: bool = False) -> str | None:
    """Why an output that names a bucket or URL cannot be written to, or None."""
    if not _URL_OUTPUT.match(text):
        return None
    bucket = _BUCKET_OUTPUT.match(text)
    if bucket and bucket_ok:
        if not bucket.group(1):
            return f"{text} names no bucket: give s3://BUCKET/PREFIX/"
        if not _BUCKET_NAME.match(bucket.group(1)) or bucket.group(1) in (".", ".."):
            return (
                f"{bucket.group(1)!r} is not a valid bucket name (letters, digits, dots, "
                "hyphens and underscores)"
            )
        prefix = BucketTarget.parse(text).prefix.rstrip("/")
        if prefix:
            try:
                safe_relative_path(prefix)
            except UnsafePathError as exc:
                return f"{text}: not a usable prefix ({exc.message})"
        return None
    if bucket:
        target = BucketTarget.parse(text)
        state = bucket_state_dir(target, endpoint_from_environment())
        return (
            f"{text} is a bucket, and this command works on a local directory. A copy in a "
            f"bucket keeps its ledger in its --state-dir (by default here: {state}): "
            "`egoget status -o STATE_DIR` shows it; running the copy again checks the bucket"
        )
    return (
        f"{text} is a URL, and egoget writes to a local directory or an S3 bucket (s3://): "
        "download into a folder, then copy it with your store's own tool"
    )


@dataclass(frozen=True)
class BucketTarget:
    """``s3://bucket/prefix/``: where a run's files are copied, each at prefix + its name."""

    bucket: str
    prefix: str  # "" or ending in "/"

    @classmethod
    def parse(cls, url: str) -> BucketTarget:
        """s3://BUCKET/PREFIX, also as a flag's path folds it (s3:/BUCKET/PREFIX)."""
        rest = re.sub(r"^s3:/+", "", url, flags=re.IGNORECASE)
        bucket, _, prefix = rest.strip("/").partition("/")
        return cls(bucket, f"{prefix.strip('/')}/" if prefix.strip("/") else "")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, dest: str) -> str:
        return self.prefix + dest


def bucket_state_dir(target: BucketTarget, endpoint_url: str | None) -> Path:
    """Where a copy into a bucket keeps its ledger and the manifests it plans from:
    $XDG_STATE_HOME/egoget/STORE/BUCKET/PREFIX (~/.local/state/...), STORE being the
    endpoint's host (``aws`` without one): one bucket name on two stores is two copies."""
    root = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    store = urlsplit(endpoint_url).netloc.replace(":", "_") if endpoint_url else "aws"
    return Path(root) / "egoget" / (store or "aws") / target.bucket / target.prefix


class IoMode(str, enum.Enum):
    """How part files are written: around the page cache, through it, or chosen by the disk."""

    AUTO = "auto"
    DIRECT = "direct"
    BUFFERED = "buffered"


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?(?:/s)?\s*$", re.IGNORECASE)
_RATE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_rate(text: str) -> int:
    """'10M', '500k', '2GB/s' -> bytes per second."""
    match = _RATE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"not a rate: {text!r} (examples: 500k, 10M, 1G)")
    return int(float(match.group(1)) * _RATE_UNITS[match.group(2).lower()])


def _local_output(value: Any) -> Any:
    text = os.fspath(value) if isinstance(value, str | os.PathLike) else ""
    if isinstance(value, str) and not value.strip():
        raise ValueError(EMPTY_OUTPUT)
    problem = url_output_problem(text)
    if problem:
        raise ValueError(problem)
    return value


def _endpoint_is_a_url(value: Any) -> Any:
    if value == "":
        return None  # `--endpoint-url "$UNSET"`: AWS, as it always meant
    if isinstance(value, str) and not re.match(r"^https?://[^/]", value, re.IGNORECASE):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


@dataclass(frozen=True, kw_only=True, eq=False)
class TransferConfig(Options):
    """How bytes move: shared by every command that downloads."""

    output: Path = field(
        metadata=rule(
            aliases=("output_directory", "out_dir"),
            before=_local_output,
            description="Output directory (egoget keeps its state in OUTPUT/.egoget), or "
            "s3://BUCKET/PREFIX/ to copy into a bucket",
        )
    )
    procs: int = field(
        default=DEFAULT_PROCS,
        metadata=rule(
            aliases=("num_workers",),
            ge=1,
            le=256,
            description="At most this many parallel connections (the run finds how many pay)",
        ),
    )
    chunk_size_mib: int = field(default=DEFAULT_CHUNK_SIZE_MIB, metadata=rule(ge=1, le=4096))
    max_attempts: int = field(default=DEFAULT_MAX_ATTEMPTS, metadata=rule(ge=1, le=100))
    stall_timeout_s: float = field(default=DEFAULT_STALL_TIMEOUT_S, metadata=rule(gt=0))
    connect_timeout_s: float = field(default=DEFAULT_CONNECT_TIMEOUT_S, metadata=rule(gt=0))
    limit_rate: str | None = field(
        default=None,
        metadata=rule(check=parse_rate, description="Bandwidth cap, e.g. 50M (bytes/s)"),
    )
    io_mode: IoMode = field(
        default=IoMode.AUTO,
        metadata=rule(description="auto, direct or buffered: how part files are written"),
    )
    endpoint_url: str | None = field(
        default=None,
        metadata=rule(
            before=_endpoint_is_a_url,
            description="S3-compatible endpoint, e.g. http://127.0.0.1:8333",
        ),
    )
    aws_profile: str | None = field(
        default=None, metadata=rule(aliases=("aws_profile_name", "s3_profile"))
    )
    cookies: Path | None = field(
        default=None,
        metadata=rule(description="cookies.txt of a browser signed in to Google, for Drive files"),
    )
    proxy: str | None = field(
        default=None,
        metadata=rule(
            description="http://[user:password@]host:port; overrides HTTPS_PROXY/HTTP_PROXY"
        ),
    )
    ca_bundle: Path | None = field(
        default=None,
        metadata=rule(
            description="PEM file of CA certificates to trust; overrides AWS_CA_BUNDLE etc."
        ),
    )
    no_verify_ssl: bool = field(
        default=False, metadata=rule(description="Skip TLS certificate checks (unsafe)")
    )
    trust_existing: str = field(
        default="hash",
        metadata=rule(
            pattern="^(hash|size)$",
            description="Files already on disk that egoget did not download: checked by their "
            "content (hash) or by their size only (size)",
        ),
    )
    dry_run: bool = False
    yes: bool = field(default=False, metadata=rule(aliases=("assume_yes",)))
    skip_invalid: bool = False
    # -o s3://bucket/prefix/: the files are copied there, and ``output`` is the local folder
    # that keeps the copy's ledger and the manifests it plans from.
    bucket_output: str | None = field(
        default=None,
        metadata=rule(
            description="Set by -o s3://BUCKET/PREFIX/: the bucket the files are copied into"
        ),
    )
    state_dir: Path | None = field(
        default=None,
        metadata=rule(
            description="With -o s3://...: where egoget keeps its ledger and manifests "
            "[default: $XDG_STATE_HOME/egoget/STORE/BUCKET/PREFIX]"
        ),
    )
    dest_profile: str | None = field(
        default=None,
        metadata=rule(description="With -o s3://...: the AWS profile of the destination bucket"),
    )
    dest_endpoint_url: str | None = field(
        default=None,
        metadata=rule(
            before=_endpoint_is_a_url,
            description="With -o s3://...: the destination's S3 endpoint (Ceph, MinIO)",
        ),
    )

    @classmethod
    def prepare(cls, values: dict[str, Any]) -> dict[str, Any]:
        key = next((k for k in _OUTPUT_KEYS if k in values), None)
        value = values[key] if key else None
        if key is None or not isinstance(value, str) or not is_bucket_output(value):
            return values
        problem = url_output_problem(value, bucket_ok=True)
        if problem:
            raise ValueError(problem)
        target = BucketTarget.parse(value)
        endpoint = (
            values.get("dest_endpoint_url")
            or values.get("endpoint_url")
            or endpoint_from_environment()
        )
        local = values.get("state_dir") or bucket_state_dir(target, endpoint)
        return {**values, key: local, "bucket_output": target.url}

    def finish(self) -> None:
        given = [
            f"--{name.replace('_', '-')}"
            for name in ("state_dir", "dest_profile", "dest_endpoint_url")
            if getattr(self, name) is not None
        ]
        if given and self.bucket_output is None:
            raise ValueError(f"{', '.join(given)}: only with a bucket output (-o s3://BUCKET/...)")

    @property
    def limit_rate_bytes_per_s(self) -> int | None:
        return parse_rate(self.limit_rate) if self.limit_rate else None


@dataclass(frozen=True, kw_only=True, eq=False)
class FetchConfig(TransferConfig):
    uris: list[str] = field(default_factory=list)
    from_file: Path | None = None


@dataclass(frozen=True, kw_only=True, eq=False)
class DatasetConfig(TransferConfig):
    """Options of every `egoget download DATASET`."""

    dataset: str
    shard: str | None = field(
        default=None,
        metadata=rule(
            check=parse_shard,
            description="K/N: this machine's share of the plan; auto: from a Slurm job array "
            "or a Kubernetes Indexed Job",
        ),
    )

    @property
    def this_shard(self) -> Shard | None:
        """This machine's share (--shard K/N or auto), or None for the whole plan."""
        return parse_shard(self.shard) if self.shard else None


@dataclass(frozen=True, kw_only=True, eq=False)
class Ego4dConfig(DatasetConfig):
    """`egoget download ego4d`. The official `ego4d` CLI's config keys are accepted too."""

    dataset: str = "ego4d"
    parts: list[str] = field(default_factory=list, metadata=rule(aliases=("datasets",)))
    version: str = "v2_1"
    metadata: bool = True
    benchmarks: list[str] = field(default_factory=list)
    universities: list[str] = field(default_factory=list)
    video_uids: list[str] = field(default_factory=list)
    video_uid_file: Path | None = None
    # The official CLI's other keys (config.py:85-105), so its configs run unchanged.
    manifest: bool = False  # also the full_scale manifest at <out>/manifest.csv
    list_datasets: bool = False  # show the release's datasets instead of downloading
    manifest_override_path: Path | None = None  # a local manifest for every dataset
    # No effect here, said in a note: egoget's own check of what is present needs no request
    # per file and is never skipped.
    bypass_version_check: bool | None = field(
        default=None, metadata=rule(aliases=("bypass_existing",))
    )
    skip_s3_checks: bool | None = None
    annotations: bool | list[str] | None = None  # "(Currently unsupported)" upstream too
    viz: bool | None = None

    def finish(self) -> None:
        super().finish()
        if self.viz and "viz" not in self.parts:
            self.parts.append("viz")

    def all_video_uids(self) -> list[str]:
        uids = list(self.video_uids)
        if self.video_uid_file is not None:
            uids += read_uid_file(self.video_uid_file)
        return uids


@dataclass(frozen=True, kw_only=True, eq=False)
class EgoExoConfig(DatasetConfig):
    """`egoget download egoexo`. The official `egoexo` CLI's option names are accepted too."""

    dataset: str = "egoexo"
    parts: list[str] = field(default_factory=list)
    uids: list[str] = field(default_factory=list)
    benchmarks: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)
    universities: list[str] = field(default_factory=list)
    release: str = "v2"
    base_uri: str = field(
        default="s3://ego4d-consortium-sharing/egoexo-public/",
        metadata=rule(aliases=("base_dir",)),
    )
    # The official --delete removes every file outside the selection; egoget refuses it.
    delete: bool = False
    delete_yes: bool | None = None
    force: bool | None = None


@dataclass(frozen=True, kw_only=True, eq=False)
class Ego2ExoConfig(EgoExoConfig):
    """`egoget download ego2exo`: the benchmark's 249 Ego-Exo4D takes and its metadata."""

    dataset: str = "ego2exo"
    # Videos beside the features: none, "448" (downscaled_takes/448) or "takes" (full size);
    # the same as adding that part to --parts.
    videos: str | None = field(default=None, metadata=rule(pattern="^(448|takes)$"))
    metadata: bool = True
    metadata_url: str = field(
        default="https://huggingface.co/datasets/Tarun23/Ego2Exo/resolve/main/ego2exo.json",
        metadata=rule(
            description="Where ego2exo.json is fetched from first (Google Drive is the fallback)"
        ),
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class EgoSchemaConfig(DatasetConfig):
    """`egoget download egoschema`: the clips behind the benchmark's presigned links."""

    dataset: str = "egoschema"
    uid_to_url: Path | None = None
    # Routes to the clips, tried in this order until one can be planned.
    source: list[str] = field(default_factory=list)
    metadata: bool = True
    metadata_url: str = field(
        default="https://raw.githubusercontent.com/egoschema/EgoSchema/main/",
        metadata=rule(
            description="Where questions.json, subset_answers.json and uid_to_ego4d.json live"
        ),
    )
    hf_url: str = field(
        default="https://huggingface.co/datasets/lmms-lab/egoschema/resolve/main/",
        metadata=rule(
            description="The Hugging Face route's base URL (a mirror of lmms-lab/egoschema)"
        ),
    )
    kaggle_url: str = field(
        default="https://api.kaggle.com/v1/",
        metadata=rule(description="Kaggle's API, for the kaggle route"),
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class Ego4dSocialConfig(DatasetConfig):
    """`egoget download ego4d-social`: the Looking-at-me / Talking-to-me `data/` folder."""

    dataset: str = "ego4d-social"
    version: str = "v2_1"
    universities: list[str] = field(default_factory=list)
    cut_clips: bool = False
    cut_procs: int = field(default_factory=default_encoders, metadata=rule(ge=1))
    # The baselines' checkpoints from Google Drive, into checkpoints/.
    checkpoints: bool = False
    # Which baseline's clips to cut: lam (Looking-at-me) or ttm (Talking-to-me).
    branch: str = field(default="lam", metadata=rule(pattern="^(lam|ttm)$"))
    # The social_test release too, unpacked, its folder for the branch linked into data/.
    test: bool = False


@dataclass(frozen=True, kw_only=True, eq=False)
class EgoVlpConfig(DatasetConfig):
    """`egoget download egovlp`: EgoClip, EgoMCQ, EgoVLP weights and features from Drive."""

    dataset: str = "egovlp"
    parts: list[str] = field(default_factory=list)


def load_json_config(path: Path) -> dict[str, Any]:
    return read_json_object(path, "config file", ConfigError)


def aliases(model: type[Options]) -> dict[str, str]:
    """Each other spelling a config key may have (the official CLIs'), to its field's name."""
    return {alias: f.name for f in dataclasses.fields(model) for alias in _rule_of(f).aliases}


def canonical_keys(model: type[Options], values: dict[str, Any]) -> dict[str, Any]:
    """Rename alias keys (the official CLIs' spellings, e.g. ``datasets``) to field names, so
    a config file's value and a flag for the same option meet under one key."""
    renames = aliases(model)
    return {renames.get(key, key): value for key, value in values.items()}


def _json_schema_of(kind: Any) -> dict[str, Any]:
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        return {"anyOf": [_json_schema_of(arm) for arm in typing.get_args(kind)]}
    if origin is list:
        return {"type": "array", "items": _json_schema_of(typing.get_args(kind)[0])}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"enum": [member.value for member in kind], "type": "string"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "string",
              type(None): "null"}  # fmt: skip
    return {"type": simple[kind], **({"format": "path"} if kind is Path else {})}


def _json_default(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def config_schema(model: type[Options]) -> dict[str, Any]:
    """The JSON Schema of a config file: every field, under its name and every alias, so that
    an official CLI's config (``output_directory``, ``datasets``, ...) validates as it runs."""
    properties: dict[str, Any] = {}
    required: list[list[str]] = []
    for f in dataclasses.fields(model):
        spec = _rule_of(f)
        prop = {
            "title": f.name.replace("_", " ").capitalize(),
            **_json_schema_of(_kinds(model)[f.name]),
        }
        if spec.description:
            prop["description"] = spec.description
        bounds = {
            "minimum": spec.ge,
            "maximum": spec.le,
            "exclusiveMinimum": spec.gt,
            "pattern": spec.pattern,
        }
        prop.update({key: bound for key, bound in bounds.items() if bound is not None})
        if f.default is not dataclasses.MISSING:
            prop["default"] = _json_default(f.default)
        elif f.default_factory is list:
            prop["default"] = []
        elif f.default_factory is dataclasses.MISSING:
            required.append([f.name, *spec.aliases])
        properties[f.name] = prop
        for alias in spec.aliases:
            properties[alias] = {**prop, "description": f"The same as {f.name!r}."}
    schema: dict[str, Any] = {
        "title": model.__name__,
        "description": (model.__doc__ or "").strip(),
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    # A required option may come under any of its spellings.
    for spellings in required:
        if len(spellings) == 1:
            schema.setdefault("required", []).append(spellings[0])
        else:
            schema.setdefault("allOf", []).append(
                {"anyOf": [{"required": [spelling]} for spelling in spellings]}
            )
    return schema
