#!/usr/bin/env bash
# The main job: builds glassbox (installing what it needs), trains a model, evaluates it, prints
# its layer table, explains four test images with eight methods (PNG maps and a sheet per image)
# and scores the methods with deletion/insertion AUCs. With no arguments it trains the small CNN on Fashion-MNIST (no
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
# Explain a handful of test images with several methods, then score the methods.
for k in 0 1 2 3; do
  build/glassbox explain --checkpoint "$ck" --index "$k" \
    --method gradcam,gradcam++,scorecam,ig,smoothgrad,occlusion,lime,kernelshap \
    --out "runs/$stamp-explain/$k"
done
build/glassbox evaluate-explanations --checkpoint "$ck" --count 20 \
  --methods gradcam,gradcam++,ig,smoothgrad,occlusion,lime --json "runs/$stamp-explanations.json"
echo "checkpoint: $ck   metrics: runs/$stamp.json"
echo "explanations: runs/$stamp-explain/<image>/sheet.png (+ one PNG per method, explanation.json)"
