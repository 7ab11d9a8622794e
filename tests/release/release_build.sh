#!/usr/bin/env bash
# Configures SRC as a Release build (-O3: GCC 12 warns there where -O2 is quiet) in DIR, with
# warnings as errors, and builds every target. Extra arguments go to the configure step.
#   tests/release/release_build.sh SRC DIR [cmake args...]
set -euo pipefail
SRC=$1 DIR=$2
shift 2
mkdir -p "$DIR"  # the configure log goes inside it
gen=()
if [[ ! -f "$DIR/CMakeCache.txt" ]] && command -v ninja >/dev/null; then gen=(-G Ninja); fi
cmake -S "$SRC" -B "$DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_COMPILE_WARNING_AS_ERROR=ON "$@" \
  >"$DIR/configure.log" 2>&1 || { cat "$DIR/configure.log"; exit 1; }
cmake --build "$DIR" -j"${JOBS:-2}"
