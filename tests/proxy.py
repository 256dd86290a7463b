"""A real forward proxy (Debian's tinyproxy) that alone can resolve the test servers' host name.

tinyproxy runs in a mount namespace of its own where /etc/hosts maps ``PROXY_ONLY_HOST`` to
127.0.0.1; outside it the name does not resolve, so a request that skipped the proxy fails
instead of passing by accident.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.mirror.server import free_ports, stop_process_group

PROXY_ONLY_HOST = "s3.proxy-only.test"
START_TIMEOUT_S = 10.0


def proxy_unavailable_reason() -> str | None:
    """Why a proxy cannot run here, or None. CI installs tinyproxy and runs as root."""
    if shutil.which("tinyproxy") is None:
        return "tinyproxy is not installed (scripts/bootstrap.sh installs it as root)"
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return "a private /etc/hosts for the proxy needs root and unshare"
    return None


class Tinyproxy:
    def __init__(self, work_dir: Path, basic_auth: tuple[str, str] | None = None):
        self.work_dir = work_dir
        self.basic_auth = basic_auth
        self.port = 0
        self.log = work_dir / "tinyproxy.log"
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, with_credentials: bool = True) -> str:
        if self.basic_auth and with_credentials:
            user, password = self.basic_auth
            return f"http://{user}:{password}@127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Tinyproxy:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_ports(1)[0]
        hosts = self.work_dir / "hosts"
        hosts.write_text(f"127.0.0.1 localhost {PROXY_ONLY_HOST}\n")
        auth = f"BasicAuth {self.basic_auth[0]} {self.basic_auth[1]}\n" if self.basic_auth else ""
        config = self.work_dir / "tinyproxy.conf"
        # No ConnectPort line: CONNECT to any port (the mirror's TLS port is not 443).
        config.write_text(
            f"Port {self.port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 200\n"
            f'LogLevel Connect\nLogFile "{self.log}"\nDisableViaHeader Yes\n{auth}'
        )
        self.log.write_text("")
        script = f'mount --bind "{hosts}" /etc/hosts && exec tinyproxy -d -c "{config}"'
        self._process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=subprocess.DEVNULL,
            stderr=open(self.work_dir / "stderr.log", "wb"),  # noqa: SIM115 - lives with it
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    errors = (self.work_dir / "stderr.log").read_text()
                    raise RuntimeError(f"tinyproxy did not start: {errors}") from None
                time.sleep(0.05)

    def requests_seen(self) -> list[str]:
        """The request lines tinyproxy logged ("GET http://...", "CONNECT host:port"), in order."""
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            _, marker, request = line.partition("]: Request (file descriptor ")
            if marker:
                lines.append(request.partition("): ")[2].strip())
        return lines

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process.pid, grace_s=2.0)
            self._process.wait()
            self._process = None
