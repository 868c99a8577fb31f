#!/usr/bin/env bash
# Runs on a lent GPU machine, from the repository root, after tools/gpu/pack_for_device.sh packed
# .devrun/ here: unpacks the binaries and libraries, then runs the phases named on the command
# line (default: all), each logged under /tmp/gb-logs (archived to $OUT/results.tgz after every
# phase, so a run cut short still returns what it finished), with a summary at the end.
#   tests  the CUDA parity suites (kernels against the CPU references, runtime, determinism) and
#          the op-conformance harness (every op-table row's CUDA kernels against the reference)
#   bench  glassbox vs PyTorch on the GPU (resnet20, resnet18), both conv backends
#   conv   hand-written convolution against cuDNN per layer shape (resnet20, resnet18)
#   train  the core ResNet-20 recipe (10 epochs, CIFAR-10) on the GPU
#   fast   the airbench-style fast recipe (train --recipe fast)
#   explain  explanation methods with the model on the GPU (needs train's checkpoint)
#   layers  per-layer GPU profile of ResNet-20 and ResNet-18 training
#   import  a zoo model exported to ONNX and imported back, trained and run on the GPU (bench)
# usage: tools/gpu/device_checks.sh [phase...]
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gb-out}
LOG=/tmp/gb-logs  # every log and JSON; $OUT/results.tgz is refreshed after each phase
mkdir -p "$OUT" "$LOG" /tmp/gb
tar -C /tmp/gb -xJf .devrun/bundle.tar.xz
CUDNN_LIB=$(python3 -c 'import nvidia.cudnn as m; print(m.__path__[0] + "/lib")' 2>/dev/null || true)
export LD_LIBRARY_PATH=/tmp/gb/lib${CUDNN_LIB:+:$CUDNN_LIB}
B=/tmp/gb/bin
phases=("$@")
[ ${#phases[@]} -eq 0 ] && phases=(tests import train bench conv fast explain layers)
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$LOG/gpu.txt"
missing=$(LD_LIBRARY_PATH=$LD_LIBRARY_PATH ldd $B/glassbox | grep "not found" || true)
[ -n "$missing" ] && echo "missing libraries: $missing"
summary=()
run_phase() {  # name, seconds allowed, command...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$LOG/$name.log" 2>&1
  local rc=$?
  summary+=("$(printf '%-28s rc=%-3s %4ss' "$name" "$rc" $((SECONDS - t0)))")
  tr '\r' '\n' <"$LOG/$name.log" | grep -v 'step .*/' | tail -n 30
  printf '%s\n' "${summary[@]}" >"$LOG/summary.txt"
  tar -C "$LOG" -czf "$OUT/results.tgz" .
}
for p in "${phases[@]}"; do
  case $p in
    tests)
      for t in test_cuda_conv test_cuda_ops test_cuda_runtime test_op_conformance test_op_table; do
        [ -x $B/$t ] && run_phase "$t" 120 $B/$t --gtest_brief=1
      done ;;
    bench)
      for backend in handwritten cudnn; do
        run_phase "bench-$backend" 120 env PYTHONUNBUFFERED=1 python3 tools/bench_compare.py \
          --glassbox $B/glassbox --device cuda --conv-backend $backend \
          --models resnet20,resnet18 --reps 20 --warmup 5 --json "$LOG/bench-$backend.json"
      done ;;
    conv)
      run_phase conv-layers 90 $B/glassbox bench --device cuda --conv-layers \
        --model resnet20,resnet18 --batch-size 128 --reps 20 --warmup 3 --json "$LOG/conv-layers.json" ;;
    train)
      run_phase train-r20 180 $B/glassbox train --device cuda --model resnet20 --epochs 10 \
        --data .devrun/cifar10-jpg.tar.gz --out /tmp/r20-gpu.safetensors \
        --json "$LOG/train-r20.json" ;;
    fast)
      run_phase fast-recipe 200 $B/glassbox train --device cuda --recipe fast \
        --data .devrun/cifar10-jpg.tar.gz --out /tmp/fast.safetensors --json "$LOG/fast.json" ;;
    explain)
      run_phase explain-gpu 150 $B/glassbox evaluate-explanations --device cuda \
        --checkpoint "${GB_EXPLAIN_CHECKPOINT:-/tmp/r20-gpu.safetensors}" \
        --data .devrun/cifar10-jpg.tar.gz --count 100 --sanity-check \
        --methods gradcam,gradcam++,scorecam,ig,smoothgrad,occlusion,lime,kernelshap \
        --json "$LOG/explain-gpu.json" --quiet ;;
    import)
      run_phase import-gpu 90 bash -c "$B/glassbox export --model resnet20 --out /tmp/gb/r20.onnx \
        --overwrite && $B/glassbox import /tmp/gb/r20.onnx --out /tmp/gb/r20-imported.safetensors \
        --overwrite && $B/glassbox bench --device cuda --model /tmp/gb/r20-imported.safetensors \
        --reps 10 --warmup 3 --json $LOG/import-gpu.json" ;;
    layers)
      run_phase per-layer 90 $B/glassbox bench --device cuda --per-layer --sort time \
        --model resnet20,resnet18 --no-inference --reps 5 --json "$LOG/per-layer.json" ;;
    *) echo "unknown phase $p" ;;
  esac
done
printf '%s\n' "${summary[@]}"
