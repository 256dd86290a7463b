"""S3 and S3-compatible storage on boto3's standard credential chain.

Bytes and listings go through requests egoget presigns itself on its own keep-alive
connections: one presign per file, reused for all its ranges, with ``If-Match`` pinning every
range to the ETag the file was started with. botocore is asked only what it alone knows, once:
credentials other than environment keys, and how a bucket on AWS itself is addressed. With an
endpoint URL and keys in the environment (a local mirror) it is never imported, which took a
third of a second of every run.
"""

from __future__ import annotations

import builtins
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, unquote_plus, urlsplit
from xml.etree import ElementTree

from ..constants import (
    LISTING_PAGE_MAX_BYTES,
    METADATA_MAX_ATTEMPTS,
    PRESIGN_EXPIRY_S,
    endpoint_from_environment,
)
from ..errors import (
    CREDENTIALS_HINT,
    AccessDeniedError,
    AuthError,
    EgogetError,
    NotFoundError,
    RetryableError,
    TransferError,
    UnreachableError,
    UsageError,
)
from .base import RangeStream, RemoteStat, Source, SourceSettings
from .http import (
    ErrorClassifier,
    HttpTransport,
    ResponseHeaders,
    default_error,
    read_error_body,
)
from .network import PROXY_HINT, TLS_HINT, botocore_verify, profile_exists
from .sigv4 import BucketEndpoint, Credentials, QuerySigner

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")

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
# Temporary credentials (SSO, roles, credential_process) that ran out: refreshing them helps.
_EXPIRED_CREDENTIAL_CODES = frozenset({"ExpiredToken", "TokenRefreshRequired"})
# The request was signed for, or sent to, another region than the bucket's; the answer names
# the right one (<Region>, or the x-amz-bucket-region header), as botocore's redirector reads it.
_WRONG_REGION_CODES = frozenset(
    {
        "AuthorizationHeaderMalformed",
        "AuthorizationQueryParametersError",
        "PermanentRedirect",
        "IllegalLocationConstraintException",
    }
)
_ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "403", "Forbidden"})
_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_XML_REGION = re.compile(rb"<Region>([^<]+)</Region>")
_XML_ENDPOINT = re.compile(rb"<Endpoint>([^<]+)</Endpoint>")
_REGION_NAME = re.compile(r"^[a-z0-9-]{1,64}$")
# A presigned URL is not reused closer than this to its credentials' expiry.
CREDENTIAL_EXPIRY_MARGIN_S = 10.0
PRESIGNED_CACHE_ENTRIES = 1024
LISTING_PAGE_KEYS = 1000  # S3's own maximum


def split_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise UsageError(f"not an S3 URI: {uri!r}", hint="write it as s3://bucket/key")
    return parts.netloc, parts.path.lstrip("/")


class ExpiredCredentialsError(AuthError):
    """Temporary credentials expired: refreshed once and the request repeated before the run
    is stopped."""


class WrongRegionError(TransferError):
    """S3 named another region (or endpoint) for the bucket: re-signed once for it."""

    def __init__(self, message: str, code: str, region: str | None, endpoint: str | None):
        super().__init__(message)
        self.code = code
        self.region = region
        self.endpoint = endpoint


def credential_error(code: str, shown: str) -> AuthError:
    cls = ExpiredCredentialsError if code in _EXPIRED_CREDENTIAL_CODES else AuthError
    return cls(f"S3 refused the credentials ({code}) for {shown}", hint=CREDENTIALS_HINT)


def _xml_field(pattern: re.Pattern[bytes], body: bytes) -> str | None:
    match = pattern.search(body)
    return match.group(1).decode("ascii", "replace").strip() if match else None


def access_denied(bucket: str, shown: str) -> AccessDeniedError:
    return AccessDeniedError(
        f"access denied to {shown}",
        hint=f"your credentials may not cover bucket {bucket!r}; if nothing works, "
        + CREDENTIALS_HINT,
    )


class S3Source(Source):
    def __init__(self, settings: SourceSettings, transport: HttpTransport):
        self._settings = settings
        self._transport = transport
        self._endpoint_url = settings.endpoint_url or endpoint_from_environment()
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, S3Client] = {}
        self._bucket_regions: dict[str, str] = {}
        # Bounded: only files in flight need their URL; a 10,000-file run must not grow this.
        self._presigned: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._signer = QuerySigner()
        self._endpoints: dict[str, BucketEndpoint] = {}
        self._profile = settings.aws_profile
        if self._profile == "default" and not profile_exists("default"):
            # The official CLI's own default, written into most of its configs: where no such
            # profile exists, the standard chain (keys in the environment, SSO, roles) is what
            # the user has. Failing here is one of the official CLI's most reported problems.
            self._profile = None
            settings.notify(
                "AWS profile 'default' does not exist; using the standard credential chain "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, SSO, instance role) instead"
            )
        # Read once: every presign asks, and the environment does not change during a run.
        self._environment_keys = self._environment_credentials()

    # --- botocore, for what only it knows ---------------------------------------------------

    def _boto_session(self) -> boto3.session.Session:
        with self._lock:
            if self._session is None:
                import boto3
                import botocore.exceptions

                try:
                    self._session = boto3.session.Session(profile_name=self._profile)
                except botocore.exceptions.ProfileNotFound as exc:
                    raise AuthError(
                        f"AWS profile {self._profile!r} does not exist",
                        hint="list profiles with `aws configure list-profiles`, or omit "
                        "--aws-profile to use environment variables / the default profile",
                    ) from exc
            return self._session

    def _client(self, region: str | None = None) -> S3Client:
        session = self._boto_session()
        from botocore.config import Config

        region = region or self._region()  # outside the lock: it may make the session
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                config = Config(
                    signature_version="s3v4",
                    max_pool_connections=max(10, self._settings.max_connections),
                    connect_timeout=self._settings.connect_timeout_s,
                    read_timeout=self._settings.stall_timeout_s,
                    retries={"mode": "standard", "max_attempts": METADATA_MAX_ATTEMPTS},
                    # Uploads carry Content-MD5, which every S3-compatible store checks; the
                    # newer CRC trailers are not understood by all of them.
                    request_checksum_calculation="when_required",
                    s3={
                        "addressing_style": "path" if self._endpoint_url else "auto",
                        # Uploads carry a signed Content-MD5 instead: hashing every byte
                        # again with SHA-256 (botocore's default over plain HTTP) cost a
                        # bucket copy a third of its CPU.
                        "payload_signing_enabled": False,
                    },
                )
                if self._settings.proxy:
                    config = config.merge(
                        Config(
                            proxies={"http": self._settings.proxy, "https": self._settings.proxy}
                        )
                    )
                client = session.client(
                    "s3",
                    endpoint_url=self._endpoint_url,
                    region_name=region,
                    config=config,
                    verify=botocore_verify(self._transport.trust),
                )
                self._clients[region] = client
            return client

    def _region(self) -> str:
        """The signing region for an endpoint URL, found where botocore looks first."""
        from_env = os.environ.get("AWS_DEFAULT_REGION")
        if from_env:
            return from_env
        return self._boto_session().region_name or "us-east-1"

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint given (flag or environment), or None for AWS."""
        return self._endpoint_url

    def client_for(self, bucket: str) -> S3Client:
        """botocore's client for a bucket (its region found once): for what egoget does not
        sign itself, such as a destination bucket's uploads."""
        return self._client_for_bucket(bucket)

    def classify(self, exc: Exception, bucket: str, shown: str) -> EgogetError:
        """What a botocore or network error means (credentials, access, not found, network)."""
        return self._classify_client_error(exc, bucket, shown)

    def _client_for_bucket(self, bucket: str) -> S3Client:
        if self._endpoint_url:
            return self._client()
        region = self._bucket_regions.get(bucket)
        if region is None:
            import botocore.exceptions

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

    def _endpoint(self, bucket: str) -> BucketEndpoint:
        """Where a bucket's objects are addressed (scheme, host, path style, region), once."""
        endpoint = self._endpoints.get(bucket)
        if endpoint is None:
            if self._endpoint_url:
                # botocore's path-style addressing of an endpoint URL; tests hold it to that.
                # A region S3 named for the bucket (a redirect) wins over the configured one.
                parts = urlsplit(self._endpoint_url)
                prefix = f"{parts.path.rstrip('/')}/{bucket}/"
                region = self._bucket_regions.get(bucket) or self._region()
                endpoint = BucketEndpoint(parts.scheme, parts.netloc, prefix, region)
            else:
                probe = self._client_for_bucket(bucket).generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": "x"}, ExpiresIn=60
                )
                parts = urlsplit(probe)
                scope = dict(parse_qsl(parts.query))["X-Amz-Credential"].split("/")
                endpoint = BucketEndpoint(parts.scheme, parts.netloc, parts.path[:-1], scope[2])
            self._endpoints[bucket] = endpoint
        return endpoint

    def _credentials(self) -> Credentials:
        if self._environment_keys is not None:
            return self._environment_keys
        import botocore.exceptions

        found = self._boto_session().get_credentials()
        if found is None:
            raise botocore.exceptions.NoCredentialsError()
        # Frozen per request: refreshable credentials (SSO, roles) renew underneath.
        frozen = found.get_frozen_credentials()
        if not frozen.access_key or not frozen.secret_key:
            raise botocore.exceptions.PartialCredentialsError(
                provider="boto3", cred_var="access key or secret key"
            )
        # botocore's RefreshableCredentials keep their expiry here (read after the freeze,
        # which may have refreshed them); static credentials have none.
        expiry: datetime | None = getattr(found, "_expiry_time", None)
        expires_at = expiry.timestamp() if isinstance(expiry, datetime) else None
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token, expires_at)

    def _refresh_credentials(self, error: AuthError) -> None:
        """Resolve the credential chain afresh (credential_process, SSO, role, instance
        metadata), as a new session would; keys in the environment cannot be refreshed."""
        if self._environment_keys is not None:
            raise error
        with self._lock:
            self._session = None
            self._clients.clear()
            self._presigned.clear()

    def _redirect(self, bucket: str, error: WrongRegionError) -> None:
        """Sign this bucket's requests for the region S3 named, for the rest of the run."""
        if error.region is None or not _REGION_NAME.match(error.region):
            raise TransferError(
                f"{error.message}; S3 names no usable region for it (endpoint given: "
                f"{error.endpoint or 'none'})",
                hint=f"pass --endpoint-url https://{error.endpoint}" if error.endpoint else None,
            )
        before = self._endpoint(bucket).region
        if before == error.region:
            return  # another worker redirected it meanwhile
        with self._lock:
            self._bucket_regions[bucket] = error.region
            self._endpoints.pop(bucket, None)
            self._presigned.clear()
        self._settings.notify(
            f"S3 bucket {bucket} is in region {error.region}, not {before} ({error.code}); "
            f"signing for {error.region} for the rest of the run"
        )

    def _recovering(self, bucket: str, call: Callable[[], T]) -> T:
        """Run one request; re-sign once for the region S3 names, and refresh expired temporary
        credentials once, before either counts as a failure."""
        redirected = refreshed = False
        while True:
            try:
                return call()
            except WrongRegionError as exc:
                if redirected:
                    endpoint = self._endpoint(bucket)
                    raise TransferError(
                        f"{exc.message}, even signed for region {endpoint.region} at "
                        f"{endpoint.scheme}://{endpoint.host} (S3 named region "
                        f"{exc.region or 'none'}, endpoint {exc.endpoint or 'none'})",
                        hint="pass --endpoint-url for the bucket's region, e.g. "
                        f"https://s3.{exc.region or 'REGION'}.amazonaws.com",
                    ) from exc
                self._redirect(bucket, exc)
                redirected = True
            except ExpiredCredentialsError as exc:
                if refreshed:
                    raise
                self._refresh_credentials(exc)
                refreshed = True

    def _environment_credentials(self) -> Credentials | None:
        """botocore's first provider, read directly: keys in the environment win unless a
        profile is named explicitly (--aws-profile). Expiring ones are left to botocore."""
        if self._profile is not None:
            return None
        env = os.environ
        access_key = env.get("AWS_ACCESS_KEY_ID")
        secret_key = env.get("AWS_SECRET_ACCESS_KEY")
        if not access_key or not secret_key or env.get("AWS_CREDENTIAL_EXPIRATION"):
            return None
        token = env.get("AWS_SECURITY_TOKEN") or env.get("AWS_SESSION_TOKEN") or None
        return Credentials(access_key, secret_key, token)

    # --- errors -------------------------------------------------------------------------------

    def _classify_client_error(
        self, exc: Exception, bucket: str, shown: str
    ) -> TransferError | AuthError | UnreachableError:
        if isinstance(exc, TransferError | AuthError | UnreachableError):
            return exc
        botocore_exceptions = sys.modules.get("botocore.exceptions")
        if botocore_exceptions is None:  # botocore never ran, so this is not its error
            if isinstance(exc, OSError):
                return RetryableError(f"S3 request for {shown} failed: {exc}")
            raise exc
        if isinstance(
            exc,
            botocore_exceptions.NoCredentialsError | botocore_exceptions.PartialCredentialsError,
        ):
            return AuthError(
                "no AWS credentials found",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run `aws configure`, or "
                "pass --aws-profile NAME",
            )
        if isinstance(exc, botocore_exceptions.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in _CREDENTIAL_ERROR_CODES:
                return credential_error(code, shown)
            if code in _ACCESS_DENIED_CODES or status == 403:
                return access_denied(bucket, shown)
            if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound") or status == 404:
                return NotFoundError(f"{shown} does not exist ({code})")
            return default_error(status, shown, None)
        # botocore's own calls (the bucket's region, credentials) meet the network too.
        if isinstance(exc, botocore_exceptions.SSLError):
            return UnreachableError(f"S3 request for {shown} failed: {exc}", hint=TLS_HINT)
        if isinstance(exc, botocore_exceptions.ProxyConnectionError):
            return UnreachableError(f"S3 request for {shown} failed: {exc}", hint=PROXY_HINT)
        if isinstance(exc, botocore_exceptions.BotoCoreError | OSError) or _is_urllib3_error(exc):
            return RetryableError(f"S3 request for {shown} failed: {exc}")
        raise exc

    def _classify_get(self, bucket: str) -> ErrorClassifier:
        def classify(
            status: int, body: bytes, shown: str, headers: ResponseHeaders
        ) -> TransferError | None:
            code = _xml_field(_XML_CODE, body) or ""
            if code in _CREDENTIAL_ERROR_CODES:
                return credential_error(code, shown)  # type: ignore[return-value]
            region = headers.get("x-amz-bucket-region") or _xml_field(_XML_REGION, body)
            if code in _WRONG_REGION_CODES or (status in (301, 400) and region):
                return WrongRegionError(
                    f"S3 refused {shown}: wrong region ({code or f'HTTP {status}'})",
                    code or f"HTTP {status}",
                    region,
                    _xml_field(_XML_ENDPOINT, body),
                )
            if status == 403:
                return access_denied(bucket, shown)
            if code == "SlowDown":
                return RetryableError(f"S3 asked to slow down (503 SlowDown) on {shown}")
            if code == "NoSuchBucket":
                return NotFoundError(f"{shown} does not exist (NoSuchBucket)")
            return None

        return classify

    # --- Source -------------------------------------------------------------------------------

    def stat(self, uri: str) -> RemoteStat:
        # A one-byte GET, not HEAD: a HEAD refused with 403 has no body to say whether the keys
        # are bad (exit 3) or merely lack access to this bucket.
        found = self._stat_once(uri)
        if found is None:  # an empty object has no byte 0
            found = self._head_once(uri, {}, {})
        return found

    def _stat_once(self, uri: str) -> RemoteStat | None:
        bucket, _ = split_s3_uri(uri)
        probe = self._recovering(
            bucket,
            lambda: self._transport.probe_size(
                self._presigned_url(uri), self._classify_get(bucket)
            ),
        )
        if probe is None:
            return None
        return RemoteStat(
            size=probe.size,
            etag=probe.headers.get("ETag"),
            version_id=probe.headers.get("x-amz-version-id"),
        )

    def _head_once(self, uri: str, params: dict[str, str], headers: dict[str, str]) -> RemoteStat:
        bucket, key = split_s3_uri(uri)
        return self._recovering(bucket, partial(self._head, bucket, key, uri, params, headers))

    def _head(
        self, bucket: str, key: str, uri: str, params: dict[str, str], headers: dict[str, str]
    ) -> RemoteStat:
        url, _ = self._signed(
            bucket,
            uri,
            lambda endpoint, credentials: self._signer.presign_object(
                "HEAD", endpoint, key, params, credentials, PRESIGN_EXPIRY_S
            ),
        )
        response = self._transport.request("HEAD", url, headers)
        read_error_body(response)  # a HEAD has none: this frees the connection
        if response.status not in (200, 206):  # 206: one part of a multipart object
            raise self._refusal(bucket, response.status, b"", uri, response.headers)
        return RemoteStat(
            size=int(response.headers.get("Content-Length") or "0"),
            etag=response.headers.get("ETag"),
            version_id=response.headers.get("x-amz-version-id"),
        )

    def list(self, prefix_uri: str, after: str | None = None) -> Iterator[tuple[str, RemoteStat]]:
        """ListObjectsV2, parsed with ElementTree: botocore's parser took longer than the
        request itself on thousands of keys (it parses every timestamp with dateutil)."""
        start_after = split_s3_uri(after)[1] if after else None
        for page in self._pages(prefix_uri, delimiter=None, start_after=start_after):
            yield from page.objects

    def folders(self, prefix_uri: str) -> builtins.list[str]:
        """The "folders" right below a prefix (ListObjectsV2's CommonPrefixes), as s3:// URIs
        ending in /: a release's versions, a version's datasets."""
        return [uri for page in self._pages(prefix_uri, delimiter="/") for uri in page.folders]

    def _pages(
        self, prefix_uri: str, delimiter: str | None, start_after: str | None = None
    ) -> Iterator[_ListingPage]:
        bucket, prefix = split_s3_uri(prefix_uri)
        token: str | None = None
        while True:
            params = {
                "list-type": "2",
                "prefix": prefix,
                "encoding-type": "url",
                "max-keys": str(LISTING_PAGE_KEYS),
            }
            if delimiter:
                params["delimiter"] = delimiter
            if start_after and not token:
                params["start-after"] = start_after
            if token:
                params["continuation-token"] = token
            listing = partial(self._listing_page, bucket, params, prefix_uri)
            page = self._settings.metadata_retries().run(partial(self._recovering, bucket, listing))
            yield page
            if not page.next_token:
                return
            token = page.next_token

    def _listing_page(self, bucket: str, params: dict[str, str], shown: str) -> _ListingPage:
        url, _ = self._signed(
            bucket,
            shown,
            lambda endpoint, credentials: self._signer.presign_bucket_get(
                endpoint, params, credentials, PRESIGN_EXPIRY_S
            ),
        )
        response = self._transport.request("GET", url, {})
        body = response.read_body(LISTING_PAGE_MAX_BYTES)
        if response.status != 200:
            raise self._refusal(bucket, response.status, body, shown, response.headers)
        return parse_listing(body, bucket, shown)

    def _signed(
        self, bucket: str, shown: str, sign: Callable[[BucketEndpoint, Credentials], str]
    ) -> tuple[str, float | None]:
        """A URL signed for this bucket, and when its credentials expire (epoch seconds, None
        for long-term keys): botocore's errors in finding the endpoint or the credentials
        become egoget's."""
        try:
            credentials = self._credentials()
            return sign(self._endpoint(bucket), credentials), credentials.expires_at
        except Exception as exc:
            raise self._classify_client_error(exc, bucket, shown) from exc

    def _refusal(
        self, bucket: str, status: int, body: bytes, shown: str, headers: ResponseHeaders
    ) -> TransferError:
        return self._classify_get(bucket)(status, body, shown, headers) or default_error(
            status, shown, headers.get("Retry-After")
        )

    def part_size(self, uri: str, stat: RemoteStat) -> int | None:
        if not stat.etag or "-" not in stat.etag:
            return None
        return self._head_once(uri, {"partNumber": "1"}, {"If-Match": stat.etag}).size

    def _presigned_url(self, uri: str) -> str:
        cached = self._presigned.get(uri)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        bucket, key = split_s3_uri(uri)
        url, credentials_expire_at = self._signed(
            bucket,
            uri,
            lambda endpoint, credentials: self._signer.presign_get(
                endpoint, key, credentials, PRESIGN_EXPIRY_S
            ),
        )
        # Reused for the file's other ranges, but never past its credentials' expiry: SSO and
        # role tokens last an hour or less, far less than the URL's own lifetime.
        reuse_s = PRESIGN_EXPIRY_S / 2
        if credentials_expire_at is not None:
            reuse_s = min(reuse_s, credentials_expire_at - time.time() - CREDENTIAL_EXPIRY_MARGIN_S)
        if reuse_s > 0:
            self._presigned[uri] = (url, now + reuse_s)
            while len(self._presigned) > PRESIGNED_CACHE_ENTRIES:
                self._presigned.popitem(last=False)
        return url

    def open_range(self, uri: str, start: int, end: int, validator: str | None) -> RangeStream:
        bucket, _ = split_s3_uri(uri)
        headers = {"If-Match": validator} if validator else {}
        classify = self._classify_get(bucket)
        return self._recovering(
            bucket,
            lambda: self._transport.get_range(
                self._presigned_url(uri), start, end, headers, classify, validator
            ),
        )

    def etag_is_md5(self, uri: str) -> bool:
        return True

    # expires_at: None, as the base's: egoget presigns S3 GETs itself, freshly.


class _ListingPage:
    __slots__ = ("folders", "next_token", "objects")

    def __init__(
        self, objects: list[tuple[str, RemoteStat]], next_token: str | None, folders: list[str]
    ):
        self.objects = objects
        self.next_token = next_token
        self.folders = folders


def parse_listing(body: bytes, bucket: str, shown: str) -> _ListingPage:
    """One ListObjectsV2 page (asked with encoding-type=url, so keys arrive percent-encoded:
    S3 keys may hold characters XML 1.0 cannot)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise RetryableError(f"the listing of {shown} was not valid XML ({exc})") from exc
    # Tags spelt out in the page's namespace: ElementTree finds a plain tag in C, while a
    # "{*}" wildcard goes through its Python path matcher (34 ms a 1,000-key page, not 4).
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    key_tag, size_tag, etag_tag = f"{ns}Key", f"{ns}Size", f"{ns}ETag"
    encoded = (root.findtext(f"{ns}EncodingType") or "").lower() == "url"
    contents = root.findall(f"{ns}Contents")
    if ns and not contents and root.findall("Contents"):
        # A root in S3's namespace by a prefix, its children in none: spelt as they are.
        ns = ""
        key_tag, size_tag, etag_tag = "Key", "Size", "ETag"
        contents = root.findall("Contents")
    objects = []
    for item in contents:
        key = item.findtext(key_tag) or ""
        if encoded and ("%" in key or "+" in key):
            key = unquote_plus(key)
        size = item.findtext(size_tag)
        if not size or not size.isdigit():
            raise TransferError(f"the listing of {shown} has no size for {key!r}")
        etag = item.findtext(etag_tag) or None
        objects.append((f"s3://{bucket}/{key}", RemoteStat(int(size), etag)))
    folders = []
    for item in root.findall(f"{ns}CommonPrefixes"):
        prefix = item.findtext(f"{ns}Prefix") or ""
        folders.append(f"s3://{bucket}/{unquote_plus(prefix) if encoded else prefix}")
    truncated = (root.findtext(f"{ns}IsTruncated") or "").lower() == "true"
    next_token = root.findtext(f"{ns}NextContinuationToken") if truncated else None
    if truncated and not next_token:
        raise TransferError(f"the listing of {shown} is truncated but gives no continuation")
    return _ListingPage(objects, next_token, folders)


def _is_urllib3_error(exc: Exception) -> bool:
    urllib3_exceptions = sys.modules.get("urllib3.exceptions")
    return urllib3_exceptions is not None and isinstance(exc, urllib3_exceptions.HTTPError)
