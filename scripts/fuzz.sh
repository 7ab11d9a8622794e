#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) in ${FUZZ_BUILD_DIR:-build-fuzz} and runs
# each on its seed corpus for N seconds (default 30). Exit status is non-zero if a target crashes,
# leaks or times out; the crashing input is written to build-fuzz/artifacts/<target>/ — keep it in
# tests/fuzz/corpus/<target>/ once the bug is fixed (a regression input every run replays).
#
#   scripts/fuzz.sh [seconds] [target...]      targets: messages paths glob edit_diff mcp execute
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-30}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(messages paths glob edit_diff mcp execute)
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-2}
CXX_BIN=${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++)}
CC_BIN=${FUZZ_CC:-$(command -v clang-14 || command -v clang)}

mkdir -p "$BUILD"  # the configure log goes inside it, not into the source tree
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_BIN" -DCMAKE_C_COMPILER="$CC_BIN" \
  -DSHMCP_BUILD_FUZZERS=ON -DSHMCP_BUILD_TESTS=OFF -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >"$BUILD/configure.log" 2>&1 || { cat "$BUILD/configure.log"; exit 1; }
cmake --build "$BUILD" -j"$JOBS" --target $(printf 'fuzz_%s ' "${TARGETS[@]}")

# Leak checking stays on; the path fixture (and flatbuffers/nlohmann statics) are intentional.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${TARGETS[@]}"; do
  corpus=tests/fuzz/corpus/$t
  work=$BUILD/corpus/$t          # grows during the run; the seeds in tests/ are never modified
  artifacts=$BUILD/artifacts/$t/
  mkdir -p "$work" "$artifacts"
  echo "== fuzz_$t: ${SECONDS_PER_TARGET}s (seeds: $(ls "$corpus" | wc -l))"
  if ! "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "$corpus" \
      >"$BUILD/fuzz_$t.log" 2>&1; then
    echo "!! fuzz_$t FAILED (log: $BUILD/fuzz_$t.log, input in $artifacts)"
    tail -n 60 "$BUILD/fuzz_$t.log"
    status=1
  else
    grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$BUILD/fuzz_$t.log" | tr '\n' ' '
    echo
  fi
done
exit $status
