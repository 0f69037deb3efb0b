#!/usr/bin/env bash
# Collects the reference dataset: random candidates of every task of the workloads on each
# x86-64 level this CPU can run (each level is a target of its own), one target at a time,
# the agent pinned to one core, in ROUNDS rounds over the levels (so an interrupted run has
# every level in about equal measure). Run it on an otherwise quiet machine. Resumable: run
# it again with the same DIR and it carries on where it stopped.
#
#   tools/collect-reference.sh [DIR]        (default DIR: .build-dataset)
#   env: PER_TASK (per round: 22), ROUNDS (3), LEVELS ("x86-64-v2 x86-64-v3 x86-64-v4"),
#        WORKLOADS (resnet50,mobilenetv2,inceptionv3,bert-base), CPU (core for the agent: 0)
# Then: coordctl export --db DIR/collect.db -o FILE.jsonl, and xz it into tools/datasets/reference/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(realpath -m "${1:-$root/.build-dataset}")"
per="${PER_TASK:-22}"
rounds="${ROUNDS:-3}"
levels="${LEVELS:-x86-64-v2 x86-64-v3 x86-64-v4}"
workloads="${WORKLOADS:-resnet50,mobilenetv2,inceptionv3,bert-base}"
bin="${BIN:-$root/.build/release}"
[ -x "$bin/coordd" ] && [ -x "$bin/tune-agent" ] && [ -x "$bin/coordctl" ] || (cd "$root" && swift build -c release)
mkdir -p "$dir"
state="$dir/state"
touch "$state"
pin=()
command -v taskset >/dev/null && pin=(taskset -c "${CPU:-0}")

. "$root/tools/local-coordd.sh" "$bin" "$dir" --retrain-every 0

seed=1
for round in $(seq "$rounds"); do
for level in $levels; do
  seed=$((seed + 1))
  key="$level/$round"
  if grep -q "^$key done" "$state"; then echo "$key: done before"; continue; fi
  if ! "$bin/tune-agent" probe --isa "$level" >/dev/null 2>&1; then echo "$level: this CPU cannot run it; skipped"; continue; fi
  id=$(awk -v l="$key" '$1 == l && $2 == "campaign" {print $3}' "$state")
  if [ -z "$id" ]; then
    id=$("$bin/coordctl" dataset collect --control "$control_ep" --workload "$workloads" --per-task "$per" --seed "$seed" --json |
         python3 -c 'import json,sys; print(json.load(sys.stdin)["campaign"])')
    echo "$key campaign $id" >>"$state"
  fi
  echo "$key: campaign $id, $per random candidates per task ($(date -u +%FT%TZ))"
  "${pin[@]}" "$bin/tune-agent" --coordinator "$agent_ep" --name "collect-$level" --isa "$level" \
    --work-dir "$dir/agent-$level" >>"$dir/agent-$level.log" 2>&1 &
  agent=$!
  # A busy coordinator may answer late: wait again unless the campaign was cancelled.
  until "$bin/coordctl" campaign wait "$id" --control "$control_ep" --request-timeout 60; do
    rc=$?; [ "$rc" -eq 4 ] && { echo "campaign $id was cancelled" >&2; exit 1; }; sleep 2
  done
  kill "$agent"; wait "$agent" 2>/dev/null || true; agent=""
  # The next level's campaign starts once the coordinator has let this agent go: a job's
  # space is built for a connected agent of the class, and it must be the next level's.
  until "$bin/coordctl" status --control "$control_ep" --json | python3 -c 'import json,sys; sys.exit(any(a["state"] != "lost" for a in json.load(sys.stdin)["agents"]))'; do sleep 1; done
  echo "$key done" >>"$state"
done
done
echo "collected: $(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("select count(*), sum(status=\"ok\") from measurements").fetchone())' "$dir/collect.db") (records, ok)"
