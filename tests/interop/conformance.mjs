// The MCP conformance suite (@modelcontextprotocol/conformance, pinned in package.json; it needs
// node 22, taken from the pinned npm package `node`) against the executor's Streamable HTTP
// endpoint POST /mcp. Scenarios server-initialize, ping and tools-list must pass.
//
//   node conformance.mjs EXECUTOR        starts `EXECUTOR serve --workspace DIR --channel UNIQUE
//                                        --http 127.0.0.1:PORT` and tests http://127.0.0.1:PORT/mcp
//   node conformance.mjs --sdk-server    tests a server built with the TypeScript SDK instead
//                                        (validates this script and the suite's invocation)
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { HERE, fail, tempRoot } from "./lib.mjs";

const SCENARIOS = ["server-initialize", "ping", "tools-list"];
const NODE22 = path.join(HERE, "node_modules/node/bin/node");
const CONFORMANCE = path.join(HERE, "node_modules/@modelcontextprotocol/conformance/dist/index.js");

const target = process.argv[2];
if (!target) fail("usage: node conformance.mjs EXECUTOR | --sdk-server");
for (const f of [NODE22, CONFORMANCE]) if (!fs.existsSync(f)) fail(`${f} missing: run tests/interop/setup.sh`);
const v = spawnSync(NODE22, ["--version"], { encoding: "utf8" });
if (!/^v22\./.test(v.stdout ?? "")) fail(`${NODE22} is not node 22: ${v.stdout}${v.stderr}`);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Waits until something accepts TCP connections on port, or the server process has exited.
async function waitForPort(port, proc, log) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      fail(`server exited (${proc.exitCode ?? proc.signalCode}) before listening:\n${log()}`);
    }
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, "127.0.0.1");
      c.once("connect", () => { c.destroy(); resolve(true); });
      c.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`server did not listen on 127.0.0.1:${port} within 30 s:\n${log()}`);
}

const port = await freePort();
const root = tempRoot("shmcp-conf-");
fs.writeFileSync(path.join(root, "hello.txt"), "hello\n");
const [command, args] = target === "--sdk-server"
  ? [process.execPath, [path.join(HERE, "sdk_http_server.mjs"), String(port)]]
  : [target, ["serve", "--workspace", root,
      "--channel", `interop-conf-${process.pid}-${crypto.randomBytes(4).toString("hex")}`,
      "--http", `127.0.0.1:${port}`]];
const server = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
let serverLog = "";
server.stdout.on("data", (d) => { serverLog += d; });
server.stderr.on("data", (d) => { serverLog += d; });
const stop = () => { if (server.exitCode === null) server.kill("SIGTERM"); };
process.on("exit", stop);

let failed = 0;
try {
  await waitForPort(port, server, () => serverLog);
  const url = `http://127.0.0.1:${port}/mcp`;
  for (const scenario of SCENARIOS) {
    const out = fs.mkdtempSync(path.join(root, "..", "shmcp-conf-out-"));
    const r = spawnSync(NODE22, [CONFORMANCE, "server", "--url", url, "--scenario", scenario, "-o", out],
                        { encoding: "utf8", timeout: 120000 });
    // Don't trust the exit code alone: the checks must exist and all succeed.
    const files = fs.readdirSync(out, { recursive: true }).filter((f) => String(f).endsWith("checks.json"));
    const checks = files.flatMap((f) => JSON.parse(fs.readFileSync(path.join(out, String(f)), "utf8")));
    const bad = checks.filter((c) => c.status === "FAILURE");
    const good = checks.filter((c) => c.status === "SUCCESS");
    const pass = r.status === 0 && bad.length === 0 && good.length > 0;
    console.log(`${pass ? "PASS" : "FAIL"} ${scenario}: ${good.length} succeeded, ${bad.length} failed (exit ${r.status ?? r.signal})`);
    if (!pass) {
      ++failed;
      for (const c of bad) console.log(`  ${c.id}: ${c.errorMessage ?? c.description}`);
      console.log(r.stdout, r.stderr);
    }
    fs.rmSync(out, { recursive: true, force: true });
  }
} finally {
  stop();
}
if (failed) {
  console.log(`--- server output ---\n${serverLog}`);
  fail(`${failed} of ${SCENARIOS.length} conformance scenarios failed`);
}
fs.rmSync(root, { recursive: true, force: true });
console.log(`OK: conformance scenarios ${SCENARIOS.join(", ")} pass`);
