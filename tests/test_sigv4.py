"""egoget's SigV4 query signer must produce botocore's signatures exactly."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config

from egoget.sources.sigv4 import BucketEndpoint, Credentials, QuerySigner

KEYS = ["public/v2_1/full_scale/0f0ee8d4.mp4", "takes/a b/ünï+code(1)~!*'.mp4", "x"]


@pytest.mark.parametrize("endpoint_url", ["http://127.0.0.1:8333", None])
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
@pytest.mark.parametrize("token", [None, "SESSION/token+with=chars"])
@pytest.mark.parametrize("key", KEYS)
def test_signatures_match_botocore(
    endpoint_url: str | None, region: str, token: str | None, key: str
) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="SECRETEXAMPLE",
        aws_session_token=token,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        ),
    )
    theirs = urlsplit(
        client.generate_presigned_url(
            "get_object", Params={"Bucket": "ego4d-cmu", "Key": key}, ExpiresIn=900
        )
    )
    query = parse_qs(theirs.query)
    moment = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=timezone.utc
    )
    # As S3Source does: the bucket's addressing, read off botocore's URL for the key "x".
    probe = urlsplit(
        client.generate_presigned_url("get_object", Params={"Bucket": "ego4d-cmu", "Key": "x"})
    )
    endpoint = BucketEndpoint(probe.scheme, probe.netloc, probe.path[:-1], region)
    ours = urlsplit(
        QuerySigner().presign_get(
            endpoint, key, Credentials("AKIDEXAMPLE", "SECRETEXAMPLE", token), 900, moment
        )
    )
    assert ours.path == theirs.path
    assert parse_qs(ours.query) == query
