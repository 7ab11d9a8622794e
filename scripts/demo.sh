#!/usr/bin/env bash
# The main job: installs what is missing, builds, then runs the sidecar demo — an executor on a
# temporary workspace, and an orchestrator client calling tools over shared memory and HTTP,
# printing results and the latency comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
B=${BUILD_DIR:-build}
WS=$(mktemp -d /tmp/shmcp-demo-ws.XXXXXX)
CH=demo-$$
PORT=${PORT:-18002}
cleanup() { [[ -n "${EXEC_PID:-}" ]] && kill -TERM "$EXEC_PID" 2>/dev/null && wait "$EXEC_PID" 2>/dev/null; rm -rf "$WS"; }
trap cleanup EXIT
echo "== starting shmcp-executor on workspace $WS (channel $CH, HTTP 127.0.0.1:$PORT)"
"$B/executor/shmcp-executor" serve --workspace "$WS" --channel "$CH" --http "127.0.0.1:$PORT" --workers 2 &
EXEC_PID=$!
echo "== running the orchestrator demo"
"$B/orchestrator/shmcp" demo --shm "shm://$CH" --http "http://127.0.0.1:$PORT" --calls "${CALLS:-500}" --wait 30
