#!/usr/bin/env bash
# docker_e2e: the real thing. Starts a private Debian docker.io engine (no registry, no bridge),
# makes debian:bookworm-slim with debootstrap + docker import, builds the executor and orchestrator
# images from docker/Dockerfile, brings the pair up with docker-compose (v1) from
# docker/compose.yaml, checks the orchestrator's demo (tool calls over shm and HTTP), the
# executor's healthcheck and hardening, then runs both ECS task definitions (docker/ecs/) mirrored
# on the same engine by tests/docker/ecs-check/ecs-to-docker.js: EC2 (the containers share an IPC
# namespace, ipcMode task) and Fargate (they share only a network namespace and a volume; the
# executor's --shm-dir is on that volume), the demo passing in both, an executor crash restarted
# by its restart policy and served again; then tears everything down and stops the engine.
#
# Usage: e2e.sh REPO WORKDIR
# Exit 77 (ctest SKIP_RETURN_CODE) only when the engine cannot start here; any other problem fails.
# Environment:
#   SHMCP_CI_CACHE=/var/cache/shmcp-ci   rootfs tarball and the engine's data root (layer cache)
#   SHMCP_E2E_FRESH=1                    use a throwaway data root (no layer cache)
#   SHMCP_E2E_REFRESH_BASE=1             re-run debootstrap even if the tarball is cached
#   SHMCP_E2E_KEEP=1                     leave the engine running and the stack up (debugging)
set -euo pipefail
SKIP=77
repo=$(cd "${1:?usage: e2e.sh REPO WORKDIR}" && pwd)
work=${2:?usage: e2e.sh REPO WORKDIR}
cache=${SHMCP_CI_CACHE:-/var/cache/shmcp-ci}
t0=$(date +%s)
step() { echo "== [$(( $(date +%s) - t0 ))s] $*"; }

if [[ $(id -u) != 0 ]]; then echo "SKIP: docker_e2e needs root to start a Docker engine (running as uid $(id -u))"; exit $SKIP; fi

# ---- packages (scripts/install-deps.sh --with-docker installs them; a fresh CI machine may not have run it)
need=()
for p in docker.io docker-compose debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  step "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's client matches Debian's engine (a newer CLI elsewhere in PATH may expect buildx).
DOCKER=/usr/bin/docker; [[ -x $DOCKER ]] || DOCKER=$(command -v docker)
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

mkdir -p "$cache" "$work"
# One e2e at a time per machine: the data root (layer cache) is shared between runs.
exec 9>"$cache/e2e.lock"
flock -w 1800 9 || { echo "FAIL: another docker_e2e holds $cache/e2e.lock"; exit 1; }

# Short paths: containerd's sockets live under the exec root (unix socket paths are <= 108 bytes).
D=$(mktemp -d /tmp/shmcp-e2e.XXXXXX)
data_root="$cache/docker-root"; [[ -n ${SHMCP_E2E_FRESH:-} ]] && data_root="$D/root"
mkdir -p "$data_root" "$D/exec"
export DOCKER_HOST="unix://$D/docker.sock"
project="shmcpe2e"
compose=(docker-compose -p "$project" -f "$repo/docker/compose.yaml")
[[ -f $repo/docker/compose.ci.yaml ]] && compose+=(-f "$repo/docker/compose.ci.yaml")

stop_engine() {
  local pid
  pid=$(cat "$D/docker.pid" 2>/dev/null || true)
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then echo "dockerd $pid did not stop; killing" >&2; kill -KILL "$pid" 2>/dev/null || true; fi
}
teardown() {
  local rc=$?
  set +e
  if [[ -n ${SHMCP_E2E_KEEP:-} ]]; then
    echo "SHMCP_E2E_KEEP: engine left running: export DOCKER_HOST=$DOCKER_HOST; kill \$(cat $D/docker.pid)"
    exit $rc
  fi
  if [[ -S $D/docker.sock ]]; then
    step "teardown: compose down -v, prune, stop dockerd"
    "${compose[@]}" down -v --remove-orphans -t 10 >"$work/compose-down.log" 2>&1
    declare -F ecs_down >/dev/null && ecs_down
    $DOCKER image prune -f >/dev/null 2>&1
    # The data root is a layer cache; keep it bounded (everything in it can be rebuilt).
    if [[ $data_root == "$cache/docker-root" ]] && (( $(du -sm "$data_root" 2>/dev/null | cut -f1) > 8192 )); then
      echo "data root over 8 GiB: docker system prune -a"; $DOCKER system prune -af >/dev/null 2>&1
    fi
  fi
  stop_engine
  # Anything the engine left mounted under our temp dir (it normally unmounts all).
  grep -o " $D[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$D"
  exit $rc
}
trap teardown EXIT

# ---- engine
step "starting dockerd ($($DOCKER --version 2>/dev/null | head -n1)), data root $data_root"
dockerd --data-root "$data_root" --exec-root "$D/exec" -H "$DOCKER_HOST" --pidfile "$D/docker.pid" \
        --bridge=none --iptables=false --ip-masq=false >"$work/dockerd.log" 2>&1 &
dpid=$!
for _ in $(seq 60); do
  $DOCKER version >/dev/null 2>&1 && break
  kill -0 $dpid 2>/dev/null || break
  sleep 1
done
if ! $DOCKER version >/dev/null 2>&1; then
  echo "SKIP: the Docker engine could not start here; dockerd log tail:"
  tail -n 20 "$work/dockerd.log" | sed 's/^/  /'
  exit $SKIP
fi
$DOCKER info --format 'engine {{.ServerVersion}}, storage {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}, security {{.SecurityOptions}}'

# ---- base image: debian:bookworm-slim, made locally
tarball="$cache/bookworm-minbase.tar"
if [[ -n ${SHMCP_E2E_REFRESH_BASE:-} || ! -s $tarball ]]; then
  step "debootstrap --variant=minbase bookworm (cached at $tarball afterwards)"
  rm -rf "$cache/rootfs.tmp"
  debootstrap --variant=minbase bookworm "$cache/rootfs.tmp" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log"; echo "FAIL: debootstrap"; exit 1; }
  rm -rf "$cache"/rootfs.tmp/var/cache/apt/archives/*.deb "$cache"/rootfs.tmp/var/lib/apt/lists/*
  tar -C "$cache/rootfs.tmp" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$cache/rootfs.tmp"
  $DOCKER rmi -f debian:bookworm-slim >/dev/null 2>&1 || true
fi
if ! $DOCKER image inspect debian:bookworm-slim >/dev/null 2>&1; then
  step "docker import $tarball debian:bookworm-slim"
  $DOCKER import "$tarball" debian:bookworm-slim >/dev/null
fi

# ---- images, both from one snapshot of the working tree (it may change while we build)
ctx="$D/context"; mkdir -p "$ctx"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
     tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$ctx" -xf -
else
  cp -a "$repo/." "$ctx/"
fi
for target in executor orchestrator; do
  step "docker build --target $target (the builder stage compiles shmcp on first use)"
  if ! $DOCKER build --network host --build-arg SHMCP_JOBS=2 --target "$target" -t "shmcp-$target:0.1.0" \
         -f "$ctx/docker/Dockerfile" "$ctx" >"$work/build-$target.log" 2>&1; then
    tail -n 40 "$work/build-$target.log"; echo "FAIL: docker build --target $target"; exit 1
  fi
done
grep -A20 '^runtime packages:' "$work/build-executor.log" | grep -m1 -B1 -A12 'runtime packages:' | sed 's/^/  /' || true
$DOCKER image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^shmcp-' | sed 's/^/  image /'
for img in shmcp-executor shmcp-orchestrator; do
  u=$($DOCKER image inspect -f '{{.Config.User}}' "$img:0.1.0")
  [[ $u == 10001:10001 ]] || { echo "FAIL: $img runs as '$u', expected 10001:10001"; exit 1; }
  owner=$($DOCKER run --rm --entrypoint stat "$img:0.1.0" -c '%u:%g' /workspace)
  [[ $owner == 10001:10001 ]] || { echo "FAIL: $img /workspace owned by $owner"; exit 1; }
done
echo "ok - both images run as 10001:10001 with /workspace owned by that uid"

# ---- compose up: the orchestrator (IPC donor) first, then the executor joins it
step "docker-compose up -d ($(docker-compose version --short))"
"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
if ! "${compose[@]}" up -d --no-build >"$work/compose-up.log" 2>&1; then
  cat "$work/compose-up.log"; echo "FAIL: docker-compose up"; exit 1
fi
cid() { "${compose[@]}" ps -q "$1"; }
orch=$(cid orchestrator); exe=$(cid executor)
[[ -n $orch && -n $exe ]] || { "${compose[@]}" ps; echo "FAIL: containers missing"; exit 1; }

step "waiting for the demo to finish and the executor to be healthy"
health=
for _ in $(seq 120); do
  health=$($DOCKER inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$exe")
  [[ $health == healthy || $health == unhealthy ]] && break
  sleep 1
done
orc_rc=$(timeout 600 $DOCKER wait "$orch" || echo timeout)
$DOCKER logs "$orch" >"$work/orchestrator.log" 2>&1
$DOCKER logs "$exe" >"$work/executor.log" 2>&1
echo "--- orchestrator (shmcp demo) output:"
sed 's/^/  | /' "$work/orchestrator.log" | tail -n 60
if [[ $orc_rc != 0 ]]; then
  echo "--- executor log:"; tail -n 40 "$work/executor.log" | sed 's/^/  | /'
  echo "FAIL: the orchestrator's demo exited with '$orc_rc'"; exit 1
fi
grep -qi 'shm' "$work/orchestrator.log" && grep -qi 'http' "$work/orchestrator.log" ||
  { echo "FAIL: the demo output does not compare shm and HTTP"; exit 1; }
echo "ok - demo succeeded (exit 0) with tool calls over shm and HTTP"
[[ $health == healthy ]] || { $DOCKER inspect -f '{{json .State.Health}}' "$exe"; echo "FAIL: executor health '$health'"; exit 1; }
echo "ok - executor healthcheck (shmcp health on /health) reports healthy"

# ---- the executor container's shape, checked from inside
[[ $($DOCKER inspect -f '{{.State.Running}}' "$exe") == true ]] || { echo "FAIL: executor not running"; exit 1; }
ipc=$($DOCKER inspect -f '{{.HostConfig.IpcMode}}' "$exe")
[[ $ipc == "container:$orch" ]] || { echo "FAIL: executor IpcMode '$ipc'"; exit 1; }
[[ $($DOCKER inspect -f '{{.HostConfig.IpcMode}}' "$orch") == shareable ]] || { echo "FAIL: orchestrator not shareable"; exit 1; }
[[ $($DOCKER exec "$exe" id -u) == 10001 ]] || { echo "FAIL: executor uid"; exit 1; }
$DOCKER exec "$exe" cat /proc/1/cmdline | tr '\0' ' ' | grep -q '^shmcp-executor serve' ||
  { echo "FAIL: pid 1 in the executor container is not the executor"; exit 1; }
if $DOCKER exec "$exe" touch /probe-rootfs 2>/dev/null; then echo "FAIL: executor root fs is writable"; exit 1; fi
capeff=$($DOCKER exec "$exe" awk '/^CapEff/ {print $2}' /proc/1/status)
[[ $capeff == 0000000000000000 ]] || { echo "FAIL: executor has capabilities $capeff"; exit 1; }
[[ $($DOCKER exec "$exe" awk '/^NoNewPrivs/ {print $2}' /proc/1/status) == 1 ]] || { echo "FAIL: no_new_privs not set"; exit 1; }
$DOCKER exec "$exe" sh -c 'ls -ln /dev/shm; df -h /dev/shm | tail -n1' | sed 's/^/  /'
echo "ok - executor: IpcMode container:<orchestrator>, uid 10001, pid 1, read-only root, no capabilities, no_new_privs"
# The sandbox is on: the executor refuses to start without Landlock and seccomp unless told
# --allow-unsandboxed, so a healthy executor under Docker's default seccomp profile proves they apply.
grep -i -m3 -E 'landlock|seccomp|sandbox' "$work/executor.log" | sed 's/^/  executor: /' || true

# ---- stop: the executor exits cleanly on SIGTERM
step "docker-compose stop"
"${compose[@]}" stop -t 20 >/dev/null 2>&1
exe_rc=$($DOCKER inspect -f '{{.State.ExitCode}}' "$exe")
[[ $exe_rc == 0 ]] || { tail -n 20 "$work/executor.log"; echo "FAIL: executor exited $exe_rc on SIGTERM"; exit 1; }
echo "ok - executor stopped on SIGTERM with exit code 0"
"${compose[@]}" down -v --remove-orphans -t 10 >"$work/compose-down.log" 2>&1 || true

# ---- ECS task definitions, mirrored on this engine (ecs-to-docker.js says how)
command -v node >/dev/null || { apt-get install -y -qq --no-install-recommends nodejs >/dev/null; }
ecs_task=()
ecs_down() {
  local c v
  for c in "${ecs_task[@]}"; do $DOCKER rm -f "$c" >/dev/null 2>&1 || true; done
  for v in "${ecs_vols[@]}"; do $DOCKER volume rm -f "$v" >/dev/null 2>&1 || true; done
  ecs_task=(); ecs_vols=()
}
ecs_vols=()
wait_healthy() {
  local h=
  for _ in $(seq 90); do
    h=$($DOCKER inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null || true)
    [[ $h == healthy ]] && return 0
    sleep 1
  done
  $DOCKER logs "$1" 2>&1 | tail -n 20
  echo "FAIL: $1 not healthy ($h)"; exit 1
}
wait_log() {  # container pattern seconds
  for _ in $(seq "$3"); do $DOCKER logs "$1" 2>&1 | grep -q "$2" && return 0; sleep 1; done
  $DOCKER logs "$1" 2>&1 | tail -n 40; echo "FAIL: '$2' never appeared in $1's log"; exit 1
}
ns_of() { $DOCKER exec "$1" readlink "/proc/self/ns/$2"; }
for kind in ec2 fargate; do
  p="shmcpecs-$kind"
  step "ECS $kind: task-$kind.json mirrored with docker run"
  node "$repo/tests/docker/ecs-check/ecs-to-docker.js" "$repo/docker/ecs/task-$kind.json" "$p" > "$work/ecs-$kind.sh"
  for c in task executor orchestrator; do $DOCKER rm -f "$p-$c" >/dev/null 2>&1 || true; done
  # shellcheck disable=SC1090
  source "$work/ecs-$kind.sh"
  ecs_task=("${TASK_CONTAINERS[@]}"); ecs_vols=("${TASK_VOLUMES[@]}")
  exe="$p-executor"; orch="$p-orchestrator"
  wait_log "$orch" "demo succeeded" 120
  $DOCKER logs "$orch" >"$work/ecs-$kind-orchestrator.log" 2>&1
  grep -q "demo FAILED" "$work/ecs-$kind-orchestrator.log" && { cat "$work/ecs-$kind-orchestrator.log"; echo "FAIL: $kind demo"; exit 1; }
  [[ $($DOCKER inspect -f '{{.State.Running}}' "$orch") == true ]] || { echo "FAIL: $kind orchestrator exited"; exit 1; }
  sed -n '/operation (us)/,/demo succeeded/p' "$work/ecs-$kind-orchestrator.log" | sed 's/^/  | /'
  echo "ok - ECS $kind: the orchestrator started once the executor was healthy and the demo succeeded over shm and HTTP"
  # Hardening as declared: uid, read-only root, no capabilities, init as pid 1 (initProcessEnabled).
  [[ $($DOCKER exec "$exe" id -u) == 10001 && $($DOCKER exec "$orch" id -u) == 10001 ]] || { echo "FAIL: $kind uid"; exit 1; }
  if $DOCKER exec "$exe" touch /probe-rootfs 2>/dev/null; then echo "FAIL: $kind executor root fs writable"; exit 1; fi
  [[ $($DOCKER exec "$exe" awk '/^CapEff/ {print $2}' /proc/1/status) == 0000000000000000 ]] || { echo "FAIL: $kind capabilities"; exit 1; }
  $DOCKER exec "$exe" cat /proc/1/cmdline | tr '\0' ' ' | grep -q 'docker-init\|tini' || { echo "FAIL: $kind: pid 1 is not the init"; exit 1; }
  [[ $(ns_of "$exe" net) == "$(ns_of "$orch" net)" ]] || { echo "FAIL: $kind: network namespaces differ (awsvpc shares one)"; exit 1; }
  [[ $(ns_of "$exe" pid) != "$(ns_of "$orch" pid)" ]] || { echo "FAIL: $kind: PID namespace shared"; exit 1; }
  if [[ $kind == ec2 ]]; then
    [[ $(ns_of "$exe" ipc) == "$(ns_of "$orch" ipc)" ]] || { echo "FAIL: ec2: IPC namespaces differ (ipcMode task shares one)"; exit 1; }
    $DOCKER exec "$orch" ls /dev/shm/shmcp.shmcp >/dev/null || { echo "FAIL: ec2: the orchestrator does not see /dev/shm/shmcp.shmcp"; exit 1; }
    url=shm://shmcp
    echo "ok - ECS ec2: one IPC namespace ($(ns_of "$exe" ipc)) with the segment in its /dev/shm; network shared, PID separate; uid 10001, read-only, no capabilities, init"
  else
    [[ $(ns_of "$exe" ipc) != "$(ns_of "$orch" ipc)" ]] || { echo "FAIL: fargate: IPC namespace shared (Fargate has no ipcMode)"; exit 1; }
    if $DOCKER exec "$orch" ls /dev/shm/shmcp.shmcp >/dev/null 2>&1; then echo "FAIL: fargate: segment in /dev/shm"; exit 1; fi
    $DOCKER exec "$orch" ls -ln /run/shmcp/shmcp.shmcp | sed 's/^/  orchestrator sees: /'
    url=shm:///run/shmcp/shmcp
    echo "ok - ECS fargate: separate IPC namespaces, the channel is /run/shmcp/shmcp.shmcp on the shared task volume; network shared, PID separate; uid 10001, read-only, no capabilities, init"
  fi
  # A crash: the executor's container dies (SIGKILL to its init); the restart policy brings it back,
  # the new executor replaces the stale segment, and clients are served again.
  kill -KILL "$($DOCKER inspect -f '{{.State.Pid}}' "$exe")"
  for _ in $(seq 60); do [[ $($DOCKER inspect -f '{{.RestartCount}}' "$exe") -ge 1 ]] && break; sleep 1; done
  [[ $($DOCKER inspect -f '{{.RestartCount}}' "$exe") -ge 1 ]] || { echo "FAIL: $kind: executor not restarted"; exit 1; }
  wait_healthy "$exe"
  wait_log "$exe" "removed stale segment" 30
  $DOCKER exec "$orch" shmcp call --connect "$url" list_directory '{"path": "."}' >"$work/ecs-$kind-after.log" 2>&1 ||
    { cat "$work/ecs-$kind-after.log"; echo "FAIL: $kind: calls fail after the executor restarted"; exit 1; }
  echo "ok - ECS $kind: executor crash -> restarted by its restart policy, stale segment replaced, $url served again"
  $DOCKER stop -t 20 "$exe" >/dev/null
  [[ $($DOCKER inspect -f '{{.State.ExitCode}}' "$exe") == 0 ]] || { $DOCKER logs "$exe" 2>&1 | tail -n 20; echo "FAIL: $kind executor exit code on SIGTERM"; exit 1; }
  ecs_down
done
echo "PASS: docker e2e in $(( $(date +%s) - t0 ))s"
