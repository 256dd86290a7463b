"""Kaggle's API as the official client meets it, replayed on a local server.

Shapes from the client's own code (Kaggle/kagglesdk, Kaggle/kaggle-cli): ``POST
/v1/competitions.CompetitionApiService/DownloadDataFiles`` with ``{"competitionName": NAME}``,
HTTP Basic ``username:key`` or a Bearer token; answered by a 302 to a signed Cloud Storage URL
(a fresh signature each time) for the competition's ``archive.zip``. A wrong token is a bare 401;
rules not yet accepted, a 403 with Kaggle's JSON error body (as reported in openai/mle-bench#29).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

METHOD_PATH = "/v1/competitions.CompetitionApiService/DownloadDataFiles"
ARCHIVE_PATH = "/kaggle-competitions-data/kaggle-v2/5123/874123/bundle/archive.zip"
RULES_MESSAGE = "You must accept this competition's rules before you'll be able to download files."


class KaggleApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, storage_base: str, authorization: str, competition: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.storage_base = storage_base  # where the signed link points (the archive's server)
        self.authorization = authorization  # the one header value it accepts
        self.competition = competition
        self.rules_accepted = True
        self.fail_statuses: list[int] = []  # answered, in order, before anything else
        self.posts: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/"

    def signed_link(self) -> str:
        expires = int(time.time()) + 3600
        signature = f"sig{len(self.posts)}%2Bx%3D"
        return (
            f"{self.storage_base}{ARCHIVE_PATH}?GoogleAccessId=web-data@kaggle-161607.iam."
            f"gserviceaccount.com&Expires={expires}&Signature={signature}"
        )


class _Handler(BaseHTTPRequestHandler):
    server: KaggleApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        api = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        api.posts.append((dict(self.headers), body))
        if api.fail_statuses:
            return self._reply(api.fail_statuses.pop(0), b"")
        if self.path != METHOD_PATH:
            return self._reply(404, b"")
        if self.headers.get("Authorization") != api.authorization:
            return self._reply(401, b"")
        if json.loads(body).get("competitionName") != api.competition:
            return self._reply(404, json.dumps({"code": 404, "message": "Not found"}).encode())
        if not api.rules_accepted:
            return self._reply(403, json.dumps({"code": 403, "message": RULES_MESSAGE}).encode())
        self.send_response(302)
        self.send_header("Location", api.signed_link())
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def kaggle_api(storage_base: str, authorization: str, competition: str) -> Iterator[KaggleApi]:
    api = KaggleApi(storage_base, authorization, competition)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    try:
        yield api
    finally:
        api.shutdown()
        api.server_close()
