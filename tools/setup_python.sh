#!/usr/bin/env bash
# The Python side of the agreement suites (tests/agreement): Debian's PyTorch and torchvision,
# and a virtual environment at build/venv that sees them (--system-site-packages) with onnx,
# onnxruntime, safetensors and tensorboard (whose event reader checks `train --tensorboard`,
# tests/viewers) and the explanation peers of tests/agreement/test_peer_*.py and
# tools/bench_explain_peers.py (captum 0.6.0, the last release for Debian's torch 1.13;
# pytorch-grad-cam 1.5.7 without its opencv-python/GUI dependency, so with ttach, tqdm,
# matplotlib, scikit-learn and opencv-python-headless; shap 0.46.0; lime; scikit-image and scipy)
# from PyPI at pinned versions (a venv missing one gets it added). numpy stays below 2 (Debian's
# torch is built against 1.x). Idempotent: skips what is already there.
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
pins=("numpy<2" "onnx>=1.14,<1.17" "onnxruntime>=1.16,<1.20" "safetensors>=0.4,<0.5"
  "tensorboard>=2.14,<2.18" "captum==0.6.0" "shap==0.46.0" "lime==0.2.0.1"
  "scikit-image==0.24.0" "scipy>=1.10,<1.16" "scikit-learn>=1.3,<1.8" "matplotlib>=3.7,<3.11"
  "opencv-python-headless>=4.8,<4.11" "ttach==0.0.3" "tqdm>=4.60")
no_deps=("grad-cam==1.5.7")  # its opencv-python would pull X11 libraries; the rest is in pins
if ! "$venv/bin/python" -c "import onnx, onnxruntime, torch, torchvision, safetensors, \
tensorboard, captum, shap, lime, skimage, scipy, sklearn, cv2, ttach, pytorch_grad_cam" \
    2>/dev/null; then
  echo "setup_python: creating $venv (onnx, onnxruntime, safetensors, tensorboard, captum," \
    "grad-cam, shap, lime, scikit-image from PyPI)" >&2
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q "${pins[@]}" >&2
  "$venv/bin/pip" install -q --no-deps "${no_deps[@]}" >&2
fi
echo "$venv/bin/python"
