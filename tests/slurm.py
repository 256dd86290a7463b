"""A real single-node Slurm cluster (Debian's slurm-wlm and munge), started by hand for the tests.

munged, slurmctld and slurmd run from a work directory of their own (key, socket, state, logs,
ports), so nothing of the machine's own configuration is used or changed. Jobs run as root
with the submitting environment (sbatch's default --export=ALL).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.mirror.server import free_ports, stop_process_group

START_TIMEOUT_S = 60.0
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo")


def slurm_unavailable_reason() -> str | None:
    """Why a cluster cannot run here, or None. CI installs slurm-wlm and munge as root."""
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (scripts/bootstrap.sh installs them as root)"
    if os.geteuid() != 0:
        return "the test cluster runs its daemons and jobs as root"
    return None


class SlurmCluster:
    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.conf = work_dir / "slurm.conf"
        self._processes: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def start(self) -> SlurmCluster:
        work = self.work_dir
        for folder in ("state", "spool"):
            (work / folder).mkdir(parents=True, exist_ok=True)
        key = work / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        munge_socket = work / "munge.socket"
        self._spawn(
            "munged",
            ["munged", "--foreground", "--force", f"--socket={munge_socket}",
             f"--key-file={key}", f"--pid-file={work / 'munged.pid'}",
             f"--seed-file={work / 'munged.seed'}", f"--log-file={work / 'munged.log'}"],
        )  # fmt: skip
        host = socket.gethostname().split(".")[0]
        controller_port, node_port = free_ports(2)
        self.conf.write_text(
            "\n".join([
                "ClusterName=egoget-tests",
                f"SlurmctldHost={host}(127.0.0.1)",
                "SlurmUser=root",
                "SlurmdUser=root",
                f"SlurmctldPort={controller_port}",
                f"SlurmdPort={node_port}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={munge_socket}",
                f"StateSaveLocation={work / 'state'}",
                f"SlurmdSpoolDir={work / 'spool'}",
                f"SlurmctldPidFile={work / 'slurmctld.pid'}",
                f"SlurmdPidFile={work / 'slurmd.pid'}",
                f"SlurmctldLogFile={work / 'slurmctld.log'}",
                f"SlurmdLogFile={work / 'slurmd.log'}",
                # No cgroups and no accounting: what a container or a bare VM allows.
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "SchedulerType=sched/backfill",
                "MpiDefault=none",
                "ReturnToService=2",
                "SlurmdParameters=config_overrides",
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} "
                "RealMemory=1000 State=UNKNOWN",
                "PartitionName=tests Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ])
        )  # fmt: skip
        self._wait_for(munge_socket.exists, "munged", "munged.log")
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait_for(self._node_idle, "the node", "slurmd.log")
        return self

    def sbatch(self, args: list[str], env: dict[str, str], timeout_s: float) -> str:
        """Submits and waits for the job (--wait); returns sbatch's output."""
        done = subprocess.run(
            ["sbatch", "--wait", *args],
            env={**env, **self.env()},
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        return f"exit {done.returncode}\n{done.stdout}{done.stderr}"

    def _node_idle(self) -> bool:
        shown = subprocess.run(
            ["sinfo", "--noheader", "--format=%T"],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
        )
        return shown.stdout.strip() == "idle"

    def _spawn(self, name: str, command: list[str]) -> None:
        self._processes.append(
            subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=open(self.work_dir / f"{name}.stderr", "wb"),  # noqa: SIM115 - lives with it
                start_new_session=True,
                env={**os.environ, **self.env()},
            )
        )

    def _wait_for(self, ready: object, what: str, log: str) -> None:
        assert callable(ready)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            exited = [p.args[0] for p in self._processes if p.poll() is not None]
            if exited or time.monotonic() > deadline:
                logs = "".join(
                    f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}\n"
                    for path in [*sorted(self.work_dir.glob("*.stderr")), self.work_dir / log]
                    if path.exists()
                )
                self.stop()
                raise RuntimeError(f"{what} did not come up (exited: {exited}):\n{logs}")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in reversed(self._processes):
            stop_process_group(process.pid)
        self._processes.clear()
