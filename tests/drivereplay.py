"""Google Drive, replayed: the page shapes Drive serves (in ``drive_pages/``), behind the URLs
egoget and gdown request, through the ``responses`` library. Nothing leaves the machine.

The pages are Drive's as gdown parses them: the virus-scan form (one line, hidden inputs), the
quota page, the sign-in page a private file redirects to, the 404 page and the embedded folder
view. Files are served with Drive's headers (attachment disposition) and honour Range.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import requests
import responses

PAGES = Path(__file__).parent / "drive_pages"
Reply = tuple[int, dict[str, str], bytes | str]
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def page(name: str, **fields: str) -> str:
    text = (PAGES / name).read_text()
    for key, value in fields.items():
        text = text.replace("{" + key + "}", value)
    return text


@dataclass
class DriveReplay:
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> (name, data)
    folders: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # id -> (name, ids)
    quota_exceeded: set[str] = field(default_factory=set)
    private: set[str] = field(default_factory=set)
    # Shared only with an account: served when the request carries a signed-in cookie.
    signed_in_only: set[str] = field(default_factory=set)
    # Files larger than this get the virus-scan page first, as on Drive (~100 MB there).
    scan_limit: int = 1024 * 1024
    # After this many body bytes of a file, the quota runs out for it (mid-download refusal).
    quota_after_bytes: dict[str, int] = field(default_factory=dict)
    requests_seen: Counter[str] = field(default_factory=Counter)
    body_bytes: int = 0

    def _file_response(
        self, request: requests.PreparedRequest, file_id: str
    ) -> tuple[int, dict[str, str], bytes]:
        name, data = self.files[file_id]
        header = request.headers.get("Range")
        start, end = 0, len(data) - 1
        status = 200
        if isinstance(header, str) and (match := _RANGE.match(header)):
            start = int(match.group(1))
            end = min(int(match.group(2)), len(data) - 1) if match.group(2) else len(data) - 1
            status = 206
        body = data[start : end + 1]
        limit = self.quota_after_bytes.get(file_id)
        if limit is not None and self.body_bytes >= limit:
            self.quota_exceeded.add(file_id)
            return 200, {"Content-Type": "text/html; charset=utf-8"}, _quota().encode()
        self.body_bytes += len(body)
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": (
                f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
            ),
            "Accept-Ranges": "bytes",
        }
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return status, headers, body

    def _usercontent(self, request: requests.PreparedRequest) -> Reply:
        query = parse_qs(urlsplit(request.url or "").query)
        file_id = query.get("id", [""])[0]
        if file_id in self.quota_exceeded:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, _quota()
        if file_id not in self.files:
            return 404, {"Content-Type": "text/html; charset=utf-8"}, page("not_found.html")
        name, data = self.files[file_id]
        if len(data) > self.scan_limit and query.get("confirm") != ["t"]:
            shown = f"{len(data) / 1e6:.0f}M"
            html = page(
                "virus_scan_warning.html", FILE_ID=file_id, FILE_NAME=name, SIZE_SHOWN=shown
            )
            return 200, {"Content-Type": "text/html; charset=utf-8"}, html
        return self._file_response(request, file_id)

    def _callback(self, request: requests.PreparedRequest) -> Reply:
        parts = urlsplit(request.url or "")
        self.requests_seen[f"{parts.hostname}{parts.path}"] += 1
        query = parse_qs(parts.query)
        if parts.hostname == "drive.google.com" and parts.path == "/uc":
            file_id = query.get("id", [""])[0]
            signed_in = "SID=" in str(request.headers.get("Cookie", ""))
            if file_id in self.private or (file_id in self.signed_in_only and not signed_in):
                login = "https://accounts.google.com/ServiceLogin?service=wise&continue=x"
                return 302, {"Location": login}, ""
            target = f"https://drive.usercontent.google.com/download?id={file_id}&export=download"
            return 303, {"Location": target}, ""
        if parts.hostname == "drive.usercontent.google.com":
            return self._usercontent(request)
        if parts.hostname == "accounts.google.com":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page("sign_in.html")
        if parts.path == "/embeddedfolderview":
            folder_id = query.get("id", [""])[0]
            if folder_id not in self.folders:
                return 404, {"Content-Type": "text/html"}, page("not_found.html")
            name, children = self.folders[folder_id]
            entries = "".join(
                page("embedded_folder_folder_entry.html", ID=c, NAME=self.folders[c][0])
                if c in self.folders
                else page("embedded_folder_file_entry.html", ID=c, NAME=self.files[c][0])
                for c in children
            )
            html = page("embedded_folder_view.html", FOLDER_NAME=name, ENTRIES=entries)
            return 200, {"Content-Type": "text/html; charset=utf-8"}, html
        return 404, {"Content-Type": "text/html"}, page("not_found.html")

    @contextmanager
    def active(self) -> Iterator[DriveReplay]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            pattern = re.compile(r"https://[a-z.]*google\.com/.*")
            mock.add_callback(responses.GET, pattern, callback=self._callback)
            yield self


def _quota() -> str:
    return page("quota_exceeded.html")
