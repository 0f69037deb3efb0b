#!/usr/bin/env bash
# Imports the whole reference dataset into a database: the CPU records collected here and
# the H100 records of tools/gpu-results (the run-4 campaign export and its 4,006 verified
# bench candidates, with that run's probe.json as their device profile) and the H200's
# random candidates (tools/gpu-results/h200: the random search run and the first try's random
# run and collection; the model-guided runs' records are there too, not imported here).
#   tools/datasets/reference/import.sh DB
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
db="${1:?usage: import.sh DB}"
coordctl="${COORDCTL:-$root/.build/release/coordctl}"
[ -x "$coordctl" ] || coordctl="$(command -v coordctl)"
"$coordctl" dataset import --db "$db" "$here"/cpu-*.jsonl.xz
"$coordctl" dataset import --db "$db" --profile "$root/tools/gpu-results/h100-run4/probe.json" --skip-unprofiled \
  "$root/tools/gpu-results/h100-run4/export.jsonl.xz" "$root/tools/gpu-results/h100-run4/bench-all.tsv.xz"
"$coordctl" dataset import --db "$db" "$root/tools/gpu-results/h200/search-random-1.jsonl.xz" \
  "$root/tools/gpu-results/h200/first-try/search-random-1.jsonl.xz" "$root/tools/gpu-results/h200/first-try/collect.jsonl.xz"
