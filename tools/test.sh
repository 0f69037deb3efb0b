#!/usr/bin/env bash
# The test suite, from a fresh machine: installs dependencies, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh --with-nvrtc
log=$(mktemp)
if ! swift build --build-tests >"$log" 2>&1; then cat "$log"; exit 1; fi
grep -E "error|warning: .*(deprecated|unused)" "$log" | head -20 || true
swift test --skip-build
# The Kubernetes manifests against the API schemas and the built binaries' flags (offline once installed).
TUNEFLEET_BIN=.build/debug ./tools/check-kubernetes.sh
