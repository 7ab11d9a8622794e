#!/usr/bin/env bash
# Builds shmcp with sanitizers and runs the unit and multi-process tests there:
#   build-asan  SHMCP_SANITIZE=address  (AddressSanitizer + UndefinedBehaviorSanitizer, leaks too)
#   build-tsan  SHMCP_SANITIZE=thread   (ThreadSanitizer)
# Tests run: ctest -R '^(channel_|sandbox_|executor_|orchestrator_)'. Tests that cannot work under a
# sanitizer skip themselves (compiled with SHMCP_SANITIZER; e.g. address-space rlimits). Workers
# lock down with LockdownOptions::sanitizer_runtime, so the seccomp filter allows the runtimes'
# extra syscalls; the sandbox is otherwise the same.
#
#   scripts/sanitize.sh [address|thread|all]     (default: all)
#   JOBS=2 CTEST_ARGS='-j2' scripts/sanitize.sh address
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-all}
JOBS=${JOBS:-2}
TEST_REGEX=${TEST_REGEX:-'^(channel_|sandbox_|executor_|orchestrator_)'}
case "$WHICH" in
  address|thread) KINDS=("$WHICH") ;;
  all) KINDS=(address thread) ;;
  *) echo "usage: $0 [address|thread|all]" >&2; exit 2 ;;
esac

# Reports fail the test that triggered them (there are no suppression files).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

status=0
for kind in "${KINDS[@]}"; do
  case "$kind" in address) dir=build-asan ;; thread) dir=build-tsan ;; esac
  echo "== $kind: configuring $dir"
  # GCC 12's -Wmaybe-uninitialized is unreliable under -fsanitize=address (false positives inside
  # <functional>/<regex> in executor_http_test under -Werror); the normal build keeps it.
  # A fresh dir uses Ninja when available: with Makefiles, `--target a b c` builds the ~20 test
  # targets one after another (the top-level Makefile is .NOTPARALLEL), so -j2 rarely has 2 jobs.
  gen=()
  if [[ ! -f "$dir/CMakeCache.txt" ]] && command -v ninja >/dev/null; then gen=(-G Ninja); fi
  mkdir -p "$dir"  # the configure log goes inside it, not into the source tree
  cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHMCP_SANITIZE="$kind" -DCMAKE_COMPILE_WARNING_AS_ERROR=ON \
    -DCMAKE_CXX_FLAGS="${SANITIZE_CXXFLAGS:--Wno-maybe-uninitialized}" >"$dir/configure.log" 2>&1 \
    || { cat "$dir/configure.log"; exit 1; }
  # Only what the selected tests need (not bench, not the docker/interop fixtures).
  targets=(shmcp-executor shmcp shmcp_client channel_peer)
  for t in $(ls tests/channel/*_test.cpp tests/sandbox/*_test.cpp tests/executor/*_test.cpp tests/orchestrator/*_test.cpp); do
    base=$(basename "$t" .cpp)
    targets+=("$(basename "$(dirname "$t")")_$base")
  done
  echo "== $kind: building ${#targets[@]} targets"
  cmake --build "$dir" -j"$JOBS" --target "${targets[@]}"
  echo "== $kind: ctest -R '$TEST_REGEX'"
  # Executor/worker/CLI logs that the tests capture and delete are kept here when they hold a
  # sanitizer report (tests/support/executor_process.hpp), so such a report fails the run too.
  export SHMCP_SANITIZER_REPORT_DIR="$PWD/$dir/sanitizer-reports"
  rm -rf "$SHMCP_SANITIZER_REPORT_DIR" && mkdir -p "$SHMCP_SANITIZER_REPORT_DIR"
  if ! ctest --test-dir "$dir" -R "$TEST_REGEX" --output-on-failure --timeout 900 ${CTEST_ARGS:-}; then
    echo "!! $kind: failures (see above)"
    status=1
  fi
  if [[ -n "$(ls -A "$SHMCP_SANITIZER_REPORT_DIR")" ]]; then
    echo "!! $kind: sanitizer reports in child-process logs ($SHMCP_SANITIZER_REPORT_DIR):"
    for f in "$SHMCP_SANITIZER_REPORT_DIR"/*; do echo "--- $f"; grep -E -A40 'Sanitizer|runtime error:' "$f" | head -80; done
    status=1
  fi
done
exit $status
