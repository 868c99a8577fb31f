#!/usr/bin/env bash
# The Python side of the agreement suites (tests/agreement): Debian's PyTorch and torchvision,
# and a virtual environment at build/venv that sees them (--system-site-packages) with onnx,
# onnxruntime and safetensors from PyPI at pinned versions (a venv missing one gets it added). Idempotent: skips what is already there.
# Usage: tools/setup_python.sh   (prints the venv's python on the last line)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3-torch python3-torchvision python3-venv python3-pip)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup_python: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv=build/venv
pins=("numpy<2" "onnx>=1.14,<1.17" "onnxruntime>=1.16,<1.20" "safetensors>=0.4,<0.5")
if ! "$venv/bin/python" -c "import onnx, onnxruntime, torch, torchvision, safetensors" \
    2>/dev/null; then
  echo "setup_python: creating $venv (onnx, onnxruntime, safetensors from PyPI)" >&2
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q "${pins[@]}" >&2
fi
echo "$venv/bin/python"
