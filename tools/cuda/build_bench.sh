#!/usr/bin/env bash
# Builds the GPU check binary (the SwiftPM product tunefleet-gpu-bench, over the same
# TuneCore, CUDAKernels and CUDADriver modules the agent uses, plus the CUDATestSupport
# fixtures) with the Swift runtime linked statically, so a GPU node without Swift can run
# it, and copies it to OUTDIR/bench beside the scripts that drive it.
#   tools/cuda/build_bench.sh OUTDIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:?usage: build_bench.sh OUTDIR}"
mkdir -p "$out"
cd "$root"
swift build -c release --product tunefleet-gpu-bench --static-swift-stdlib
bin="$(swift build -c release --product tunefleet-gpu-bench --static-swift-stdlib --show-bin-path)"
cp "$bin/tunefleet-gpu-bench" "$out/bench"
cp "$root/tools/cuda/gpu_bench.sh" "$root/tools/cuda/torch_baselines.py" "$out/"
ls -la "$out"
