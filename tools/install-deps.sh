#!/usr/bin/env bash
# Installs what TuneFleet needs on Debian/Ubuntu: libzmq, SQLite, OpenBLAS, XGBoost, oneDNN, BLIS, a C
# compiler, and, for the tests, NVRTC from PyPI (compiles CUDA kernels without a GPU).
# Idempotent: does nothing when everything is present.
set -euo pipefail
want_nvrtc=${1:-}
missing=()
for pkg in libzmq3-dev libsqlite3-dev libopenblas-dev libxgboost-dev libdnnl-dev libblis-dev gcc g++ make; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ]; then sudo=""
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"
  else
    echo "TuneFleet needs these Debian packages: ${missing[*]}" >&2
    echo "Ask an administrator to run: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$want_nvrtc" = "--with-nvrtc" ]; then
  # Matches the CUDA 13.0 driver of the GPU node; only used to compile (no GPU needed).
  python3 -m pip show nvidia-cuda-nvrtc >/dev/null 2>&1 ||
    python3 -m pip install -q "nvidia-cuda-nvrtc==13.0.88" ||
    echo "warning: could not install nvidia-cuda-nvrtc; NVRTC tests will be skipped" >&2
fi
