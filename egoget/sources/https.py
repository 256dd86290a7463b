"""Plain and presigned HTTP(S) URLs, e.g. EgoSchema's Wasabi links."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

from ..errors import TransferError
from .base import RangeStream, RemoteStat, Source, SourceSettings
from .http import HttpTransport, ResponseHeaders, default_error, redact_url


def _classify(
    status: int, body: bytes, shown: str, headers: ResponseHeaders
) -> TransferError | None:
    if status not in (401, 403):
        return None
    if b"expired" in body.lower():
        return TransferError(
            f"the link for {shown} has expired",
            hint="presigned links are valid for a limited time; get a fresh URL list",
        )
    return TransferError(
        f"{shown} refused access (HTTP {status})",
        hint="the link may be stale or private; get a fresh link from the dataset's source",
    )


def presigned_expiry(url: str) -> float | None:
    """Expiry of an S3-style presigned URL: SigV4 X-Amz-Date + X-Amz-Expires, or SigV2 Expires."""
    query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query)}
    if "x-amz-date" in query and "x-amz-expires" in query:
        try:
            signed = datetime.strptime(query["x-amz-date"], "%Y%m%dT%H%M%SZ")
            return signed.replace(tzinfo=timezone.utc).timestamp() + int(query["x-amz-expires"])
        except ValueError:
            return None
    if "expires" in query and ("signature" in query or "awsaccesskeyid" in query):
        return float(query["expires"]) if query["expires"].isdigit() else None
    return None


class HttpsSource(Source):
    list_hint = "HTTP has no directory listing: pass each URL, or a file of URLs with --from-file"

    def __init__(self, settings: SourceSettings, transport: HttpTransport):
        self._transport = transport

    def stat(self, uri: str) -> RemoteStat:
        probe = self._transport.probe_size(uri, _classify)
        if probe is None:
            raise default_error(416, redact_url(uri), None)
        etag = probe.headers.get("ETag")
        # Weak validators cannot pin a byte range (RFC 9110 If-Range).
        return RemoteStat(
            size=probe.size,
            etag=None if etag and etag.startswith("W/") else etag,
            accepts_ranges=probe.accepts_ranges,
        )

    def open_range(self, uri: str, start: int, end: int, validator: str | None) -> RangeStream:
        headers = {"If-Range": validator} if validator else {}
        return self._transport.get_range(uri, start, end, headers, _classify, validator)

    def etag_is_md5(self, uri: str) -> bool:
        # Presigned S3-style links (Wasabi, S3) carry S3's ETags; other servers' are opaque.
        query = urlsplit(uri).query
        return "X-Amz-Signature=" in query or "Signature=" in query

    def expires_at(self, uri: str) -> float | None:
        return presigned_expiry(uri)

    def redact(self, uri: str) -> str:
        return redact_url(uri)
