"""The options of a run as pydantic models: flags, JSON config files and EGOGET_* share them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .constants import (
    DEFAULT_CHUNK_SIZE_MIB,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PROCS,
    DEFAULT_STALL_TIMEOUT_S,
)
from .errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)

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

    model_config = ConfigDict(extra="forbid", frozen=True)

    output: Path = Field(description="Output directory; egoget keeps its state in OUTPUT/.egoget")
    procs: int = Field(DEFAULT_PROCS, ge=1, le=256, description="Parallel connections")
    chunk_size_mib: int = Field(DEFAULT_CHUNK_SIZE_MIB, ge=1, le=4096)
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=100)
    stall_timeout_s: float = Field(DEFAULT_STALL_TIMEOUT_S, gt=0)
    connect_timeout_s: float = Field(DEFAULT_CONNECT_TIMEOUT_S, gt=0)
    limit_rate: str | None = Field(None, description="Bandwidth cap, e.g. 50M (bytes/s)")
    endpoint_url: str | None = None
    aws_profile: str | None = None
    dry_run: bool = False
    yes: bool = False

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
    from_file: Path | None = None
    skip_invalid: bool = False


def load_json_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object of option names to values")
    return data


def build_config(model: type[ModelT], values: dict[str, Any], origin: str) -> ModelT:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            if error["type"] == "extra_forbidden":
                problems.append(f"unknown option {key!r}")
            else:
                problems.append(f"{key}: {error['msg']}")
        valid = ", ".join(sorted(model.model_fields))
        raise ConfigError(
            f"invalid {origin}: " + "; ".join(problems), hint=f"valid options: {valid}"
        ) from None
