"""egoget's SigV4 query signer must produce botocore's signatures exactly."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config

from egoget.sources.base import SourceSettings
from egoget.sources.http import HttpTransport
from egoget.sources.s3 import S3Source
from egoget.sources.sigv4 import BucketEndpoint, Credentials, QuerySigner

KEYS = ["public/v2_1/full_scale/0f0ee8d4.mp4", "takes/a b/ünï+code(1)~!*'.mp4", "x"]
CREDENTIALS = Credentials("AKIDEXAMPLE", "SECRETEXAMPLE")


def botocore_client(endpoint_url: str | None, region: str, token: str | None = None) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=CREDENTIALS.access_key,
        aws_secret_access_key=CREDENTIALS.secret_key,
        aws_session_token=token,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        ),
    )


def signed_at(query: dict[str, list[str]]) -> datetime:
    """The moment botocore signed at, so that ours signs at the same one."""
    return datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def bucket_endpoint(client: Any, region: str) -> BucketEndpoint:
    """As S3Source does on AWS: the bucket's addressing, read off botocore's URL for key "x"."""
    probe = urlsplit(
        client.generate_presigned_url("get_object", Params={"Bucket": "ego4d-cmu", "Key": "x"})
    )
    return BucketEndpoint(probe.scheme, probe.netloc, probe.path[:-1], region)


@pytest.mark.parametrize("endpoint_url", ["http://127.0.0.1:8333", None])
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
@pytest.mark.parametrize("token", [None, "SESSION/token+with=chars"])
@pytest.mark.parametrize("key", KEYS)
def test_signatures_match_botocore(
    endpoint_url: str | None, region: str, token: str | None, key: str
) -> None:
    client = botocore_client(endpoint_url, region, token)
    theirs = urlsplit(
        client.generate_presigned_url(
            "get_object", Params={"Bucket": "ego4d-cmu", "Key": key}, ExpiresIn=900
        )
    )
    query = parse_qs(theirs.query)
    ours = urlsplit(
        QuerySigner().presign_get(
            bucket_endpoint(client, region),
            key,
            Credentials(CREDENTIALS.access_key, CREDENTIALS.secret_key, token),
            900,
            signed_at(query),
        )
    )
    assert ours.path == theirs.path
    assert parse_qs(ours.query) == query


@pytest.mark.parametrize("endpoint_url", ["http://127.0.0.1:8333", "http://mirror:9000/s3", None])
@pytest.mark.parametrize("token", [None, "SESSION/token+with=chars"])
@pytest.mark.parametrize("continuation", [None, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="])
def test_listing_signatures_match_botocore(
    endpoint_url: str | None, token: str | None, continuation: str | None
) -> None:
    region = "eu-west-1"
    client = botocore_client(endpoint_url, region, token)
    params = {"Bucket": "ego4d-cmu", "Prefix": "public/v2 1/ü+", "EncodingType": "url"}
    if continuation:
        params["ContinuationToken"] = continuation
    theirs = urlsplit(client.generate_presigned_url("list_objects_v2", Params=params))
    query = parse_qs(theirs.query)
    ours_params = {"list-type": "2", "prefix": params["Prefix"], "encoding-type": "url"}
    if continuation:
        ours_params["continuation-token"] = continuation
    ours = urlsplit(
        QuerySigner().presign_bucket_get(
            bucket_endpoint(client, region),
            ours_params,
            Credentials(CREDENTIALS.access_key, CREDENTIALS.secret_key, token),
            3600,
            signed_at(query),
        )
    )
    assert (ours.netloc, ours.path) == (theirs.netloc, theirs.path)
    assert parse_qs(ours.query) == query


@pytest.mark.parametrize(
    "endpoint_url", ["http://127.0.0.1:8333", "http://mirror:9000/s3", "https://mirror/s3/"]
)
@pytest.mark.parametrize("region", ["eu-west-1", None])
def test_endpoint_url_addressing_matches_botocore(
    endpoint_url: str, region: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if region:
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    else:
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    probe = urlsplit(
        client.generate_presigned_url("get_object", Params={"Bucket": "ego4d-cmu", "Key": "x"})
    )
    scope_region = parse_qs(probe.query)["X-Amz-Credential"][0].split("/")[2]
    theirs = BucketEndpoint(probe.scheme, probe.netloc, probe.path[:-1], scope_region)
    settings = SourceSettings(
        max_connections=1, stall_timeout_s=1, connect_timeout_s=1, endpoint_url=endpoint_url
    )
    source = S3Source(settings, HttpTransport(settings))
    assert source._endpoint("ego4d-cmu") == theirs


@pytest.mark.parametrize("endpoint_url", ["http://127.0.0.1:8333", None])
def test_part_head_signature_matches_botocore(endpoint_url: str | None) -> None:
    client = botocore_client(endpoint_url, "us-east-1")
    key = KEYS[1]
    theirs = urlsplit(
        client.generate_presigned_url(
            "head_object", Params={"Bucket": "ego4d-cmu", "Key": key, "PartNumber": 1}
        )
    )
    query = parse_qs(theirs.query)
    ours = urlsplit(
        QuerySigner().presign_object(
            "HEAD",
            bucket_endpoint(client, "us-east-1"),
            key,
            {"partNumber": "1"},
            CREDENTIALS,
            3600,
            signed_at(query),
        )
    )
    assert ours.path == theirs.path
    assert parse_qs(ours.query) == query


def test_a_client_for_aws_itself_is_made_without_a_region_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The AWS path (no endpoint URL) asks botocore for the region; that must not wait on the
    lock its own caller holds."""
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings = SourceSettings(max_connections=1, stall_timeout_s=1, connect_timeout_s=1)
    source = S3Source(settings, HttpTransport(settings))
    made: list[object] = []
    worker = threading.Thread(target=lambda: made.append(source._client()), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert made, "making a client hung"
    assert made[0].meta.region_name == "us-east-1"  # type: ignore[attr-defined]
