// MCP roots with the official TypeScript SDK client (@modelcontextprotocol/sdk): the client declares
// the roots capability and answers roots/list; the executor must narrow its workspace to the valid
// roots (inside it) and ignore the others (outside it, or a symlink leading out), and follow
// notifications/roots/list_changed mid-session. Over stdio (`EXECUTOR mcp WS`) and over Streamable
// HTTP (`EXECUTOR serve ... /mcp`, where roots/list travels on the GET stream). Exits 1 with a
// message on the first mismatch.
//
//   node sdk_roots.mjs EXECUTOR
import crypto from "node:crypto";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { fail, tempRoot } from "./lib.mjs";

const executor = process.argv[2];
if (!executor) fail("usage: node sdk_roots.mjs EXECUTOR");

const base = tempRoot("shmcp-roots-");
const ws = path.join(base, "ws");
const outside = path.join(base, "outside");
for (const d of [ws, outside, path.join(ws, "a"), path.join(ws, "b")]) fs.mkdirSync(d, { recursive: true });
fs.writeFileSync(path.join(ws, "a", "in.txt"), "IN-A");
fs.writeFileSync(path.join(ws, "b", "sibling.txt"), "SIBLING");
fs.writeFileSync(path.join(outside, "secret.txt"), "SECRET");
fs.symlinkSync(outside, path.join(ws, "evil"));
fs.symlinkSync("../b", path.join(ws, "a", "to_b"));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

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

// One session over `transport`: the client's roots are `roots` (paths) until changed.
async function runSession(label, makeTransport, serverLog) {
  let roots = [path.join(ws, "a"), outside, path.join(ws, "evil")];
  let asked = 0;
  const client = new Client({ name: "shmcp-roots-interop", version: "1.0.0" },
                            { capabilities: { roots: { listChanged: true } } });
  client.setRequestHandler(ListRootsRequestSchema, async () => {
    ++asked;
    return { roots: roots.map((p) => ({ uri: pathToFileURL(p).href, name: path.basename(p) })) };
  });
  let step = "connect";
  const check = (cond, what) => {
    if (!cond) fail(`${label}: ${step}: ${what}\n--- server log ---\n${serverLog()}`);
  };
  const transport = makeTransport();
  await client.connect(transport);
  const call = async (name, args) => {
    step = `tools/call ${name} ${JSON.stringify(args)}`;
    const r = await client.callTool({ name, arguments: args });
    return { text: r.content?.[0]?.text ?? "", isError: r.isError === true };
  };
  const expectText = async (name, args, want) => {
    const r = await call(name, args);
    check(!r.isError && r.text === want, `want ${JSON.stringify(want)}, got ${JSON.stringify(r)}`);
  };
  const expectDenied = async (name, args) => {
    const r = await call(name, args);
    check(r.isError && r.text.includes("Access denied") && !r.text.includes("SECRET") && !r.text.includes("SIBLING"),
          `want an access denial, got ${JSON.stringify(r)}`);
  };

  try {
    // The first call already runs on the roots: the server holds it until the client answered.
    await expectText("list_allowed_directories", {}, `Allowed directories:\n${path.join(ws, "a")}`);
    check(asked >= 1, "the server never sent roots/list");
    await expectText("read_text_file", { path: path.join(ws, "a", "in.txt") }, "IN-A");
    await expectText("read_text_file", { path: "in.txt" }, "IN-A");
    await expectDenied("read_text_file", { path: path.join(ws, "b", "sibling.txt") });
    await expectDenied("read_text_file", { path: path.join(ws, "a", "..", "b", "sibling.txt") });
    await expectDenied("read_text_file", { path: path.join(ws, "a", "to_b", "sibling.txt") });
    await expectDenied("read_text_file", { path: path.join(outside, "secret.txt") });
    await expectDenied("read_text_file", { path: path.join(ws, "evil", "secret.txt") });
    await expectDenied("list_directory", { path: ws });

    // Changed mid-session: the next call runs on the new roots.
    step = "notifications/roots/list_changed";
    const before = asked;
    roots = [path.join(ws, "b")];
    await client.sendRootsListChanged();
    await expectText("list_allowed_directories", {}, `Allowed directories:\n${path.join(ws, "b")}`);
    check(asked === before + 1, `roots/list asked ${asked - before} times after list_changed, want 1`);
    await expectText("read_text_file", { path: path.join(ws, "b", "sibling.txt") }, "SIBLING");
    await expectDenied("read_text_file", { path: path.join(ws, "a", "in.txt") });

    // No valid root left: the session allows nothing.
    roots = [outside];
    await client.sendRootsListChanged();
    await expectText("list_allowed_directories", {}, "Allowed directories:");
    await expectDenied("read_text_file", { path: path.join(ws, "b", "sibling.txt") });
  } finally {
    await client.close();
  }
  console.log(`OK ${label}: roots inside, outside (ignored), symlinked out (ignored), changed mid-session`);
}

// stdio
{
  let stderr = "";
  await runSession("stdio", () => {
    const t = new StdioClientTransport({ command: executor, args: ["mcp", ws], stderr: "pipe", env: process.env });
    t.stderr?.on("data", (d) => { stderr += d.toString(); });
    return t;
  }, () => stderr);
}

// Streamable HTTP
{
  const port = await freePort();
  const server = spawn(executor, ["serve", "--workspace", ws,
    "--channel", `interop-roots-${process.pid}-${crypto.randomBytes(4).toString("hex")}`,
    "--http", `127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  server.stdout.on("data", (d) => { log += d; });
  server.stderr.on("data", (d) => { log += d; });
  const stop = () => { if (server.exitCode === null) server.kill("SIGTERM"); };
  process.on("exit", stop);
  try {
    await waitForPort(port, server, () => log);
    await runSession("http", () => new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)), () => log);
    // A client without the roots capability keeps the whole workspace, as before roots existed.
    const plain = new Client({ name: "shmcp-plain", version: "1.0.0" }, { capabilities: {} });
    await plain.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
    const r = await plain.callTool({ name: "list_allowed_directories", arguments: {} });
    if (r.content?.[0]?.text !== `Allowed directories:\n${ws}`) fail(`http without roots: ${JSON.stringify(r)}\n${log}`);
    const s = await plain.callTool({ name: "read_text_file", arguments: { path: path.join(ws, "b", "sibling.txt") } });
    if (s.isError || s.content?.[0]?.text !== "SIBLING") fail(`http without roots: ${JSON.stringify(s)}\n${log}`);
    await plain.close();
    console.log("OK http: a client without roots keeps the whole workspace");
  } finally {
    stop();
  }
}
fs.rmSync(base, { recursive: true, force: true });
