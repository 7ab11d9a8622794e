// The executor's HTTP frontend (cpp-httplib, TCP_NODELAY on): POST /execute, GET /health,
// GET /metrics, GET /tools, and the MCP Streamable HTTP endpoint /mcp. Tool calls go through the
// channel to the same sandboxed workers as shm clients; the frontend itself touches no files.
// Handlers run on the frontend's connection pool (one thread per open connection, bounded); each
// concurrently active thread uses its own lane. Every request passes one gate first (Host, Origin,
// bearer token, Content-Type: see http_guard.hpp); bodies are parsed with the bounded JSON parser.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "channel/base/result.hpp"
#include "orchestrator/client.hpp"

namespace httplib {
class Server;
}

namespace shmcp::executor {

class Supervisor;

// One HTTP reply, as the MCP frontend produces it and the HTTP frontend sends it.
struct HttpReply {
  int status = 200;
  std::string content_type;  // empty: no body
  std::string body;
  std::map<std::string, std::string> headers;  // extra response headers, one value per name
};
// Plugged in by the MCP frontend: (method, headers, body) -> reply.
using McpHttpHandler =
    std::function<HttpReply(const std::string& method, const std::map<std::string, std::string>& headers,
                            const std::string& body)>;

// POST /execute without the transport (the route calls it; so does the fuzz target): a body in,
// the HTTP status and JSON body out. `call` runs a tool, `ping` the empty call ($ping); `tool` is
// set to the tool that ran (for the latency histogram), empty otherwise. Never throws.
struct ExecuteReply {
  int status = 200;
  std::string body;
  std::string tool;
};
using ExecuteCall = std::function<Result<ToolResult>(const std::string& tool, const nlohmann::json& args)>;
using ExecutePing = std::function<Status()>;
ExecuteReply handle_execute(std::string_view body, std::size_t max_body_bytes, const ExecuteCall& call,
                            const ExecutePing& ping);
// The route's form: `call` returns the result as the body's JSON text, "isError" stated
// (Client::call_json_text(tool, args, true)), so a result is never held as a DOM; the reply is
// byte for byte the other form's for the same result.
using ExecuteTextCall = std::function<Result<std::string>(const std::string& tool, const nlohmann::json& args)>;
ExecuteReply handle_execute(std::string_view body, std::size_t max_body_bytes, const ExecuteTextCall& call,
                            const ExecutePing& ping);

// What the frontend accepts and how long it lets a peer take (serve flags of the same names).
struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8002;                      // 0: any free port
  std::string token;                    // empty: no bearer token required
  std::vector<std::string> allowed_hosts;  // Host names accepted besides IP literals, localhost, host
  std::size_t max_body_bytes = std::size_t{64} << 20;  // larger request bodies get 413
  // Connections served at once, one thread each; as many more wait (accepted, in accept order)
  // until one ends, and beyond those the executor stops accepting (the kernel's listen backlog
  // holds the rest). Idle and stalled connections end by the timeouts below, so a slot is never
  // held forever by a peer that sends nothing.
  std::size_t max_connections = 128;
  int io_timeout_ms = 5000;             // a read or write making no progress for this long ends the connection
  int idle_timeout_s = 5;               // a connection waiting for its (next) request this long is closed
};

// What an authenticated call is served by: the executor's workspace, or the tenant the bearer
// token belongs to.
struct HttpTarget {
  std::shared_ptr<Client> client;  // the workers' channel
  McpHttpHandler mcp;              // /mcp (empty: 404)
  std::shared_ptr<void> hold;      // kept for the request's duration (a tenant's call in flight)
};

// Which endpoints a bearer token opens: tool calls (/execute, /mcp, /tools), /metrics, /admin.
enum class HttpAccess { call, metrics, admin };

// Where the HTTP frontend sends requests once they pass the browser gate. Connection threads
// call every function concurrently.
class HttpBackend {
 public:
  virtual ~HttpBackend() = default;
  virtual bool authorized(HttpAccess what, std::string_view bearer) const = 0;
  // The target of a tool call. Errc::access_denied -> 401, Errc::busy -> 429 (calls in flight at
  // the tenant's quota), Errc::closed -> 503 (draining).
  virtual Result<HttpTarget> target(std::string_view bearer) = 0;
  // GET /health; `detailed` for an authenticated, non-browser caller. Has "status".
  virtual nlohmann::json health(bool detailed) const = 0;
  virtual std::string metrics() const = 0;
  // /admin/...: path below /admin, query parameters; the caller is authorized for admin.
  virtual HttpReply admin(const std::string& method, const std::string& path,
                          const std::map<std::string, std::string>& params, const std::string& body);
};

// The executor's single workspace: `token` (empty: none) opens everything; no admin API.
std::shared_ptr<HttpBackend> make_workspace_backend(Supervisor& sup, std::shared_ptr<Client> client, McpHttpHandler mcp,
                                                    std::string token);

struct ConnectionPoolState;

class HttpFrontend {
 public:
  // Binds opts.host:opts.port (Errc::io with the reason if it can't) and serves on a background
  // thread. opts.token is not used here: the backend authorizes.
  static Result<std::unique_ptr<HttpFrontend>> start(std::shared_ptr<HttpBackend> backend, const HttpOptions& opts);
  ~HttpFrontend();
  void stop();
  int port() const noexcept { return port_; }

 private:
  HttpFrontend() = default;
  std::unique_ptr<httplib::Server> server_;
  std::shared_ptr<ConnectionPoolState> pool_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace shmcp::executor
