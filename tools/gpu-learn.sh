#!/usr/bin/env bash
# The learning half on a GPU node, run from the repository root with an unpacked bundle
# (tools/bundle.sh): a device the shipped model has never seen.
#   1. probe (the device profile the records will carry);
#   2. `coordctl bench search --device cuda`: random vs model-cold vs transfer on ResNet-50,
#      each a fresh local cluster with one CUDA agent, the same budget and the same time limit;
#      each run's records exported (the random run is an unbiased dataset of the device);
#   3. a random dataset of more networks (`coordctl dataset collect`), then a re-timed sample
#      of it (`coordctl dataset retime` + `dataset noise`): how well these labels repeat.
# Everything lands under $OUT (default ./gpu-learn-out), packed first into 00-all-outputs.tar.gz.
# Without a driver it says so and exits 0 after the probe.
#   tools/gpu-learn.sh [BUNDLE_DIR]       (default: .gpu/tunefleet)
# Knobs (environment): LEARN_WORKLOAD (resnet50), LEARN_TIME (75s per method), LEARN_BUDGET
# (4000 trials per method: the time limit binds), LEARN_METHODS, LEARN_CONFIRM (4: the last 4
# improvements of each task in each run timed again side by side, 0 for none), COLLECT_WORKLOADS
# (bert-base,mobilenetv2), COLLECT_PER_TASK (12), COLLECT_SECONDS (100), RETIME_SAMPLE (200), LEARN_COLLECT (1),
# LEARN_DEVICE (cuda; cpu rehearses the script on a machine without a GPU).
source "$(dirname "$0")/gpu-node.sh" gpu-learn "${1:-.gpu/tunefleet}"
device="${LEARN_DEVICE:-cuda}"
ctl() { "$bundle/coordctl" "$@"; }

log "bundle $bundle, output $out, device $device"
{ uname -a; grep -m1 'model name' /proc/cpuinfo; nproc; } > "$out/host.txt" 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv > "$out/nvidia-smi.txt" 2>&1 || true

# NVRTC and cuBLAS where the default search may miss them (a CUDA image's Python environment).
for lib in nvrtc cublas; do
  var=TUNEFLEET_$(echo $lib | tr a-z A-Z)
  if [ -z "${!var:-}" ] && ! ls /usr/local/cuda/lib64/lib$lib.so.1[23] /usr/local/cuda/targets/x86_64-linux/lib/lib$lib.so.1[23] >/dev/null 2>&1; then
    found=$(find /usr/local /opt -name "lib$lib.so.1[23]" 2>/dev/null | head -1)
    [ -n "$found" ] && export "$var=$found" && log "$var=$found"
  fi
done

# 1. Probe.
if [ "$device" = cuda ]; then
  if ! "$bundle/tune-agent" probe --device cuda --json > "$out/probe.json" 2> "$out/probe.err"; then
    log "no CUDA device: $(head -c 300 "$out/probe.err"); nothing to learn here"
    exit 0
  fi
  log "probe: $(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["profile"]; print(p["model"], "cc", p["computeCapability"], "SMs", p["smCount"])' "$out/probe.json" 2>/dev/null)"
else
  "$bundle/tune-agent" probe --device cpu --json > "$out/probe.json" 2> "$out/probe.err"
fi
"$bundle/tune-agent" probe --device cpu --json > "$out/probe-cpu.json" 2>&1

# 2. Search: the three methods, the same budget and wall time each.
log "bench search: ${LEARN_WORKLOAD:-resnet50}, ${LEARN_TIME:-75s} per method"
timeout "${LEARN_SEARCH_SECONDS:-420}" "$bundle/coordctl" bench search --device "$device" --workload "${LEARN_WORKLOAD:-resnet50}" \
  --budget "${LEARN_BUDGET:-4000}" --time "${LEARN_TIME:-75s}" --methods "${LEARN_METHODS:-random,model-cold,transfer}" \
  --confirm-last "${LEARN_CONFIRM:-4}" \
  --batch-size "${LEARN_BATCH:-16}" -o "$out/search" > "$out/search.txt" 2> "$out/search.err"
log "bench search exit $?"
cat "$out/search.txt" | tee -a "$out/gpu-learn.log"
for db in "$out"/search/*/tunefleet.db; do
  [ -f "$db" ] || continue
  run=$(basename "$(dirname "$db")")
  ctl export --db "$db" --format jsonl -o "$out/search-$run.jsonl" 2>> "$out/export.err" && xz -T2 "$out/search-$run.jsonl"
  rm -f "$db" "$db"-wal "$db"-shm
done
rm -rf "$out"/search/*/*-agent-*/
log "search exports: $(ls "$out"/search-*.jsonl.xz 2>/dev/null | tr '\n' ' ')"
pack

# 3. A random dataset of more networks, then a re-timed sample of it (LEARN_COLLECT=0: skip).
[ "${LEARN_COLLECT:-1}" = 1 ] || { log "done (no collection)"; exit 0; }
work="$(mktemp -d /tmp/gpu-learn.XXXXXX)"
start_coordd "$work" --retrain-every 0 || exit 1
agent_device=$([ "$device" = cuda ] && echo cuda:0 || echo cpu)
"$bundle/tune-agent" --coordinator "$agent_ep" --device "$agent_device" --name collect-0 --work-dir "$work/agent" \
  > "$out/agent-collect.log" 2>&1 &
pids+=($!)
ctl dataset collect --control "$control_ep" --workload "${COLLECT_WORKLOADS:-bert-base,mobilenetv2}" --device "$device" \
  --per-task "${COLLECT_PER_TASK:-12}" --seed 11 --wait "${COLLECT_SECONDS:-100}" > "$out/collect.txt" 2>&1
log "collect: $(tr '\n' ' ' < "$out/collect.txt")"
ctl campaign cancel --control "$control_ep" 1 >> "$out/collect.txt" 2>&1
fingerprint=$(ctl export --db "$work/tunefleet.db" --format jsonl 2>/dev/null | python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l)
    if r["status"] == "ok": print(r["device"]); break')
if [ -n "$fingerprint" ]; then
  ctl dataset retime --control "$control_ep" --db "$work/tunefleet.db" --device "$fingerprint" --sample "${RETIME_SAMPLE:-200}" --json \
    > "$out/retime.json" 2>> "$out/retime.err"
  rid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["campaign"])' "$out/retime.json" 2>/dev/null)
  if [ -n "$rid" ]; then
    ctl campaign wait --control "$control_ep" "$rid" --timeout "${RETIME_SECONDS:-60}" >> "$out/retime.err" 2>&1
    ctl dataset noise --db "$work/tunefleet.db" --campaign "$rid" > "$out/noise.txt" 2>&1
    log "noise: $(tr '\n' ' ' < "$out/noise.txt")"
  fi
fi
ctl status --control "$control_ep" --all > "$out/dashboard.txt" 2>&1
stop_children
ctl export --db "$work/tunefleet.db" --format jsonl -o "$out/collect.jsonl" 2>> "$out/export.err" && xz -T2 "$out/collect.jsonl"
log "collect export: $(xz -dc "$out/collect.jsonl.xz" 2>/dev/null | wc -l) records"
rm -rf "$work"
log "done"
