"""SigV4 query-string presigning for S3 requests, without botocore's per-call machinery.

botocore's ``generate_presigned_url`` resolves the endpoint ruleset and builds a request object
on every call: a quarter of egoget's CPU per small file when profiled. The signature itself is
a few HMACs; the endpoint (scheme, host, path style) is taken from botocore once per bucket.
Tests hold this signer to botocore's exact signatures.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None
    expires_at: float | None = None  # epoch seconds; None for long-term keys


@dataclass(frozen=True)
class BucketEndpoint:
    """Where a bucket's objects are addressed: ``{scheme}://{host}{path_prefix}{key}``."""

    scheme: str
    host: str
    path_prefix: str  # "/bucket/" for path style, "/" for virtual-hosted style
    region: str


def _uri_encode(text: str, safe: str) -> str:
    return quote(text, safe=safe)


class QuerySigner:
    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, str], bytes] = {}
        self._queries: dict[tuple[str, str, str | None, str, int], str] = {}

    def _signing_key(self, secret: str, date: str, region: str) -> bytes:
        cache_key = (secret, date, region)
        key = self._keys.get(cache_key)
        if key is None:
            key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
            for part in (region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            if len(self._keys) > 64:
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    def presign_get(
        self,
        endpoint: BucketEndpoint,
        key: str,
        credentials: Credentials,
        expires_s: int,
        now: datetime | None = None,
    ) -> str:
        return self.presign_object("GET", endpoint, key, {}, credentials, expires_s, now)

    def presign_object(
        self,
        method: str,
        endpoint: BucketEndpoint,
        key: str,
        params: dict[str, str],
        credentials: Credentials,
        expires_s: int,
        now: datetime | None = None,
    ) -> str:
        path = endpoint.path_prefix + _uri_encode(key, "-_.~/")
        return self.presign(method, endpoint, path, params, credentials, expires_s, now)

    def presign_bucket_get(
        self,
        endpoint: BucketEndpoint,
        params: dict[str, str],
        credentials: Credentials,
        expires_s: int,
        now: datetime | None = None,
    ) -> str:
        """A GET on the bucket itself (ListObjectsV2 and friends), with its query parameters."""
        path = endpoint.path_prefix.rstrip("/") or "/"
        return self.presign("GET", endpoint, path, params, credentials, expires_s, now)

    def presign(
        self,
        method: str,
        endpoint: BucketEndpoint,
        path: str,
        params: dict[str, str],
        credentials: Credentials,
        expires_s: int,
        now: datetime | None = None,
    ) -> str:
        moment = time.gmtime() if now is None else now.astimezone(timezone.utc).timetuple()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", moment)
        date = amz_date[:8]
        scope = f"{date}/{endpoint.region}/s3/aws4_request"
        # Every object GET in the same second shares its query: only path and signature differ.
        cache_key = (amz_date, credentials.access_key, credentials.token, scope, expires_s)
        query = self._queries.get(cache_key) if not params else None
        if query is None:
            signed = {
                **params,
                "X-Amz-Algorithm": ALGORITHM,
                "X-Amz-Credential": f"{credentials.access_key}/{scope}",
                "X-Amz-Date": amz_date,
                "X-Amz-Expires": str(expires_s),
                "X-Amz-SignedHeaders": "host",
            }
            if credentials.token:
                signed["X-Amz-Security-Token"] = credentials.token
            query = "&".join(
                f"{_uri_encode(k, '-_.~')}={_uri_encode(v, '-_.~')}"
                for k, v in sorted(signed.items())
            )
            if not params:
                self._queries = {cache_key: query}
        canonical = f"{method}\n{path}\n{query}\nhost:{endpoint.host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = hmac.new(
            self._signing_key(credentials.secret_key, date, endpoint.region),
            to_sign.encode(),
            hashlib.sha256,
        ).hexdigest()
        return f"{endpoint.scheme}://{endpoint.host}{path}?{query}&X-Amz-Signature={signature}"
