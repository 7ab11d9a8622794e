#!/usr/bin/env node
// Explicit assertions about the deployment files: the properties shmcp relies on (shared /dev/shm,
// IPC namespace sharing, one uid everywhere, hardening) rather than mere well-formedness.
// Usage: node assert-deploy.js --repo REPO --compose-config NORMALIZED.yaml
//   NORMALIZED.yaml is `docker-compose -f docker/compose.yaml config` (anchors and defaults resolved).
'use strict';
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const repo = args.repo || path.resolve(__dirname, '../../..');
const composeConfig = args['compose-config'];

let failures = 0;
let checks = 0;
function check(cond, what) {
  checks++;
  if (cond) console.log(`ok - ${what}`);
  else { failures++; console.log(`not ok - ${what}`); }
  return !!cond;
}
function loadAll(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { uniqueKeys: true, merge: true });
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((d) => d != null);
}
function bytes(q) {  // docker sizes ("256m", "1g", 268435456) and Kubernetes quantities ("256Mi", "1G")
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)\s*([a-zA-Z]*)$/.exec(String(q).trim());
  if (!m) return NaN;
  const units = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3,
    Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  const u = m[2] in units ? m[2] : m[2].toLowerCase();
  return u in units ? parseFloat(m[1]) * units[u] : NaN;
}
const argAfter = (argv, flag) => { const i = (argv || []).indexOf(flag); return i >= 0 ? argv[i + 1] : undefined; };
const words = (x) => (Array.isArray(x) ? x.map(String) : String(x || '').split(/\s+/).filter(Boolean));

// ------------------------------------------------------------------------------------ Dockerfile
const dockerfile = fs.readFileSync(path.join(repo, 'docker/Dockerfile'), 'utf8');
check(!/^\s*#\s*syntax\s*=/im.test(dockerfile), 'Dockerfile: no "# syntax=" directive (BuildKit would pull it)');
const argDefault = (name) => (new RegExp(`^ARG\\s+${name}=(\\S+)`, 'm').exec(dockerfile) || [])[1];
check(argDefault('DEBIAN_BASE') === 'debian:bookworm-slim', 'Dockerfile: base image is debian:bookworm-slim');
const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ image: m[1], stage: m[2] }));
const stages = froms.map((f) => f.stage);
check(froms.every((f) => f.image === '${DEBIAN_BASE}' || stages.includes(f.image)),
  'Dockerfile: every stage starts FROM debian:bookworm-slim or an earlier stage');
check(stages.includes('builder') && stages.includes('executor') && stages.includes('orchestrator'),
  'Dockerfile: builder, executor and orchestrator stages');
const imageUid = Number(argDefault('SHMCP_UID'));
check(imageUid > 0 && /^USER\s+\$\{SHMCP_UID\}:\$\{SHMCP_GID\}\s*$/m.test(dockerfile), `Dockerfile: runs as non-root uid ${imageUid}`);
check(/install -d -o \$\{SHMCP_UID\} -g \$\{SHMCP_GID\}[^\n]*\/workspace/.test(dockerfile),
  'Dockerfile: /workspace created and owned by that uid');
check(/--network host|network host/.test(dockerfile), 'Dockerfile: documents --network host for the apt stages');
const dockerignore = fs.readFileSync(path.join(repo, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
check(['.git', 'build*', 'node_modules'].every((p) => dockerignore.includes(p)), '.dockerignore excludes .git, build*, node_modules');

// ------------------------------------------------------------------------------------ compose
const rawCompose = YAML.parse(fs.readFileSync(path.join(repo, 'docker/compose.yaml'), 'utf8'), { merge: true });
check(!('name' in rawCompose), 'compose: no top-level name: (compose v1 rejects it)');
const compose = composeConfig ? YAML.parse(fs.readFileSync(composeConfig, 'utf8')) : rawCompose;
const svc = compose.services || {};
const orch = svc.orchestrator || {};
const exe = svc.executor || {};
check(svc.orchestrator && svc.executor, 'compose: orchestrator and executor services');
check(orch.ipc === 'shareable', 'compose: orchestrator ipc: shareable (the IPC namespace donor)');
check(orch.shm_size !== undefined && bytes(orch.shm_size) >= 64 * 1024 ** 2,
  `compose: orchestrator has an explicit shm_size >= 64 MiB (${orch.shm_size})`);
check(exe.ipc === 'service:orchestrator', 'compose: executor ipc: "service:orchestrator"');
check(exe.shm_size === undefined, 'compose: executor sets no shm_size (its /dev/shm is the orchestrator\'s)');
const deps = Array.isArray(exe.depends_on) ? exe.depends_on : Object.keys(exe.depends_on || {});
check(deps.includes('orchestrator'), 'compose: executor depends_on orchestrator (the donor runs first)');
for (const [name, s] of [['orchestrator', orch], ['executor', exe]]) {
  const uid = String(s.user || '').split(':')[0];
  check(uid !== '' && uid === String(imageUid), `compose: ${name} user is uid ${imageUid} (same as the image)`);
  check((s.cap_drop || []).includes('ALL'), `compose: ${name} cap_drop [ALL]`);
  check(!(s.cap_add || []).length, `compose: ${name} adds no capabilities`);
  check((s.security_opt || []).some((o) => /^no-new-privileges(:true|=true)?$/.test(o)), `compose: ${name} no-new-privileges`);
  check(!(s.security_opt || []).some((o) => /seccomp[:=]unconfined|apparmor[:=]unconfined/.test(o)),
    `compose: ${name} keeps the seccomp/AppArmor profiles`);
  check(!s.privileged, `compose: ${name} not privileged`);
  const vols = (s.volumes || []).map((v) => (typeof v === 'string'
    ? { source: v.split(':')[0], target: v.split(':')[1], type: v.startsWith('/') || v.startsWith('.') ? 'bind' : 'volume' }
    : v));
  check(vols.some((v) => v.target === '/workspace' && v.source === 'workspace' && (v.type || 'volume') === 'volume'),
    `compose: ${name} mounts the named volume "workspace" at /workspace`);
}
check(exe.user === orch.user, 'compose: executor and orchestrator run as the same user:group');
check(exe.read_only === true, 'compose: executor read_only root filesystem');
check(compose.volumes && 'workspace' in compose.volumes, 'compose: "workspace" is a top-level named volume');
const exeCmd = words(exe.command);
const orchCmd = words(orch.command);
const channel = argAfter(exeCmd, '--channel');
check(exeCmd[0] === 'serve' && channel, `compose: executor serves channel "${channel}"`);
check(argAfter(orchCmd, '--shm') === `shm://${channel}`, 'compose: orchestrator connects to the same channel');
const listen = argAfter(exeCmd, '--http') || '127.0.0.1:8002';
const hc = words((exe.healthcheck || {}).test);
check(hc.includes('health') && hc.some((w) => w === `http://127.0.0.1:${listen.split(':').pop()}`),
  `compose: executor healthcheck probes /health on its HTTP port (${hc.join(' ')})`);
check(exe.network_mode === 'service:orchestrator' || listen.startsWith('0.0.0.0'),
  'compose: the orchestrator can reach the executor\'s HTTP endpoint');
if (exe.network_mode === 'service:orchestrator')
  check(argAfter(orchCmd, '--http') === `http://${listen}`, 'compose: orchestrator\'s --http matches the executor\'s listen address');

// ------------------------------------------------------------------------------------ Kubernetes
const k8sDir = path.join(repo, 'docker/k8s');
const k8sFiles = fs.readdirSync(k8sDir).filter((f) => /\.ya?ml$/.test(f));
const objs = k8sFiles.flatMap((f) => loadAll(path.join(k8sDir, f)).map((o) => ({ ...o, __file: f })));
const deployments = objs.filter((o) => o.kind === 'Deployment');
check(deployments.length === 1, 'k8s: one Deployment');
const dep = deployments[0] || { spec: { template: { spec: {} } } };
const pod = dep.spec.template.spec;
const inits = pod.initContainers || [];
const mains = pod.containers || [];
const all = [...inits, ...mains];
const sidecar = inits.find((c) => c.name === 'executor');
const orchC = mains.find((c) => c.name === 'orchestrator');
check(sidecar && sidecar.restartPolicy === 'Always', 'k8s: executor is a native sidecar (initContainer, restartPolicy: Always)');
check(orchC, 'k8s: orchestrator is a regular container');
check(inits.filter((c) => c.restartPolicy !== 'Always').length === 0, 'k8s: no run-to-completion init containers before the sidecar');
check(!pod.hostIPC && !pod.hostPID && !pod.hostNetwork, 'k8s: no hostIPC/hostPID/hostNetwork (the pod\'s own IPC namespace is shared)');
check(!pod.shareProcessNamespace, 'k8s: separate PID namespaces (no shareProcessNamespace)');
const vol = (name) => (pod.volumes || []).find((v) => v.name === name);
const mountOf = (c, p) => (c.volumeMounts || []).find((m) => m.mountPath === p);
let shmVolName;
for (const c of all) {
  const m = mountOf(c, '/dev/shm');
  const v = m && vol(m.name);
  check(v && v.emptyDir && v.emptyDir.medium === 'Memory' && v.emptyDir.sizeLimit,
    `k8s: ${c.name} mounts an emptyDir {medium: Memory, sizeLimit} at /dev/shm`);
  if (m) { if (shmVolName === undefined) shmVolName = m.name; check(m.name === shmVolName, `k8s: ${c.name} /dev/shm is the shared volume`); }
  const w = mountOf(c, '/workspace');
  const wv = w && vol(w.name);
  check(wv && wv.emptyDir, `k8s: ${c.name} mounts the emptyDir workspace at /workspace`);
  check(!(m && m.readOnly), `k8s: ${c.name} /dev/shm is writable`);
}
check((pod.volumes || []).every((v) => !v.hostPath), 'k8s: no hostPath volumes (restricted)');
const psc = pod.securityContext || {};
check(psc.runAsNonRoot === true, 'k8s: pod runAsNonRoot: true');
check(psc.runAsUser === imageUid && psc.runAsGroup !== undefined, `k8s: pod runAsUser ${imageUid} and runAsGroup set`);
check(psc.seccompProfile && psc.seccompProfile.type === 'RuntimeDefault', 'k8s: pod seccompProfile RuntimeDefault');
const uids = new Set();
for (const c of all) {
  const sc = c.securityContext || {};
  check(sc.allowPrivilegeEscalation === false, `k8s: ${c.name} allowPrivilegeEscalation: false`);
  check(sc.capabilities && (sc.capabilities.drop || []).includes('ALL') && !(sc.capabilities.add || []).length,
    `k8s: ${c.name} capabilities drop [ALL], add none`);
  check((sc.runAsNonRoot ?? psc.runAsNonRoot) === true, `k8s: ${c.name} runs as non-root`);
  const sp = sc.seccompProfile || psc.seccompProfile || {};
  check(sp.type === 'RuntimeDefault' || sp.type === 'Localhost', `k8s: ${c.name} seccompProfile RuntimeDefault (or Localhost)`);
  check(!sc.privileged, `k8s: ${c.name} not privileged`);
  check(sc.readOnlyRootFilesystem === true, `k8s: ${c.name} readOnlyRootFilesystem`);
  uids.add(`${sc.runAsUser ?? psc.runAsUser}:${sc.runAsGroup ?? psc.runAsGroup}`);
  const r = c.resources || {};
  check(r.requests && r.requests.cpu && r.requests.memory && r.limits && r.limits.memory,
    `k8s: ${c.name} has cpu/memory requests and a memory limit`);
}
check(uids.size === 1 && ![...uids][0].startsWith('undefined'), `k8s: every container runs as the same uid:gid (${[...uids].join(', ')})`);
if (shmVolName) {
  const shmBytes = bytes(vol(shmVolName).emptyDir.sizeLimit);
  const memLimits = all.reduce((s, c) => s + bytes(((c.resources || {}).limits || {}).memory || 0), 0);
  check(shmBytes >= 64 * 1024 ** 2 && shmBytes <= memLimits,
    `k8s: /dev/shm sizeLimit (${vol(shmVolName).emptyDir.sizeLimit}) >= 64Mi and within the pod's memory limits`);
}
if (sidecar) {
  const argv = [...words(sidecar.command), ...words(sidecar.args)];
  const kchan = argAfter(argv, '--channel');
  const klisten = argAfter(argv, '--http') || '';
  const kport = Number(klisten.split(':').pop());
  const portNum = (p) => (typeof p === 'number' ? p : ((sidecar.ports || []).find((x) => x.name === p) || {}).containerPort);
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const p = sidecar[probe];
    check(p && p.httpGet && p.httpGet.path === '/health' && portNum(p.httpGet.port) === kport,
      `k8s: executor ${probe} httpGet /health on its HTTP port ${kport}`);
  }
  check(!klisten.startsWith('127.'), 'k8s: executor listens beyond loopback so the kubelet can probe it');
  const oargv = orchC ? [...words(orchC.command), ...words(orchC.args)].join(' ') : '';
  check(kchan && oargv.includes(`shm://${kchan}`), `k8s: orchestrator connects to the executor's channel "${kchan}"`);
  check(oargv.includes(`http://127.0.0.1:${kport}`), 'k8s: orchestrator reaches the executor over the pod\'s loopback');
}
const hpa = objs.find((o) => o.kind === 'HorizontalPodAutoscaler');
check(hpa && hpa.apiVersion === 'autoscaling/v2', 'k8s: HorizontalPodAutoscaler autoscaling/v2');
if (hpa) {
  const t = hpa.spec.scaleTargetRef;
  check(t.kind === 'Deployment' && t.apiVersion === 'apps/v1' && t.name === dep.metadata.name, 'k8s: HPA targets the Deployment');
  check((hpa.spec.minReplicas || 1) <= hpa.spec.maxReplicas, 'k8s: HPA minReplicas <= maxReplicas');
}
const kust = objs.find((o) => o.kind === 'Kustomization');
if (kust) {
  const listed = new Set(kust.resources || []);
  check(k8sFiles.filter((f) => !/^kustomization\.ya?ml$/.test(f)).every((f) => listed.has(f)) &&
    [...listed].every((f) => k8sFiles.includes(f)), 'k8s: kustomization.yaml lists exactly the manifests in docker/k8s');
}

console.log(`${checks - failures}/${checks} deployment assertions passed`);
process.exit(failures ? 1 : 0);
