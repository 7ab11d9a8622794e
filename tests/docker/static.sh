#!/usr/bin/env bash
# docker_static: the deployment files, checked without an engine or a cluster.
#  1. docker/compose.yaml validated by Debian's docker-compose (v1) `config -q`;
#  2. docker/k8s/*.yaml turned into typed TypeScript (kubernetes-types) and compiled with
#     tsc --strict: unknown fields, wrong types and wrong apiVersion/kind literals fail;
#  3. explicit assertions (assert-deploy.js): shared /dev/shm, IPC settings, same uid, hardening.
# Usage: static.sh REPO WORKDIR
# Installs what it needs if missing (docker-compose via apt, the pinned npm packages via npm ci).
set -euo pipefail
repo=$(cd "${1:?usage: static.sh REPO WORKDIR}" && pwd)
work=${2:?usage: static.sh REPO WORKDIR}
mkdir -p "$work"
work=$(cd "$work" && pwd)

need_apt=()
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
if ((${#need_apt[@]})); then
  echo "static: installing ${need_apt[*]} (scripts/install-deps.sh --with-docker installs them)" >&2
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

echo "== compose: docker-compose $(docker-compose version --short 2>/dev/null) config -q"
# config needs no engine; DOCKER_HOST is irrelevant. Both the production file and the CI override.
docker-compose -f "$repo/docker/compose.yaml" config -q
# The agent example (docker/compose.agent.yaml: documentation, never started in CI) must stay valid too.
[[ -f $repo/docker/compose.agent.yaml ]] && docker-compose -f "$repo/docker/compose.agent.yaml" config -q
if [[ -f $repo/docker/compose.ci.yaml ]]; then
  docker-compose -f "$repo/docker/compose.yaml" -f "$repo/docker/compose.ci.yaml" config -q
fi
docker-compose -f "$repo/docker/compose.yaml" config > "$work/compose.config.yaml"
echo "ok - docker/compose.yaml is valid for compose v1"

echo "== k8s: kubernetes-types + tsc --strict"
chk="$work/k8s-check"
mkdir -p "$chk"
cp "$repo"/tests/docker/k8s-check/{package.json,package-lock.json,gen.js,kustomize.d.ts,tsconfig.json,assert-deploy.js} "$chk/"
# npm ci only when the lockfile changed since the last install in this work dir.
if ! cmp -s "$chk/package-lock.json" "$chk/node_modules/.shmcp-lock" 2>/dev/null; then
  (cd "$chk" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$chk/package-lock.json" "$chk/node_modules/.shmcp-lock"
fi
rm -rf "$chk/generated"
(cd "$chk" && node gen.js generated/manifests.ts "$repo"/docker/k8s/*.yaml)
# The agent example (docker/k8s-agent: documentation, never applied in CI) is type-checked as well.
if compgen -G "$repo/docker/k8s-agent/*.yaml" >/dev/null; then
  (cd "$chk" && node gen.js generated/agent.ts "$repo"/docker/k8s-agent/*.yaml)
fi
(cd "$chk" && ./node_modules/.bin/tsc -p tsconfig.json)
echo "ok - docker/k8s/*.yaml and docker/k8s-agent/*.yaml type-check strictly against kubernetes-types $(node -p "require('$chk/node_modules/kubernetes-types/package.json').version")"

# The checker must be able to fail: a misspelled field and a wrong type are both rejected.
neg="$chk/generated-neg"
rm -rf "$neg"; mkdir -p "$neg"
sed 's/readOnlyRootFilesystem:/readOnlyRootFilesytem:/' "$repo/docker/k8s/deployment.yaml" > "$neg/typo.yaml"
sed 's/runAsUser: \([0-9]*\)/runAsUser: "\1"/' "$repo/docker/k8s/deployment.yaml" > "$neg/type.yaml"
for bad in typo type; do
  (cd "$chk" && rm -f generated/neg.ts && node gen.js generated/neg.ts "$neg/$bad.yaml" >/dev/null)
  if (cd "$chk" && ./node_modules/.bin/tsc -p tsconfig.json >"$neg/$bad.log" 2>&1); then
    echo "not ok - the strict check accepted a deliberately broken manifest ($bad)"; exit 1
  fi
  grep -q "error TS" "$neg/$bad.log" || { cat "$neg/$bad.log"; exit 1; }
done
rm -f "$chk/generated/neg.ts"
echo "ok - the strict check rejects a misspelled field and a wrong type"

echo "== assertions"
node "$chk/assert-deploy.js" --repo "$repo" --compose-config "$work/compose.config.yaml"
