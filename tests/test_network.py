"""Networks shaped like real ones: a proxy-only cluster, a private CA, hosts that cannot be
reached. Real parts only: tinyproxy, SeaweedFS serving S3 over TLS, a TLS HTTP server."""

from __future__ import annotations

import base64
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from egoget.sources.network import ProxyRules, parse_proxy
from tests.mirror import SeaweedServer
from tests.mirror.seed import CONSORTIUM_BUCKET, MirrorObject, object_bytes

from .conftest import assert_same_bytes, no_part_files, run_cli
from .httpserver import ContentServer
from .proxy import PROXY_ONLY_HOST, Tinyproxy
from .tls import PrivateCa

CaptureFixture = pytest.CaptureFixture[str]
MIB = 1024 * 1024
ANNOTATIONS = f"s3://{CONSORTIUM_BUCKET}/public/v2_1/annotations/"


def consortium_annotations(objects: list[MirrorObject]) -> list[MirrorObject]:
    return [o for o in objects if o.uri.startswith(ANNOTATIONS) and o.uri != ANNOTATIONS]


def video_objects(objects: list[MirrorObject]) -> list[MirrorObject]:
    return [o for o in objects if o.key.endswith(".mp4") and "/full_scale/" in o.key]


@pytest.fixture
def tls_server(private_ca: PrivateCa) -> Iterator[ContentServer]:
    """The test HTTP server, speaking TLS with a certificate from the private CA."""
    server = ContentServer()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(private_ca.cert_file, private_ca.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def https_url(server: ContentServer, path: str) -> str:
    return f"https://localhost:{server.server_address[1]}{path}"


# --- proxies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_download_reaches_a_host_only_the_proxy_can_resolve(
    variable: str, forward_proxy: Tinyproxy, s3_server: SeaweedServer,
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{PROXY_ONLY_HOST}:{s3_server.port}")
    monkeypatch.setenv(variable, forward_proxy.url())
    before = len(forward_proxy.requests_seen())
    out = tmp_path / "out"
    result = run_cli(["download", "ego4d", "--parts", "full_scale", "-o", str(out), "-y"], capsys)
    assert result.exit_code == 0, result.output
    for obj in video_objects(demo_objects):
        assert_same_bytes(out / "v2/full_scale" / obj.key.rsplit("/", 1)[1], obj)
    seen = forward_proxy.requests_seen()[before:]
    # Plain-HTTP targets are handed to the proxy in absolute form, as requests does.
    assert seen and all(
        line.split(" ")[1].startswith(f"http://{PROXY_ONLY_HOST}:") for line in seen
    ), seen


def test_s3_over_tls_goes_through_a_connect_tunnel(
    forward_proxy: Tinyproxy, s3_server: SeaweedServer, private_ca: PrivateCa,
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.https_endpoint_url(PROXY_ONLY_HOST))
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url())
    monkeypatch.setenv("AWS_CA_BUNDLE", str(private_ca.ca_file))
    before = len(forward_proxy.requests_seen())
    out = tmp_path / "out"
    result = run_cli(["fetch", ANNOTATIONS, "-o", str(out)], capsys)
    assert result.exit_code == 0, result.output
    client = s3_server.client()
    for obj in consortium_annotations(demo_objects):
        served = client.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()
        assert (out / obj.key.removeprefix("public/v2_1/annotations/")).read_bytes() == served
    seen = forward_proxy.requests_seen()[before:]
    assert seen and all(
        line.startswith(f"CONNECT {PROXY_ONLY_HOST}:{s3_server.https_port}") for line in seen
    )
    # Kept-alive tunnels: far fewer CONNECTs than files.
    assert len(seen) <= 8


def test_boto3_reaches_the_proxy_only_host_the_same_way(
    forward_proxy: Tinyproxy, s3_server: SeaweedServer, demo_objects: list[MirrorObject],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The set-up holds for the official CLI's engine too: the comparison is fair."""
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{PROXY_ONLY_HOST}:{s3_server.port}",
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        region_name="us-east-1",
        config=Config(
            proxies={"http": forward_proxy.url()},
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=2,
        ),
    )
    obj = video_objects(demo_objects)[0]
    assert client.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read() == object_bytes(
        obj.key, obj.size
    )


def test_without_the_proxy_the_host_fails_fast_naming_it(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{PROXY_ONLY_HOST}:{s3_server.port}")
    started = time.monotonic()
    result = run_cli(
        ["fetch", *(o.uri for o in video_objects(demo_objects)), "-o", str(tmp_path / "o")],
        capsys,
    )
    assert result.exit_code == 6, result.output
    assert time.monotonic() - started < 10
    assert f"cannot resolve the host name of {PROXY_ONLY_HOST}" in result.stderr
    assert "HTTPS_PROXY" in result.stderr


def test_no_proxy_sends_the_host_direct(
    forward_proxy: Tinyproxy, s3_server: SeaweedServer, demo_objects: list[MirrorObject],
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """NO_PROXY wins over the proxy: the proxy-only name then does not resolve (exit 6),
    while 127.0.0.1, also listed, is reached directly."""
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url())
    monkeypatch.setenv("NO_PROXY", "example.org, .proxy-only.test,127.0.0.0/8")
    before = len(forward_proxy.requests_seen())
    obj = video_objects(demo_objects)[0]
    direct = run_cli(["fetch", obj.uri, "-o", str(tmp_path / "direct")], capsys)
    assert direct.exit_code == 0, direct.output
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{PROXY_ONLY_HOST}:{s3_server.port}")
    bypassed = run_cli(["fetch", obj.uri, "-o", str(tmp_path / "bypassed")], capsys)
    assert bypassed.exit_code == 6, bypassed.output
    assert forward_proxy.requests_seen()[before:] == []


def test_proxy_flag_overrides_the_environment(
    forward_proxy: Tinyproxy, s3_server: SeaweedServer, demo_objects: list[MirrorObject],
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{PROXY_ONLY_HOST}:{s3_server.port}")
    obj = video_objects(demo_objects)[0]
    result = run_cli(
        ["fetch", obj.uri, "-o", str(tmp_path), "--proxy", forward_proxy.url()], capsys
    )
    assert result.exit_code == 0, result.output
    assert_same_bytes(tmp_path / obj.key.rsplit("/", 1)[1], obj)


def test_a_dead_proxy_is_named_and_fails_fast(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    started = time.monotonic()
    objs = video_objects(demo_objects)
    result = run_cli(["fetch", *(o.uri for o in objs), "-o", str(tmp_path)], capsys)
    assert result.exit_code == 6, result.output
    assert time.monotonic() - started < 10
    assert "cannot connect to the proxy http://127.0.0.1:9" in result.stderr
    assert not list(tmp_path.glob("*.mp4"))


def test_proxy_credentials_from_the_url(
    auth_proxy: Tinyproxy, s3_server: SeaweedServer, private_ca: PrivateCa,
    demo_objects: list[MirrorObject], tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """user:password@ in the proxy URL becomes Proxy-Authorization, on forwarded requests and
    on CONNECT; without it the proxy's 407 is a clear, fast error."""
    obj = video_objects(demo_objects)[0]
    _, password = auth_proxy.basic_auth or ("", "")
    url = auth_proxy.url()
    monkeypatch.setenv("HTTPS_PROXY", url)
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(private_ca.ca_file))
    for endpoint in (
        f"http://{PROXY_ONLY_HOST}:{s3_server.port}",
        s3_server.https_endpoint_url(PROXY_ONLY_HOST),
    ):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        out = tmp_path / endpoint.partition(":")[0]
        result = run_cli(["fetch", obj.uri, "-o", str(out)], capsys)
        assert result.exit_code == 0, result.output
        assert_same_bytes(out / obj.key.rsplit("/", 1)[1], obj)
    monkeypatch.setenv("HTTPS_PROXY", auth_proxy.url(with_credentials=False))
    result = run_cli(["fetch", obj.uri, "-o", str(tmp_path / "denied")], capsys)
    assert result.exit_code == 6, result.output
    assert f"the proxy {auth_proxy.url(with_credentials=False)} refused" in result.stderr
    assert "407" in result.stderr
    assert password not in result.output


def test_proxy_credentials_are_percent_decoded() -> None:
    proxy = parse_proxy("http://us%40er:p%3Ass%20w@proxy.example:3128", "HTTPS_PROXY")
    assert (proxy.host, proxy.port) == ("proxy.example", 3128)
    assert proxy.authorization == "Basic " + base64.b64encode(b"us@er:p:ss w").decode()
    assert "p%3Ass" not in proxy.shown and "us%40er" not in proxy.shown


def test_socks_proxy_is_refused_up_front(
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    result = run_cli(["fetch", "s3://bucket/key", "-o", str(tmp_path)], capsys)
    assert result.exit_code == 2, result.output
    assert "ALL_PROXY is a socks5:// proxy" in result.stderr


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypassed"),
    [
        ("*", "anything.example", 443, True),
        ("example.com", "example.com", 443, True),
        ("example.com", "s3.example.com", 443, True),
        (".example.com", "s3.example.com", 443, True),
        ("example.com", "notexample.com", 443, False),
        ("example.com:8443", "example.com", 8443, True),
        ("example.com:8443", "example.com", 443, False),
        ("10.0.0.0/8", "10.1.2.3", 80, True),
        ("10.0.0.0/8", "11.1.2.3", 80, False),
        ("192.168.1.5", "192.168.1.5", 80, True),
        ("", "example.com", 443, False),
    ],
)
def test_no_proxy_rules(
    no_proxy: str, host: str, port: int, bypassed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", no_proxy)
    proxy = ProxyRules().for_host("https", host, port)
    assert (proxy is None) == bypassed


def test_lowercase_proxy_variables_win_and_an_empty_one_disables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://upper.example:1")
    monkeypatch.setenv("https_proxy", "http://lower.example:2")
    chosen = ProxyRules().for_host("https", "host", 443)
    assert chosen is not None and chosen.host == "lower.example"
    monkeypatch.setenv("https_proxy", "")
    assert ProxyRules().for_host("https", "host", 443) is None


# --- certificates ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["--ca-bundle", "AWS_CA_BUNDLE", "profile ca_bundle"])
def test_s3_over_tls_with_a_private_ca(
    how: str, s3_server: SeaweedServer, private_ca: PrivateCa, demo_objects: list[MirrorObject],
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.https_endpoint_url())
    args = []
    if how == "--ca-bundle":
        args = ["--ca-bundle", str(private_ca.ca_file)]
    elif how == "AWS_CA_BUNDLE":
        monkeypatch.setenv("AWS_CA_BUNDLE", str(private_ca.ca_file))
    else:
        config = tmp_path / "aws-config"
        config.write_text(f"[default]\nca_bundle = {private_ca.ca_file}\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    objs = video_objects(demo_objects)
    out = tmp_path / "out"
    result = run_cli(["fetch", *(o.uri for o in objs), "-o", str(out), *args], capsys)
    assert result.exit_code == 0, result.output
    for obj in objs:
        assert_same_bytes(out / obj.key.rsplit("/", 1)[1], obj)


def test_untrusted_certificate_fails_in_seconds_with_a_hint(
    s3_server: SeaweedServer, demo_objects: list[MirrorObject], tmp_path: Path,
    capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.https_endpoint_url())
    # REQUESTS_CA_BUNDLE is requests' setting: S3 follows boto3, which ignores it.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    objs = video_objects(demo_objects)
    started = time.monotonic()
    result = run_cli(["fetch", *(o.uri for o in objs), "-o", str(tmp_path)], capsys)
    assert result.exit_code == 6, result.output
    assert time.monotonic() - started < 10
    assert "cannot verify the TLS certificate of 127.0.0.1" in result.stderr
    assert "--ca-bundle" in result.stderr
    assert not no_part_files(tmp_path) and not list(tmp_path.glob("*.mp4"))


def test_https_urls_trust_requests_ca_bundle(
    tls_server: ContentServer, private_ca: PrivateCa, tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    body = object_bytes("tls", 3 * MIB + 5)
    tls_server.files["/v.mp4"] = body
    url = https_url(tls_server, "/v.mp4")
    refused = run_cli(["fetch", url, "-o", str(tmp_path / "a")], capsys)
    assert refused.exit_code == 6, refused.output
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(private_ca.ca_file))
    result = run_cli(["fetch", url, "-o", str(tmp_path / "b")], capsys)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "v.mp4").read_bytes() == body


def test_empty_system_store_falls_back_to_certifi(
    tls_server: ContentServer, private_ca: PrivateCa, tmp_path: Path, capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """As on a python.org macOS build before "Install Certificates": no CA in the system store.
    certifi's bundle is stood in for by the private CA, since no public CA can sign here."""
    import certifi

    from egoget.sources import network

    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-file.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    monkeypatch.setattr(certifi, "where", lambda: str(private_ca.ca_file))
    network.tls_context.cache_clear()
    try:
        body = object_bytes("certifi", MIB)
        tls_server.files["/c.bin"] = body
        result = run_cli(["fetch", https_url(tls_server, "/c.bin"), "-o", str(tmp_path)], capsys)
    finally:
        network.tls_context.cache_clear()
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.bin").read_bytes() == body


def test_no_verify_ssl_downloads_and_warns(
    tls_server: ContentServer, tmp_path: Path, capsys: CaptureFixture
) -> None:
    body = object_bytes("noverify", MIB)
    tls_server.files["/n.bin"] = body
    url = https_url(tls_server, "/n.bin")
    result = run_cli(["fetch", url, "-o", str(tmp_path), "--no-verify-ssl"], capsys)
    assert result.exit_code == 0, result.output
    assert "warning: --no-verify-ssl" in result.stderr
    assert (tmp_path / "n.bin").read_bytes() == body


def test_a_missing_ca_bundle_file_is_a_usage_error(
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "gone.pem"))
    result = run_cli(["fetch", "s3://bucket/key", "-o", str(tmp_path / "o")], capsys)
    assert result.exit_code == 2, result.output
    assert "AWS_CA_BUNDLE names" in result.stderr and "gone.pem" in result.stderr


# --- hopeless failures stop fast; passing ones are retried -------------------------------------


def test_refused_connection_to_a_host_that_never_answered_fails_fast(
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    uris = [f"s3://bucket/file-{i}.bin" for i in range(16)]
    started = time.monotonic()
    result = run_cli(["fetch", *uris, "-o", str(tmp_path)], capsys, report=tmp_path / "r.json")
    assert result.exit_code == 6, result.output
    assert time.monotonic() - started < 10
    assert "cannot connect to 127.0.0.1:9" in result.stderr
    assert result.report is not None and result.report["fatal"]


def test_https_to_http_redirect_is_refused(
    tls_server: ContentServer, http_server: ContentServer, private_ca: PrivateCa,
    tmp_path: Path, capsys: CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    http_server.files["/plain.bin"] = object_bytes("plain", 1000)
    tls_server.redirects["/secure.bin"] = f"{http_server.base_url}/plain.bin"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(private_ca.ca_file))
    result = run_cli(["fetch", https_url(tls_server, "/secure.bin"), "-o", str(tmp_path)], capsys)
    assert result.exit_code == 1, result.output
    assert "redirects to plain HTTP" in result.stderr
    assert not http_server.requests
    assert not list(tmp_path.glob("*.bin")) and not no_part_files(tmp_path)
