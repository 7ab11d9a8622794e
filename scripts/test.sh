#!/usr/bin/env bash
# Installs everything the suite needs (Debian packages incl. Docker; npm packages are installed by
# the suite's own setup fixtures), builds, and runs every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-docker
scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure --timeout 1800 ${CTEST_ARGS:-} "$@"
