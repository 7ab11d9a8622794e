// Shared helpers of the interoperability tests: fixture trees, MCP stdio clients (the official
// TypeScript SDK), result normalisation and a readable diff.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REFERENCE_SERVER = path.join(
  HERE, "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
export const REFERENCE_TOOLS = JSON.parse(
  fs.readFileSync(path.join(HERE, "reference/tools-list.json"), "utf8")).tools;

export function fail(msg) {
  process.stderr.write(`FAIL: ${msg}\n`);
  process.exit(1);
}

// A fresh directory under the system temp dir, by its real path (the servers canonicalise theirs).
export function tempRoot(prefix) {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

// Tiny but real files for read_media_file: a 1x1 PNG, an MP3 frame header, and opaque bytes.
const PNG_1X1 = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082",
  "hex");
const MP3_FRAME = Buffer.concat([Buffer.from("fffb9064", "hex"), Buffer.alloc(60, 0x55)]);
const BLOB = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff));

// Fixed timestamps, so get_file_info is comparable between two trees built at different moments.
// atime lies in the future: with relatime, a read only updates atime when atime <= mtime/ctime
// or is a day old, so a future atime survives the reads of the test.
export const FIXED_MTIME = new Date("2024-03-05T06:07:08Z");
export const FIXED_ATIME = new Date("2031-01-02T03:04:05Z");

// The fixture tree, identical in layout and content wherever it is built.
export function buildFixture(root) {
  const files = {
    "notes.txt": "line1\nline2\nline3\nline4\nline5\n",
    "crlf.txt": "alpha\r\nbeta\r\ngamma\r\n",
    "utf8.txt": "héllo wörld ✓ — naïve\n",
    "empty.txt": "",
    "no-newline.txt": "one\ntwo",
    "code.py": "def f(x):\n    if x:\n        return 1\n    return 2\n\n\ndef g():\n    pass\n",
    "fence.md": "# Title\n\n```\ncode\n```\n",
    ".env": "SECRET=1\n",
    "image.png": PNG_1X1,
    "photo.JPG": PNG_1X1,
    "sound.mp3": MP3_FRAME,
    "blob.bin": BLOB,
    "dir/a.txt": "A\n",
    "dir/b.md": "# B\n",
    "dir/c.txt": "C\n",
    "dir/sub/deep.txt": "deep\n",
    "dir/sub/deeper/x.log": "x\n",
    "dir/node_modules/pkg/index.js": "module.exports = 1;\n",
    "dir/nested": "a file called nested\n",
    "sizes/big.dat": "b".repeat(5000),
    "sizes/huge.dat": "h".repeat(3 * 1024 * 1024 + 12345),
    "sizes/mid.dat": "m".repeat(1536),
    "sizes/small.dat": "s".repeat(10),
    "sizes/zero.dat": "",
    "sizes/B.txt": "B",
    "sizes/a.txt": "a",
    "sizes/A.txt": "AA",
    "sizes/_x": "_",
    "sizes/-y": "-",
    "sizes/10": "10",
    "sizes/9": "9",
    "sizes/a_b": "ab",
    "sizes/a-b": "a-b",
    "sizes/é": "e",
    "sizes/Z": "Z",
  };
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  fs.mkdirSync(path.join(root, "sizes/subdir"), { recursive: true });
  fs.mkdirSync(path.join(root, "emptydir"), { recursive: true });
  fs.chmodSync(path.join(root, "code.py"), 0o750);
  fs.chmodSync(path.join(root, "dir/c.txt"), 0o600);
  // Deepest first, so touching a child never changes its parent afterwards.
  const all = [];
  (function walk(d) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      all.push(p);
    }
  })(root);
  all.push(root);
  for (const p of all) fs.utimesSync(p, FIXED_ATIME, FIXED_MTIME);
}

// Connects the SDK client to an MCP server over stdio. Its stderr is kept for error reports.
export async function connect(command, args, { cwd, name = "shmcp-interop" } = {}) {
  const transport = new StdioClientTransport({ command, args, cwd, stderr: "pipe", env: process.env });
  let stderr = "";
  transport.stderr?.on("data", (d) => { stderr += d.toString(); });
  const client = new Client({ name, version: "1.0.0" }, { capabilities: {} });
  try {
    await client.connect(transport);
  } catch (e) {
    throw new Error(`cannot initialize ${command} ${args.join(" ")}: ${e.message}\n--- its stderr ---\n${stderr}`);
  }
  return { client, transport, stderr: () => stderr, close: () => client.close() };
}

// tools/call without the client's own output validation: the differential test compares raw
// results, including ones the SDK would reject.
export async function rawCall(client, name, args) {
  return client.request({ method: "tools/call", params: { name, arguments: args } },
                        CallToolResultSchema, { timeout: 60000 });
}

// Replaces every spelling of `root` (plain and percent-encoded as in file:// URIs) by <ROOT>.
export function normalise(value, root) {
  const spellings = [...new Set([encodeURI(root), root])].sort((a, b) => b.length - a.length);
  const fix = (s) => spellings.reduce((acc, r) => acc.split(r).join("<ROOT>"), s);
  const walk = (v) => {
    if (typeof v === "string") return fix(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value);
}

// Canonical JSON (sorted keys), so key order never counts as a difference.
export function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

// The reference tools-list.json has descriptions removed (they are ours to write), also those of
// schema properties; strip string-valued "description" keys before comparing schemas.
export function withoutDescriptions(v) {
  if (Array.isArray(v)) return v.map(withoutDescriptions);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v)
      .filter(([k, x]) => !(k === "description" && typeof x === "string"))
      .map(([k, x]) => [k, withoutDescriptions(x)]));
  }
  return v;
}

export function deepEqual(a, b) { return canonical(a) === canonical(b); }

// A line diff of two strings (LCS), enough to read a mismatch at a glance.
export function lineDiff(a, b, labelA = "reference", labelB = "shmcp") {
  const x = a.split("\n"), y = b.split("\n");
  if (x.length * y.length > 4e6) return `--- ${labelA}\n${a}\n+++ ${labelB}\n${b}`;
  const m = x.length, n = y.length;
  const dp = Array.from({ length: m + 1 }, () => new Int32Array(n + 1));
  for (let i = m - 1; i >= 0; --i)
    for (let j = n - 1; j >= 0; --j)
      dp[i][j] = x[i] === y[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const ops = [];
  let i = 0, j = 0;
  while (i < m || j < n) {
    if (i < m && j < n && x[i] === y[j]) { ops.push(`  ${JSON.stringify(x[i])}`); ++i; ++j; }
    else if (i < m && (j === n || dp[i + 1][j] >= dp[i][j + 1])) { ops.push(`- ${JSON.stringify(x[i])}`); ++i; }
    else { ops.push(`+ ${JSON.stringify(y[j])}`); ++j; }
  }
  // Unchanged lines more than `context` away from a change are elided.
  const context = 3;
  const near = ops.map(() => false);
  ops.forEach((o, k) => {
    if (o[0] !== " ") for (let d = -context; d <= context; ++d) if (ops[k + d] !== undefined) near[k + d] = true;
  });
  const out = [`--- ${labelA}`, `+++ ${labelB}`];
  for (let k = 0; k < ops.length; ++k) {
    if (near[k]) { out.push(ops[k]); continue; }
    let e = k;
    while (e < ops.length && !near[e]) ++e;
    out.push(`  ... ${e - k} identical line(s)`);
    k = e - 1;
  }
  return out.join("\n");
}
