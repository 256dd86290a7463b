#!/usr/bin/env bash
# egoget against s5cmd, aws cli and plain boto3 on one local SeaweedFS server, in one run.
# Usage: bash bench/run.sh [--large-mib 1024 --large-count 4 --small-count 2000 --repeats 3]
# (the options go to bench.compare; the other benches run with their defaults)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/bootstrap.sh"
cd "$REPO_ROOT"
python -m pip install --quiet --disable-pip-version-check -e ".[bench]" > /dev/null
python -m bench.compare "$@"
# Peak RSS must stay flat in object size and in object count: egoget alone, once each.
python -m bench.compare --tools egoget --repeats 1 --no-sweep --schemes http --large-count 1 \
    --large-mib 1024 --small-count 100 --results memory-small.md
python -m bench.compare --tools egoget --repeats 1 --no-sweep --schemes http --large-count 1 \
    --large-mib 4096 --small-count 10000 --results memory-large.md
python -m bench.scale
python -m bench.listing
python -m bench.rerun
python -m bench.prepare
python -m bench.copy
