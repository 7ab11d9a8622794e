#!/bin/sh
# Installs the pinned interop dependencies (package-lock.json) into tests/interop/node_modules.
# Idempotent: skips npm when node_modules matches the lock file and node 22 is present. Run by the
# interop_setup ctest fixture, so a fresh clone installs everything itself (npm registry needed).
set -eu
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "setup.sh: npm not found (install node 20 + npm)" >&2; exit 1; }

# One installer at a time (parallel ctest runs, or a developer running it by hand meanwhile).
exec 9>.setup.lock
flock 9

stamp=node_modules/.shmcp-setup-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
ready() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
    [ -x node_modules/node/bin/node ] &&
    node_modules/node/bin/node --version 2>/dev/null | grep -q '^v22\.' &&
    [ -f node_modules/@modelcontextprotocol/server-filesystem/dist/index.js ] &&
    [ -f node_modules/@modelcontextprotocol/conformance/dist/index.js ] &&
    [ -d node_modules/@modelcontextprotocol/sdk ]
}
if ready; then
  echo "setup.sh: node_modules up to date"
  exit 0
fi
rm -f "$stamp"
# npm ci: exactly the lock file. The `node` package downloads its binary in a preinstall script
# (allowed in package.json's allowScripts).
npm ci --no-audit --no-fund --loglevel=error
if ! ready_without_stamp=$(node_modules/node/bin/node --version 2>&1) || ! echo "$ready_without_stamp" | grep -q '^v22\.'; then
  echo "setup.sh: node 22 from the npm package 'node' is not usable: $ready_without_stamp" >&2
  exit 1
fi
echo "$want" > "$stamp"
ready || { echo "setup.sh: installation incomplete" >&2; exit 1; }
echo "setup.sh: installed $(node_modules/node/bin/node --version) and pinned MCP packages"
