#!/usr/bin/env bash
# Soak test: 4 clients doing mixed calls against a real executor for N minutes (default 5); checks
# that the executor's RSS and fd count stay flat after warm-up, that no response is lost,
# duplicated or mismatched, and that no lane leaks. Prints a report and writes it to
# ${BUILD_DIR}/soak-report.txt. Exit status 0 = pass. Not part of ctest (it runs for minutes).
#
#   scripts/soak.sh [minutes] [extra shmcp-soak flags...]    e.g. scripts/soak.sh 30 --workers 4
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-5}
shift || true
BUILD_DIR=${BUILD_DIR:-build-rel}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target shmcp-executor shmcp-soak
exec "$BUILD_DIR/tests/soak/shmcp-soak" --minutes "$MINUTES" --clients 4 --report "$BUILD_DIR/soak-report.txt" "$@"
