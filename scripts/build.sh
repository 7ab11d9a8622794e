#!/usr/bin/env bash
# Configures and builds shmcp into ${BUILD_DIR:-build} (RelWithDebInfo; warnings are errors here,
# not by default: CMAKE_COMPILE_WARNING_AS_ERROR).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} -DCMAKE_COMPILE_WARNING_AS_ERROR=ON "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"
