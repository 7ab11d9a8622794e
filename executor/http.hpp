// The executor's HTTP frontend (cpp-httplib, TCP_NODELAY on): POST /execute, GET /health,
// GET /metrics, GET /tools, and the MCP Streamable HTTP endpoint /mcp. Tool calls go through the
// channel to the same sandboxed workers as shm clients; the frontend itself touches no files.
// Handlers run on cpp-httplib's thread pool; each concurrently active thread uses its own lane.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "channel/result.hpp"
#include "orchestrator/client.hpp"

namespace httplib {
class Server;
}

namespace shmcp::executor {

class Supervisor;

// Plugged in by the MCP frontend: (method, headers, body) -> (status, content type, body, headers).
struct McpHttpReply {
  int status = 200;
  std::string content_type;
  std::string body;
  std::map<std::string, std::string> headers;
};
using McpHttpHandler =
    std::function<McpHttpReply(const std::string& method, const std::map<std::string, std::string>& headers,
                               const std::string& body)>;

class HttpFrontend {
 public:
  // Binds host:port (Errc::io with the reason if it can't) and serves on a background thread.
  static Result<std::unique_ptr<HttpFrontend>> start(Supervisor& sup, std::shared_ptr<Client> client,
                                                     const std::string& host, int port, std::string token,
                                                     McpHttpHandler mcp);
  ~HttpFrontend();
  void stop();
  int port() const noexcept { return port_; }

 private:
  HttpFrontend() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace shmcp::executor
