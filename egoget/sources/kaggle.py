"""Kaggle competition data: the API token the official client uses, and the one request that
turns a competition into a signed download link (the bytes then move through the engine).

As the official client (kaggle-cli, kagglesdk): ``POST <api>/competitions.CompetitionApiService/
DownloadDataFiles`` with ``{"competitionName": NAME}``, answered by a redirect to a signed
storage URL. Credentials in the client's order: an API token (``KAGGLE_API_TOKEN``, its value or
a file; ``~/.kaggle/access_token``) sent as Bearer, else ``username`` and ``key`` from
``kaggle.json`` in ``KAGGLE_CONFIG_DIR`` or ``~/.kaggle`` (``~/.config/kaggle`` where that is
missing), each overridden by ``KAGGLE_USERNAME`` / ``KAGGLE_KEY``, sent as HTTP Basic.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import requests

from ..errors import AuthError, EgogetError, ManifestError, TransferError
from .base import SourceSettings
from .http import default_error, redact_url
from .network import Trust
from .web import request_failure, web_session

API_URL = "https://api.kaggle.com/v1/"
DOWNLOAD_METHOD = "competitions.CompetitionApiService/DownloadDataFiles"
TOKEN_HINT = (
    "create an API token at https://www.kaggle.com/settings (API, Create New Token) and save "
    "it as ~/.kaggle/kaggle.json, or set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN)"
)
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class KaggleCredentials:
    authorization: str  # the header value
    origin: str  # where it came from, for messages

    def __repr__(self) -> str:  # never print the secret
        return f"KaggleCredentials(from {self.origin})"


def find_credentials() -> KaggleCredentials | None:
    """The user's Kaggle credentials, or None. A file that is there but unreadable is an
    AuthError naming the file (never the secret in it)."""
    environ = os.environ
    home = Path(environ.get("HOME") or Path.home())
    token_setting = environ.get("KAGGLE_API_TOKEN", "").strip()
    if token_setting and _names_a_file(token_setting):
        path = Path(token_setting).expanduser()
        token = _read_token(path)
        if token:
            return KaggleCredentials(f"Bearer {token}", str(path))
    elif token_setting:
        return KaggleCredentials(f"Bearer {token_setting}", "KAGGLE_API_TOKEN")
    for name in ("access_token", "access_token.txt"):
        path = home / ".kaggle" / name
        token = _read_token(path)
        if token:
            return KaggleCredentials(f"Bearer {token}", str(path))
    username, key = environ.get("KAGGLE_USERNAME"), environ.get("KAGGLE_KEY")
    if username and key:  # as the official client: the pair in the environment, no file read
        return KaggleCredentials(_basic(username, key), "KAGGLE_USERNAME and KAGGLE_KEY")
    config_file = _config_dir(environ, home) / "kaggle.json"
    stored = _read_kaggle_json(config_file)
    username, key = username or stored.get("username"), key or stored.get("key")
    if not username or not key:
        return None
    return KaggleCredentials(_basic(username, key), str(config_file))


def _basic(username: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{key}".encode()).decode("ascii")


def _names_a_file(setting: str) -> bool:
    """KAGGLE_API_TOKEN holds a token or a path to one; a token has no slash."""
    if "/" not in setting:
        return False
    try:
        return Path(setting).expanduser().is_file()
    except OSError:
        return False


def _read_token(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise AuthError(
            f"cannot read the Kaggle token in {path}: {reason}", hint=TOKEN_HINT
        ) from None


def _config_dir(environ: Mapping[str, str], home: Path) -> Path:
    if environ.get("KAGGLE_CONFIG_DIR"):
        return Path(environ["KAGGLE_CONFIG_DIR"]).expanduser()
    default = home / ".kaggle"
    if default.is_dir():
        return default
    return Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"


def _read_kaggle_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise AuthError(f"cannot read {path}: {exc.strerror}", hint=TOKEN_HINT) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        raise AuthError(f"{path} is not a JSON object with username and key", hint=TOKEN_HINT)
    return {k: v for k, v in data.items() if isinstance(v, str)}


def competition_download_link(
    competition: str,
    api_url: str,
    credentials: KaggleCredentials,
    settings: SourceSettings,
    trust: Trust,
) -> str:
    """The signed link to a competition's data archive, as Kaggle's API hands it out; a busy
    or failing API (429, 5xx, a dropped connection) is asked again, as any listing is."""
    url = api_url.rstrip("/") + "/" + DOWNLOAD_METHOD
    session = web_session(trust, settings.proxy)

    def ask() -> str:
        try:
            response = session.post(
                url,
                json={"competitionName": competition},
                headers={"Authorization": credentials.authorization},
                allow_redirects=False,
                timeout=(settings.connect_timeout_s, settings.stall_timeout_s),
            )
        except requests.RequestException as exc:
            doing = f"asking Kaggle for {competition}"
            raise request_failure(exc, doing, "Kaggle's API") from exc
        location = response.headers.get("Location")
        if response.status_code in _REDIRECTS and location:
            return urljoin(url, location)
        raise _refusal(response, url, competition, credentials)

    return settings.metadata_retries().run(ask)


def _refusal(
    response: requests.Response, url: str, competition: str, credentials: KaggleCredentials
) -> EgogetError:
    said = _kaggle_message(response)
    rules = f"https://www.kaggle.com/competitions/{competition}/rules"
    if response.status_code == 401:
        return AuthError(
            f"Kaggle refused the credentials from {credentials.origin} (HTTP 401{said})",
            hint=TOKEN_HINT,
        )
    if response.status_code == 403:
        return AuthError(
            f"Kaggle denied the data of {competition} (HTTP 403{said})",
            hint=f"accept the competition's rules once, signed in as the token's user: {rules}",
        )
    if response.status_code == 404:
        return ManifestError(f"Kaggle has no competition {competition} (HTTP 404{said})")
    if response.status_code == 429 or response.status_code >= 500:
        return default_error(
            response.status_code, "Kaggle's API", response.headers.get("Retry-After")
        )
    return TransferError(
        f"Kaggle answered {redact_url(url)} with HTTP {response.status_code}{said} instead of a "
        "download link"
    )


def _kaggle_message(response: requests.Response) -> str:
    """Kaggle's own words, when its error body carries them ({"code": ..., "message": ...})."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    return f": {message}" if isinstance(message, str) and message else ""
