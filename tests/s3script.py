"""A scripted S3 endpoint for what SeaweedFS cannot play: buckets in another region, and
temporary credentials that expire.

Its answers follow AWS's own, as users have recorded them in public issue trackers:
- a request signed in its Authorization header (boto3) for the wrong region: 400 with
  ``AuthorizationHeaderMalformed`` and ``<Region>`` (TTLabs/EvaporateJS#364);
- a presigned GET signed for the wrong region: 400 with ``AuthorizationQueryParametersError``,
  "Error parsing the X-Amz-Credential parameter; the region 'us-east-1' is wrong; expecting
  'eu-west-1'" and ``<Region>`` (aws/aws-cli#4338, HHS/Head-Start-TTADP#370);
- a HEAD signed for the wrong region: 400 with ``x-amz-bucket-region`` and no body (botocore's
  redirector handles exactly this case, ``is_special_head_object``);
- a bucket addressed at the wrong endpoint: 301 ``PermanentRedirect`` with ``<Endpoint>``, no
  Location, and ``x-amz-bucket-region`` (JuliaCloud/AWSS3.jl#25, yanganto/s3rs#18);
- an expired session token: ``ExpiredToken``, "The provided token has expired."
  (aws/aws-sdk-js#1099).
Signatures are not checked here (SeaweedFS checks them in the other tests); the region in the
credential scope and the session token are.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")
_AUTH_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")


class ScriptedS3(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, bucket_regions: dict[str, str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bucket_regions = bucket_regions
        self.objects: dict[tuple[str, str], bytes] = {}
        # "query-error" (signed for the wrong region) or "permanent-redirect" (wrong endpoint).
        self.wrong_region_answer = "query-error"
        # The region an error names, where it differs from the one the bucket wants (a
        # misconfigured gateway): then no re-signing can succeed.
        self.named_regions: dict[str, str] = {}
        # Which session tokens are still good; None: requests need none.
        self.token_valid: Callable[[str], bool] | None = None
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.objects[(bucket, key)] = body

    def answered(self, outcome: str) -> int:
        with self.lock:
            return sum(1 for entry in self.log if entry["outcome"] == outcome)


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedS3
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def _handle(self, head: bool) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        header_scope = _AUTH_CREDENTIAL.search(self.headers.get("Authorization", ""))
        scope = header_scope.group(1) if header_scope else query.get("X-Amz-Credential", "")
        signed_region = (scope.split("/")[2:3] or [""])[0]
        region = self.server.bucket_regions.get(bucket)
        if region is None:
            return self._error(404, "NoSuchBucket", "The specified bucket does not exist", head)
        if signed_region != region:
            named = self.server.named_regions.get(bucket, region)
            return self._wrong_region(bucket, signed_region, named, head, bool(header_scope))
        token_valid = self.server.token_valid
        if token_valid is not None and not token_valid(query.get("X-Amz-Security-Token", "")):
            return self._error(400, "ExpiredToken", "The provided token has expired.", head)
        if query.get("list-type") == "2":
            return self._list(bucket, query.get("prefix", ""))
        body = self.server.objects.get((bucket, key))
        if body is None:
            return self._error(404, "NoSuchKey", "The specified key does not exist.", head)
        self._record("served")
        etag = f'"{hashlib.md5(body).hexdigest()}"'
        start, end = 0, len(body)
        match = _RANGE.match(self.headers.get("Range", ""))
        if match and int(match.group(1)) >= len(body):
            return self._reply(416, "", head, {"Content-Range": f"bytes */{len(body)}"}, None)
        if match:
            start, end = int(match.group(1)), min(len(body), int(match.group(2)) + 1)
        self.send_response(206 if match else 200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(end - start))
        if match:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(body)}")
        self.end_headers()
        if not head:
            self.wfile.write(body[start:end])

    def _wrong_region(
        self, bucket: str, signed: str, region: str, head: bool, header_auth: bool
    ) -> None:
        if self.server.wrong_region_answer == "permanent-redirect":
            endpoint = f"{bucket}.s3-{region}.amazonaws.com"
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code>'
                "<Message>The bucket you are attempting to access must be addressed using the "
                "specified endpoint. Please send all future requests to this endpoint.</Message>"
                f"<Endpoint>{endpoint}</Endpoint><Bucket>{bucket}</Bucket>"
                "<RequestId>24035885437204DC</RequestId><HostId>scripted</HostId></Error>"
            )
            return self._reply(301, body, head, {"x-amz-bucket-region": region}, "redirected")
        if head:
            return self._reply(400, "", head, {"x-amz-bucket-region": region}, "redirected")
        if header_auth:
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
                "<Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is "
                f"malformed; the region '{signed}' is wrong; expecting '{region}'</Message>"
                f"<Region>{region}</Region><RequestId>scripted</RequestId></Error>"
            )
            return self._reply(400, body, head, {}, "redirected")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            "<Code>AuthorizationQueryParametersError</Code><Message>Error parsing the "
            f"X-Amz-Credential parameter; the region '{signed}' is wrong; expecting "
            f"'{region}'</Message><Region>{region}</Region>"
            "<RequestId>04E139156AC60A48</RequestId><HostId>scripted</HostId></Error>"
        )
        self._reply(400, body, head, {}, "redirected")

    def _list(self, bucket: str, prefix: str) -> None:
        self._record("listed")
        entries = "".join(
            f"<Contents><Key>{escape(key)}</Key><Size>{len(body)}</Size>"
            f"<ETag>&quot;{hashlib.md5(body).hexdigest()}&quot;</ETag></Contents>"
            for (b, key), body in sorted(self.server.objects.items())
            if b == bucket and key.startswith(prefix)
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
            'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<IsTruncated>false</IsTruncated>{entries}</ListBucketResult>"
        )
        self._reply(200, body, False, {}, None)

    def _error(self, status: int, code: str, message: str, head: bool) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>scripted</RequestId></Error>"
        )
        self._reply(status, "" if head else body, head, {}, code)

    def _reply(
        self, status: int, body: str, head: bool, headers: dict[str, str], outcome: str | None
    ) -> None:
        if outcome is not None:
            self._record(outcome)
        data = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _record(self, outcome: str) -> None:
        with self.server.lock:
            self.server.log.append({"path": self.path, "outcome": outcome, "at": time.time()})
