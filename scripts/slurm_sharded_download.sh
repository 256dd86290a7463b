#!/usr/bin/env bash
# Download Ego4D with N machines at once: each task of a Slurm job array downloads one share of
# the plan (--shard auto reads the array's task id, range and step), the shares balanced by
# bytes, disjoint, and together exactly the whole plan. Every task computes the same split from
# the same release, with no coordination. Each task writes its own folder (egoget allows one
# run per output directory), in the official layout, so shares merge with
# `rsync -a "$OUT"/shard-*/ ego4d_data/` or can be read side by side.
#
#   sbatch --array=0-7 --cpus-per-task=2 scripts/slurm_sharded_download.sh
#   OUT=/scratch/ego4d PARTS="full_scale annotations" sbatch --array=1-16 scripts/slurm_sharded_download.sh
#
# Any range works (0-7, 1-8, 0-14:2; a throttle like 0-63%8 too); a list of task ids
# (--array=1,4,6) leaves some shares with no task and is refused. --cpus-per-task is yours to
# choose (2 are plenty: egoget is network-bound). Rerun a failed or preempted task (or the
# whole array) and it resumes: only missing chunks are fetched.
#
# Environment: OUT (default ~/ego4d_data), DATASET (ego4d), PARTS (full_scale annotations),
# EGOGET_ARGS (more options, e.g. "--benchmarks nlq -j 16"), EGOGET (the egoget command).
# Kubernetes Indexed Jobs: see scripts/k8s_indexed_download.yaml.
#SBATCH --job-name=egoget-download
#SBATCH --time=48:00:00
set -euo pipefail
: "${SLURM_ARRAY_TASK_ID:?run as a job array: sbatch --array=0-7 $0}"
OUT="${OUT:-$HOME/ego4d_data}"
read -r -a parts <<< "${PARTS:-full_scale annotations}"
read -r -a more <<< "${EGOGET_ARGS:-}"
share="$OUT/shard-$SLURM_ARRAY_TASK_ID"
mkdir -p "$OUT"
exec ${EGOGET:-egoget} download "${DATASET:-ego4d}" --parts "${parts[@]}" --shard auto \
  -o "$share" -y --progress log --report "$share.report.json" "${more[@]}"
