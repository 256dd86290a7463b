#!/usr/bin/env bash
# egoget against a local S3 mirror (SeaweedFS on 127.0.0.1) seeded with small synthetic
# releases shaped like Ego4D (manifests, metadata, videos in per-university buckets, the larger
# ones multipart) and Ego-Exo4D (per-part manifest.json). It plans an Ego4D download, kills it
# mid-file, resumes it, re-hashes everything, downloads Ego-Exo4D takes, and stops the server.
# Output lands in ${EGOGET_DEMO_DIR:-./demo-output}.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO_ROOT"
OUT="$(realpath -m "${EGOGET_DEMO_DIR:-demo-output}")"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/egoget-demo.XXXXXX")"
rm -rf "$OUT"
cleanup() { python -m tests.mirror stop --dir "$WORK/mirror"; rm -rf "$WORK"; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
EGO4D=(download ego4d --parts full_scale clips annotations -o "$OUT/ego4d")

step "Starting the local mirror and seeding it"
python -m tests.mirror start --dir "$WORK/mirror" --env-file "$WORK/mirror.env"
source "$WORK/mirror.env"   # AWS_ENDPOINT_URL and the mirror's keys

step "The plan: what an Ego4D download would fetch (--dry-run)"
egoget "${EGO4D[@]}" --dry-run

step "Downloading, then SIGKILL in the middle of a video"
egoget "${EGO4D[@]}" -y -j 2 --chunk-size-mib 5 --limit-rate 12M -q &
fetch_pid=$!
python - "$OUT/ego4d/.egoget/ledger.sqlite" <<'PY'  # wait until a video is part-done
import sqlite3, sys, time
for _ in range(300):
    try:
        if sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM chunks").fetchone()[0] >= 2:
            break
    except sqlite3.Error:
        pass
    time.sleep(0.05)
PY
kill -9 "$fetch_pid" 2>/dev/null || true
wait "$fetch_pid" 2>/dev/null || true
egoget status -o "$OUT/ego4d"

step "The same command again: only the missing chunks are fetched"
egoget "${EGO4D[@]}" -y --report "$WORK/report.json"
python - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"rerun received {r['bytes_received'] / 2**20:.1f} MiB; {r['files_present']} files were "
      f"already complete, {r['files_done']} finished now")
PY

step "Re-hashing everything on disk against the S3 ETags"
egoget verify -o "$OUT/ego4d" --full

step "Ego-Exo4D: metadata, annotations and the ego view of every take"
egoget download egoexo --parts metadata annotations takes --views ego -o "$OUT/egoexo" -y

step "What landed in $OUT (the official tools' layouts)"
find "$OUT" -type f -not -path '*/.egoget/*' \
  -printf '%10s  %P\n' | sort -k2
