#!/usr/bin/env bash
# Installs every Debian package shmcp needs to build, test and deploy. Idempotent: only what is
# missing is installed, so re-running it on a prepared machine costs a second.
# Usage: scripts/install-deps.sh [--with-docker]
set -euo pipefail
pkgs=(build-essential cmake pkg-config libseccomp-dev libflatbuffers-dev flatbuffers-compiler
      libcpp-httplib-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libsimdjson-dev libcli11-dev libgtest-dev
      libcap-dev clang libclang-rt-14-dev util-linux python3 python3-venv python3-pytest
      python3-setuptools python3-wheel nodejs npm)
if [[ "${1:-}" == "--with-docker" ]]; then pkgs+=(docker.io docker-compose debootstrap); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere (e.g. nodesource); don't fight a working node.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done; missing=("${tmp[@]}")
fi
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
