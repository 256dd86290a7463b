from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from egoget.cli import main
from tests.mirror import SeaweedServer, seed_demo, seed_egoexo
from tests.mirror.seed import MirrorObject, object_bytes, seed_object

from .httpserver import ContentServer
from .proxy import Tinyproxy, proxy_unavailable_reason
from .slurm import SlurmCluster, slurm_unavailable_reason
from .tls import PrivateCa, make_private_ca

REPO = Path(__file__).resolve().parent.parent


# Read before any test's environment is isolated: CI sets it, so there a skip is a failure.
_REQUIRE_PROXY = bool(os.environ.get("EGOGET_TESTS_REQUIRE_PROXY"))
_REQUIRE_SLURM = bool(os.environ.get("EGOGET_TESTS_REQUIRE_SLURM"))
# Set on this machine for every process; each test that touches TLS sets them itself.
_TLS_VARIABLES = frozenset(
    {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "NIX_SSL_CERT_FILE"}
)

# Keys whose licence covers some universities' buckets but not unict's.
LIMITED_KEYS = ("EGOGETLIMITEDKEY", "egoget-limited-secret")
# A lab's own bucket and keys: they may write there and nowhere else.
LAB_BUCKET = "lab-copy"
LAB_KEYS = ("EGOGETLABKEY", "egoget-lab-secret")
_LIMITED_BUCKETS = ("ego4d-consortium-sharing", "ego4d-cmu", "ego4d-georgiatech")


@pytest.fixture(scope="session")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> PrivateCa:
    return make_private_ca(tmp_path_factory.mktemp("private-ca"))


@pytest.fixture(scope="session")
def s3_server(
    tmp_path_factory: pytest.TempPathFactory, private_ca: PrivateCa
) -> Iterator[SeaweedServer]:
    limited = {
        "name": "limited",
        "credentials": [{"accessKey": LIMITED_KEYS[0], "secretKey": LIMITED_KEYS[1]}],
        "actions": [f"{a}:{b}" for b in _LIMITED_BUCKETS for a in ("Read", "List")],
    }
    lab = {
        "name": "lab",
        "credentials": [{"accessKey": LAB_KEYS[0], "secretKey": LAB_KEYS[1]}],
        "actions": [f"{a}:{LAB_BUCKET}" for a in ("Read", "Write", "List")],
    }
    server = SeaweedServer(
        tmp_path_factory.mktemp("seaweedfs"),
        extra_identities=[limited, lab],
        tls_files=(private_ca.cert_file, private_ca.key_file),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_objects(s3_server: SeaweedServer) -> list[MirrorObject]:
    return seed_demo(s3_server.client())


@pytest.fixture(scope="session")
def egoexo_objects(s3_server: SeaweedServer) -> list[MirrorObject]:
    return seed_egoexo(s3_server.client())


@pytest.fixture(scope="session")
def large_object(s3_server: SeaweedServer) -> MirrorObject:
    """A 40 MiB multipart object (8 parts of 5 MiB) for resume and fault tests."""
    return seed_object(s3_server.client(), "egoget-large", "videos/large.mp4", 40 * 1024 * 1024)


@pytest.fixture(autouse=True)
def no_requests_leave_the_machine() -> Iterator[None]:
    """Any call through requests (Drive, gdown) that a test has not replayed fails at once,
    instead of reaching Google."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")  # the tests' own local servers
        yield


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: SeaweedServer) -> None:
    """No real credentials, config, cache, proxy or CA bundle from the developer's machine (or
    this one, which exports CA bundle variables) reach a test; TLS tests set their own."""
    for name in list(os.environ):
        if (
            (name.startswith(("AWS_", "EGOGET_", "KAGGLE_")) and name != "EGOGET_OFFICIAL_VENV")
            or name in _TLS_VARIABLES
            or name.lower().endswith("_proxy")
            or name.startswith("XDG_")
        ):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)


def _require_proxy() -> None:
    reason = proxy_unavailable_reason()
    if reason is None:
        return
    if _REQUIRE_PROXY:
        pytest.fail(f"the proxy tests must run here: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def forward_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    """tinyproxy: the only way to reach PROXY_ONLY_HOST."""
    _require_proxy()
    proxy = Tinyproxy(tmp_path_factory.mktemp("tinyproxy")).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A single-node Slurm cluster of the machine's CPUs, jobs run as root."""
    reason = slurm_unavailable_reason()
    if reason is not None:
        if _REQUIRE_SLURM:
            pytest.fail(f"the Slurm tests must run here: {reason}")
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def auth_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    """tinyproxy that wants a user and password (Proxy-Authorization: Basic)."""
    _require_proxy()
    proxy = Tinyproxy(tmp_path_factory.mktemp("tinyproxy-auth"), ("researcher", "s3cretw0rd"))
    try:
        yield proxy.start()
    finally:
        proxy.stop()


@pytest.fixture
def http_server() -> Iterator[ContentServer]:
    import threading

    server = ContentServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    args: list[str], capsys: pytest.CaptureFixture[str], report: Path | None = None
) -> Outcome:
    """Run egoget in-process through its real entry point (error mapping, exit codes)."""
    argv = [*args, "--report", str(report)] if report else list(args)
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    data = json.loads(report.read_text()) if report and report.exists() else None
    return Outcome(code, captured.out, captured.err, data)


def egoget_process(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "egoget", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def assert_same_bytes(path: Path, obj: MirrorObject) -> None:
    data = path.read_bytes()
    assert len(data) == obj.size, f"{path}: {len(data)} bytes, expected {obj.size}"
    assert data == object_bytes(obj.key, obj.size), f"{path} differs from {obj.uri}"


def expired_link(server: SeaweedServer, bucket: str, key: str) -> str:
    """A presigned GET that ran out an hour ago: signed in the past with egoget's signer (held
    to botocore's signatures by test_sigv4), instead of waiting for a fresh one to expire."""
    from datetime import datetime, timedelta, timezone

    from egoget.sources.sigv4 import BucketEndpoint, Credentials, QuerySigner

    endpoint = BucketEndpoint("http", f"127.0.0.1:{server.port}", f"/{bucket}/", "us-east-1")
    signed = datetime.now(timezone.utc) - timedelta(hours=1)
    credentials = Credentials(server.access_key, server.secret_key)
    return QuerySigner().presign_get(endpoint, key, credentials, 60, now=signed)


def no_part_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.egoget-part")]
