"""Google Drive files by id (``gdrive://<file id>``), on requests and gdown's page parsers.

Drive answers a download with the file, or with an HTML page: the virus-scan form for large
files (its hidden inputs make the real download link), the "too many users" quota page, or a
sign-in page for a file that is not shared. Pages are told apart from files by what Drive sends
with a file (``Content-Disposition``), so an HTML page is never handed to the engine as data.
gdown keeps up with Drive's page formats; egoget reuses its confirm-form parser and folder
listing, and moves the bytes itself so that downloads resume by chunk and are verified.
"""

from __future__ import annotations

import builtins
import http.cookiejar
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

import requests
import urllib3.exceptions

from ..errors import (
    AccessDeniedError,
    NotFoundError,
    RemoteChangedError,
    RetryableError,
    StalledError,
    TransferError,
    UsageError,
)
from .base import ExactBody, RangeStream, RemoteStat, Source, SourceSettings

if TYPE_CHECKING:
    from . import SourceRegistry
from .http import HttpTransport, default_error, network_reason
from .network import requests_verify
from .web import request_failure, web_session

SCHEME = "gdrive"
DRIVE_HOSTS = frozenset({"drive.google.com", "docs.google.com", "drive.usercontent.google.com"})
# Named where their names do not resolve.
GOOGLE_HOSTS = "Google's hosts"
# Drive's own download endpoint; it redirects to drive.usercontent.google.com.
DOWNLOAD_URL = "https://drive.google.com/uc?id={file_id}&export=download"
# gdown's browser user agent: Drive serves the parseable page shapes to it.
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_1) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/39.0.2171.95 Safari/537.36"
)
# A confirm page leads to the file; more pages than this in a row means Drive is refusing.
MAX_PAGES = 3
QUOTA_MARKERS = ("too many users have viewed or downloaded", "quota exceeded")
QUOTA_HINT = (
    "Google limits downloads of a popular file per day: wait (up to 24 h) and rerun — finished "
    "files and chunks are kept — or pass --cookies FILE (cookies.txt exported from a browser "
    "signed in to Google), which draws on your account's own quota"
)
PRIVATE_HINT = (
    "the file is private, deleted, or the id is wrong; if you have access in a browser, pass "
    "--cookies FILE (cookies.txt exported from that browser)"
)


class DriveQuotaError(TransferError):
    """Google's per-file download quota: not worth retrying within this run."""


def drive_uri(file_id: str) -> str:
    return f"{SCHEME}://{file_id}"


_WEB_FILE = re.compile(r"^/file/(?:u/\d+/)?d/([-\w]{10,})")
_WEB_FOLDER = re.compile(r"^/drive/(?:u/\d+/)?folders/([-\w]{10,})")


def drive_link(uri: str) -> str | None:
    """``gdrive://ID`` for a Drive file link, ``gdrive://ID/`` for a folder link (like an S3
    prefix, a trailing slash means everything below), None when the URI is not Drive's."""
    parts = urlsplit(uri)
    if parts.scheme == SCHEME:
        return uri
    if parts.hostname not in DRIVE_HOSTS:
        return None
    if match := _WEB_FOLDER.match(parts.path):
        return f"{SCHEME}://{match.group(1)}/"
    if match := _WEB_FILE.match(parts.path):
        return drive_uri(match.group(1))
    ids = parse_qs(parts.query).get("id")
    return drive_uri(ids[0]) if ids else None


def drive_folder(registry: SourceRegistry, folder_id: str) -> list[tuple[str, str]]:
    """(file id, path) of every file in a Drive folder, through the run's Drive source."""
    source = registry.for_uri(drive_uri(folder_id))
    assert isinstance(source, DriveSource)
    return source.list_folder(folder_id)


def file_id_of(uri: str) -> str:
    file_id = urlsplit(uri).netloc
    if not file_id or not file_id.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"not a Drive file URI: {uri!r}", hint="write gdrive://<file id>")
    return file_id


def load_cookies(path: Path) -> http.cookiejar.MozillaCookieJar:
    jar = http.cookiejar.MozillaCookieJar(str(path))
    try:
        # Google keeps sign-in state partly in session cookies, which load() drops by default.
        jar.load(ignore_discard=True, ignore_expires=True)
    except (OSError, http.cookiejar.LoadError) as exc:
        raise UsageError(
            f"cannot read the cookies file {path}: {exc}",
            hint="export cookies.txt (Netscape format) from a browser signed in to Google",
        ) from exc
    for cookie in jar:
        # Browser exports write session cookies with expiry 0, which would count as expired.
        if cookie.expires == 0:
            cookie.expires = None
            cookie.discard = True
    return jar


class DriveSource(Source):
    list_hint = "Drive folders are listed as gdrive://FOLDER_ID/ (egoget fetch) or by the datasets"

    def __init__(self, settings: SourceSettings, transport: HttpTransport):
        self._settings = settings
        self._trust = transport.trust
        self._cookies = load_cookies(settings.drive_cookies) if settings.drive_cookies else None
        self._local = threading.local()
        # file id -> the link that served the file (past the confirm page), reused by every
        # chunk so each one costs one request.
        self._direct: dict[str, str] = {}
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = web_session(self._trust, self._settings.proxy)
            # Byte offsets must count the bytes on disk, not a compressed stream.
            session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
            if self._cookies is not None:
                session.cookies.update(self._cookies)
            self._local.session = session
        return session

    def _open(self, file_id: str, start: int, end: int) -> requests.Response:
        """A streaming response carrying the file's bytes [start, end), past any confirm page."""
        url = self._direct.get(file_id) or DOWNLOAD_URL.format(file_id=file_id)
        for _ in range(MAX_PAGES):
            try:
                response = self._session().get(
                    url,
                    headers={"Range": f"bytes={start}-{end - 1}"},
                    stream=True,
                    timeout=(self._settings.connect_timeout_s, self._settings.stall_timeout_s),
                )
            except requests.Timeout as exc:
                raise StalledError(f"no answer from Google Drive for {drive_uri(file_id)}") from exc
            except requests.RequestException as exc:
                raise request_failure(
                    exc, f"request to Google Drive for {drive_uri(file_id)}", GOOGLE_HOSTS
                ) from exc
            if _is_page(response):
                text = response.text
                response.close()
                url = _next_url_from_page(file_id, response, text)
                continue
            if response.status_code in (200, 206):
                with self._lock:
                    self._direct[file_id] = response.url
                return response
            response.close()
            raise _status_error(file_id, response)
        raise TransferError(
            f"Google Drive kept answering {drive_uri(file_id)} with pages instead of the file",
            hint=PRIVATE_HINT,
        )

    def stat(self, uri: str) -> RemoteStat:
        file_id = file_id_of(uri)
        response = self._open(file_id, 0, 1)
        try:
            if response.status_code == 206:
                total = response.headers.get("Content-Range", "").rpartition("/")[2]
                if not total.isdigit():
                    raise TransferError(f"Google Drive did not report the size of {uri}")
                return RemoteStat(size=int(total), etag=_strong_etag(response))
            length = response.headers.get("Content-Length", "")
            if not length.isdigit():
                raise TransferError(
                    f"Google Drive did not report the size of {uri} and ignores ranges"
                )
            return RemoteStat(size=int(length), etag=_strong_etag(response), accepts_ranges=False)
        finally:
            response.close()

    def file_name(self, uri: str) -> str:
        """The name the file has on Drive (its Content-Disposition)."""
        response = self._open(file_id_of(uri), 0, 1)
        response.close()
        disposition = response.headers.get("Content-Disposition", "")
        match = re.search(r"filename\*=UTF-8''([^;]+)", disposition) or re.search(
            r'filename="([^"]+)"', disposition
        )
        if not match:
            raise TransferError(
                f"Google Drive did not name {uri}", hint="give a name: gdrive://ID NAME in a list"
            )
        return unquote(match.group(1))

    def list_folder(self, folder_id: str) -> builtins.list[tuple[str, str]]:
        """(file id, path inside the folder) of every file in a shared Drive folder,
        recursively. Drive's folder pages give no sizes: each file is sized as it starts."""
        import gdown
        from gdown.download import GoogleDriveFileToDownload
        from gdown.exceptions import DownloadError

        cookies = self._settings.drive_cookies
        try:
            entries = gdown.download_folder(
                id=folder_id,
                skip_download=True,
                quiet=True,
                use_cookies=cookies is not None,
                cookies_file=str(cookies) if cookies else None,
                proxy=self._settings.proxy,
                verify=requests_verify(self._trust),
            )
        except DownloadError as exc:
            raise AccessDeniedError(
                f"cannot list the Google Drive folder {folder_id}: {str(exc).split('. ')[0]}",
                hint=PRIVATE_HINT,
            ) from None
        except requests.RequestException as exc:
            doing = f"listing the Google Drive folder {folder_id}"
            raise request_failure(exc, doing, GOOGLE_HOSTS) from exc
        # With skip_download gdown returns entries, not paths; the type covers both modes.
        return [(e.id, e.path) for e in entries or [] if isinstance(e, GoogleDriveFileToDownload)]

    def open_range(self, uri: str, start: int, end: int, validator: str | None) -> RangeStream:
        file_id = file_id_of(uri)
        response = self._open(file_id, start, end)
        got_etag = _strong_etag(response)
        if validator is not None and got_etag is not None and got_etag != validator:
            response.close()
            raise RemoteChangedError(f"{uri} changed since the download started; restarting it")
        if response.status_code == 200 and start != 0:
            response.close()
            raise RemoteChangedError(
                f"Google Drive sent all of {uri} instead of bytes {start}-{end - 1}; restarting"
            )
        return DriveStream(response, end - start, uri)


class DriveStream(ExactBody):
    def __init__(self, response: requests.Response, expected: int, uri: str):
        super().__init__(expected, uri)
        self._response = response

    def _read(self, view: memoryview) -> int:
        try:
            data = self._response.raw.read(len(view))
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise StalledError(f"no bytes from Google Drive for a while ({self._shown})") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RetryableError(
                f"connection broke while reading {self._shown} ({network_reason(exc)})"
            ) from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._response.close()


def _is_page(response: requests.Response) -> bool:
    """An HTML page about the file rather than the file: Drive sends files as attachments."""
    content_type = response.headers.get("Content-Type", "")
    return "Content-Disposition" not in response.headers and content_type.startswith("text/html")


def _next_url_from_page(file_id: str, response: requests.Response, text: str) -> str:
    """The download link a confirm page leads to; any other page becomes the error it shows."""
    from gdown.download import get_url_from_gdrive_confirmation
    from gdown.exceptions import FileURLRetrievalError

    shown = drive_uri(file_id)
    lowered = text.lower()
    if any(marker in lowered for marker in QUOTA_MARKERS):
        raise DriveQuotaError(
            f"Google Drive refuses {shown} for now: too many users have viewed or downloaded "
            "it recently",
            hint=QUOTA_HINT,
        )
    if urlsplit(response.url).hostname == "accounts.google.com":
        raise AccessDeniedError(f"Google Drive asks to sign in for {shown}", hint=PRIVATE_HINT)
    if response.status_code != 200:
        raise _status_error(file_id, response)
    try:
        return get_url_from_gdrive_confirmation(text)
    except FileURLRetrievalError as exc:
        reason = str(exc).split(". ")[0]
        raise NotFoundError(
            f"Google Drive offers no download of {shown}: {reason}", hint=PRIVATE_HINT
        ) from None


def _status_error(file_id: str, response: requests.Response) -> TransferError:
    """Drive's dialect (a private file's hint), then the HTTP mapping every source shares."""
    shown = drive_uri(file_id)
    status = response.status_code
    if status == 404:
        return NotFoundError(f"Google Drive has no file {shown} (HTTP 404)", hint=PRIVATE_HINT)
    if status in (401, 403):
        return AccessDeniedError(f"Google Drive refused {shown} (HTTP {status})", hint=PRIVATE_HINT)
    return default_error(status, f"Google Drive's {shown}", response.headers.get("Retry-After"))


def _strong_etag(response: requests.Response) -> str | None:
    etag = response.headers.get("ETag")
    return None if not etag or etag.startswith("W/") else etag
