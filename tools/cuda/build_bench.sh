#!/usr/bin/env bash
# Builds the GPU check binary (tools/cuda/bench) as one module from the TuneCore,
# CUDAKernels and CUDADriver sources plus the test reference, with the Swift runtime
# linked statically so a GPU node without Swift can run it.
#   tools/cuda/build_bench.sh OUTDIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:?usage: build_bench.sh OUTDIR}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out"
# One module: drop the cross-module imports; the test fixtures use Glibc instead of Foundation.
for f in "$root"/Sources/TuneCore/*.swift "$root"/Sources/CUDAKernels/*.swift "$root"/Sources/CUDADriver/*.swift \
         "$root"/Tests/CUDAKernelsTests/Fixtures.swift "$root"/tools/cuda/bench/main.swift; do
  name="$(basename "$(dirname "$f")")_$(basename "$f")"
  sed -e '/^import TuneCore$/d' -e '/^import CUDAKernels$/d' -e '/^import CUDADriver$/d' \
      -e 's/^import Foundation$/import Glibc/' "$f" > "$stage/$name"
done
mv "$stage/bench_main.swift" "$stage/main.swift"
swiftc -O -static-stdlib -module-name TuneFleetBench "$stage"/*.swift -o "$out/bench"
cp "$root/tools/cuda/gpu_bench.sh" "$root/tools/cuda/torch_baselines.py" "$out/"
ls -la "$out"
