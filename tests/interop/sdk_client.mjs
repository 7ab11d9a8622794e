// The official TypeScript SDK client (@modelcontextprotocol/sdk, pinned in package.json) drives an
// MCP filesystem server over stdio: initialize, tools/list (the 14 tools, input schemas,
// annotations and output schemas equal to the reference's), then every tool with valid arguments
// on a fixture tree, checking each answer. Exits 1 with a message on the first mismatch.
//
//   node sdk_client.mjs EXECUTOR            runs `EXECUTOR mcp ROOT`
//   node sdk_client.mjs --reference         runs the reference server instead (validates the test)
import fs from "node:fs";
import path from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import {
  REFERENCE_SERVER, REFERENCE_TOOLS, buildFixture, canonical, connect, fail, tempRoot,
  withoutDescriptions,
} from "./lib.mjs";

const target = process.argv[2];
if (!target) fail("usage: node sdk_client.mjs EXECUTOR | --reference");
const root = tempRoot("shmcp-sdk-");
buildFixture(root);
const [command, args] = target === "--reference"
  ? [process.execPath, [REFERENCE_SERVER, root]]
  : [target, ["mcp", root]];

const server = await connect(command, args, { cwd: root });
const { client } = server;
let step = "";
function check(cond, what) {
  if (!cond) {
    process.stderr.write(`--- server stderr ---\n${server.stderr()}\n`);
    fail(`${step}: ${what}`);
  }
}

try {
  step = "initialize";
  const caps = client.getServerCapabilities();
  check(caps?.tools?.listChanged === true, `capabilities.tools.listChanged must be true, got ${JSON.stringify(caps)}`);
  check(typeof client.getServerVersion()?.name === "string", "serverInfo.name missing");

  step = "ping";
  check(canonical(await client.ping()) === "{}", "ping must answer {}");

  step = "tools/list";
  const { tools } = await client.listTools();
  check(tools.length === 14, `expected 14 tools, got ${tools.length}: ${tools.map((t) => t.name).join(", ")}`);
  for (const ref of REFERENCE_TOOLS) {
    const t = tools.find((x) => x.name === ref.name);
    check(t, `tool ${ref.name} missing`);
    // Every field the reference lists (inputSchema, outputSchema, annotations, execution), and
    // nothing of these missing on our side.
    for (const key of Object.keys(ref).filter((k) => k !== "name")) {
      const got = withoutDescriptions(t[key]);
      check(canonical(got) === canonical(ref[key]),
        `${ref.name}.${key} differs from the reference (descriptions aside):\n  want ${canonical(ref[key])}\n  got  ${canonical(got)}`);
    }
    check(typeof t.description === "string" && t.description.length > 0, `${ref.name} has no description`);
  }

  // callTool validates structuredContent against each tool's outputSchema (the SDK does that).
  const text = async (name, a) => {
    step = `tools/call ${name} ${JSON.stringify(a)}`;
    const r = await client.callTool({ name, arguments: a });
    check(!r.isError, `unexpected isError: ${JSON.stringify(r.content)}`);
    check(r.content?.length === 1 && r.content[0].type === "text", `expected one text block: ${JSON.stringify(r.content)}`);
    check(r.structuredContent?.content === r.content[0].text, "structuredContent.content must equal the text");
    return r.content[0].text;
  };
  const p = (rel) => path.join(root, rel);
  const expectEq = (got, want) => check(got === want, `\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`);

  expectEq(await text("list_allowed_directories", {}), `Allowed directories:\n${root}`);
  expectEq(await text("read_text_file", { path: p("notes.txt") }), "line1\nline2\nline3\nline4\nline5\n");
  expectEq(await text("read_text_file", { path: p("notes.txt"), head: 2 }), "line1\nline2");
  expectEq(await text("read_file", { path: p("notes.txt"), tail: 2 }), "line5\n");
  expectEq(await text("read_multiple_files", { paths: [p("dir/a.txt"), p("dir/c.txt")] }),
    `${p("dir/a.txt")}:\nA\n\n\n---\n${p("dir/c.txt")}:\nC\n\n`);

  step = "tools/call read_media_file";
  for (const [file, type, mime] of [["image.png", "image", "image/png"], ["sound.mp3", "audio", "audio/mpeg"]]) {
    const r = await client.callTool({ name: "read_media_file", arguments: { path: p(file) } });
    check(!r.isError && r.content[0].type === type && r.content[0].mimeType === mime, `${file}: ${JSON.stringify(r).slice(0, 300)}`);
    check(Buffer.from(r.content[0].data, "base64").equals(fs.readFileSync(p(file))), `${file}: base64 data differs from the file`);
  }

  expectEq(await text("write_file", { path: p("new.txt"), content: "fresh\n" }), `Successfully wrote to ${p("new.txt")}`);
  check(fs.readFileSync(p("new.txt"), "utf8") === "fresh\n", "write_file did not write the file");

  const diff = await text("edit_file", { path: p("new.txt"), edits: [{ oldText: "fresh", newText: "edited" }] });
  check(diff.startsWith("```diff\n") && diff.includes("-fresh\n+edited\n"), `edit_file diff: ${diff}`);
  check(fs.readFileSync(p("new.txt"), "utf8") === "edited\n", "edit_file did not edit the file");

  expectEq(await text("create_directory", { path: p("made/a/b") }), `Successfully created directory ${p("made/a/b")}`);
  check(fs.statSync(p("made/a/b")).isDirectory(), "create_directory did not create it");

  expectEq(await text("list_directory", { path: p("dir") }),
    "[FILE] a.txt\n[FILE] b.md\n[FILE] c.txt\n[FILE] nested\n[DIR] node_modules\n[DIR] sub");
  const sized = await text("list_directory_with_sizes", { path: p("dir/sub"), sortBy: "size" });
  check(sized.includes("[FILE] deep.txt") && sized.includes("Total: 1 files, 1 directories"), `list_directory_with_sizes: ${sized}`);

  const tree = JSON.parse(await text("directory_tree", { path: p("dir/sub") }));
  expectEq(canonical(tree), canonical([
    { name: "deep.txt", type: "file" },
    { name: "deeper", type: "directory", children: [{ name: "x.log", type: "file" }] },
  ]));

  expectEq(await text("move_file", { source: p("new.txt"), destination: p("made/moved.txt") }),
    `Successfully moved ${p("new.txt")} to ${p("made/moved.txt")}`);
  check(!fs.existsSync(p("new.txt")) && fs.existsSync(p("made/moved.txt")), "move_file did not move");

  expectEq(await text("search_files", { path: p("dir"), pattern: "**/*.txt", excludePatterns: ["node_modules"] }),
    `${p("dir/a.txt")}\n${p("dir/c.txt")}\n${p("dir/sub/deep.txt")}`);

  const info = await text("get_file_info", { path: p("notes.txt") });
  check(/^size: 30\ncreated: .+\nmodified: .+\naccessed: .+\nisDirectory: false\nisFile: true\npermissions: 644$/.test(info),
    `get_file_info: ${info}`);

  // Failures are results, not protocol errors.
  step = "tools/call read_text_file (missing file)";
  let r = await client.callTool({ name: "read_text_file", arguments: { path: p("missing.txt") } });
  check(r.isError === true && r.structuredContent === undefined, `expected an isError result: ${JSON.stringify(r)}`);
  step = "tools/call read_text_file (path outside)";
  r = await client.callTool({ name: "read_text_file", arguments: { path: "/etc/passwd" } });
  check(r.isError === true && /denied/i.test(r.content[0].text), `expected access denied: ${JSON.stringify(r)}`);
  step = "tools/call write_file (invalid arguments)";
  r = await client.callTool({ name: "write_file", arguments: { path: p("x.txt") } });
  check(r.isError === true && /content/.test(r.content[0].text), `expected an isError naming 'content': ${JSON.stringify(r)}`);

  if (target !== "--reference") {
    // The reference answers an unknown tool with an isError result; the MCP specification (and
    // our contract) says JSON-RPC error -32602.
    step = "tools/call unknown tool";
    let code;
    try { await client.callTool({ name: "no_such_tool", arguments: {} }); } catch (e) { code = e instanceof McpError ? e.code : e.message; }
    check(code === -32602, `expected JSON-RPC error -32602, got ${code}`);
  }
} catch (e) {
  process.stderr.write(`--- server stderr ---\n${server.stderr()}\n`);
  fail(`${step}: ${e.stack ?? e}`);
} finally {
  await server.close();
}
fs.rmSync(root, { recursive: true, force: true });
console.log(`OK: ${target === "--reference" ? "reference server" : target} passed initialize, tools/list and all 14 tools`);
