#!/usr/bin/env node
// Explicit assertions about the ECS task definitions: what shmcp relies on (how the two containers
// share the channel, one uid, the executor healthy before the orchestrator starts, hardening,
// limits that count the segment) and the rules of each launch type that the API's types cannot
// express (Fargate: no ipcMode, no sharedMemorySize/tmpfs/devices, a supported cpu/memory pair).
// Usage: node assert-ecs.js --repo REPO [--ec2 FILE] [--fargate FILE]
//   (defaults: REPO/docker/ecs/task-ec2.json and task-fargate.json). Exit 1 on any failure.
'use strict';
const fs = require('fs');
const path = require('path');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const repo = args.repo || path.resolve(__dirname, '../../..');
const files = {
  ec2: args.ec2 || path.join(repo, 'docker/ecs/task-ec2.json'),
  fargate: args.fargate || path.join(repo, 'docker/ecs/task-fargate.json'),
};

let failures = 0;
function check(cond, what) {
  if (cond) console.log(`ok - ${what}`);
  else { failures++; console.log(`not ok - ${what}`); }
  return !!cond;
}
const argAfter = (argv, flag) => { const i = (argv || []).indexOf(flag); return i >= 0 ? argv[i + 1] : undefined; };
// The orchestrator's command may be a shell line (entryPoint ["/bin/sh", "-c"]): split it into words.
const words = (c) => (c.entryPoint && c.entryPoint[0] === '/bin/sh' ? String((c.command || [])[0] || '').split(/\s+/) : (c.command || []));

const dockerfile = fs.readFileSync(path.join(repo, 'docker/Dockerfile'), 'utf8');
const imageUid = (/^ARG\s+SHMCP_UID=(\d+)/m.exec(dockerfile) || [])[1];
const imageGid = (/^ARG\s+SHMCP_GID=(\d+)/m.exec(dockerfile) || [])[1];
const dockerVolumes = [...dockerfile.matchAll(/^VOLUME\s+(.+)$/gm)].flatMap((m) => m[1].trim().replace(/[[\]",]/g, ' ').split(/\s+/).filter(Boolean));

// Default channel geometry (shmcp-executor serve --help): lanes x 2 rings x slots x slot size,
// plus headers; 17,088,512 bytes with the defaults. Flags that grow it are read from the command.
function segmentBytes(argv) {
  const lanes = Number(argAfter(argv, '--lanes') || 64);
  const slots = Number(argAfter(argv, '--slots') || 16);
  const slotSize = Number(argAfter(argv, '--slot-size') || 8192);
  return lanes * (2 * slots * slotSize + 4096) + (1 << 20);  // generous header allowance
}
const MiB = 1024 * 1024;

// Fargate's supported task cpu -> memory (MiB) values (Linux).
function fargatePairOk(cpu, mem) {
  const range = (lo, hi, step) => mem >= lo && mem <= hi && (mem - lo) % step === 0;
  switch (cpu) {
    case 256: return [512, 1024, 2048].includes(mem);
    case 512: return range(1024, 4096, 1024);
    case 1024: return range(2048, 8192, 1024);
    case 2048: return range(4096, 16384, 1024);
    case 4096: return range(8192, 30720, 1024);
    case 8192: return range(16384, 61440, 4096);
    case 16384: return range(32768, 122880, 8192);
    default: return false;
  }
}

function common(kind, td) {
  const p = `${kind}:`;
  const cs = td.containerDefinitions || [];
  const exe = cs.find((c) => c.name === 'executor');
  const orc = cs.find((c) => c.name === 'orchestrator');
  check(cs.length === 2 && exe && orc, `${p} exactly two containers, executor and orchestrator`);
  if (!exe || !orc) return {};
  check(td.networkMode === 'awsvpc', `${p} networkMode awsvpc (the task's containers share one network namespace: 127.0.0.1 reaches the sibling)`);
  check(td.pidMode === undefined, `${p} no pidMode (separate PID namespaces; shmcp needs no shared pids)`);
  const placeholders = [...JSON.stringify(td).matchAll(/\$\{([A-Za-z_]+)\}/g)].map((m) => m[1]);
  check(placeholders.every((v) => v === 'AWS_ACCOUNT_ID' || v === 'AWS_REGION'),
    `${p} the only placeholders are \${AWS_ACCOUNT_ID} and \${AWS_REGION} (envsubst before registering)`);
  check(/^arn:aws:iam::\$\{AWS_ACCOUNT_ID\}:role\//.test(td.executionRoleArn || ''), `${p} executionRoleArn set (image pulls, awslogs)`);
  check(td.taskRoleArn === undefined, `${p} no task role (the executor calls no AWS API)`);
  const taskCpu = Number(td.cpu), taskMem = Number(td.memory);
  check(taskCpu > 0 && taskMem > 0, `${p} task-level cpu and memory (${td.cpu}, ${td.memory})`);
  check(cs.reduce((a, c) => a + (c.cpu || 0), 0) <= taskCpu, `${p} the containers' cpu fits the task's`);
  check(cs.reduce((a, c) => a + (c.memory || 0), 0) <= taskMem, `${p} the containers' hard memory limits fit the task's`);

  for (const c of cs) {
    const q = `${p} ${c.name}`;
    check(c.essential === true, `${q} essential`);
    check(c.user === `${imageUid}:${imageGid}`, `${q} user ${imageUid}:${imageGid} (the image's uid; the segment is mode 0600)`);
    check(c.readonlyRootFilesystem === true, `${q} readonlyRootFilesystem`);
    check(!c.privileged, `${q} not privileged`);
    const lp = c.linuxParameters || {};
    check(lp.initProcessEnabled === true, `${q} linuxParameters.initProcessEnabled (an init reaps and forwards SIGTERM)`);
    check((lp.capabilities?.drop || []).includes('ALL') && !(lp.capabilities?.add || []).length, `${q} capabilities: drop ALL, add none`);
    check(!c.portMappings || c.portMappings.length === 0, `${q} no portMappings (HTTP stays on 127.0.0.1 inside the task)`);
    check(Number.isInteger(c.cpu) && c.cpu > 0 && Number.isInteger(c.memory) && c.memory > 0 &&
          (c.memoryReservation === undefined || c.memoryReservation <= c.memory), `${q} cpu and a hard memory limit (reservation within it)`);
    const lc = c.logConfiguration || {};
    check(lc.logDriver === 'awslogs' && lc.options?.['awslogs-group'] && lc.options?.['awslogs-region'] && lc.options?.['awslogs-stream-prefix'],
      `${q} logs to awslogs (group, region, stream prefix)`);
    const ws = (c.mountPoints || []).find((m) => m.containerPath === '/workspace');
    check(ws && ws.readOnly !== true && (td.volumes || []).some((v) => v.name === ws.sourceVolume),
      `${q} mounts the task's workspace volume at /workspace`);
  }
  check((exe.mountPoints || []).find((m) => m.containerPath === '/workspace')?.sourceVolume ===
        (orc.mountPoints || []).find((m) => m.containerPath === '/workspace')?.sourceVolume, `${p} both mount the same workspace volume`);

  const ex = exe.command || [];
  check(ex[0] === 'serve' && argAfter(ex, '--workspace') === '/workspace', `${p} executor: serve --workspace /workspace`);
  const http = argAfter(ex, '--http');
  check(http && http.startsWith('127.0.0.1:'), `${p} executor HTTP on 127.0.0.1 only (${http}): the fallback transport, never exposed`);
  const hc = exe.healthCheck || {};
  check(hc.command?.[0] === 'CMD' && hc.command.includes('shmcp') && hc.command.includes('health') &&
        argAfter(hc.command, '--connect') === `http://${http}`, `${p} executor healthCheck runs shmcp health against its own HTTP (${http})`);
  check(hc.interval > 0 && hc.timeout > 0 && hc.retries > 0 && hc.startPeriod >= 0, `${p} healthCheck interval/timeout/retries/startPeriod set`);
  check((orc.dependsOn || []).some((d) => d.containerName === 'executor' && d.condition === 'HEALTHY'),
    `${p} orchestrator dependsOn executor HEALTHY (starts once the channel serves)`);
  const segMiB = Math.ceil(segmentBytes(ex) / MiB);
  check(exe.memoryReservation >= segMiB + 128 && exe.memory >= exe.memoryReservation,
    `${p} executor memory counts the segment: reservation ${exe.memoryReservation} MiB >= ${segMiB} MiB segment + 128 MiB`);

  const ow = words(orc);
  check(ow[0] === 'shmcp' && ow[1] === 'demo', `${p} orchestrator runs the demo (replace with your agent)`);
  check(argAfter(ow, '--http') === `http://${http}`, `${p} orchestrator's HTTP fallback is the executor's ${http}`);
  return { exe, orc, ex, ow };
}

function ec2(td) {
  const p = 'ec2:';
  check(JSON.stringify(td.requiresCompatibilities) === '["EC2"]', `${p} requiresCompatibilities ["EC2"]`);
  check(td.ipcMode === 'task', `${p} ipcMode "task" (the containers share one IPC namespace and its /dev/shm)`);
  const { exe, orc, ex, ow } = common('ec2', td);
  if (!exe) return;
  check(argAfter(ex, '--shm-dir') === undefined, `${p} executor keeps the channel in /dev/shm (no --shm-dir)`);
  check(argAfter(ow, '--shm') === `shm://${argAfter(ex, '--channel')}`, `${p} orchestrator connects to shm://<the executor's --channel>`);
  for (const c of [exe, orc]) {
    check((c.dockerSecurityOptions || []).includes('no-new-privileges'), `${p} ${c.name} dockerSecurityOptions no-new-privileges`);
    check(!(c.linuxParameters || {}).sharedMemorySize, `${p} ${c.name} sets no sharedMemorySize (with ipcMode task /dev/shm is the task's, not the container's)`);
  }
  const ws = (td.volumes || []).find((v) => v.name === 'workspace');
  check(ws?.dockerVolumeConfiguration?.scope === 'task', `${p} workspace is a task-scoped Docker volume (initialised from the image: owned by uid ${imageUid})`);
}

function fargate(td) {
  const p = 'fargate:';
  check(JSON.stringify(td.requiresCompatibilities) === '["FARGATE"]', `${p} requiresCompatibilities ["FARGATE"]`);
  check(td.ipcMode === undefined, `${p} no ipcMode (Fargate rejects it)`);
  check(td.pidMode === undefined, `${p} no pidMode`);
  check(td.placementConstraints === undefined, `${p} no placementConstraints`);
  check(fargatePairOk(Number(td.cpu), Number(td.memory)), `${p} cpu ${td.cpu} / memory ${td.memory} is a supported Fargate pair`);
  check(td.runtimePlatform?.operatingSystemFamily === 'LINUX', `${p} runtimePlatform LINUX`);
  if (td.ephemeralStorage) check(td.ephemeralStorage.sizeInGiB >= 21 && td.ephemeralStorage.sizeInGiB <= 200, `${p} ephemeralStorage 21..200 GiB`);
  for (const v of td.volumes || [])
    check(!v.host && !v.dockerVolumeConfiguration, `${p} volume ${v.name} is a plain task bind mount (no host path, no Docker volume: unsupported)`);
  const { exe, orc, ex, ow } = common('fargate', td);
  if (!exe) return;
  for (const c of [exe, orc]) {
    const lp = c.linuxParameters || {};
    for (const f of ['sharedMemorySize', 'tmpfs', 'devices', 'maxSwap', 'swappiness'])
      check(lp[f] === undefined, `${p} ${c.name} has no linuxParameters.${f} (unsupported on Fargate)`);
    check(c.dockerSecurityOptions === undefined, `${p} ${c.name} has no dockerSecurityOptions (unsupported on Fargate)`);
    check((lp.capabilities?.add || []).every((x) => x === 'SYS_PTRACE'), `${p} ${c.name} adds no capability Fargate refuses`);
  }
  // The channel: a directory on a task volume both containers mount, named by the executor's
  // --shm-dir and the orchestrator's shm:///DIR/NAME.
  const dir = argAfter(ex, '--shm-dir');
  check(dir && dir.startsWith('/') && dir !== '/dev/shm', `${p} executor --shm-dir ${dir} (not /dev/shm: no IPC namespace is shared)`);
  const mount = (c) => (c.mountPoints || []).find((m) => m.containerPath === dir);
  check(mount(exe) && mount(orc) && mount(exe).sourceVolume === mount(orc).sourceVolume &&
        mount(exe).readOnly !== true && mount(orc).readOnly !== true &&
        (td.volumes || []).some((v) => v.name === mount(exe).sourceVolume),
    `${p} both containers mount one task volume read-write at ${dir}`);
  check(mount(exe) && mount(exe).sourceVolume !== (exe.mountPoints || []).find((m) => m.containerPath === '/workspace')?.sourceVolume,
    `${p} the channel volume is not the workspace (tools can never touch the segment)`);
  check(argAfter(ow, '--shm') === `shm://${dir}/${argAfter(ex, '--channel')}`, `${p} orchestrator connects to shm://${dir}/<the executor's --channel>`);
  check(dockerVolumes.includes(dir) && dockerVolumes.includes('/workspace'),
    `${p} the image declares VOLUME ${dir} and /workspace, so ECS initialises the bind mounts from the image (owned by uid ${imageUid})`);
  check(new RegExp(`install -d -o \\$\\{SHMCP_UID\\} -g \\$\\{SHMCP_GID\\}[^\\n]*${dir.replace(/\//g, '\\/')}`).test(dockerfile),
    `${p} the image creates ${dir} owned by that uid`);
}

const tds = {};
for (const [k, f] of Object.entries(files)) {
  try { tds[k] = JSON.parse(fs.readFileSync(f, 'utf8')); } catch (e) { check(false, `${f} parses: ${e.message}`); }
}
if (tds.ec2) ec2(tds.ec2);
if (tds.fargate) fargate(tds.fargate);
console.log(failures ? `FAIL: ${failures} ECS assertion(s) failed` : 'PASS: ECS task definition assertions');
process.exit(failures ? 1 : 0);
