#!/usr/bin/env bash
# Runs on a lent GPU machine, from the repository root, after tools/gpu/pack_for_device.sh packed
# .devrun/ here: unpacks the binaries and libraries, then runs the phases named on the command
# line (default: all), each logged to $OUT/<phase>.log, with a summary at the end.
#   tests  the CUDA parity suites (kernels against the CPU references, runtime, determinism)
#   bench  glassbox vs PyTorch on the GPU (resnet20, resnet18), both conv backends
#   conv   hand-written convolution against cuDNN per layer shape (resnet20, resnet18)
#   train  the core ResNet-20 recipe (10 epochs, CIFAR-10) on the GPU
# usage: tools/gpu/device_checks.sh [phase...]
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gb-out}
mkdir -p "$OUT" /tmp/gb
tar -C /tmp/gb -xJf .devrun/bundle.tar.xz
CUDNN_LIB=$(python3 -c 'import nvidia.cudnn as m; print(m.__path__[0] + "/lib")' 2>/dev/null || true)
export LD_LIBRARY_PATH=/tmp/gb/lib${CUDNN_LIB:+:$CUDNN_LIB}
B=/tmp/gb/bin
phases=("$@")
[ ${#phases[@]} -eq 0 ] && phases=(tests bench conv train)
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
missing=$(LD_LIBRARY_PATH=$LD_LIBRARY_PATH ldd $B/glassbox | grep "not found" || true)
[ -n "$missing" ] && echo "missing libraries: $missing"
summary=()
run_phase() {  # name, command...
  local name=$1; shift
  local t0=$SECONDS
  "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  summary+=("$(printf '%-28s rc=%-3s %4ss' "$name" "$rc" $((SECONDS - t0)))")
  tail -n 40 "$OUT/$name.log"
}
for p in "${phases[@]}"; do
  case $p in
    tests)
      for t in test_cuda_conv test_cuda_ops test_cuda_runtime; do
        [ -x $B/$t ] && run_phase "$t" $B/$t --gtest_brief=1
      done ;;
    bench)
      for backend in handwritten cudnn; do
        run_phase "bench-$backend" env PYTHONUNBUFFERED=1 python3 tools/bench_compare.py \
          --glassbox $B/glassbox --device cuda --conv-backend $backend \
          --models resnet20,resnet18 --reps 20 --warmup 5 --json "$OUT/bench-$backend.json"
      done ;;
    conv)
      run_phase conv-layers $B/glassbox bench --device cuda --conv-layers \
        --model resnet20,resnet18 --batch-size 128 --reps 20 --warmup 3 --json "$OUT/conv-layers.json" ;;
    train)
      run_phase train-r20 $B/glassbox train --device cuda --model resnet20 --epochs 10 \
        --data .devrun/cifar10-jpg.tar.gz --out /tmp/r20-gpu.safetensors \
        --json "$OUT/train-r20.json" ;;
    *) echo "unknown phase $p" ;;
  esac
done
printf '%s\n' "${summary[@]}"
