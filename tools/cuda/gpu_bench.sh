#!/usr/bin/env bash
# The GPU check in one command (run on the GPU node from the folder holding `bench`,
# built by build_bench.sh): vendor baselines with torch, then every candidate of every
# benchmark task generated, compiled, verified and timed, one process per task so that a
# kernel that poisons its CUDA context costs only its own task. Results under $OUT.
#   gpu_bench.sh [name-filter] [random-samples-per-task]
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/out}"
mkdir -p "$out"
export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/nvidia-smi.txt" 2>&1 || true
"$here/bench" --list > "$out/tasks.tsv"
if [ -n "${1:-}" ]; then grep -F -- "$1" "$out/tasks.tsv" > "$out/tasks.sel" || true; else cp "$out/tasks.tsv" "$out/tasks.sel"; fi
timeout 200 python3 "$here/torch_baselines.py" "$out/tasks.sel" > "$out/vendor.tsv" 2> "$out/torch.err" \
  || echo "torch baselines failed: $(tail -3 "$out/torch.err")"
head -1 "$out/torch.err"
printf 'task\tflops\tbest_s\tbest_tflops\tvendor_s\tvendor_tflops\tratio\tvalid\ttried\tbest_schedule\n' > "$out/summary.tsv"
printf 'task\tschedule\tstatus\tseconds\ttflops\tregisters\tspills\terror\n' > "$out/all.tsv"
first=1
cut -f1 "$out/tasks.sel" | while IFS= read -r name; do
  if [ $first = 1 ]; then verbose=""; first=0; else verbose="quiet"; fi
  timeout 90 "$here/bench" --run "$out/vendor.tsv" "$out" "$name" "${2:-24}" $verbose 2>&1 | tee -a "$out/bench.txt" | grep -v '^nvrtc:' 
done
