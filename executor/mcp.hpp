// MCP server frontends of the executor: a transport-independent JSON-RPC session (McpSession), the
// newline-delimited stdio loop (run_stdio) and the Streamable HTTP transport as pure functions
// (McpHttp) that an HTTP server such as cpp-httplib calls per request.
//
// Protocol: MCP revision 2025-11-25 (older revisions the reference server accepts are echoed back
// when a client asks for them). Only the tools capability is offered: initialize, ping, tools/list,
// tools/call and the notifications initialized / cancelled / roots/list_changed; with roots
// enabled the server itself sends roots/list (the one server-to-client request). Tools run through the ToolCaller, which
// the executor binds to its sandboxed workers, so both frontends share one execution path.
//
// Errors are values: nothing here throws (nlohmann exceptions are caught at the boundary).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "channel/base/result.hpp"
#include "executor/http.hpp"  // HttpReply / McpHttpHandler, the HTTP frontend's plug-in shape

namespace shmcp::executor {

// Runs one tool and returns its CallToolResult JSON (an isError result for tool failures and for
// arguments that fail the input schema). A Result error means the call never produced a result
// (transport failure, worker death, timeout); the session turns it into an isError result.
using ToolCaller =
    std::function<shmcp::Result<nlohmann::json>(std::string_view tool, const nlohmann::json& args)>;

// The same as JSON text: the CallToolResult exactly as mcp::dump() would write the ToolCaller's
// value. Frontends use this one: a result (a file's text, megabytes) is handed on as the worker
// produced it, escaped once, never held as a DOM.
using ToolTextCaller =
    std::function<shmcp::Result<std::string>(std::string_view tool, const nlohmann::json& args)>;

// The executor's callers: run the tool through `client` (the executor's own channel, so the call
// lands in the same sandboxed workers as every other client's).
ToolCaller make_tool_caller(std::shared_ptr<shmcp::Client> client);
ToolTextCaller make_tool_text_caller(std::shared_ptr<shmcp::Client> client);

inline constexpr std::string_view kMcpServerName = "shmcp-executor";

// MCP roots as a narrowing of the workspace. A session whose client declared the roots capability
// asks it for its roots (roots/list) after notifications/initialized and again after every
// notifications/roots/list_changed; the answer's valid roots (file:// directories inside the
// workspace) become the session's effective roots, and every later tool call runs confined to
// them. Roots never widen: the workspace stays the outer bound.
struct McpRootsSupport {
  // Maps a roots/list result's "roots" array to workspace-relative directories (canonical, no
  // symlinks, "." for the workspace itself), dropping with a warning every entry that is not a
  // file:// URI of a directory inside the workspace. Which thread: any session's.
  std::function<std::vector<std::string>(const nlohmann::json& roots)> resolve;
  // Runs a tool confined to `roots` (the resolver's output; empty: nothing is allowed) and returns
  // its CallToolResult as JSON text (as ToolTextCaller).
  std::function<shmcp::Result<std::string>(std::string_view tool, const nlohmann::json& args,
                                           const std::vector<std::string>& roots)>
      call;
  // How long a tool call waits for an outstanding roots/list answer before running on the
  // previous effective roots (the whole workspace before the first answer).
  std::chrono::milliseconds answer_timeout{10'000};
};
// The executor's: resolves roots against `workspace` (opened beneath it with openat2, as a tool
// path is; see executor/TOOLS.md) and calls through `client` with CallOptions::roots.
McpRootsSupport make_roots_support(std::shared_ptr<shmcp::Client> client, std::string workspace);

// The workspace-relative directory a root URI names, or an error saying why it is ignored:
// not a file:// URI, not absolute, not inside the workspace (lexically, or after the kernel
// resolved it beneath the workspace: symlinks cannot lead out), not an existing directory.
shmcp::Result<std::string> resolve_root_uri(const std::string& workspace, std::string_view uri);

// Sends one server-initiated JSON-RPC message (no newline) to the session's client; false when
// the transport could not take it. Which thread: whichever handles the message that triggers it.
using McpOutbound = std::function<bool(std::string message)>;

namespace mcp {

inline constexpr std::string_view kLatestProtocolVersion = "2025-11-25";
// Newest first. The reference SDK (1.32.2) accepts exactly these.
inline constexpr std::string_view kSupportedProtocolVersions[] = {"2025-11-25", "2025-06-18",
                                                                   "2025-03-26", "2024-11-05"};
bool protocol_version_supported(std::string_view v) noexcept;
// The revision the server answers when a client requests `requested`.
std::string_view negotiate_protocol_version(std::string_view requested) noexcept;

// JSON-RPC 2.0 error codes used by MCP.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

// Serialises a message for the wire: compact, UTF-8 kept as is, invalid UTF-8 (e.g. from file
// names) replaced by U+FFFD instead of throwing.
std::string dump(const nlohmann::json& j);

}  // namespace mcp

// One MCP session: the lifecycle state of one client connection. Thread-safe: several requests of
// one session may be handled concurrently (HTTP clients pipeline), and tool calls run in parallel
// outside any lock.
class McpSession {
 public:
  McpSession(ToolCaller caller, std::string server_name, std::string version);
  // serverInfo {name: kMcpServerName, version: kVersion}.
  explicit McpSession(ToolCaller caller);
  // With a text caller, handle() and handle_message_text() splice each tool result's JSON text
  // into the response as it comes (no DOM of it); handle_message() parses it.
  McpSession(ToolTextCaller caller, std::string server_name, std::string version);
  explicit McpSession(ToolTextCaller caller);

  McpSession(const McpSession&) = delete;
  McpSession& operator=(const McpSession&) = delete;

  // One line of newline-delimited JSON-RPC in; the response line (without the newline) out, or
  // nullopt when nothing is to be sent (notifications, responses, blank lines).
  std::optional<std::string> handle(std::string_view line);

  // The same on a parsed message (HTTP parses first to route). `msg` is one JSON value; arrays
  // (batches) are rejected with -32600.
  std::optional<nlohmann::json> handle_message(const nlohmann::json& msg);

  // The same with the response as the text mcp::dump() makes of handle_message()'s value, byte
  // for byte, plus what a transport routes on. A tools/call result from a text caller goes into
  // it without being parsed or re-serialised.
  struct TextReply {
    std::string text;
    bool has_result = false;        // a "result" member (a successful request)
    bool error_without_id = false;  // an "error" with a null id (a malformed message)
  };
  std::optional<TextReply> handle_message_text(const nlohmann::json& msg);

  // Turns on roots (see McpRootsSupport): server-initiated requests go out through `send`.
  // queue_calls: tool calls that arrive while a roots/list answer is outstanding are held (handle()
  // returns nothing for them) and answered through `send` once it arrives or after
  // answer_timeout (the stdio loop: one thread reads both the calls and the answer; it calls
  // expire_wait() when next_wait_deadline() passes). Otherwise such calls block their thread
  // until then (HTTP: the answer comes in on another request's thread). Call before the first
  // message.
  void enable_roots(McpRootsSupport support, McpOutbound send, bool queue_calls);
  // With queued calls: when they stop waiting for the roots answer; nullopt without any.
  std::optional<std::chrono::steady_clock::time_point> next_wait_deadline() const;
  // Answers queued calls whose wait is over (on the previous roots). Which thread: the stdio loop.
  void expire_wait();
  // The effective roots (workspace-relative) once a roots/list answer was applied; nullopt while
  // the session is not narrowed (no roots capability, or no answer yet).
  std::optional<std::vector<std::string>> effective_roots() const;
  // Roots are on and the client declared the capability: the session sends roots/list.
  bool roots_requested() const;

  // True once an initialize request succeeded.
  bool initialized() const;
  // The negotiated revision ("" before initialize).
  std::string protocol_version() const;

 private:
  // `raw`: see on_tools_call.
  std::optional<nlohmann::json> dispatch(const nlohmann::json& msg, std::string* raw);
  nlohmann::json on_request(const nlohmann::json& id, const std::string& method,
                            const nlohmann::json& params, std::string* raw);
  nlohmann::json on_initialize(const nlohmann::json& id, const nlohmann::json& params);
  // With `raw` and a text caller, a successful result is stored in *raw as JSON text and the
  // returned response has no "result" member yet (handle_message_text splices it in).
  nlohmann::json on_tools_call(const nlohmann::json& id, const nlohmann::json& params, std::string* raw);
  void on_notification(const std::string& method);
  // A response from the client (to our roots/list).
  void on_client_response(const nlohmann::json& msg);
  // Sends roots/list (outside mu_); the newest request's answer is the one applied.
  void request_roots();
  // Answers held calls through send_ (outside mu_).
  void flush_queued(std::vector<nlohmann::json> queued);
  // A roots/list answer is outstanding and its wait has not timed out. Needs mu_.
  bool waiting_for_roots_locked(std::chrono::steady_clock::time_point now) const;

  ToolCaller caller_;            // one of the two is set
  ToolTextCaller text_caller_;
  std::string server_name_;
  std::string version_;

  mutable std::mutex mu_;
  bool initialized_ = false;          // initialize answered successfully
  bool client_initialized_ = false;   // notifications/initialized received
  std::string protocol_version_;

  // Roots (all guarded by mu_ but the callbacks, set once by enable_roots).
  std::optional<McpRootsSupport> roots_support_;
  McpOutbound send_;
  bool queue_calls_ = false;
  bool client_roots_ = false;                  // the client declared the roots capability
  std::optional<std::vector<std::string>> roots_;  // effective roots once an answer was applied
  std::string pending_roots_id_;               // id of the outstanding roots/list ("" = none)
  std::chrono::steady_clock::time_point wait_until_;  // held/blocked calls stop waiting then
  std::uint64_t next_request_id_ = 1;
  std::vector<nlohmann::json> queued_;         // queue_calls_: tool calls held for the answer
  std::condition_variable roots_cv_;           // !queue_calls_: blocked calls wait here
};

// Reads newline-delimited JSON-RPC from `in`, writes each response as one line to `out` and
// flushes it (the client waits for it). Returns 0 at end of input, 1 when `out` fails (the client
// went away).
int run_stdio(McpSession& session, std::istream& in, std::ostream& out);
// The same over file descriptors (the `mcp` command: 0 and 1), with the same lines and replies.
// Between requests it polls `in_fd` for up to `spin_ns` before blocking in read(): an MCP client
// that sends its next request as soon as it has read a reply then finds this process still on a
// CPU, instead of paying a wake-up per call. While requests arrive steadily
// (each within 20 x spin_ns of the previous answer) it polls for twice the last gap instead, as
// an adaptive worker does. 0 = block at once.
// If `out_fd` is a pipe, it is first grown towards kStdioPipeBytes (as far as the system's
// pipe-max-size and the user's quota allow): a default 64 KiB pipe turns a 2 MiB reply (1 MiB of
// text, escaped twice) into ~33 rounds of "writer blocks, reader wakes, reader drains".
// With `roots`, the session asks a client that declared the roots capability for its roots on the
// same stream (see McpSession::enable_roots; tool calls wait for the answer in order).
int run_stdio_fd(McpSession& session, int in_fd, int out_fd, std::uint64_t spin_ns,
                 std::optional<McpRootsSupport> roots = std::nullopt);
inline constexpr int kStdioPipeBytes = 1 << 20;
// Grows a pipe towards kStdioPipeBytes, as run_stdio_fd does with its output; anything else is
// left alone. Which thread: any.
void grow_output_pipe(int fd) noexcept;

// ---------------------------------------------------------------------------------------------
// Streamable HTTP (MCP 2025-11-25, "Streamable HTTP" transport) with JSON responses only: every
// request POST is answered with one application/json body. GET is 405, except for a session with
// roots (its client declared the capability and McpHttpOptions::roots is set): there GET is a long
// poll carrying the server's roots/list requests as SSE events, ended after each batch (or
// get_park) with a short `retry`, so the client reconnects; the client POSTs its answers.

// Header names compare case-insensitively (HTTP field names are case-insensitive); httplib's
// Headers has the same shape, so `HttpHeaders(req.headers.begin(), req.headers.end())` converts.
struct HeaderNameLess {
  bool operator()(const std::string& a, const std::string& b) const noexcept;
};
using HttpHeaders = std::multimap<std::string, std::string, HeaderNameLess>;

struct McpHttpOptions {
  // Sessions beyond this evict the least recently used one (its client gets 404 and must
  // re-initialize, as the specification allows), so clients that never DELETE can't grow memory.
  std::size_t max_sessions = 1024;
  // Sessions unused for this long are dropped.
  std::chrono::seconds idle_timeout{3600};
  // Origins allowed besides loopback ones (exact "scheme://host[:port]" strings). The
  // specification requires validating Origin against DNS rebinding; requests without an Origin
  // header (non-browser clients) are always accepted.
  std::vector<std::string> allowed_origins;
  // Roots (see McpRootsSupport). A session whose client declared the roots capability gets its
  // roots/list requests on the GET stream; without this, or for clients without the capability,
  // GET stays 405 as before.
  std::optional<McpRootsSupport> roots;
  // How long a GET waits for a server message before ending its (then empty) SSE response; the
  // client reconnects after the `retry` the response names (kSseRetryMs), so GET is a long poll.
  std::chrono::milliseconds get_park{5'000};
};

class McpHttp {
 public:
  McpHttp(ToolCaller caller, std::string server_name, std::string version,
          McpHttpOptions opts = {});
  // serverInfo {name: kMcpServerName, version: kVersion}.
  explicit McpHttp(ToolCaller caller);
  // Sessions with a text caller (see McpSession): what the executor's /mcp uses.
  McpHttp(ToolTextCaller caller, std::string server_name, std::string version,
          McpHttpOptions opts = {});
  explicit McpHttp(ToolTextCaller caller);
  ~McpHttp();

  McpHttp(const McpHttp&) = delete;
  McpHttp& operator=(const McpHttp&) = delete;

  HttpReply post(const HttpHeaders& headers, const std::string& body);
  HttpReply get(const HttpHeaders& headers);
  HttpReply del(const HttpHeaders& headers);

  // The HttpFrontend's McpHttpHandler shape: dispatches on method (POST, GET, DELETE; others
  // 405). Header names may come in any case.
  HttpReply handle(const std::string& method, const std::map<std::string, std::string>& headers,
                   const std::string& body);

  std::size_t session_count() const;

  // Ends parked GETs at once and makes new ones answer at once (before the HTTP server stops, so
  // it need not wait out a long poll). Which thread: any.
  void close();

  // The reconnection delay each GET response asks for ("retry:" field of the SSE stream).
  static constexpr int kSseRetryMs = 50;

  static constexpr std::string_view kSessionHeader = "Mcp-Session-Id";
  static constexpr std::string_view kProtocolHeader = "MCP-Protocol-Version";

 private:
  struct Entry;
  std::shared_ptr<Entry> find_session(const std::string& id);
  void add_session(const std::string& id, std::shared_ptr<Entry> e);
  bool origin_allowed(const HttpHeaders& headers) const;

  ToolCaller caller_;  // one of the two is set
  ToolTextCaller text_caller_;
  std::string server_name_;
  std::string version_;
  McpHttpOptions opts_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> sessions_;
  bool closed_ = false;  // guarded by mu_
};

}  // namespace shmcp::executor
