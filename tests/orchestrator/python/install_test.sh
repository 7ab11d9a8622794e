#!/usr/bin/env bash
# orchestrator_python_install: the README's install commands, verbatim, on a fresh copy of the
# repository's Python package (the files git tracks or would track: no build/ or egg-info left over
# from a developer's earlier install), offline, with Debian's packages. Then the installed package
# (not the source tree) passes the client tests and an agent run through the `shmcp-agent` script.
# Usage: install_test.sh SRC_DIR PYTHON EXECUTOR LIBSHMCP
set -euo pipefail
SRC=$1 PY=$2 EXECUTOR=$3 LIB=$4
unset PYTHONPATH  # ctest's points at the source tree: the installed package is under test here
W=$(mktemp -d /tmp/shmcp-pyinstall.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/repo"
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$SRC" && git ls-files -co --exclude-standard -z orchestrator/python | xargs -0 cp --parents -t "$W/repo")
else
  mkdir -p "$W/repo/orchestrator" && cp -r "$SRC/orchestrator/python" "$W/repo/orchestrator/"
fi
cd "$W/repo"
# --- the documented commands (README "Python quick start") ---
"$PY" -m venv --system-site-packages .venv
.venv/bin/pip install --no-build-isolation --no-index ./orchestrator/python
# ---
where=$(.venv/bin/python -c 'import shmcp, os; print(os.path.dirname(shmcp.__file__))')
[[ $where == "$W/repo/.venv/"* ]] || { echo "FAIL: shmcp imported from $where, not the venv"; exit 1; }
[[ -f $where/py.typed ]] || { echo "FAIL: py.typed not installed"; exit 1; }
.venv/bin/shmcp-agent --help >/dev/null
export SHMCP_EXECUTOR=$EXECUTOR SHMCP_LIBRARY=$LIB SHMCP_AGENT_CMD="$W/repo/.venv/bin/shmcp-agent" PYTHONDONTWRITEBYTECODE=1
.venv/bin/python -m pytest -q -p no:cacheprovider "$SRC/tests/orchestrator/python/test_client.py" \
  "$SRC/tests/orchestrator/python/test_agent.py" -k "not test_agent or streams or checkpoint"
echo "OK: installed with pip from a fresh copy; tests pass against the installed package"
