"""S3 and S3-compatible storage on boto3's standard credential chain.

Metadata (HEAD, listings) goes through botocore; bytes go through presigned GETs on the shared
urllib3 pool (one presign per file, reused for all its ranges), with ``If-Match`` pinning every
range to the ETag the file was started with.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import botocore.exceptions
from botocore.config import Config
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from ..constants import ENV_EGOGET_ENDPOINT_URL, ENV_ENDPOINT_URL, PRESIGN_EXPIRY_S
from ..errors import (
    CREDENTIALS_HINT,
    AccessDeniedError,
    AuthError,
    NotFoundError,
    RetryableError,
    TransferError,
    UsageError,
)
from .base import RangeStream, RemoteStat, SourceSettings
from .http import HttpTransport, default_error
from .sigv4 import BucketEndpoint, Credentials, QuerySigner

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Codes that mean the credentials themselves are bad: every further request will fail too.
_CREDENTIAL_ERROR_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "TokenRefreshRequired",
        "InvalidToken",
        "RequestTimeTooSkewed",
        "InvalidClientTokenId",
    }
)
_ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "403", "Forbidden"})
_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")
PRESIGNED_CACHE_ENTRIES = 1024


def split_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise UsageError(f"not an S3 URI: {uri!r}", hint="write it as s3://bucket/key")
    return parts.netloc, parts.path.lstrip("/")


def credential_error(code: str, shown: str) -> AuthError:
    return AuthError(f"S3 refused the credentials ({code}) for {shown}", hint=CREDENTIALS_HINT)


def access_denied(bucket: str, shown: str) -> AccessDeniedError:
    return AccessDeniedError(
        f"access denied to {shown}",
        hint=f"your credentials may not cover bucket {bucket!r}; if nothing works, "
        + CREDENTIALS_HINT,
    )


class S3Source:
    def __init__(self, settings: SourceSettings, transport: HttpTransport):
        self._settings = settings
        self._transport = transport
        self._endpoint_url = (
            settings.endpoint_url
            or os.environ.get(ENV_EGOGET_ENDPOINT_URL)
            or os.environ.get(ENV_ENDPOINT_URL)
        )
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, S3Client] = {}
        self._bucket_regions: dict[str, str] = {}
        # Bounded: only files in flight need their URL; a 10,000-file run must not grow this.
        self._presigned: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._signer = QuerySigner()
        self._endpoints: dict[str, BucketEndpoint] = {}

    # --- clients ------------------------------------------------------------------------------

    def _client(self, region: str | None = None) -> S3Client:
        with self._lock:
            if self._session is None:
                try:
                    self._session = boto3.session.Session(profile_name=self._settings.aws_profile)
                except botocore.exceptions.ProfileNotFound as exc:
                    raise AuthError(
                        f"AWS profile {self._settings.aws_profile!r} does not exist",
                        hint="list profiles with `aws configure list-profiles`, or omit "
                        "--aws-profile to use environment variables / the default profile",
                    ) from exc
            region = region or self._session.region_name or "us-east-1"
            client = self._clients.get(region)
            if client is None:
                config = Config(
                    signature_version="s3v4",
                    max_pool_connections=max(10, self._settings.max_connections),
                    connect_timeout=self._settings.connect_timeout_s,
                    read_timeout=self._settings.stall_timeout_s,
                    retries={"mode": "standard", "max_attempts": 5},
                    s3={"addressing_style": "path" if self._endpoint_url else "auto"},
                )
                client = self._session.client(
                    "s3", endpoint_url=self._endpoint_url, region_name=region, config=config
                )
                self._clients[region] = client
            return client

    def _client_for_bucket(self, bucket: str) -> S3Client:
        if self._endpoint_url:
            return self._client()
        region = self._bucket_regions.get(bucket)
        if region is None:
            # A presigned SigV4 URL must name the bucket's own region; HeadBucket reports it
            # even when it answers 403.
            meta: Any
            try:
                meta = self._client().head_bucket(Bucket=bucket)["ResponseMetadata"]
            except botocore.exceptions.ClientError as exc:
                meta = exc.response.get("ResponseMetadata", {})
            headers: dict[str, Any] = dict(meta.get("HTTPHeaders", {}))
            region = str(headers.get("x-amz-bucket-region") or "us-east-1")
            self._bucket_regions[bucket] = region
        return self._client(region)

    # --- errors -------------------------------------------------------------------------------

    def _classify_client_error(
        self, exc: Exception, bucket: str, shown: str
    ) -> TransferError | AuthError:
        if isinstance(
            exc,
            botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError,
        ):
            return AuthError(
                "no AWS credentials found",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run `aws configure`, or "
                "pass --aws-profile NAME",
            )
        if isinstance(exc, botocore.exceptions.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in _CREDENTIAL_ERROR_CODES:
                return credential_error(code, shown)
            if code in _ACCESS_DENIED_CODES or status == 403:
                return access_denied(bucket, shown)
            if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound") or status == 404:
                return NotFoundError(f"{shown} does not exist ({code})")
            return default_error(status, shown, None)
        if isinstance(exc, botocore.exceptions.BotoCoreError | Urllib3HTTPError | OSError):
            return RetryableError(f"S3 request for {shown} failed: {exc}")
        raise exc

    def _classify_get(self, bucket: str) -> Any:
        def classify(status: int, body: bytes, shown: str) -> TransferError | None:
            match = _XML_CODE.search(body)
            code = match.group(1).decode("ascii", "replace") if match else ""
            if code in _CREDENTIAL_ERROR_CODES:
                return credential_error(code, shown)  # type: ignore[return-value]
            if status == 403:
                return access_denied(bucket, shown)
            if code == "SlowDown":
                return RetryableError(f"S3 asked to slow down (503 SlowDown) on {shown}")
            return None

        return classify

    # --- Source -------------------------------------------------------------------------------

    def stat(self, uri: str) -> RemoteStat:
        # A one-byte GET, not HEAD: a HEAD refused with 403 has no body to say whether the keys
        # are bad (exit 3) or merely lack access to this bucket.
        bucket, key = split_s3_uri(uri)
        client = self._client_for_bucket(bucket)
        try:
            response = client.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")
            response["Body"].close()
            size = int(str(response.get("ContentRange", "")).rpartition("/")[2])
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "InvalidRange":
                raise self._classify_client_error(exc, bucket, uri) from exc
            return self._head(client, bucket, key, uri)  # an empty object has no byte 0
        except Exception as exc:
            raise self._classify_client_error(exc, bucket, uri) from exc
        return RemoteStat(
            size=size, etag=response.get("ETag"), version_id=response.get("VersionId")
        )

    def _head(self, client: S3Client, bucket: str, key: str, uri: str) -> RemoteStat:
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise self._classify_client_error(exc, bucket, uri) from exc
        return RemoteStat(
            size=int(head["ContentLength"]), etag=head.get("ETag"), version_id=head.get("VersionId")
        )

    def list(self, prefix_uri: str) -> Iterator[tuple[str, RemoteStat]]:
        bucket, prefix = split_s3_uri(prefix_uri)
        paginator = self._client_for_bucket(bucket).get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    yield (
                        f"s3://{bucket}/{obj['Key']}",
                        RemoteStat(size=int(obj["Size"]), etag=obj.get("ETag")),
                    )
        except Exception as exc:
            raise self._classify_client_error(exc, bucket, prefix_uri) from exc

    def part_size(self, uri: str, stat: RemoteStat) -> int | None:
        if not stat.etag or "-" not in stat.etag:
            return None
        bucket, key = split_s3_uri(uri)
        try:
            head = self._client_for_bucket(bucket).head_object(
                Bucket=bucket, Key=key, PartNumber=1, IfMatch=stat.etag
            )
        except Exception as exc:
            raise self._classify_client_error(exc, bucket, uri) from exc
        return int(head["ContentLength"])

    def _endpoint(self, bucket: str) -> BucketEndpoint:
        """How botocore addresses this bucket (scheme, host, path style, region), asked once."""
        endpoint = self._endpoints.get(bucket)
        if endpoint is None:
            probe = self._client_for_bucket(bucket).generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": "x"}, ExpiresIn=60
            )
            parts = urlsplit(probe)
            scope = dict(parse_qsl(parts.query))["X-Amz-Credential"].split("/")
            endpoint = BucketEndpoint(parts.scheme, parts.netloc, parts.path[:-1], scope[2])
            self._endpoints[bucket] = endpoint
        return endpoint

    def _credentials(self) -> Credentials:
        self._client()  # makes the session
        assert self._session is not None
        found = self._session.get_credentials()
        if found is None:
            raise botocore.exceptions.NoCredentialsError()
        # Frozen per request: refreshable credentials (SSO, roles) renew underneath.
        frozen = found.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise botocore.exceptions.PartialCredentialsError(
                provider="boto3", cred_var="access key or secret key"
            )
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def _presigned_url(self, uri: str) -> str:
        cached = self._presigned.get(uri)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        bucket, key = split_s3_uri(uri)
        try:
            endpoint = self._endpoint(bucket)
            url = self._signer.presign_get(endpoint, key, self._credentials(), PRESIGN_EXPIRY_S)
        except Exception as exc:
            raise self._classify_client_error(exc, bucket, uri) from exc
        self._presigned[uri] = (url, now + PRESIGN_EXPIRY_S / 2)
        while len(self._presigned) > PRESIGNED_CACHE_ENTRIES:
            self._presigned.popitem(last=False)
        return url

    def open_range(self, uri: str, start: int, end: int, validator: str | None) -> RangeStream:
        bucket, _ = split_s3_uri(uri)
        headers = {"If-Match": validator} if validator else {}
        return self._transport.get_range(
            self._presigned_url(uri), start, end, headers, self._classify_get(bucket), validator
        )

    def etag_is_md5(self, uri: str) -> bool:
        return True

    def expires_at(self, uri: str) -> float | None:
        return None  # egoget presigns S3 GETs itself, freshly

    def redact(self, uri: str) -> str:
        return uri
