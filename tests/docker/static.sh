#!/usr/bin/env bash
# docker_static: the deployment files, checked without an engine or a cluster.
#  1. docker/compose.yaml validated by Debian's docker-compose (v1) `config -q`;
#  2. docker/k8s/*.yaml turned into typed TypeScript (kubernetes-types) and compiled with
#     tsc --strict: unknown fields, wrong types and wrong apiVersion/kind literals fail;
#  3. explicit assertions (assert-deploy.js): shared /dev/shm, IPC settings, same uid, hardening;
#  4. docker/ecs/*.json typed as the ECS API's RegisterTaskDefinitionCommandInput
#     (@aws-sdk/client-ecs) and compiled with tsc --strict, then assert-ecs.js: the EC2 and
#     Fargate rules (ipcMode, no sharedMemorySize/tmpfs on Fargate, cpu/memory pairs, the channel
#     directory on a shared task volume, hardening, health-gated start, limits).
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
# So must the two-tenant example (its secrets' files are made by the user: stand-ins here).
if [[ -f $repo/docker/compose.tenants.yaml ]]; then
  mkdir -p "$work/tenants/tenants/secrets"
  cp "$repo/docker/compose.tenants.yaml" "$work/tenants/"
  cp "$repo/docker/tenants/tenants.json" "$work/tenants/tenants/"
  for t in alice bob admin; do echo "stand-in-token-0123456789" > "$work/tenants/tenants/secrets/$t.token"; done
  docker-compose -f "$work/tenants/compose.tenants.yaml" config -q
fi
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
# The examples (docker/k8s-tenants, docker/k8s-agent: documentation, never applied in CI) are
# type-checked as well.
if compgen -G "$repo/docker/k8s-tenants/*.yaml" >/dev/null; then
  (cd "$chk" && node gen.js generated/tenants.ts "$repo"/docker/k8s-tenants/*.yaml)
fi
if compgen -G "$repo/docker/k8s-agent/*.yaml" >/dev/null; then
  (cd "$chk" && node gen.js generated/agent.ts "$repo"/docker/k8s-agent/*.yaml)
fi
(cd "$chk" && ./node_modules/.bin/tsc -p tsconfig.json)
echo "ok - docker/k8s/*.yaml, docker/k8s-tenants/*.yaml and docker/k8s-agent/*.yaml type-check strictly against kubernetes-types $(node -p "require('$chk/node_modules/kubernetes-types/package.json').version")"

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

echo "== ecs: @aws-sdk/client-ecs RegisterTaskDefinitionCommandInput + tsc --strict"
ecs="$work/ecs-check"
mkdir -p "$ecs"
cp "$repo"/tests/docker/ecs-check/{package.json,package-lock.json,gen.js,tsconfig.json,assert-ecs.js} "$ecs/"
if ! cmp -s "$ecs/package-lock.json" "$ecs/node_modules/.shmcp-lock" 2>/dev/null; then
  (cd "$ecs" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$ecs/package-lock.json" "$ecs/node_modules/.shmcp-lock"
fi
rm -rf "$ecs/generated"
(cd "$ecs" && node gen.js generated/taskdefs.ts "$repo"/docker/ecs/task-*.json)
(cd "$ecs" && ./node_modules/.bin/tsc -p tsconfig.json)
echo "ok - docker/ecs/task-*.json type-check strictly against @aws-sdk/client-ecs $(node -p "require('$ecs/node_modules/@aws-sdk/client-ecs/package.json').version")"

# The type check must be able to fail: a misspelled field, a wrong type and a value outside an enum.
neg="$ecs/generated-neg"
rm -rf "$neg"; mkdir -p "$neg"
f="$repo/docker/ecs/task-fargate.json"
sed 's/"readonlyRootFilesystem"/"readonlyRootFilesytem"/' "$f" > "$neg/typo.json"
sed 's/"cpu": 512,/"cpu": "512",/' "$f" > "$neg/type.json"
sed 's/"networkMode": "awsvpc"/"networkMode": "awsvpcx"/' "$f" > "$neg/enum.json"
for bad in typo type enum; do
  cmp -s "$f" "$neg/$bad.json" && { echo "not ok - the $bad mutation changed nothing"; exit 1; }
  (cd "$ecs" && rm -f generated/neg.ts && node gen.js generated/neg.ts "$neg/$bad.json" >/dev/null)
  if (cd "$ecs" && ./node_modules/.bin/tsc -p tsconfig.json >"$neg/$bad.log" 2>&1); then
    echo "not ok - the ECS type check accepted a deliberately broken task definition ($bad)"; exit 1
  fi
  grep -q "error TS" "$neg/$bad.log" || { cat "$neg/$bad.log"; exit 1; }
done
rm -f "$ecs/generated/neg.ts"
echo "ok - the ECS type check rejects a misspelled field, a wrong type and a value outside an enum"

echo "== ecs: assertions"
node "$ecs/assert-ecs.js" --repo "$repo"
# ...and they must be able to fail: each Fargate rule broken once (the types allow all of these).
node - "$f" "$neg" <<'JS'
const fs = require('fs');
const [f, dir] = process.argv.slice(2);
const base = () => JSON.parse(fs.readFileSync(f, 'utf8'));
const muts = {
  ipcmode: (t) => { t.ipcMode = 'task'; },
  shmsize: (t) => { t.containerDefinitions[0].linuxParameters.sharedMemorySize = 256; },
  tmpfs: (t) => { t.containerDefinitions[1].linuxParameters.tmpfs = [{ containerPath: '/tmp', size: 64 }]; },
  pair: (t) => { t.cpu = '256'; t.memory = '4096'; },
  bridge: (t) => { t.networkMode = 'bridge'; },
  devshm: (t) => { const c = t.containerDefinitions[0].command; c[c.indexOf('--shm-dir') + 1] = '/dev/shm'; },
  url: (t) => { t.containerDefinitions[1].command[0] = t.containerDefinitions[1].command[0].replace('shm:///run/shmcp/shmcp', 'shm://shmcp'); },
  health: (t) => { t.containerDefinitions[1].dependsOn[0].condition = 'START'; },
};
for (const [k, m] of Object.entries(muts)) { const t = base(); m(t); fs.writeFileSync(`${dir}/fargate-${k}.json`, JSON.stringify(t)); }
JS
for bad in ipcmode shmsize tmpfs pair bridge devshm url health; do
  if node "$ecs/assert-ecs.js" --repo "$repo" --fargate "$neg/fargate-$bad.json" >"$neg/fargate-$bad.log" 2>&1; then
    echo "not ok - assert-ecs.js accepted a Fargate task definition broken on purpose ($bad)"; exit 1
  fi
done
echo "ok - the ECS assertions reject ipcMode, sharedMemorySize, tmpfs, an unsupported cpu/memory pair, bridge networking, a channel in /dev/shm, a mismatched URL and an ungated start on Fargate"
