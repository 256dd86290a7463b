#!/usr/bin/env bash
# Download Ego4D full_scale with N machines at once: each array task takes one disjoint share
# of the plan (--shard K/N), and the N shares together cover it exactly. The split depends only
# on the manifests, so every task computes the same one. Each task writes its own output
# directory (egoget allows one run per directory); all use the official layout, so the shares
# can be merged with `rsync -a shard-*/ ego4d_data/` or read side by side.
#
#   sbatch --array=1-8 scripts/slurm_sharded_download.sh
#
# Kubernetes: run N pods of a Job with completionMode Indexed and use
# SHARD=$((JOB_COMPLETION_INDEX + 1)).
#SBATCH --job-name=ego4d-download
#SBATCH --cpus-per-task=4
#SBATCH --time=48:00:00
set -euo pipefail
SHARD="${SHARD:-${SLURM_ARRAY_TASK_ID:?run as a job array, or set SHARD}}"
TOTAL="${TOTAL:-${SLURM_ARRAY_TASK_COUNT:?set TOTAL}}"
OUT="${OUT:-$HOME/ego4d_data/shard-$SHARD}"
# Re-running a task after a failure or preemption resumes it: only missing chunks are fetched.
exec egoget download ego4d --parts full_scale annotations --shard "$SHARD/$TOTAL" -o "$OUT" -y \
  --report "$OUT.report.json"
