"""`python -m tests.mirror start|stop`: the demo mirror's lifecycle, for shell scripts."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from .seed import seed_demo, seed_egoexo
from .server import SeaweedServer, stop_process_group


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.mirror")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start SeaweedFS, seed the demo data, write an env file")
    start.add_argument("--dir", type=Path, required=True)
    start.add_argument("--env-file", type=Path, required=True)
    stop = sub.add_parser("stop", help="stop a server started with `start`")
    stop.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    pid_file = args.dir / "weed.pid"
    if args.command == "start":
        server = SeaweedServer(args.dir).start()
        assert server.process is not None
        pid_file.write_text(str(server.process.pid))
        seeded = seed_demo(server.client()) + seed_egoexo(server.client())
        lines = [f"export {k}={shlex.quote(v)}" for k, v in server.env().items()]
        args.env_file.write_text("\n".join(lines) + "\n")
        total = sum(o.size for o in seeded)
        print(
            f"mirror: {server.endpoint_url} holds {len(seeded)} objects ({total / 2**20:.1f} MiB)"
        )
    elif pid_file.exists():
        stop_process_group(int(pid_file.read_text()))
        pid_file.unlink()


if __name__ == "__main__":
    main()
