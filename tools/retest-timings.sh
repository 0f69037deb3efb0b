#!/usr/bin/env bash
# How well timings repeat (issue "timings that repeat"): the same 64 candidates of four
# tasks (two BERT-sized matmuls, two ResNet-50 3x3 convolutions), 16 random ones per task,
# measured by one agent (1 thread, 5 repeats, pinned to one core), then measured again in a
# second campaign of the same schedules (`dataset retime`); prints the test-retest PCA and
# the median difference per candidate (`dataset noise`). Run it on an otherwise quiet machine.
#
#   tools/retest-timings.sh [DIR]     (default: a new folder under /tmp)
#   env: RUNS (3), SEED (7), SPREAD (the plan's --target-spread; 0: fixed repeats), CPU (0)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${BIN:-$root/.build/release}"
runs="${RUNS:-3}" seed="${SEED:-7}" spread="${SPREAD:-0.02}"
base="${1:-$(mktemp -d /tmp/tunefleet-retest.XXXXXX)}"
mkdir -p "$base"
pin=()
command -v taskset >/dev/null && pin=(taskset -c "${CPU:-0}")
cat >"$base/retest.workload" <<'WL'
name: retest
1 matmul m=128 n=768 k=768 bias=1
1 matmul m=128 n=3072 k=768 bias=1 act=gelu
1 conv2d c=64 h=56 w=56 k=64 r=3 s=3 pad=1
1 conv2d c=256 h=14 w=14 k=256 r=3 s=3 pad=1
WL
campaign() { python3 -c 'import json,sys; print(json.load(sys.stdin)["campaign"])'; }
for run in $(seq "$runs"); do
  dir="$base/run-$run"
  mkdir -p "$dir"
  (
    . "$root/tools/local-coordd.sh" "$bin" "$dir" --retrain-every 0
    "${pin[@]}" "$bin/tune-agent" --coordinator "$agent_ep" --name retest --work-dir "$dir/agent" >>"$dir/agent.log" 2>&1 &
    agent=$!
    first=$("$bin/coordctl" campaign launch --control "$control_ep" --workload "$base/retest.workload" --trials 16 \
            --seed "$seed" --target-spread "$spread" --json 2>/dev/null | campaign)
    until "$bin/coordctl" campaign wait "$first" --control "$control_ep" --request-timeout 60 >/dev/null; do sleep 1; done
    # Probed as the agent runs (pinned): the affinity is part of the profile, so of the fingerprint.
    fp=$("${pin[@]}" "$bin/tune-agent" probe --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')
    again=$("$bin/coordctl" dataset retime --control "$control_ep" --db "$dir/collect.db" --device "$fp" --sample 64 \
            --target-spread "$spread" --json | campaign)
    until "$bin/coordctl" campaign wait "$again" --control "$control_ep" --request-timeout 60 >/dev/null; do sleep 1; done
    echo "run $run: $("$bin/coordctl" dataset noise --db "$dir/collect.db" --campaign "$again")"
  )
done
