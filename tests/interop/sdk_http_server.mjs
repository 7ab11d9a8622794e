// A minimal Streamable HTTP MCP server built with the TypeScript SDK (stateful, JSON responses),
// used only by `conformance.mjs --sdk-server` to check the conformance harness itself against a
// known-good implementation.  Usage: node sdk_http_server.mjs PORT
import http from "node:http";
import { randomUUID } from "node:crypto";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { ListToolsRequestSchema, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";

const transports = new Map();

function newServer() {
  const s = new Server({ name: "sdk-reference-http", version: "1.0.0" }, { capabilities: { tools: {} } });
  s.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [{ name: "noop", description: "does nothing", inputSchema: { type: "object", properties: {} } }],
  }));
  return s;
}

http.createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  const parsed = body ? JSON.parse(body) : undefined;
  const sid = req.headers["mcp-session-id"];
  let t = sid ? transports.get(sid) : undefined;
  if (!t && req.method === "POST" && !sid && isInitializeRequest(parsed)) {
    t = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (id) => transports.set(id, t),
    });
    await newServer().connect(t);
  }
  if (!t) {
    res.writeHead(sid ? 404 : 400, { "content-type": "application/json" });
    res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: "no session" }, id: null }));
    return;
  }
  await t.handleRequest(req, res, parsed);
}).listen(Number(process.argv[2]), "127.0.0.1");
