#!/usr/bin/env bash
# Packs a CUDA build of glassbox for a lent GPU machine that has the NVIDIA driver but not
# glassbox's build dependencies: the binaries, the shared libraries they need (minus glibc and
# libstdc++, which the target has in newer versions) and the CIFAR-10 archive, into .devrun/
# (git-ignored through .git/info/exclude), ready to be carried to the device and unpacked by
# tools/gpu/device_checks.sh.
# usage: tools/gpu/pack_for_device.sh [build-dir] [data-archive]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-cuda}
data=${2:-../shared/data/cifar10-jpg.tar.gz}
out=.devrun
mkdir -p .git/info && { grep -qx '/.devrun/' .git/info/exclude 2>/dev/null || echo '/.devrun/' >>.git/info/exclude; }
rm -rf "$out" && mkdir -p "$out/stage/bin" "$out/stage/lib"
bins=(glassbox test_cuda_conv test_cuda_ops test_cuda_runtime test_op_conformance test_op_table)
for b in "${bins[@]}"; do
  [ -x "$build/$b" ] && cp "$build/$b" "$out/stage/bin/"
done
# Every shared library the binaries load, except the C/C++ runtime and the CUDA driver.
for b in "$out"/stage/bin/*; do
  ldd "$b" | awk '/=> \// {print $3}'
done | sort -u | grep -Ev '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|libcuda|libcudnn)[.-]' |
  while read -r lib; do cp -L "$lib" "$out/stage/lib/"; done
tar -C "$out/stage" -cJf "$out/bundle.tar.xz" bin lib
rm -rf "$out/stage"
[ -f "$data" ] && cp "$data" "$out/cifar10-jpg.tar.gz"
du -sh "$out"/*
