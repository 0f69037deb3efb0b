#!/usr/bin/env bash
# Measures a random sample of the reference dataset's records again, one target at a time
# on the machine that collected them, and prints the test-retest figures (the ceiling no
# model can pass on these labels). Run after tools/collect-reference.sh, on a quiet machine.
#
#   tools/retest-reference.sh [DIR]         (default DIR: .build-dataset)
#   env: SAMPLE (per level: 250), LEVELS ("x86-64-v2 x86-64-v3 x86-64-v4"), CPU (0)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(realpath -m "${1:-$root/.build-dataset}")"
sample="${SAMPLE:-250}"
levels="${LEVELS:-x86-64-v2 x86-64-v3 x86-64-v4}"
bin="${BIN:-$root/.build/release}"
[ -f "$dir/collect.db" ] || { echo "no $dir/collect.db: run tools/collect-reference.sh first" >&2; exit 1; }
pin=()
command -v taskset >/dev/null && pin=(taskset -c "${CPU:-0}")
. "$root/tools/local-coordd.sh" "$bin" "$dir" --retrain-every 0
for level in $levels; do
  # Probed as the agent runs (pinned): the affinity is part of the profile, so of the fingerprint.
  fp=$("${pin[@]}" "$bin/tune-agent" probe --isa "$level" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')
  id=$("$bin/coordctl" dataset retime --control "$control_ep" --db "$dir/collect.db" --device "$fp" --sample "$sample" --json |
       python3 -c 'import json,sys; print(json.load(sys.stdin)["campaign"])')
  "${pin[@]}" "$bin/tune-agent" --coordinator "$agent_ep" --name "retest-$level" --isa "$level" \
    --work-dir "$dir/agent-$level" >>"$dir/agent-$level.log" 2>&1 &
  agent=$!
  until "$bin/coordctl" campaign wait "$id" --control "$control_ep" --request-timeout 60; do sleep 2; done
  kill "$agent"; wait "$agent" 2>/dev/null || true; agent=""
  echo "$level retest $id" >>"$dir/state"
  echo "$level: $("$bin/coordctl" dataset noise --db "$dir/collect.db" --campaign "$id")"
done
