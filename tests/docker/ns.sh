#!/usr/bin/env bash
# docker_namespaces: the two-container deployment emulated with Linux namespaces, no images.
#
# Each "container" gets its own mount, PID and network namespace (unshare --fork --mount-proc: its
# first process is pid 1) and shares with the other only the IPC namespace, a tmpfs mounted at
# /dev/shm and the workspace directory (bound at /mnt/workspace). Both run as uid 10001.
#   compose shape: the orchestrator "container" owns the IPC namespace (ipc: shareable) and the
#                  executor joins it (ipc: "service:orchestrator"), after the orchestrator started;
#   pod shape:     a pause-like holder owns the IPC namespace and both containers join it, each
#                  with the pod's memory emptyDir at /dev/shm.
# Then the negative cases: a client with a private /dev/shm fails with "no channel"; a client
# with another uid fails with "permission denied" (the same-uid rule).
#   dir shape (ECS Fargate): executor and client in separate IPC, PID, mount and network
#                  namespaces, each with its own private /dev/shm; their only common ground is one
#                  directory bind-mounted at /run/shmcp in both (the executor alone also mounts the
#                  workspace). `serve --shm-dir /run/shmcp`, clients shm:///run/shmcp/NAME: tool
#                  calls work; a long-lived client (LIVENESS_CLIENT) sees the executor SIGKILLed as
#                  peer_dead and reconnects, through the same Client, to a restarted executor.
# Usage: ns.sh SHMCP_EXECUTOR SHMCP WORKDIR [LIVENESS_CLIENT]   (root; util-linux unshare, nsenter, setpriv)
set -euo pipefail

if [[ -z ${SHMCP_NS_INNER:-} ]]; then
  [[ $# == 3 || $# == 4 ]] || { echo "usage: ns.sh SHMCP_EXECUTOR SHMCP WORKDIR [LIVENESS_CLIENT]" >&2; exit 2; }
  [[ $(id -u) == 0 ]] || { echo "ns.sh needs root (mount, PID and network namespaces)" >&2; exit 1; }
  for t in unshare nsenter setpriv mount; do command -v $t >/dev/null || { echo "ns.sh: $t missing (util-linux/mount)" >&2; exit 1; }; done
  # Everything below runs in a private mount namespace: no mount leaks to the host, even on a crash.
  exec unshare --mount --propagation private env SHMCP_NS_INNER=1 "$0" "$@"
fi

report=$3
rm -rf "$report"; mkdir -p "$report"; report=$(cd "$report" && pwd)
UID_=10001
# Everything uid 10001 touches lives under /tmp (a build dir under /root would be unreachable),
# including copies of the binaries.
W=$(mktemp -d /tmp/shmcp-ns.XXXXXX)
chmod 0755 "$W"
install -d -o $UID_ -g $UID_ "$W/out"   # the client (uid 10001) writes its reports here
install -d "$W/bin"
install -m 0755 "$1" "$W/bin/shmcp-executor"; install -m 0755 "$2" "$W/bin/shmcp"
exe="$W/bin/shmcp-executor"; cli="$W/bin/shmcp"
live=; if [[ -n ${4:-} ]]; then install -m 0755 "$4" "$W/bin/liveness_client"; live="$W/bin/liveness_client"; fi
CH="nstest$$"
pids=()    # the unshare processes we started
inits=()   # their children: pid 1 of each new PID namespace (killing it ends the namespace)
cleanup() {
  local p rc=$?
  # Not just unshare: an ns init that dropped privileges has lost its parent-death signal.
  for p in "${inits[@]}" "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cp -r "$W"/*.log "$W/out" "$report/" 2>/dev/null || true   # keep the evidence in the build dir
  grep -o " $W[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$W"
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$W"/*.log; do [[ -s $f ]] && { echo "--- $f"; tail -n 30 "$f"; }; done >&2; exit 1; }
# The first child of an `unshare --fork` (pid 1 of the new PID namespace), as a host pid.
child_of() {
  local i c
  for i in $(seq 100); do
    c=$(cat /proc/"$1"/task/"$1"/children 2>/dev/null | awk '{print $1}')
    [[ -n $c ]] && { echo "$c"; return; }
    sleep 0.05
  done
  fail "no child under $1"
}
# The pid a process has in its own (innermost) PID namespace.
nspid() { awk '/^NSpid:/ {print $NF}' /proc/"$1"/status; }
ns() { readlink /proc/"$1"/ns/"$2"; }

# The in-container setup: mount the shared /dev/shm and workspace, then become uid 10001.
# $1 = the tmpfs to mount at /dev/shm, rest = command.
cat > "$W/container-init.sh" <<'EOF'
#!/bin/sh
set -e
shm=$1; ws=$2; shift 2
mount --bind "$shm" /dev/shm
mount -t tmpfs -o size=1m,mode=0755 tmpfs /mnt
mkdir /mnt/workspace
mount --bind "$ws" /mnt/workspace
exec setpriv --reuid 10001 --regid 10001 --clear-groups --inh-caps=-all -- "$@"
EOF
# The client "container": reports its namespaces and pid, waits for the channel, runs tool calls,
# and finally execs one more call as pid 1.
cat > "$W/client.sh" <<'EOF'
#!/bin/sh
set -eu
cli=$1; ch=$2; out=$3
echo "pid=$$ pidns=$(readlink /proc/self/ns/pid) ipcns=$(readlink /proc/self/ns/ipc) netns=$(readlink /proc/self/ns/net) mntns=$(readlink /proc/self/ns/mnt) uid=$(id -u)" > "$out.ids"
i=0
until "$cli" call --connect "shm://$ch" list_directory '{"path":"."}' >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 200 ] || { echo "executor never answered on shm://$ch" >&2; exit 1; }; sleep 0.1
done
"$cli" call --connect "shm://$ch" write_file '{"path":"hello.txt","content":"hello across namespaces"}'
"$cli" call --connect "shm://$ch" read_text_file '{"path":"hello.txt"}' > "$out.read"
"$cli" call --connect "shm://$ch" list_directory '{"path":"."}' > "$out.list"
"$cli" tools --connect "shm://$ch" > "$out.tools"
"$cli" ping --connect "shm://$ch" --count 200 > "$out.ping"
ls -ln /dev/shm > "$out.shm"
exec "$cli" call --connect "shm://$ch" read_text_file '{"path":"hello.txt"}'
EOF
chmod 0755 "$W/container-init.sh" "$W/client.sh"

# A container: `unshare` new mount + PID + net namespaces (and a new IPC namespace unless `join`
# names a process whose IPC namespace to join first), running container-init.sh.
start_container() {  # name shm_dir join_pid|new cmd... ; sets $started to the unshare pid
  local name=$1 shm=$2 join=$3; shift 3
  local pre=()
  if [[ $join == new ]]; then pre=(unshare --ipc --); else pre=(nsenter --target "$join" --ipc --); fi
  "${pre[@]}" unshare --mount --pid --net --fork --mount-proc --propagation private -- \
    "$W/container-init.sh" "$shm" "$W/workspace" "$@" >"$W/$name.log" 2>&1 &
  started=$!
  pids+=("$started")
}

run_shape() {  # shape
  local shape=$1 shm="$W/$1-shm" donor holder exe_host cli_up out="$W/out/$1-client"
  rm -rf "$W/workspace"; install -d -o $UID_ -g $UID_ -m 0750 "$W/workspace"
  mkdir -p "$shm"; mount -t tmpfs -o size=64m,mode=1777 "shm-$shape" "$shm"
  echo "== $shape shape"
  if [[ $shape == compose ]]; then
    # The orchestrator starts first and owns the IPC namespace; its client waits for the executor.
    start_container orchestrator "$shm" new "$W/client.sh" "$cli" "$CH" "$out"; cli_up=$started
    donor=$(child_of "$cli_up"); inits+=("$donor")
    start_container executor "$shm" "$donor" "$exe" serve --workspace /mnt/workspace --channel "$CH" --no-http
  else
    # pause: pid 1 of its own PID namespace, owner of the pod's IPC namespace, does nothing.
    unshare --ipc --pid --fork --mount-proc sleep infinity 2>"$W/holder.log" & holder=$!; pids+=("$holder")
    donor=$(child_of "$holder"); inits+=("$donor")
    start_container executor "$shm" "$donor" "$exe" serve --workspace /mnt/workspace --channel "$CH" --no-http
    start_container orchestrator "$shm" "$donor" "$W/client.sh" "$cli" "$CH" "$out"; cli_up=$started
  fi
  exe_up=${pids[-1]}; [[ $shape == compose ]] || exe_up=${pids[-2]}
  exe_host=$(child_of "$exe_up"); inits+=("$exe_host")
  if ! timeout 120 tail --pid="$cli_up" -f /dev/null; then fail "$shape: client did not finish"; fi
  wait "$cli_up" || fail "$shape: client exited with $?"
  kill -0 "$exe_host" 2>/dev/null || fail "$shape: executor died"

  # Tool calls went through the shared /dev/shm into the shared workspace.
  grep -q "hello across namespaces" "$out.read" || fail "$shape: read_text_file returned $(cat "$out.read")"
  grep -q "hello across namespaces" "$W/orchestrator.log" || fail "$shape: the final call (as pid 1) failed"
  grep -q "hello.txt" "$out.list" || fail "$shape: list_directory lacks hello.txt"
  grep -q "read_text_file" "$out.tools" || fail "$shape: tools list lacks read_text_file"
  [[ $(stat -c %u "$W/workspace/hello.txt") == "$UID_" ]] || fail "$shape: hello.txt not owned by $UID_"
  grep -q "shmcp.$CH" "$out.shm" || fail "$shape: the client's /dev/shm lacks shmcp.$CH"
  echo "ok - $shape: write_file/read_text_file/list_directory/tools/ping over shm://$CH"
  sed 's/^/   ping: /' "$out.ping" | tail -n 3

  # Namespaces: IPC shared; PID, mount and network separate; both pid 1.
  # shellcheck disable=SC2046
  local $(cat "$out.ids")
  [[ $ipcns == "$(ns "$exe_host" ipc)" ]] || fail "$shape: IPC namespaces differ ($ipcns vs $(ns "$exe_host" ipc))"
  [[ $ipcns != "$(ns $$ ipc)" ]] || fail "$shape: the containers use the host's IPC namespace"
  [[ $pidns != "$(ns "$exe_host" pid)" ]] || fail "$shape: PID namespace shared"
  [[ $mntns != "$(ns "$exe_host" mnt)" ]] || fail "$shape: mount namespace shared"
  [[ $netns != "$(ns "$exe_host" net)" ]] || fail "$shape: network namespace shared"
  [[ $pid == 1 ]] || fail "$shape: the client is pid $pid in its namespace, not 1"
  [[ $uid == "$UID_" ]] || fail "$shape: the client runs as uid $uid"
  [[ $(nspid "$exe_host") == 1 ]] || fail "$shape: the executor is pid $(nspid "$exe_host") in its namespace"
  nsenter --target "$exe_host" --mount -- cat /proc/1/cmdline | tr '\0' ' ' | grep -q "shmcp-executor serve" ||
    fail "$shape: /proc/1/cmdline in the executor's namespace is not the executor"
  [[ $(awk '/^Uid:/ {print $2}' /proc/"$exe_host"/status) == "$UID_" ]] || fail "$shape: the executor is not uid $UID_"
  echo "ok - $shape: IPC namespace shared ($ipcns); PID/mount/net separate; client and executor both pid 1, uid $UID_"

  if [[ $shape == pod ]]; then
    # Same IPC namespace, but a private /dev/shm: the channel is not visible -> a clear error.
    mkdir -p "$W/private-shm"; mount -t tmpfs -o size=8m,mode=1777 private-shm "$W/private-shm"
    set +e
    nsenter --target "$donor" --ipc -- unshare --mount --pid --net --fork --mount-proc --propagation private -- \
      "$W/container-init.sh" "$W/private-shm" "$W/workspace" \
      timeout 60 "$cli" call --connect "shm://$CH" list_directory '{"path":"."}' >"$W/private.log" 2>&1
    rc=$?
    set -e
    [[ $rc != 0 ]] || fail "pod: a client with a private /dev/shm succeeded"
    grep -q "no channel" "$W/private.log" || fail "pod: private /dev/shm: expected a 'no channel' error, got: $(cat "$W/private.log")"
    echo "ok - private /dev/shm: exit $rc, $(grep -m1 'no channel' "$W/private.log")"
    # The same-uid rule: uid 10002 sees the segment (mode 0600, uid 10001) but cannot open it.
    set +e
    nsenter --target "$donor" --ipc -- unshare --mount --pid --net --fork --mount-proc --propagation private -- \
      sh -c 'mount --bind "$1" /dev/shm && shift && exec setpriv --reuid 10002 --regid 10002 --clear-groups -- "$@"' \
      - "$shm" timeout 60 "$cli" call --connect "shm://$CH" list_directory '{"path":"."}' >"$W/otheruid.log" 2>&1
    rc=$?
    set -e
    [[ $rc != 0 ]] || fail "pod: a client with another uid succeeded against a 0600 segment"
    grep -qi "permission denied" "$W/otheruid.log" || fail "pod: other uid: expected 'permission denied', got: $(cat "$W/otheruid.log")"
    echo "ok - other uid: exit $rc, $(grep -im1 'permission denied' "$W/otheruid.log")"
  fi

  # SIGTERM (as docker stop / the kubelet would send): the executor exits and removes its segment.
  kill -TERM "$exe_host"
  timeout 30 tail --pid="$exe_host" -f /dev/null || fail "$shape: executor ignored SIGTERM"
  wait "$exe_up" || fail "$shape: executor exited with $? after SIGTERM"
  [[ ! -e $shm/shmcp.$CH ]] || fail "$shape: segment left behind in /dev/shm after SIGTERM"
  echo "ok - $shape: executor stopped on SIGTERM and removed /dev/shm/shmcp.$CH"
  if [[ -n ${holder:-} ]]; then kill -KILL "$donor" 2>/dev/null; wait "$holder" 2>/dev/null || true; fi
  umount "$shm"
  pids=(); inits=()
}

# The "dir" shape's container: its own tmpfs at /dev/shm (nothing shared there), the channel
# directory bound at /run/shmcp, and (executor only, when given) the workspace at /mnt/workspace.
cat > "$W/dir-init.sh" <<'EOF'
#!/bin/sh
set -e
chan=$1; ws=$2; shift 2
mount -t tmpfs -o size=8m,mode=1777 private-shm /dev/shm
mkdir -p /run/shmcp
mount --bind "$chan" /run/shmcp
mount -t tmpfs -o size=1m,mode=0755 tmpfs /mnt
if [ "$ws" != - ]; then mkdir /mnt/workspace; mount --bind "$ws" /mnt/workspace; fi
exec setpriv --reuid 10001 --regid 10001 --clear-groups --inh-caps=-all -- "$@"
EOF
chmod 0755 "$W/dir-init.sh"
dir_container() {  # name channel_dir workspace|- cmd... ; sets $started
  local name=$1 chan=$2 ws=$3; shift 3
  unshare --ipc --mount --pid --net --fork --mount-proc --propagation private -- \
    "$W/dir-init.sh" "$chan" "$ws" "$@" >>"$W/$name.log" 2>&1 &
  started=$!
  pids+=("$started")
}

run_dir_shape() {
  local chan="$W/channel" exe_up exe_host cli_up cli_host url="shm:///run/shmcp/$CH" out="$W/out/dir-client"
  echo "== dir shape (ECS Fargate): no shared IPC namespace or /dev/shm, one shared directory"
  rm -rf "$W/workspace"; install -d -o $UID_ -g $UID_ -m 0750 "$W/workspace"
  install -d -o $UID_ -g $UID_ -m 0750 "$chan"
  dir_container executor "$chan" "$W/workspace" "$exe" serve --workspace /mnt/workspace --channel "$CH" --shm-dir /run/shmcp --no-http
  exe_up=$started; exe_host=$(child_of "$exe_up"); inits+=("$exe_host")
  # The client "container" mounts no workspace: everything it does goes through the channel.
  cat > "$W/dir-client.sh" <<EOF
#!/bin/sh
set -eu
echo "pid=\$\$ ipcns=\$(readlink /proc/self/ns/ipc) pidns=\$(readlink /proc/self/ns/pid) mntns=\$(readlink /proc/self/ns/mnt) uid=\$(id -u)" > "$out.ids"
"$cli" call --connect "$url" --wait-ms 20000 write_file '{"path":"dir.txt","content":"hello through a shared directory"}' > "$out.write"
"$cli" call --connect "$url" read_text_file '{"path":"dir.txt"}' > "$out.read"
"$cli" ping --connect "$url" --count 200 > "$out.ping"
ls -A /dev/shm > "$out.devshm"
ls -ln /run/shmcp > "$out.chan"
EOF
  chmod 0755 "$W/dir-client.sh"
  dir_container dir-client "$chan" - "$W/dir-client.sh"; cli_up=$started
  cli_host=$(child_of "$cli_up"); inits+=("$cli_host")
  timeout 120 tail --pid="$cli_up" -f /dev/null || fail "dir: client did not finish"
  wait "$cli_up" || fail "dir: client exited with $?"
  grep -q "hello through a shared directory" "$out.read" || fail "dir: read_text_file returned $(cat "$out.read")"
  [[ $(cat "$W/workspace/dir.txt") == "hello through a shared directory" ]] || fail "dir: the workspace lacks dir.txt"
  [[ ! -s $out.devshm ]] || fail "dir: the client's /dev/shm is not empty: $(cat "$out.devshm")"
  grep -q "shmcp.$CH" "$out.chan" || fail "dir: /run/shmcp lacks shmcp.$CH"
  grep -q "^-rw------- 1 $UID_ $UID_ " "$out.chan" || fail "dir: segment not 0600 uid $UID_: $(cat "$out.chan")"
  echo "ok - dir: write_file/read_text_file/ping over $url; the client's /dev/shm is empty; segment $(awk '{print $1, $3, $4, $5}' "$out.chan" | tail -n1)"
  sed 's/^/   ping: /' "$out.ping" | tail -n 1
  # shellcheck disable=SC2046
  local $(cat "$out.ids")
  [[ $ipcns != "$(ns "$exe_host" ipc)" ]] || fail "dir: IPC namespace shared"
  [[ $pidns != "$(ns "$exe_host" pid)" ]] || fail "dir: PID namespace shared"
  [[ $mntns != "$(ns "$exe_host" mnt)" ]] || fail "dir: mount namespace shared"
  [[ $pid == 1 && $(nspid "$exe_host") == 1 ]] || fail "dir: client pid $pid, executor pid $(nspid "$exe_host"): both must be 1"
  echo "ok - dir: IPC, PID, mount and network namespaces all separate; client and executor both pid 1, uid $uid"

  if [[ -n $live ]]; then
    # Liveness: a long-lived client sees a SIGKILLed executor as dead, and the same Client
    # reconnects once a new executor (new PID namespace, same directory) replaced the segment.
    : > "$W/live.log"
    dir_container live "$chan" - "$live" "$url" 120; local live_up=$started
    inits+=("$(child_of "$live_up")")
    local i
    for i in $(seq 600); do grep -q '^up$' "$W/live.log" && break; sleep 0.1; done
    grep -q '^up$' "$W/live.log" || fail "dir: the liveness client never got an answer"
    kill -KILL "$exe_host"; wait "$exe_up" 2>/dev/null || true
    for i in $(seq 600); do grep -q '^down ' "$W/live.log" && break; sleep 0.1; done
    grep -q '^down peer_dead' "$W/live.log" || fail "dir: after SIGKILL the client saw: $(cat "$W/live.log")"
    [[ -e $chan/shmcp.$CH ]] || fail "dir: SIGKILL should leave the segment behind"
    dir_container executor "$chan" "$W/workspace" "$exe" serve --workspace /mnt/workspace --channel "$CH" --shm-dir /run/shmcp --no-http
    exe_up=$started; exe_host=$(child_of "$exe_up"); inits+=("$exe_host")
    timeout 120 tail --pid="$live_up" -f /dev/null || fail "dir: the liveness client did not finish"
    wait "$live_up" || fail "dir: the liveness client failed: $(cat "$W/live.log")"
    grep -q '^up again$' "$W/live.log" || fail "dir: no reconnect: $(cat "$W/live.log")"
    grep -q "removed stale segment /run/shmcp/shmcp.$CH" "$W/executor.log" || fail "dir: the new executor did not replace the stale segment"
    echo "ok - dir: executor SIGKILLed -> the client saw '$(grep '^down' "$W/live.log")'; restarted -> the same Client reconnected; stale segment replaced"
  fi
  kill -TERM "$exe_host"
  timeout 30 tail --pid="$exe_host" -f /dev/null || fail "dir: executor ignored SIGTERM"
  wait "$exe_up" || fail "dir: executor exited with $? after SIGTERM"
  [[ ! -e $chan/shmcp.$CH ]] || fail "dir: segment left behind after SIGTERM"
  echo "ok - dir: executor stopped on SIGTERM and removed /run/shmcp/shmcp.$CH"
  pids=(); inits=()
}

run_shape compose
run_shape pod
run_dir_shape
echo "PASS: namespace emulation (compose, pod and dir shapes)"
