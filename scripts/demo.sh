#!/usr/bin/env bash
# Runs egoget against a local S3 mirror (SeaweedFS on 127.0.0.1) seeded with a small synthetic
# Ego4D-shaped release: metadata, manifests, and videos in per-university buckets (the larger
# ones multipart). It downloads everything, kills a download mid-file and resumes it, verifies
# every hash, then stops the server. Output lands in ${EGOGET_DEMO_DIR:-./demo-output}.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO_ROOT"
OUT="$(realpath -m "${EGOGET_DEMO_DIR:-demo-output}")"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/egoget-demo.XXXXXX")"
rm -rf "$OUT"
cleanup() { python -m egoget.mirror stop --dir "$WORK/mirror"; rm -rf "$WORK"; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting the local mirror and seeding it"
python -m egoget.mirror start --dir "$WORK/mirror" --env-file "$WORK/mirror.env"
source "$WORK/mirror.env"   # AWS_ENDPOINT_URL and the mirror's keys

step "Metadata and manifests: every object under one S3 prefix"
egoget fetch s3://ego4d-consortium-sharing/public/v2_1/ -o "$OUT"

step "Videos listed in the full_scale manifest, killed mid-download (SIGKILL)"
tail -n +2 "$OUT/full_scale/manifest.csv" | cut -d, -f2 > "$WORK/videos.txt"
egoget fetch --from-file "$WORK/videos.txt" -o "$OUT/full_scale" -j 2 --chunk-size-mib 5 \
  --limit-rate 12M -q &
fetch_pid=$!
python - "$OUT/full_scale/.egoget/ledger.sqlite" <<'PY'  # wait until a file is part-done
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
egoget status -o "$OUT/full_scale"

step "Rerun: only the missing chunks are fetched"
egoget fetch --from-file "$WORK/videos.txt" -o "$OUT/full_scale" --report "$WORK/report.json"
python - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"rerun received {r['bytes_received'] / 2**20:.1f} MiB; {r['files_present']} files were "
      f"already complete, {r['files_done']} finished now")
PY

step "Re-hashing everything on disk against the S3 ETags"
egoget verify -o "$OUT/full_scale" --full

step "What landed in $OUT"
find "$OUT" -type f -not -path '*/.egoget/*' -printf '%10s  %P\n' | sort -k2
