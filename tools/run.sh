#!/usr/bin/env bash
# The main job: builds glassbox (installing what it needs), trains a model, evaluates it and
# prints its layer table. With no arguments it trains the small CNN on Fashion-MNIST (no
# download: Debian's dataset-fashion-mnist). Any arguments are passed to `glassbox train`.
#   tools/run.sh
#   tools/run.sh --model resnet20 --data ../shared/data/cifar10-jpg.tar.gz --epochs 10
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
mkdir -p runs
stamp=$(date +%Y%m%d-%H%M%S)
ck=runs/$stamp.safetensors
if (($#)); then
  build/glassbox train --out "$ck" --json "runs/$stamp.json" "$@"
else
  build/glassbox train --model smallcnn --epochs 2 --batch-size 128 --lr 0.05 \
    --out "$ck" --json "runs/$stamp.json"
fi
build/glassbox eval --checkpoint "$ck"
build/glassbox summary --checkpoint "$ck"
echo "checkpoint: $ck   metrics: runs/$stamp.json"
