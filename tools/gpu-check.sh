#!/usr/bin/env bash
# The GPU check, run ON a GPU node from the repository root with an unpacked bundle
# (tools/bundle.sh): probe, a short mixed CPU+CUDA campaign on loopback, and the benchmark
# table (SGEMM 4096^3, BERT dense, ResNet-50 convolutions at batch 1: best tuned vs cuBLAS
# and vs cuBLAS/cuDNN through torch, FP32, TF32 off). Everything lands under $OUT.
# Without a driver it says so, runs the CPU half of the campaign and exits 0.
#   tools/gpu-check.sh [BUNDLE_DIR]        (default: .gpu/tunefleet)
# Budget: stops starting new work after GPU_CHECK_BUDGET seconds (default 480).
source "$(dirname "$0")/gpu-node.sh" gpu-check "${1:-.gpu/tunefleet}"
budget="${GPU_CHECK_BUDGET:-480}"

log "bundle $bundle, output $out"
{ uname -a; cat /etc/os-release 2>/dev/null | head -2; nproc; } > "$out/host.txt" 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/nvidia-smi.txt" 2>&1 || true

# 1. Probe.
"$bundle/tune-agent" probe --device cuda --json > "$out/probe.json" 2> "$out/probe.err"
probe_rc=$?
if [ $probe_rc -eq 0 ]; then
  cuda=1
  log "probe ok: $(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["profile"]; print(p["model"], "cc", p["computeCapability"], "SMs", p["smCount"])' "$out/probe.json" 2>/dev/null)"
else
  cuda=0
  log "probe exit $probe_rc: $(head -c 300 "$out/probe.err") -- GPU parts skipped"
fi
"$bundle/tune-agent" probe --device cpu --json > "$out/probe-cpu.json" 2>&1 || true

# 1b. Isolation on the real devices: crash, hang and wrong answer each cost one record.
for dev in cpu $([ $cuda = 1 ] && echo cuda:0); do
  "$bundle/tune-agent" selftest --device "$dev" > "$out/selftest-${dev%%:*}.txt" 2>&1
  log "selftest $dev (exit $?): $(tail -1 "$out/selftest-${dev%%:*}.txt")"
  cat "$out/selftest-${dev%%:*}.txt" >> "$out/gpu-check.log"
done

# 1c. Driver path end to end: compile, verify, time from host launches and from a CUDA
# graph, capture runs nothing, a replay runs the real kernel, cuBLAS on the graph stream.
if [ $cuda = 1 ] && [ -x "$bundle/bench/bench" ]; then
  "$bundle/bench/bench" --smoke > "$out/smoke.txt" 2>&1
  log "driver smoke (exit $?): $(grep -v '^nvrtc' "$out/smoke.txt" | tr '\n' ' ')"
fi

# 2. Mixed campaign on loopback: coordd, one CUDA agent, one CPU agent.
work="$(mktemp -d /tmp/gpu-check.XXXXXX)"
cat > "$out/workload.txt" <<'W'
name: gpu-check
1 matmul m=1024 n=1024 k=1024
12 matmul m=128 n=3072 k=768 bias=1 act=gelu
3 conv2d c=64 h=56 w=56 k=64 r=3 s=3 pad=1 layout=nchw
1 conv2d c=256 h=14 w=14 k=1024 r=1 s=1 layout=nchw
W
start_coordd "$work" || exit 1
log "coordd: agents $agent_ep, control $control_ep"
devices=cpu
if [ $cuda = 1 ]; then
  "$bundle/tune-agent" --coordinator "$agent_ep" --device cuda:0 --name gpu-node-cuda0 --work-dir "$work/agent-cuda" \
    > "$out/agent-cuda.log" 2>&1 &
  pids+=($!)
  devices=cpu,cuda
fi
"$bundle/tune-agent" --coordinator "$agent_ep" --device cpu --name gpu-node-cpu --work-dir "$work/agent-cpu" \
  > "$out/agent-cpu.log" 2>&1 &
pids+=($!)
ctl() { "$bundle/coordctl" "$@"; }
sleep 2
launch=$(ctl campaign launch --control "$control_ep" --workload "$out/workload.txt" --trials "${GPU_CHECK_TRIALS:-12}" \
  --device "$devices" --batch-size 6 --json 2> "$out/launch.err")
log "launch: $launch $(cat "$out/launch.err")"
id=$(echo "$launch" | python3 -c 'import json,sys; print(json.load(sys.stdin)["campaign"])' 2>/dev/null)
if [ -n "$id" ]; then
  ctl campaign wait --control "$control_ep" "$id" --timeout "${GPU_CHECK_CAMPAIGN_TIMEOUT:-150}" 2>&1 | tee -a "$out/gpu-check.log"
fi
ctl status --control "$control_ep" --json > "$out/status.json" 2>&1
ctl status --control "$control_ep" > "$out/dashboard.txt" 2>&1
ctl export --db "$work/tunefleet.db" --format jsonl -o "$out/export.jsonl" 2> "$out/export.err"
log "campaign: $(wc -l < "$out/export.jsonl" 2>/dev/null || echo 0) records exported"
cat "$out/dashboard.txt"
python3 - "$out/status.json" <<'PY' | tee -a "$out/gpu-check.log"
import json, sys
s = json.load(open(sys.argv[1]))
print("agents:", ", ".join(f'{a["name"]} ({a["device_class"]}: {a["device"]}, {a["state"]})' for a in s["agents"]))
for c in s["campaigns"]:
    classes = sorted({t["device_class"] for t in c["tasks"]})
    print(f'campaign {c["id"]} {c["state"]}: {c["trials_done"]}/{c["trials_total"]} trials, device classes {classes}')
PY
stop_children
cp "$work/tunefleet.db" "$out/" 2>/dev/null || true

# 3. Benchmark table (CUDA only): bench binary from the bundle, torch for cuDNN/cuBLAS.
if [ $cuda = 1 ] && [ -x "$bundle/bench/bench" ]; then
  bench="$bundle/bench/bench"
  mkdir -p "$out/bench"
  "$bench" --list > "$out/bench/tasks.tsv"
  { grep -E '^matmul\(m=4096,n=4096,k=4096,' "$out/bench/tasks.tsv"
    grep -E '^matmul\(m=128,n=(3072|768),k=768,' "$out/bench/tasks.tsv"
    grep -E '^conv2d\(' "$out/bench/tasks.tsv" | grep -v 'layout=1'; } > "$out/bench/tasks.sel"
  log "bench: $(wc -l < "$out/bench/tasks.sel") tasks; torch baselines"
  timeout 120 python3 "$bundle/bench/torch_baselines.py" "$out/bench/tasks.sel" > "$out/bench/vendor.tsv" 2> "$out/bench/torch.err" \
    || log "torch baselines failed: $(tail -2 "$out/bench/torch.err")"
  printf 'task\tflops\tbest_s\tbest_tflops\tvendor_s\tvendor_tflops\tratio\tvalid\ttried\tbest_schedule\tbest_stream_s\ttiming\tvendor_timing\n' > "$out/bench/summary.tsv"
  printf 'task\tschedule\tstatus\tseconds\ttflops\tregisters\tspills\terror\n' > "$out/bench/all.tsv"
  quiet=""
  while IFS= read -r name; do
    if [ "$(elapsed)" -ge "$budget" ]; then log "budget reached: skipping $name and the rest"; break; fi
    timeout 60 "$bench" --run "$out/bench/vendor.tsv" "$out/bench" "$name" "${GPU_CHECK_SAMPLES:-12}" $quiet 2>&1 \
      | grep -v '^nvrtc:' | tee -a "$out/bench/bench.txt" | grep -v '^    ' 
    quiet=quiet
  done < <(cut -f1 "$out/bench/tasks.sel")
  python3 - "$out/bench/summary.tsv" "$out/bench/vendor.tsv" > "$out/TABLE.md" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
torch = {}
for l in open(sys.argv[2]):
    p = l.rstrip("\n").split("\t")
    if len(p) >= 2 and not l.startswith("#"):
        torch[p[0]] = float(p[1])
def f(x, d=1): return "-" if x != x else f"{x:.{d}f}"
print("Throughput ratio = vendor time / tuned time (> 1: tuned faster). FP32, TF32 off.")
print("Tuned: timed from a CUDA graph (GPU time without host launch gaps), like the torch column;")
print("'host launches' is the same best kernel launched from the host, for comparison.")
print("cuBLAS: SGEMM only, same process and harness. torch: cuBLAS addmm(+gelu) / cuDNN conv, CUDA-graph timed.\n")
print("| task | tuned us | host launches us | tuned TFLOP/s | cuBLAS us | tuned/cuBLAS | torch us | tuned/torch | valid/tried | best schedule |")
print("|---|---|---|---|---|---|---|---|---|---|")
methods = set()
conv_ours = conv_torch = 0.0
for r in rows:
    name, flops, best = r[0], float(r[1]), float(r[2])
    stream = float(r[10]) if len(r) > 10 else float("nan")
    if len(r) > 12: methods.add(f"tuned {r[11]}, cuBLAS {r[12]}" if name.startswith("matmul") else f"tuned {r[11]}")
    vendor = float(r[4]) if r[4] != "nan" else float("nan")
    is_mm = name.startswith("matmul")
    cublas = vendor if is_mm else float("nan")
    t = torch.get(name, float("nan"))
    if name.startswith("conv2d") and best == best and t == t:
        conv_ours += best; conv_torch += t
    print(f"| {name} | {f(best*1e6)} | {f(stream*1e6)} | {f(flops/best/1e12, 2)} | {f(cublas*1e6)} | {f(cublas/best, 2)} | {f(t*1e6)} | {f(t/best, 2)} | {r[7]}/{r[8]} | `{r[9]}` |")
print("\ntiming methods seen: " + "; ".join(sorted(methods)))
below = [r[0] for r in rows if r[0].startswith("conv2d") and r[0] in torch and float(r[2]) > torch[r[0]]]
print(f"conv layers below 1.0x cuDNN: {len(below)}" + ("" if not below else ": " + ", ".join(below)))
if conv_ours > 0:
    print(f"\nResNet-50 conv layers above, summed: tuned {conv_ours*1e6:.0f} us, cuDNN {conv_torch*1e6:.0f} us, ratio {conv_torch/conv_ours:.2f}")
PY
  cat "$out/TABLE.md"
else
  log "benchmark table skipped (no CUDA device or no bench binary)"
fi
rm -rf "$work"
log "done"
