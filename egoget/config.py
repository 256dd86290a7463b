"""The options of a run as pydantic models: flags, JSON config files and EGOGET_* share them."""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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

ModelT = TypeVar("ModelT", bound=BaseModel)


def _expand_user_path(value: Any) -> Any:
    """~ and $VARS in a path, as the official CLIs and shells expand them (config.py:124)."""
    if isinstance(value, str | os.PathLike):
        return os.path.expandvars(os.path.expanduser(os.fspath(value)))
    return value


# A path the user wrote, in a flag or a config file: "~/ego4d" and "$SCRATCH/ego4d" work.
UserPath = Annotated[Path, BeforeValidator(_expand_user_path)]


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


class TransferConfig(BaseModel):
    """How bytes move: shared by every command that downloads."""

    # Validators are built when a model is first used: a run uses one of the nine.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    output: UserPath = Field(
        description="Output directory (egoget keeps its state in OUTPUT/.egoget), or "
        "s3://BUCKET/PREFIX/ to copy into a bucket",
        validation_alias=AliasChoices("output", "output_directory", "out_dir"),
    )
    procs: int = Field(
        DEFAULT_PROCS,
        ge=1,
        le=256,
        description="At most this many parallel connections (the run finds how many pay)",
        validation_alias=AliasChoices("procs", "num_workers"),
    )
    chunk_size_mib: int = Field(DEFAULT_CHUNK_SIZE_MIB, ge=1, le=4096)
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=100)
    stall_timeout_s: float = Field(DEFAULT_STALL_TIMEOUT_S, gt=0)
    connect_timeout_s: float = Field(DEFAULT_CONNECT_TIMEOUT_S, gt=0)
    limit_rate: str | None = Field(None, description="Bandwidth cap, e.g. 50M (bytes/s)")
    io_mode: IoMode = Field(
        IoMode.AUTO, description="auto, direct or buffered: how part files are written"
    )
    endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint, e.g. http://127.0.0.1:8333"
    )
    aws_profile: str | None = Field(
        None, validation_alias=AliasChoices("aws_profile", "aws_profile_name", "s3_profile")
    )
    cookies: UserPath | None = Field(
        None, description="cookies.txt of a browser signed in to Google, for Drive files"
    )
    proxy: str | None = Field(
        None, description="http://[user:password@]host:port; overrides HTTPS_PROXY/HTTP_PROXY"
    )
    ca_bundle: UserPath | None = Field(
        None, description="PEM file of CA certificates to trust; overrides AWS_CA_BUNDLE etc."
    )
    no_verify_ssl: bool = Field(False, description="Skip TLS certificate checks (unsafe)")
    trust_existing: str = Field(
        "hash",
        pattern="^(hash|size)$",
        description="Files already on disk that egoget did not download: checked by their "
        "content (hash) or by their size only (size)",
    )
    dry_run: bool = False
    yes: bool = Field(False, validation_alias=AliasChoices("yes", "assume_yes"))
    skip_invalid: bool = False
    # -o s3://bucket/prefix/: the files are copied there, and ``output`` is the local folder
    # that keeps the copy's ledger and the manifests it plans from.
    bucket_output: str | None = Field(
        None, description="Set by -o s3://BUCKET/PREFIX/: the bucket the files are copied into"
    )
    state_dir: UserPath | None = Field(
        None,
        description="With -o s3://...: where egoget keeps its ledger and manifests "
        "[default: $XDG_STATE_HOME/egoget/STORE/BUCKET/PREFIX]",
    )
    dest_profile: str | None = Field(
        None, description="With -o s3://...: the AWS profile of the destination bucket"
    )
    dest_endpoint_url: str | None = Field(
        None, description="With -o s3://...: the destination's S3 endpoint (Ceph, MinIO)"
    )

    @model_validator(mode="before")
    @classmethod
    def _bucket_output(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        key = next((k for k in _OUTPUT_KEYS if k in data), None)
        value = data.get(key) if key else None
        if not isinstance(value, str) or not is_bucket_output(value):
            return data
        problem = url_output_problem(value, bucket_ok=True)
        if problem:
            raise ValueError(problem)
        target = BucketTarget.parse(value)
        endpoint = (
            data.get("dest_endpoint_url") or data.get("endpoint_url") or endpoint_from_environment()
        )
        local = data.get("state_dir") or bucket_state_dir(target, endpoint)
        return {**data, key: local, "bucket_output": target.url}

    @field_validator("endpoint_url", "dest_endpoint_url", mode="before")
    @classmethod
    def _endpoint_is_a_url(cls, value: Any) -> Any:
        if value == "":
            return None  # `--endpoint-url "$UNSET"`: AWS, as it always meant
        if isinstance(value, str) and not re.match(r"^https?://[^/]", value, re.IGNORECASE):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _bucket_options_need_a_bucket(self) -> TransferConfig:
        given = [
            f"--{name.replace('_', '-')}"
            for name in ("state_dir", "dest_profile", "dest_endpoint_url")
            if getattr(self, name) is not None
        ]
        if given and self.bucket_output is None:
            raise ValueError(f"{', '.join(given)}: only with a bucket output (-o s3://BUCKET/...)")
        return self

    @field_validator("output", mode="before")
    @classmethod
    def _local_output(cls, value: Any) -> Any:
        text = os.fspath(value) if isinstance(value, str | os.PathLike) else ""
        if isinstance(value, str) and not value.strip():
            raise ValueError(EMPTY_OUTPUT)
        problem = url_output_problem(text)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("limit_rate")
    @classmethod
    def _check_rate(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rate(value)
        return value

    @property
    def limit_rate_bytes_per_s(self) -> int | None:
        return parse_rate(self.limit_rate) if self.limit_rate else None


class FetchConfig(TransferConfig):
    uris: list[str] = Field(default_factory=list)
    from_file: UserPath | None = None


class DatasetConfig(TransferConfig):
    """Options of every `egoget download DATASET`."""

    dataset: str
    shard: str | None = Field(
        None,
        description="K/N: this machine's share of the plan; auto: from a Slurm job array or a "
        "Kubernetes Indexed Job",
    )

    @field_validator("shard")
    @classmethod
    def _check_shard(cls, value: str | None) -> str | None:
        if value is not None:
            parse_shard(value)
        return value

    @property
    def this_shard(self) -> Shard | None:
        """This machine's share (--shard K/N or auto), or None for the whole plan."""
        return parse_shard(self.shard) if self.shard else None


class Ego4dConfig(DatasetConfig):
    """`egoget download ego4d`. The official `ego4d` CLI's config keys are accepted too."""

    dataset: str = "ego4d"
    parts: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("parts", "datasets")
    )
    version: str = "v2_1"
    metadata: bool = True
    benchmarks: list[str] = Field(default_factory=list)
    universities: list[str] = Field(default_factory=list)
    video_uids: list[str] = Field(default_factory=list)
    video_uid_file: UserPath | None = None
    # The official CLI's other keys (config.py:85-105), so its configs run unchanged.
    manifest: bool = False  # also the full_scale manifest at <out>/manifest.csv
    list_datasets: bool = False  # show the release's datasets instead of downloading
    manifest_override_path: UserPath | None = None  # a local manifest for every dataset
    # No effect here, said in a note: egoget's own check of what is present needs no request
    # per file and is never skipped.
    bypass_version_check: bool | None = Field(
        None, validation_alias=AliasChoices("bypass_version_check", "bypass_existing")
    )
    skip_s3_checks: bool | None = None
    annotations: bool | list[str] | None = None  # "(Currently unsupported)" upstream too
    viz: bool | None = None

    @model_validator(mode="after")
    def _official_viz_flag(self) -> Ego4dConfig:
        if self.viz and "viz" not in self.parts:
            self.parts.append("viz")
        return self

    def all_video_uids(self) -> list[str]:
        uids = list(self.video_uids)
        if self.video_uid_file is not None:
            uids += read_uid_file(self.video_uid_file)
        return uids


class EgoExoConfig(DatasetConfig):
    """`egoget download egoexo`. The official `egoexo` CLI's option names are accepted too."""

    dataset: str = "egoexo"
    parts: list[str] = Field(default_factory=list)
    uids: list[str] = Field(default_factory=list)
    benchmarks: list[str] = Field(default_factory=list)
    splits: list[str] = Field(default_factory=list)
    views: list[str] = Field(default_factory=list)
    universities: list[str] = Field(default_factory=list)
    release: str = "v2"
    base_uri: str = Field(
        "s3://ego4d-consortium-sharing/egoexo-public/",
        validation_alias=AliasChoices("base_uri", "base_dir"),
    )
    # The official --delete removes every file outside the selection; egoget refuses it.
    delete: bool = False
    delete_yes: bool | None = None
    force: bool | None = None


class Ego2ExoConfig(EgoExoConfig):
    """`egoget download ego2exo`: the benchmark's 249 Ego-Exo4D takes and its metadata."""

    dataset: str = "ego2exo"
    # Videos beside the features: none, "448" (downscaled_takes/448) or "takes" (full size);
    # the same as adding that part to --parts.
    videos: str | None = Field(None, pattern="^(448|takes)$")
    metadata: bool = True
    metadata_url: str = Field(
        "https://huggingface.co/datasets/Tarun23/Ego2Exo/resolve/main/ego2exo.json",
        description="Where ego2exo.json is fetched from first (Google Drive is the fallback)",
    )


class EgoSchemaConfig(DatasetConfig):
    """`egoget download egoschema`: the clips behind the benchmark's presigned links."""

    dataset: str = "egoschema"
    uid_to_url: UserPath | None = None
    # Routes to the clips, tried in this order until one can be planned.
    source: list[str] = Field(default_factory=list)
    metadata: bool = True
    metadata_url: str = Field(
        "https://raw.githubusercontent.com/egoschema/EgoSchema/main/",
        description="Where questions.json, subset_answers.json and uid_to_ego4d.json live",
    )
    hf_url: str = Field(
        "https://huggingface.co/datasets/lmms-lab/egoschema/resolve/main/",
        description="The Hugging Face route's base URL (a mirror of lmms-lab/egoschema)",
    )
    kaggle_url: str = Field(
        "https://api.kaggle.com/v1/", description="Kaggle's API, for the kaggle route"
    )


class Ego4dSocialConfig(DatasetConfig):
    """`egoget download ego4d-social`: the Looking-at-me / Talking-to-me `data/` folder."""

    dataset: str = "ego4d-social"
    version: str = "v2_1"
    universities: list[str] = Field(default_factory=list)
    cut_clips: bool = False
    cut_procs: int = Field(default_factory=default_encoders, ge=1)
    # The baselines' checkpoints from Google Drive, into checkpoints/.
    checkpoints: bool = False
    # Which baseline's clips to cut: lam (Looking-at-me) or ttm (Talking-to-me).
    branch: str = Field("lam", pattern="^(lam|ttm)$")
    # The social_test release too, unpacked, its folder for the branch linked into data/.
    test: bool = False


class EgoVlpConfig(DatasetConfig):
    """`egoget download egovlp`: EgoClip, EgoMCQ, EgoVLP weights and features from Drive."""

    dataset: str = "egovlp"
    parts: list[str] = Field(default_factory=list)


def load_json_config(path: Path) -> dict[str, Any]:
    return read_json_object(path, "config file", ConfigError)


def aliases(model: type[BaseModel]) -> dict[str, str]:
    """Each other spelling a config key may have (the official CLIs'), to its field's name."""
    renames: dict[str, str] = {}
    for name, info in model.model_fields.items():
        if isinstance(info.validation_alias, AliasChoices):
            for choice in info.validation_alias.choices:
                if isinstance(choice, str) and choice != name:
                    renames[choice] = name
    return renames


def canonical_keys(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Rename alias keys (the official CLIs' spellings, e.g. ``datasets``) to field names, so
    a config file's value and a flag for the same option meet under one key."""
    renames = aliases(model)
    return {renames.get(key, key): value for key, value in values.items()}


def config_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a config file: every field, under its name and every alias, so that
    an official CLI's config (``output_directory``, ``datasets``, ...) validates as it runs."""
    schema = model.model_json_schema()
    properties = schema["properties"]
    spellings: dict[str, list[str]] = {}
    for alias, name in aliases(model).items():
        properties[alias] = {**properties[name], "description": f"The same as {name!r}."}
        spellings.setdefault(name, [name]).append(alias)
    # A required option may come under any of its spellings.
    required = schema.get("required", [])
    for name in [n for n in required if n in spellings]:
        required.remove(name)
        schema.setdefault("allOf", []).append(
            {"anyOf": [{"required": [spelling]} for spelling in spellings[name]]}
        )
    return schema


def build_config(model: type[ModelT], values: dict[str, Any], origin: str) -> ModelT:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = []
        unknown = False
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            if error["type"] == "extra_forbidden":
                unknown = True
                problems.append(f"unknown option {key!r}")
            else:
                problems.append(f"{key}: {error['msg'].removeprefix('Value error, ')}")
        # The list of every option helps with a misspelt key, not with a bad value.
        hint = f"valid options: {', '.join(sorted(model.model_fields))}" if unknown else None
        raise ConfigError(f"invalid {origin}: " + "; ".join(problems), hint=hint) from None
