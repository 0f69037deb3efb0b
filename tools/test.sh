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
# The Slurm deployment against a real one-node Slurm (Debian's slurmctld and slurmd, started
# here): needs root to install and run the daemons.
if [ "$(id -u)" = 0 ]; then
  TUNEFLEET_BIN=.build/debug ./tools/check-slurm.sh
else
  echo "tools/check-slurm.sh skipped: it needs root to install and start slurmctld, slurmd and munged"
fi
