// shmcp client library: call the executor's tools from an orchestrator process.
//
//   auto c = shmcp::Client::connect("shm://agent1");          // or "http://127.0.0.1:8002"
//   auto r = c.value()->call("read_text_file", {{"path", "notes.txt"}});
//   if (!r) { /* r.error().code: peer_dead/closed/not_found (transport), timeout, ... */ }
//   else if (r->is_error) { /* the tool ran and failed: r->text() says why */ }
//
// Both transports sit behind one interface. A Client is safe to use from many threads at once: on
// shm each concurrently calling thread gets its own lane (a private pair of rings), so calls never
// contend on a lock in shared memory. After an executor restart the next call reconnects.
// Errors are values: nothing here throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "channel/base/result.hpp"
#include "channel/wait_mode.hpp"

namespace shmcp {

using WaitMode = channel::WaitMode;

struct ClientOptions {
  // shm: how the calling thread waits for the response.
  WaitMode wait = WaitMode::adaptive;
  std::uint64_t spin_ns = 50'000;
  // Default per-call deadline.
  std::chrono::milliseconds timeout{30'000};
  // How long connect() and reconnects wait for the executor to appear (0 = fail at once).
  std::chrono::milliseconds connect_wait{0};
  // http: bearer token (contents of the executor's --token-file).
  std::string token;
};

struct CallOptions {
  std::optional<std::chrono::milliseconds> timeout;  // overrides ClientOptions::timeout
  // Narrows a tool call (call / call_json_text) to these workspace-relative directories: every
  // path of the call must lie beneath one of them, enforced by the worker's kernel-confined
  // resolution from each root's handle; an empty list allows nothing. The executor's MCP
  // frontends pass a session's MCP roots here. shm only: an HTTP client refuses a call with roots
  // (Errc::invalid_argument) rather than run it unnarrowed.
  // (Default member initializer: CallOptions{timeout} stays warning-free under -Wextra.)
  std::optional<std::vector<std::string>> roots = std::nullopt;
};

// An MCP CallToolResult. `json` is exactly what the reference server would return
// ({"content": [...], "isError"?: true, "structuredContent"?: {...}}).
struct ToolResult {
  nlohmann::json json;
  bool is_error = false;
  // The concatenated text of the text content blocks.
  std::string text() const;
};

// A shared-memory channel's address. URLs:
//   shm://NAME          channel NAME in /dev/shm (the segment /dev/shm/shmcp.NAME)
//   shm:///DIR/NAME     channel NAME in the absolute directory DIR (the executor's --shm-dir):
//                       the segment DIR/shmcp.NAME; shm:///dev/shm/NAME is shm://NAME
// DIR is taken literally (no percent-decoding); a query or fragment is refused.
struct ShmAddress {
  std::string dir;
  std::string name;
};
Result<ShmAddress> parse_shm_url(std::string_view url);
// The URL for a channel: "shm://NAME" in /dev/shm, "shm:///DIR/NAME" elsewhere.
std::string shm_url(std::string_view name, std::string_view dir = "/dev/shm");

class Client {
 public:
  // url: "shm://NAME", "shm:///DIR/NAME" (see ShmAddress) or "http://HOST:PORT".
  static Result<std::unique_ptr<Client>> connect(std::string_view url, ClientOptions options = {});
  virtual ~Client() = default;

  // Runs a tool with JSON arguments. A tool failure is a successful Result with is_error = true;
  // Result errors are transport failures (peer_dead, closed, not_found, io), timeout,
  // invalid_argument (unknown tool or malformed request) or too_large.
  virtual Result<ToolResult> call(std::string_view tool, const nlohmann::json& arguments, CallOptions o = {}) = 0;

  // The same call with its CallToolResult as JSON text: byte for byte to_json_text() of call()'s
  // `json` (orchestrator/convert.hpp), with "isError": false on success too when state_is_error.
  // Over shm the text is written straight from the wire response, without a DOM: what the HTTP
  // and MCP frontends hand on. The one exception to "nothing throws": with the strict handler a
  // result whose text is not UTF-8 throws nlohmann::json::type_error, as to_json_text() does.
  virtual Result<std::string> call_json_text(
      std::string_view tool, const nlohmann::json& arguments, bool state_is_error = false,
      nlohmann::json::error_handler_t handler = nlohmann::json::error_handler_t::strict, CallOptions o = {});

  // Typed calls; on shm they skip JSON entirely. A tool failure is Errc::tool_error with the
  // tool's message.
  virtual Result<std::string> read_text_file(std::string_view path, CallOptions o = {});
  virtual Status write_file(std::string_view path, std::string_view content, CallOptions o = {});

  // An empty round trip through a worker (no filesystem access).
  virtual Status ping(CallOptions o = {}) = 0;
  // Executor status JSON (workers alive, channel, uptime, ...).
  virtual Result<nlohmann::json> health(CallOptions o = {}) = 0;
  // tools/list: {"tools": [...]} with input schemas.
  virtual Result<nlohmann::json> tools(CallOptions o = {}) = 0;

  virtual std::string url() const = 0;
};

}  // namespace shmcp
