#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz in build-fuzz (clang, ASan + UBSan, GLASSBOX_FUZZ=ON;
# installs clang and its fuzzer runtime if missing) and runs each for SECONDS (default 60), at
# most two at a time, at nice 19. Seeds come from tests/fuzz/corpus/<target>/ (copied into the
# working corpus build-fuzz/corpus/<target>/, which grows across runs; tests/ is never written),
# dictionaries from tests/fuzz/dict/<target>.dict. Crash, leak and timeout inputs go to
# build-fuzz/crashes/<target>/, logs to build-fuzz/logs/<target>.log. Prints a table and exits
# non-zero if any target found something.
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]     (targets: the fuzz_* names, default all)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
all=(fuzz_safetensors fuzz_cifar fuzz_idx fuzz_image fuzz_archive fuzz_checkpoint_meta fuzz_onnx)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
build=build-fuzz

# The longest input tried per target (bytes): room for a few records / entries / nodes.
declare -A max_len=([fuzz_safetensors]=8192 [fuzz_cifar]=16384 [fuzz_idx]=4096
                    [fuzz_image]=16384 [fuzz_archive]=32768 [fuzz_checkpoint_meta]=8192
                    [fuzz_onnx]=32768)

install_clang() {
  local missing=()
  for p in clang libclang-rt-dev libomp-dev; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  echo "fuzz: installing ${missing[*]}"
  local sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
}

build_targets() {
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache
                                            -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGLASSBOX_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >/dev/null
  nice -n 10 cmake --build "$build" -j "${GB_FUZZ_JOBS:-2}" --target "${targets[@]}"
}

# Runs one target for $seconds; writes its log and the row of the table.
run_target() {
  local t=$1 name=${1#fuzz_}
  local corpus=$build/corpus/$t crashes=$build/crashes/$t log=$build/logs/$t.log
  mkdir -p "$corpus" "$crashes" "$build/logs"
  cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
  local dict=()
  [ -f tests/fuzz/dict/"$name".dict ] && dict=(-dict=tests/fuzz/dict/"$name".dict)
  local start=$SECONDS rc=0
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 OMP_NUM_THREADS=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    nice -n 19 "$build/tests/fuzz/$t" "$corpus" "${dict[@]}" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=10 -max_len="${max_len[$t]}" -print_final_stats=1 \
    -artifact_prefix="$crashes/" >"$log" 2>&1 || rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  local result=ok
  if ((rc != 0)); then
    result="FOUND ($(ls -t "$crashes" | head -1), see $log)"
  fi
  printf '%-22s %8s %12s %8s  %s\n' "$t" "$((SECONDS - start))" "${execs:-?}" \
    "$(ls "$corpus" | wc -l)" "$result" >"$build/logs/$t.row"
  return "$rc"
}

install_clang
build_targets
echo "== fuzzing ${#targets[@]} target(s) for ${seconds}s each, two at a time"
for t in "${targets[@]}"; do
  rm -f "$build/logs/$t.row"
  while (($(jobs -pr | wc -l) >= 2)); do wait -n || true; done
  run_target "$t" &
done
wait || true
failed=0
printf '%-22s %8s %12s %8s  %s\n' target seconds execs corpus result
for t in "${targets[@]}"; do
  row=$(cat "$build/logs/$t.row" 2>/dev/null || echo "$t: no result (see $build/logs/$t.log)")
  echo "$row"
  [[ $row == *" ok" ]] || failed=1
done
# A finding must be reproducible from the CI log alone (the build tree is gone afterwards):
# print each failing target's report and its newest input, base64.
for t in "${targets[@]}"; do
  [[ $(cat "$build/logs/$t.row" 2>/dev/null) == *" ok" ]] && continue
  echo "== $t: the end of its log"
  grep -v -E '^#[0-9]+|^INFO:|^MERGE' "$build/logs/$t.log" | tail -60
  input=$(ls -t "$build/crashes/$t" 2>/dev/null | head -1)
  if [ -n "$input" ]; then
    echo "== $t: $input, base64 (first 8 KiB; decode with base64 -d > input; run $build/tests/fuzz/$t input)"
    head -c 8192 "$build/crashes/$t/$input" | base64 -w 120
  fi
done
exit "$failed"
