#!/usr/bin/env bash
# Rebuilds the pre-trained model that ships inside coordd and coordctl: imports the
# reference dataset (tools/datasets/reference), trains pairwise XGBoost on all of it (the
# best zero-shot base on the held-out H200 and AMD EPYC: README, Transfer; KIND=transfer or
# KIND=meta for the attention rankers) and writes Sources/TuneLearning/Shipped/ShippedModelData.swift,
# and the dataset's two fastest schedules of every (task, device, threads) group, which a fresh coordd
# starts guided jobs from (transfer-tuning), as Sources/TuneLearning/Shipped/ShippedSchedulesData.swift.
# Then rebuild. Usage: tools/ship-model.sh [DB]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kind="${KIND:-xgb}"
db="${1:-$(mktemp -d)/reference.db}"
coordctl="${COORDCTL:-$root/.build/release/coordctl}"
[ -x "$coordctl" ] || { echo "build first: swift build -c release --product coordctl" >&2; exit 1; }
[ -s "$db" ] || COORDCTL="$coordctl" "$root/tools/datasets/reference/import.sh" "$db"
version=$("$coordctl" model train --db "$db" --kind "$kind" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
"$coordctl" model ship --db "$db" --from "$version" -o "$root/Sources/TuneLearning/Shipped/ShippedModelData.swift" \
  --schedules "$root/Sources/TuneLearning/Shipped/ShippedSchedulesData.swift" \
  --trained-on "tools/datasets/reference (all CPU targets and the GPUs), kind $kind, $(date -u +%Y-%m-%d)"
