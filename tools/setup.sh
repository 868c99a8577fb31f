#!/usr/bin/env bash
# Installs what glassbox needs to build and test on Debian (skips what is already there), then
# configures and builds. Usage: tools/setup.sh [build-dir] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true

packages=(build-essential cmake ninja-build libeigen3-dev libcli11-dev nlohmann-json3-dev
          libfmt-dev zlib1g-dev libarchive-dev libstb-dev libgtest-dev libgmock-dev
          dataset-fashion-mnist
          libonnx-dev libprotobuf-dev protobuf-compiler  # ONNX import and export (models/onnx)
          libopenmpi-dev openmpi-bin  # mpirun: data-parallel training, sharded jobs (runtime/mpi)
          graphviz  # `glassbox graph` SVG output and the report's model graph
          universal-ctags python3  # the size budget (tools/check_size.py)
          libopenblas0-pthread  # only the yardstick of `glassbox bench --gemm` (dlopen at run time)
          chromium)  # tests/viewers/test_report.py opens the report page in headless Chromium
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
