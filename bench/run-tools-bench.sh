#!/bin/sh
# Runs the full `shmcp-bench tools` benchmark, with the reference MCP filesystem server
# (@modelcontextprotocol/server-filesystem, the version pinned in tests/interop/package.json).
#
#   bench/run-tools-bench.sh [OUT_DIR] [extra shmcp-bench tools flags...]
#
# OUT_DIR (default bench-results) receives results.json and latency.svg; the table goes to
# stdout. The reference server comes from tests/interop/node_modules (installed by
# tests/interop/setup.sh, i.e. `npm ci` from the lock file), or, outside a source tree or if
# that fails, from `npm install` of the pinned version into $SHMCP_BENCH_CACHE
# (default ~/.cache/shmcp-bench). Environment: SHMCP_BENCH (the shmcp-bench binary; default
# build-bench/bench/shmcp-bench, then build/bench/shmcp-bench, then PATH), NODE (node binary;
# default: the node 22 installed by setup.sh if present, else node on PATH).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
out=${1:-bench-results}
[ $# -gt 0 ] && shift

pkg=@modelcontextprotocol/server-filesystem
version=2026.8.31
if [ -f "$src/tests/interop/package.json" ]; then
  pinned=$(sed -n 's|.*"@modelcontextprotocol/server-filesystem": *"\([^"]*\)".*|\1|p' "$src/tests/interop/package.json")
  [ -n "$pinned" ] && version=$pinned
fi

interop=$src/tests/interop/node_modules
ref=$interop/$pkg/dist/index.js
if [ ! -f "$ref" ] && [ -x "$src/tests/interop/setup.sh" ]; then
  echo "run-tools-bench: installing the pinned interop packages (tests/interop/setup.sh)..." >&2
  "$src/tests/interop/setup.sh" >&2 || echo "run-tools-bench: setup.sh failed; trying npm install" >&2
fi
if [ ! -f "$ref" ]; then
  cache=${SHMCP_BENCH_CACHE:-$HOME/.cache/shmcp-bench}/server-filesystem-$version
  ref=$cache/node_modules/$pkg/dist/index.js
  if [ ! -f "$ref" ]; then
    command -v npm >/dev/null || { echo "run-tools-bench: npm not found (install node 20+ and npm)" >&2; exit 1; }
    echo "run-tools-bench: npm install $pkg@$version into $cache..." >&2
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-audit --no-fund --loglevel=error "$pkg@$version" >&2
  fi
fi
[ -f "$ref" ] || { echo "run-tools-bench: reference server not installed ($ref)" >&2; exit 1; }

if [ -z "${NODE:-}" ]; then
  if [ -x "$interop/node/bin/node" ]; then NODE=$interop/node/bin/node; else NODE=node; fi
fi

bench=${SHMCP_BENCH:-}
if [ -z "$bench" ]; then
  for b in "$src/build-bench/bench/shmcp-bench" "$src/build/bench/shmcp-bench"; do
    [ -x "$b" ] && { bench=$b; break; }
  done
fi
[ -n "$bench" ] || bench=$(command -v shmcp-bench || true)
[ -n "$bench" ] || { echo "run-tools-bench: shmcp-bench not found: build it (cmake --build build-bench --target shmcp-bench shmcp-executor) or set SHMCP_BENCH" >&2; exit 1; }

echo "run-tools-bench: $bench tools, reference $pkg@$version on $("$NODE" --version)" >&2
exec "$bench" tools --reference-server "$ref" --node "$NODE" --out "$out" "$@"
