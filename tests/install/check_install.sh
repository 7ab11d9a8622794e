#!/usr/bin/env bash
# `cmake --install` into a fresh prefix gives the binaries in P/bin and a package that another
# project's find_package(shmcp) can build against (target shmcp::client).
set -euo pipefail
BUILD=$1
SRC=$(cd "$(dirname "$0")" && pwd)
P=$(mktemp -d /tmp/shmcp-install.XXXXXX)
trap 'rm -rf "$P"' EXIT
cmake --install "$BUILD" --prefix "$P" >/dev/null
for b in shmcp-executor shmcp shmcp-bench; do
  [[ -x "$P/bin/$b" ]] || { echo "missing $P/bin/$b"; exit 1; }
done
"$P/bin/shmcp-executor" --help >/dev/null
"$P/bin/shmcp" --help >/dev/null
[[ -f "$P/include/shmcp/orchestrator/client.hpp" && -f "$P/include/shmcp/shmcp.h" ]] || { echo "client headers not installed"; exit 1; }
cmake -S "$SRC/consumer" -B "$P/consumer-build" -DCMAKE_PREFIX_PATH="$P" >/dev/null
cmake --build "$P/consumer-build" >/dev/null
LD_LIBRARY_PATH="$P/lib:$P/lib/x86_64-linux-gnu" "$P/consumer-build/consumer"
