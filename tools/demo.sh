#!/usr/bin/env bash
# The demo campaign on an embedded local cluster: coordd + two CPU agents on loopback.
# Installs dependencies, builds release binaries, runs `coordctl demo` with any extra args.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh
log=$(mktemp)
echo "building (release)..." >&2
if ! swift build -c release >"$log" 2>&1; then cat "$log"; exit 1; fi
exec .build/release/coordctl demo "$@"
