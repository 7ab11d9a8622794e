#include "executor/mcp.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <deque>
#include <istream>
#include <ostream>

#include <spdlog/spdlog.h>

#include "channel/base/log.hpp"
#include "channel/ring.hpp"
#include "channel/server_endpoint.hpp"
#include "executor/executor.hpp"
#include "executor/http_guard.hpp"
#include "executor/tools/tools.hpp"
#include "orchestrator/bounded_json.hpp"
#include "orchestrator/client.hpp"
#include "orchestrator/convert.hpp"
#include "sandbox/workspace.hpp"

namespace shmcp::executor {

using nlohmann::json;

namespace mcp {

bool protocol_version_supported(std::string_view v) noexcept {
  return std::find(std::begin(kSupportedProtocolVersions), std::end(kSupportedProtocolVersions),
                   v) != std::end(kSupportedProtocolVersions);
}

std::string_view negotiate_protocol_version(std::string_view requested) noexcept {
  return protocol_version_supported(requested) ? requested : kLatestProtocolVersion;
}

std::string dump(const json& j) {
  try {
    return to_json_text(j, json::error_handler_t::replace);
  } catch (const std::exception&) {
    // Only allocation failure is left once invalid UTF-8 is replaced.
    return R"({"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}})";
  }
}

}  // namespace mcp

namespace {

spdlog::logger& log() {
  static const auto l = component_logger("mcp");
  return *l;
}

// A roots/list answer lists a handful of roots; past this many the rest are ignored (with a
// warning), so a hostile answer cannot make the session open thousands of directories per call.
constexpr std::size_t kMaxRoots = 64;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

json response(const json& id, json result) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json error_response(const json& id, int code, std::string message) {
  return json{{"jsonrpc", "2.0"},
              {"id", id},
              {"error", json{{"code", code}, {"message", std::move(message)}}}};
}

json tool_error_result(std::string message) {
  return json{{"content", json::array({json{{"type", "text"}, {"text", std::move(message)}}})},
              {"isError", true}};
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// JSON-RPC ids in MCP: a string or an integer, never null.
bool valid_id(const json& id) { return id.is_string() || id.is_number_integer(); }

enum class ParseOutcome { ok, blank, parse_error, too_deep, too_large };

// Every message goes through the shared bounded parser: the session, schema checks and dump
// recurse over the parsed value.
ParseOutcome parse_line(std::string_view line, json& out) {
  if (blank(line)) return ParseOutcome::blank;
  switch (parse_json_bounded(line, out)) {
    case JsonFault::none: return ParseOutcome::ok;
    case JsonFault::too_deep: return ParseOutcome::too_deep;
    case JsonFault::too_large: return ParseOutcome::too_large;
    case JsonFault::malformed: break;
  }
  return ParseOutcome::parse_error;
}

}  // namespace

ToolCaller make_tool_caller(std::shared_ptr<shmcp::Client> client) {
  return [client = std::move(client)](std::string_view tool, const json& args) -> Result<json> {
    if (!client) return make_error(Errc::closed, "no executor channel");
    auto r = client->call(tool, args);
    if (!r) return std::move(r).error();
    return std::move(r->json);
  };
}

ToolTextCaller make_tool_text_caller(std::shared_ptr<shmcp::Client> client) {
  return [client = std::move(client)](std::string_view tool, const json& args) -> Result<std::string> {
    if (!client) return make_error(Errc::closed, "no executor channel");
    return client->call_json_text(tool, args, /*state_is_error=*/false, json::error_handler_t::replace);
  };
}

Result<std::string> resolve_root_uri(const std::string& workspace, std::string_view uri) {
  constexpr std::string_view kScheme = "file://";
  if (uri.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), uri.begin(),
                  [](char a, char b) { return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b); }))
    return make_error(Errc::invalid_argument, "not a file:// URI");
  std::string_view rest = uri.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return make_error(Errc::invalid_argument, "no path in the URI");
  std::string host(rest.substr(0, slash));
  for (char& c : host) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (!host.empty() && host != "localhost") return make_error(Errc::invalid_argument, "a file URI of another host");
  rest = rest.substr(slash);
  if (rest.find_first_of("?#") != std::string_view::npos)
    return make_error(Errc::invalid_argument, "a query or fragment in the URI");
  std::string path;
  path.reserve(rest.size());
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] != '%') {
      path += rest[i];
      continue;
    }
    const int hi = i + 2 < rest.size() ? hex_value(rest[i + 1]) : -1;
    const int lo = i + 2 < rest.size() ? hex_value(rest[i + 2]) : -1;
    if (hi < 0 || lo < 0) return make_error(Errc::invalid_argument, "a malformed percent-escape in the URI");
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return make_error(Errc::invalid_argument, "a NUL byte in the URI's path");
    path += c;
    i += 2;
  }
  auto ws = sandbox::Workspace::open(workspace);
  if (!ws) return std::move(ws).error();
  // Lexically inside the workspace first (the same gate a tool path passes, with its message)...
  auto name = ws->name(path);
  if (!name) return std::move(name).error();
  // ... then opened beneath it by the kernel: a symlink on the way that leads out is refused
  // (RESOLVE_BENEATH), and what is opened must be a directory.
  auto fd = ws->open(*name, O_PATH | O_DIRECTORY);
  if (!fd) return std::move(fd).error();
  // Its canonical name, as the kernel reached it: what the session keeps and the worker reopens.
  char buf[PATH_MAX];
  const std::string link = "/proc/self/fd/" + std::to_string(fd->get());
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) {
    const int err = errno;
    log().warn("readlink {}: {}", link, errno_name(err));
    return sys_error(Errc::io, "readlink of the root's handle", err);
  }
  const std::string canonical(buf, static_cast<std::size_t>(n));
  const std::string& root = ws->root();
  if (canonical == root) return std::string(".");
  const std::string prefix = root == "/" ? root : root + "/";
  if (canonical.compare(0, prefix.size(), prefix) != 0)  // moved out meanwhile
    return make_error(Errc::access_denied, "Access denied - path outside allowed directories: " + canonical + " not in " + root);
  return canonical.substr(prefix.size());
}

McpRootsSupport make_roots_support(std::shared_ptr<shmcp::Client> client, std::string workspace) {
  McpRootsSupport s;
  s.resolve = [workspace = std::move(workspace)](const json& roots) {
    std::vector<std::string> out;
    if (!roots.is_array()) return out;
    std::size_t seen = 0;
    for (const auto& r : roots) {
      if (++seen > kMaxRoots) {
        log().warn("roots/list: more than {} roots; ignoring the rest", kMaxRoots);
        break;
      }
      const auto uri = r.is_object() ? r.find("uri") : r.end();
      if (!r.is_object() || uri == r.end() || !uri->is_string()) {
        log().warn("roots/list: ignoring a root without a uri string");
        continue;
      }
      const std::string& u = uri->get_ref<const std::string&>();
      auto rel = resolve_root_uri(workspace, u);
      if (!rel) {
        log().warn("roots/list: ignoring root {}: {}", mcp::dump(u), rel.error().describe());
        continue;
      }
      if (std::find(out.begin(), out.end(), *rel) == out.end()) out.push_back(std::move(rel).value());
    }
    return out;
  };
  s.call = [client = std::move(client)](std::string_view tool, const json& args,
                                       const std::vector<std::string>& roots) -> Result<std::string> {
    if (!client) return make_error(Errc::closed, "no executor channel");
    CallOptions o;
    o.roots = roots;
    return client->call_json_text(tool, args, /*state_is_error=*/false, json::error_handler_t::replace, o);
  };
  return s;
}

// ---------------------------------------------------------------------------------------------
// McpSession

McpSession::McpSession(ToolCaller caller, std::string server_name, std::string version)
    : caller_(std::move(caller)), server_name_(std::move(server_name)), version_(std::move(version)) {}

McpSession::McpSession(ToolCaller caller)
    : McpSession(std::move(caller), std::string(kMcpServerName), kVersion) {}

McpSession::McpSession(ToolTextCaller caller, std::string server_name, std::string version)
    : text_caller_(std::move(caller)), server_name_(std::move(server_name)), version_(std::move(version)) {}

McpSession::McpSession(ToolTextCaller caller)
    : McpSession(std::move(caller), std::string(kMcpServerName), kVersion) {}

bool McpSession::initialized() const {
  std::lock_guard lock(mu_);
  return initialized_;
}

std::string McpSession::protocol_version() const {
  std::lock_guard lock(mu_);
  return protocol_version_;
}

void McpSession::enable_roots(McpRootsSupport support, McpOutbound send, bool queue_calls) {
  std::lock_guard lock(mu_);
  roots_support_ = std::move(support);
  send_ = std::move(send);
  queue_calls_ = queue_calls;
}

bool McpSession::roots_requested() const {
  std::lock_guard lock(mu_);
  return roots_support_.has_value() && client_roots_;
}

std::optional<std::vector<std::string>> McpSession::effective_roots() const {
  std::lock_guard lock(mu_);
  return roots_;
}

bool McpSession::waiting_for_roots_locked(std::chrono::steady_clock::time_point now) const {
  return !pending_roots_id_.empty() && now < wait_until_;
}

std::optional<std::chrono::steady_clock::time_point> McpSession::next_wait_deadline() const {
  std::lock_guard lock(mu_);
  if (queued_.empty()) return std::nullopt;
  return wait_until_;
}

void McpSession::expire_wait() {
  std::vector<json> queued;
  {
    std::lock_guard lock(mu_);
    if (queued_.empty() || std::chrono::steady_clock::now() < wait_until_) return;
    log().warn("no roots/list answer within {} ms: running {} held call(s) on the previous roots",
               roots_support_ ? roots_support_->answer_timeout.count() : 0, queued_.size());
    queued.swap(queued_);
  }
  flush_queued(std::move(queued));
}

void McpSession::request_roots() {
  std::string id;
  {
    std::lock_guard lock(mu_);
    if (!roots_support_ || !client_roots_) return;
    // Our own id space (the client's ids number its requests, not ours); only the newest
    // request's answer is applied.
    id = "shmcp-roots-" + std::to_string(next_request_id_++);
    pending_roots_id_ = id;
    wait_until_ = std::chrono::steady_clock::now() + roots_support_->answer_timeout;
  }
  const json req{{"jsonrpc", "2.0"}, {"id", id}, {"method", "roots/list"}};
  if (!send_ || !send_(mcp::dump(req))) {
    log().warn("cannot send roots/list to the client; keeping the previous roots");
    std::vector<json> queued;
    {
      std::lock_guard lock(mu_);
      if (pending_roots_id_ == id) {
        pending_roots_id_.clear();
        queued.swap(queued_);
      }
    }
    roots_cv_.notify_all();
    flush_queued(std::move(queued));
  }
}

void McpSession::on_client_response(const json& msg) {
  const auto id_it = msg.find("id");
  if (id_it == msg.end() || !id_it->is_string()) return;
  const std::string& id = id_it->get_ref<const std::string&>();
  McpRootsSupport* support = nullptr;
  {
    std::lock_guard lock(mu_);
    if (pending_roots_id_.empty() || id != pending_roots_id_) {
      // An answer to a request a newer roots/list superseded, or to nothing we asked.
      log().debug("ignoring a response to {}", mcp::dump(*id_it));
      return;
    }
    support = roots_support_ ? &*roots_support_ : nullptr;
  }
  std::optional<std::vector<std::string>> applied;
  const auto result = msg.find("result");
  if (support && result != msg.end() && result->is_object() && result->contains("roots") &&
      (*result)["roots"].is_array()) {
    applied = support->resolve((*result)["roots"]);
  } else {
    // An error (e.g. the client has no roots handler after all) or a malformed answer: the client
    // named no roots, so nothing changes.
    log().warn("roots/list failed ({}); keeping the previous roots",
               msg.contains("error") ? mcp::dump(msg["error"]) : std::string("malformed result"));
  }
  std::vector<json> queued;
  {
    std::lock_guard lock(mu_);
    if (id != pending_roots_id_) return;  // superseded while resolving: the newer answer decides
    pending_roots_id_.clear();
    if (applied) {
      if (applied->empty())
        log().warn("none of the client's roots lies inside the workspace: this session may access nothing");
      else
        log().info("session roots (workspace-relative): {}", mcp::dump(*applied));
      roots_ = std::move(applied);
    }
    queued.swap(queued_);
  }
  roots_cv_.notify_all();
  flush_queued(std::move(queued));
}

void McpSession::flush_queued(std::vector<json> queued) {
  for (const auto& msg : queued) {
    auto out = handle_message_text(msg);
    if (out && send_) (void)send_(std::move(out->text));
  }
}

std::optional<std::string> McpSession::handle(std::string_view line) {
  json msg;
  switch (parse_line(line, msg)) {
    case ParseOutcome::blank:
      // Blank lines carry no message; answering them would put noise on stdout.
      return std::nullopt;
    case ParseOutcome::parse_error:
      return mcp::dump(error_response(nullptr, mcp::kParseError, "Parse error"));
    case ParseOutcome::too_deep:
      return mcp::dump(error_response(nullptr, mcp::kInvalidRequest,
                                      "Invalid request: JSON nested too deeply"));
    case ParseOutcome::too_large:
      return mcp::dump(error_response(nullptr, mcp::kInvalidRequest,
                                      "Invalid request: message too large"));
    case ParseOutcome::ok:
      break;
  }
  auto out = handle_message_text(msg);
  if (!out) return std::nullopt;
  return std::move(out->text);
}

std::optional<json> McpSession::handle_message(const json& msg) {
  std::string raw;
  auto out = dispatch(msg, text_caller_ ? &raw : nullptr);
  if (out && text_caller_ && !out->contains("result") && !out->contains("error")) {
    // A text caller's result: this DOM interface parses it (the transports use the text).
    json result = json::parse(raw, nullptr, false);
    if (result.is_discarded()) return error_response((*out)["id"], mcp::kInternalError, "Internal error: malformed tool result");
    (*out)["result"] = std::move(result);
  }
  return out;
}

std::optional<McpSession::TextReply> McpSession::handle_message_text(const json& msg) {
  std::string raw;
  auto out = dispatch(msg, text_caller_ ? &raw : nullptr);
  if (!out) return std::nullopt;
  TextReply r;
  if (text_caller_ && !out->contains("result") && !out->contains("error")) {
    // The members in the order mcp::dump() writes them (sorted: id, jsonrpc, result), so the
    // text is byte for byte what the DOM path makes.
    r.text.reserve(raw.size() + 48);
    r.text += "{\"id\":";
    r.text += mcp::dump((*out)["id"]);
    r.text += ",\"jsonrpc\":\"2.0\",\"result\":";
    r.text += raw;
    r.text += '}';
    r.has_result = true;
    return r;
  }
  r.text = mcp::dump(*out);
  r.has_result = out->contains("result");
  r.error_without_id = out->contains("error") && (*out)["id"].is_null();
  return r;
}

std::optional<json> McpSession::dispatch(const json& msg, std::string* raw) {
  try {
    if (msg.is_array()) {
      // JSON-RPC batching was removed from MCP in revision 2025-06-18.
      return error_response(nullptr, mcp::kInvalidRequest,
                            "Invalid request: batches (JSON arrays) are not supported");
    }
    if (!msg.is_object()) {
      return error_response(nullptr, mcp::kInvalidRequest,
                            "Invalid request: a message must be a JSON object");
    }
    const auto id_it = msg.find("id");
    const bool has_id = id_it != msg.end();
    const json id = has_id && valid_id(*id_it) ? *id_it : json(nullptr);
    const auto method_it = msg.find("method");

    const auto jsonrpc = msg.find("jsonrpc");
    if (jsonrpc == msg.end() || *jsonrpc != "2.0") {
      return error_response(id, mcp::kInvalidRequest, "Invalid request: jsonrpc must be \"2.0\"");
    }
    if (method_it == msg.end()) {
      // A response from the client: to our roots/list, or to nothing (ignored). Responses are
      // never answered.
      if (has_id && (msg.contains("result") || msg.contains("error"))) {
        on_client_response(msg);
        return std::nullopt;
      }
      return error_response(id, mcp::kInvalidRequest, "Invalid request: missing method");
    }
    if (!method_it->is_string()) {
      return error_response(id, mcp::kInvalidRequest, "Invalid request: method must be a string");
    }
    const auto params_it = msg.find("params");
    if (params_it != msg.end() && !params_it->is_object()) {
      // MCP params are always objects; positional (array) params don't exist in the protocol.
      if (!has_id) return std::nullopt;
      return error_response(id, mcp::kInvalidRequest, "Invalid request: params must be an object");
    }
    const std::string& method = method_it->get_ref<const std::string&>();
    if (!has_id) {
      on_notification(method);
      return std::nullopt;
    }
    if (!valid_id(*id_it)) {
      return error_response(nullptr, mcp::kInvalidRequest,
                            "Invalid request: id must be a string or an integer");
    }
    if (queue_calls_ && method == "tools/call") {
      // Held until the roots/list answer is in (and after earlier held calls, in order).
      std::lock_guard lock(mu_);
      if (waiting_for_roots_locked(std::chrono::steady_clock::now()) || !queued_.empty()) {
        queued_.push_back(msg);
        return std::nullopt;
      }
    }
    static const json kEmpty = json::object();
    return on_request(id, method, params_it != msg.end() ? *params_it : kEmpty, raw);
  } catch (const std::exception& e) {
    // Defensive: nlohmann accessors are guarded above, but no exception may leave the session.
    return error_response(nullptr, mcp::kInternalError, std::string("Internal error: ") + e.what());
  }
}

void McpSession::on_notification(const std::string& method) {
  if (method == "notifications/initialized") {
    {
      std::lock_guard lock(mu_);
      if (client_initialized_) return;
      client_initialized_ = true;
    }
    request_roots();
    return;
  }
  if (method == "notifications/roots/list_changed") {
    {
      std::lock_guard lock(mu_);
      if (!initialized_) return;
    }
    request_roots();
    return;
  }
  // notifications/cancelled: a tool call in flight can't be interrupted from here (the worker's
  // deadline bounds it), and the specification lets the receiver ignore it. Unknown
  // notifications are ignored, as JSON-RPC requires that notifications are never answered.
}

json McpSession::on_request(const json& id, const std::string& method, const json& params, std::string* raw) {
  if (method == "initialize") return on_initialize(id, params);
  if (method == "ping") {
    // Allowed before initialization: the specification lets either side ping at any time.
    return response(id, json::object());
  }
  {
    std::lock_guard lock(mu_);
    if (!initialized_) {
      // The lifecycle requires initialize first; clients "SHOULD NOT send requests other than
      // pings before the server has responded to the initialize request".
      return error_response(id, mcp::kInvalidRequest,
                            "Invalid request: server not initialized (send initialize first)");
    }
  }
  if (method == "tools/list") {
    const json& list = Tools::list();
    // Tools::list() is the array of tool entries; accept a {tools: [...]} object as well.
    if (list.is_object() && list.contains("tools")) return response(id, list);
    return response(id, json{{"tools", list}});
  }
  if (method == "tools/call") return on_tools_call(id, params, raw);
  return error_response(id, mcp::kMethodNotFound, "Method not found: " + method);
}

json McpSession::on_initialize(const json& id, const json& params) {
  const auto pv = params.find("protocolVersion");
  if (pv == params.end() || !pv->is_string()) {
    return error_response(id, mcp::kInvalidParams,
                          "Invalid params: initialize requires protocolVersion (a string)");
  }
  const std::string negotiated(mcp::negotiate_protocol_version(pv->get_ref<const std::string&>()));
  {
    std::lock_guard lock(mu_);
    if (initialized_) {
      // One initialize per session: renegotiating mid-session would change the revision under
      // requests already in flight. HTTP clients start a new session instead.
      return error_response(id, mcp::kInvalidRequest, "Invalid request: already initialized");
    }
    initialized_ = true;
    protocol_version_ = negotiated;
    const auto caps = params.find("capabilities");
    client_roots_ = caps != params.end() && caps->is_object() && caps->contains("roots") &&
                    (*caps)["roots"].is_object();
  }
  return response(id, json{{"protocolVersion", negotiated},
                           {"capabilities", json{{"tools", json{{"listChanged", true}}}}},
                           {"serverInfo", json{{"name", server_name_}, {"version", version_}}}});
}

json McpSession::on_tools_call(const json& id, const json& params, std::string* raw) {
  const auto name = params.find("name");
  if (name == params.end() || !name->is_string()) {
    return error_response(id, mcp::kInvalidParams,
                          "Invalid params: tools/call requires name (a string)");
  }
  const std::string& tool = name->get_ref<const std::string&>();
  if (!Tools::known(tool)) {
    return error_response(id, mcp::kInvalidParams, "Unknown tool: " + tool);
  }
  static const json kNoArgs = json::object();
  const auto args = params.find("arguments");
  if (args != params.end() && !args->is_object() && !args->is_null()) {
    return error_response(id, mcp::kInvalidParams,
                          "Invalid params: arguments of " + tool + " must be an object");
  }
  const json& arguments = args != params.end() && args->is_object() ? *args : kNoArgs;
  std::optional<std::vector<std::string>> roots;
  if (roots_support_) {
    std::unique_lock lock(mu_);
    if (!queue_calls_) {
      // The roots/list answer comes in on another thread (HTTP); the call runs on what it says.
      roots_cv_.wait_until(lock, wait_until_,
                           [&] { return !waiting_for_roots_locked(std::chrono::steady_clock::now()); });
    }
    roots = roots_;
  }
  if (roots || text_caller_) {
    auto r = roots ? roots_support_->call(tool, arguments, *roots) : text_caller_(tool, arguments);
    if (!r) return response(id, tool_error_result(tool + ": " + r.error().describe()));
    if (raw) {
      *raw = std::move(r).value();
      return json{{"jsonrpc", "2.0"}, {"id", id}};  // "result" is *raw (see handle_message_text)
    }
    json result = json::parse(*r, nullptr, false);
    if (result.is_discarded()) return error_response(id, mcp::kInternalError, "Internal error: malformed tool result");
    return response(id, std::move(result));
  }
  if (!caller_) return response(id, tool_error_result(tool + ": no tool executor configured"));
  auto r = caller_(tool, arguments);
  if (!r) return response(id, tool_error_result(tool + ": " + r.error().describe()));
  return response(id, std::move(r).value());
}

// ---------------------------------------------------------------------------------------------
// stdio

int run_stdio(McpSession& session, std::istream& in, std::ostream& out) {
  std::string line;
  while (std::getline(in, line)) {
    auto reply = session.handle(line);
    if (!reply) continue;
    out << *reply << '\n';
    out.flush();
    if (!out) return 1;
  }
  return 0;
}

void grow_output_pipe(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) return;
  // Best effort: an unprivileged user over its pipe quota (pipe-user-pages-soft) gets EPERM and
  // keeps the default size, which only costs more wake-ups.
  for (int bytes = kStdioPipeBytes; bytes > 64 * 1024; bytes /= 2)
    if (::fcntl(fd, F_SETPIPE_SZ, bytes) >= 0) return;
}

int run_stdio_fd(McpSession& session, int in_fd, int out_fd, std::uint64_t spin_ns,
                 std::optional<McpRootsSupport> roots) {
  grow_output_pipe(out_fd);
  // Writes one reply line; false once the output is gone.
  auto send = [&](std::string reply) {
    reply.push_back('\n');
    std::string_view rest(reply);
    while (!rest.empty()) {
      const ssize_t w = ::write(out_fd, rest.data(), rest.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      rest.remove_prefix(static_cast<std::size_t>(w));
    }
    return true;
  };
  // Server-initiated requests (roots/list) and held calls' answers go out on the same stream,
  // written by this thread only, so lines never interleave.
  bool out_failed = false;
  if (roots) {
    session.enable_roots(std::move(*roots), [&](std::string msg) {
      if (!send(std::move(msg))) out_failed = true;
      return !out_failed;
    }, /*queue_calls=*/true);
  }
  auto answer = [&](std::string_view line) {
    if (out_failed) return false;
    auto reply = session.handle(line);
    return !reply || send(std::move(*reply));
  };
  std::string buf;
  // A line longer than the parser accepts is answered (too large) as soon as that is known and
  // its remaining bytes are dropped up to its newline, so no line grows the buffer unboundedly.
  bool discarding = false;
  std::size_t searched = 0;  // leading bytes of buf known to hold no newline: each byte is scanned once
  std::array<char, 64 * 1024> chunk{};
  std::uint64_t budget = spin_ns;  // how long to poll stdin when idle (see below)
  for (;;) {
    std::size_t start = 0;
    for (std::size_t nl; (nl = buf.find('\n', std::max(start, searched))) != std::string::npos; start = nl + 1) {
      if (discarding) {
        discarding = false;
        continue;
      }
      if (!answer(std::string_view(buf).substr(start, nl - start))) return 1;
    }
    buf.erase(0, start);
    searched = buf.size();
    if (buf.size() > kDefaultMaxJsonBytes) {
      if (!discarding && !send(mcp::dump(error_response(nullptr, mcp::kInvalidRequest,
                                                         "Invalid request: message too large")))) {
        return 1;
      }
      discarding = true;
      buf.clear();
      searched = 0;
    }
    // Between requests (nothing buffered) the poll budget follows the arrival gap, as an adaptive
    // worker's does (ServerEndpoint::spin_budget): a client sending requests steadily, each
    // within the cap of the previous answer, finds this process still polling.
    std::uint64_t idle_since = 0;
    if (spin_ns != 0) {
      const std::uint64_t now = channel::monotonic_ns();
      if (buf.empty()) idle_since = now;
      const std::uint64_t until = now + (buf.empty() ? budget : spin_ns);
      pollfd p{in_fd, POLLIN, 0};
      while (::poll(&p, 1, 0) == 0 && channel::monotonic_ns() < until) {
      }
    }
    if (auto until = session.next_wait_deadline()) {
      // Calls are held for a roots/list answer: read on, but answer them on the previous roots
      // once their wait is over even if the client sends nothing more.
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*until - std::chrono::steady_clock::now());
      pollfd p{in_fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60'000))) == 0) {
        session.expire_wait();
        if (out_failed) return 1;
        continue;
      }
    }
    const ssize_t n = ::read(in_fd, chunk.data(), chunk.size());
    if (idle_since != 0 && n > 0) {
      const std::uint64_t gap = channel::monotonic_ns() - idle_since;
      const std::uint64_t cap = channel::ServerEndpoint::kSteadySpinFactor * spin_ns;
      budget = gap <= cap ? std::clamp(2 * gap, spin_ns, cap) : spin_ns;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {  // a parent left stdin non-blocking
      pollfd p{in_fd, POLLIN, 0};
      (void)::poll(&p, 1, -1);
      continue;
    }
    if (n <= 0) {  // end of input (or a read error, which ends it the same way)
      if (!buf.empty() && !discarding && !answer(buf)) return 1;
      return 0;
    }
    buf.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

// ---------------------------------------------------------------------------------------------
// Streamable HTTP

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = lower(c);
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// All values of a header joined by commas (repeated fields are equivalent to one comma list).
std::optional<std::string> header(const HttpHeaders& h, std::string_view name) {
  auto [lo, hi] = h.equal_range(std::string(name));
  if (lo == hi) return std::nullopt;
  std::string v;
  for (auto it = lo; it != hi; ++it) {
    if (!v.empty()) v += ',';
    v += it->second;
  }
  return v;
}

// Media ranges of an Accept header with q > 0, lowercased, parameters removed.
std::vector<std::string> accepted_types(std::string_view accept) {
  std::vector<std::string> out;
  while (!accept.empty()) {
    auto comma = accept.find(',');
    std::string_view item = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
    auto semi = item.find(';');
    std::string_view type = trim(item.substr(0, semi));
    bool refused = false;
    while (semi != std::string_view::npos) {
      item = item.substr(semi + 1);
      semi = item.find(';');
      std::string param = lower(trim(item.substr(0, semi)));
      param.erase(std::remove(param.begin(), param.end(), ' '), param.end());
      if (param.rfind("q=", 0) == 0) {
        std::string_view q = std::string_view(param).substr(2);
        // q=0, q=0.0, q=0.000: "not acceptable".
        refused = !q.empty() && q.find_first_not_of("0.") == std::string_view::npos;
      }
    }
    if (!type.empty() && !refused) out.push_back(lower(type));
  }
  return out;
}

// The transport requires clients to *list* both application/json and text/event-stream; like the
// TypeScript SDK's server, wildcards (*/*) don't count, so a client that would choke on an SSE
// answer from another server is told so here rather than there.
bool accepts(const std::vector<std::string>& types, std::string_view wanted) {
  return std::find(types.begin(), types.end(), wanted) != types.end();
}

HttpReply json_reply(int status, const json& body, std::map<std::string, std::string> h = {}) {
  return HttpReply{status, "application/json", mcp::dump(body), std::move(h)};
}

HttpReply error_reply(int status, int code, std::string message) {
  return json_reply(status, error_response(nullptr, code, std::move(message)));
}

// 128 bits from the kernel CSPRNG, hex-encoded: unguessable, and visible ASCII as the
// specification requires of session ids.
std::optional<std::string> new_session_id() {
  std::array<unsigned char, 16> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xF];
  }
  return id;
}

}  // namespace

bool HeaderNameLess::operator()(const std::string& a, const std::string& b) const noexcept {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](char x, char y) { return lower(x) < lower(y); });
}

struct McpHttp::Entry {
  Entry(ToolCaller caller, std::string name, std::string version)
      : session(std::move(caller), std::move(name), std::move(version)) {}
  Entry(ToolTextCaller caller, std::string name, std::string version)
      : session(std::move(caller), std::move(name), std::move(version)) {}
  McpSession session;
  std::chrono::steady_clock::time_point last_used;  // guarded by McpHttp::mu_
  // Server-initiated messages waiting for a GET (roots/list requests; the newest few suffice,
  // a newer roots/list supersedes an older one).
  std::mutex out_mu;
  std::condition_variable out_cv;
  std::deque<std::string> outbox;
  bool closed = false;  // guarded by out_mu: McpHttp::close() or the session was dropped
  static constexpr std::size_t kMaxOutbox = 8;

  bool push(std::string msg) {
    {
      std::lock_guard lock(out_mu);
      if (closed) return false;
      if (outbox.size() >= kMaxOutbox) outbox.pop_front();
      outbox.push_back(std::move(msg));
    }
    out_cv.notify_all();
    return true;
  }
  void close() {
    {
      std::lock_guard lock(out_mu);
      closed = true;
    }
    out_cv.notify_all();
  }
};

McpHttp::McpHttp(ToolCaller caller, std::string server_name, std::string version,
                 McpHttpOptions opts)
    : caller_(std::move(caller)),
      server_name_(std::move(server_name)),
      version_(std::move(version)),
      opts_(std::move(opts)) {}

McpHttp::McpHttp(ToolCaller caller)
    : McpHttp(std::move(caller), std::string(kMcpServerName), kVersion) {}

McpHttp::McpHttp(ToolTextCaller caller, std::string server_name, std::string version, McpHttpOptions opts)
    : text_caller_(std::move(caller)),
      server_name_(std::move(server_name)),
      version_(std::move(version)),
      opts_(std::move(opts)) {}

McpHttp::McpHttp(ToolTextCaller caller)
    : McpHttp(std::move(caller), std::string(kMcpServerName), kVersion) {}

McpHttp::~McpHttp() = default;

HttpReply McpHttp::handle(const std::string& method,
                          const std::map<std::string, std::string>& headers,
                          const std::string& body) {
  const HttpHeaders h(headers.begin(), headers.end());
  HttpReply r;
  if (method == "POST") {
    r = post(h, body);
  } else if (method == "GET") {
    r = get(h);
  } else if (method == "DELETE") {
    r = del(h);
  } else {
    r = HttpReply{405, "text/plain", "Method Not Allowed\n", {{"Allow", "POST, GET, DELETE"}}};
  }
  return r;
}

std::size_t McpHttp::session_count() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::shared_ptr<McpHttp::Entry> McpHttp::find_session(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return nullptr;
  const auto now = std::chrono::steady_clock::now();
  if (now - it->second->last_used > opts_.idle_timeout) {
    it->second->close();
    sessions_.erase(it);
    return nullptr;
  }
  it->second->last_used = now;
  return it->second;
}

void McpHttp::add_session(const std::string& id, std::shared_ptr<Entry> e) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  e->last_used = now;
  std::erase_if(sessions_, [&](const auto& kv) {
    if (now - kv.second->last_used <= opts_.idle_timeout) return false;
    kv.second->close();
    return true;
  });
  if (closed_) e->close();
  while (!sessions_.empty() && sessions_.size() >= std::max<std::size_t>(opts_.max_sessions, 1)) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second->last_used < b.second->last_used;
    });
    oldest->second->close();
    sessions_.erase(oldest);
  }
  sessions_.emplace(id, std::move(e));
}

bool McpHttp::origin_allowed(const HttpHeaders& headers) const {
  auto origin = header(headers, "Origin");
  if (!origin) return true;
  return executor::origin_allowed(*origin, opts_.allowed_origins);
}

HttpReply McpHttp::post(const HttpHeaders& headers, const std::string& body) {
  if (!origin_allowed(headers)) {
    return error_reply(403, mcp::kInvalidRequest, "Forbidden: Origin not allowed");
  }
  {
    const auto types = accepted_types(header(headers, "Accept").value_or(""));
    if (!accepts(types, "application/json") || !accepts(types, "text/event-stream")) {
      return error_reply(406, mcp::kInvalidRequest,
                         "Not Acceptable: Accept must list application/json and text/event-stream");
    }
  }
  {
    if (!is_json_content_type(header(headers, "Content-Type").value_or(""))) {
      return error_reply(415, mcp::kInvalidRequest,
                         "Unsupported Media Type: Content-Type must be application/json");
    }
  }

  json msg;
  switch (parse_line(body, msg)) {
    case ParseOutcome::blank:
    case ParseOutcome::parse_error:
      return error_reply(400, mcp::kParseError, "Parse error");
    case ParseOutcome::too_deep:
      return error_reply(400, mcp::kInvalidRequest, "Invalid request: JSON nested too deeply");
    case ParseOutcome::too_large:
      return error_reply(413, mcp::kInvalidRequest, "Invalid request: message too large");
    case ParseOutcome::ok:
      break;
  }
  if (msg.is_array()) {
    return error_reply(400, mcp::kInvalidRequest,
                       "Invalid request: batches (JSON arrays) are not supported");
  }

  const auto sid = header(headers, kSessionHeader);
  const bool is_initialize = msg.is_object() && msg.contains("id") && msg.contains("method") &&
                             msg["method"] == "initialize";
  if (is_initialize) {
    if (sid) {
      return error_reply(400, mcp::kInvalidRequest,
                         "Bad Request: initialize must not carry an Mcp-Session-Id");
    }
    auto entry = text_caller_ ? std::make_shared<Entry>(text_caller_, server_name_, version_)
                              : std::make_shared<Entry>(caller_, server_name_, version_);
    if (opts_.roots) {
      // Tool calls of this session block (on their own connection's thread) while a roots/list
      // answer is outstanding; the request goes out on the session's GET long poll.
      entry->session.enable_roots(*opts_.roots, [e = entry.get()](std::string m) { return e->push(std::move(m)); },
                                  /*queue_calls=*/false);
    }
    auto out = entry->session.handle_message_text(msg);
    if (!out) return error_reply(500, mcp::kInternalError, "Internal error");
    if (!out->has_result) return HttpReply{200, "application/json", std::move(out->text), {}};  // failed initialize: no session
    auto id = new_session_id();
    if (!id) return error_reply(500, mcp::kInternalError, "Internal error: no randomness for session id");
    add_session(*id, std::move(entry));
    return HttpReply{200, "application/json", std::move(out->text), {{std::string(kSessionHeader), *id}}};
  }

  if (!sid) {
    return error_reply(400, mcp::kInvalidRequest, "Bad Request: missing Mcp-Session-Id header");
  }
  auto entry = find_session(std::string(trim(*sid)));
  if (!entry) return error_reply(404, mcp::kInvalidRequest, "Session not found");

  // The client MUST send the negotiated revision on every request after initialize; an absent
  // header means 2025-03-26 (per the specification), an unknown one is rejected.
  if (auto pv = header(headers, kProtocolHeader)) {
    if (!mcp::protocol_version_supported(trim(*pv))) {
      return error_reply(400, mcp::kInvalidRequest,
                         "Bad Request: unsupported MCP-Protocol-Version: " + std::string(trim(*pv)));
    }
  }

  auto out = entry->session.handle_message_text(msg);
  if (!out) return HttpReply{202, "", "", {}};  // notification or response: accepted, no body
  // Malformed messages without a usable id get 400 with the JSON-RPC error as body; answers to
  // requests (including JSON-RPC errors such as -32601) travel with 200.
  return HttpReply{out->error_without_id ? 400 : 200, "application/json", std::move(out->text), {}};
}

HttpReply McpHttp::get(const HttpHeaders& headers) {
  // The transport lets a server decline the server-to-client SSE stream with 405: what this
  // server does unless the session's client takes roots, the only messages it initiates.
  const HttpReply declined{405, "text/plain", "Method Not Allowed: no SSE stream is offered\n",
                           {{"Allow", "POST, DELETE"}}};
  if (!opts_.roots) return declined;
  if (!origin_allowed(headers)) return error_reply(403, mcp::kInvalidRequest, "Forbidden: Origin not allowed");
  const auto sid = header(headers, kSessionHeader);
  if (!sid) return declined;
  auto entry = find_session(std::string(trim(*sid)));
  if (!entry) return error_reply(404, mcp::kInvalidRequest, "Session not found");
  if (auto pv = header(headers, kProtocolHeader); pv && !mcp::protocol_version_supported(trim(*pv))) {
    return error_reply(400, mcp::kInvalidRequest,
                       "Bad Request: unsupported MCP-Protocol-Version: " + std::string(trim(*pv)));
  }
  if (!entry->session.roots_requested()) return declined;
  if (!accepts(accepted_types(header(headers, "Accept").value_or("")), "text/event-stream")) {
    return error_reply(406, mcp::kInvalidRequest, "Not Acceptable: Accept must list text/event-stream");
  }
  std::string body = "retry: " + std::to_string(kSseRetryMs) + "\n\n";
  {
    std::unique_lock lock(entry->out_mu);
    entry->out_cv.wait_for(lock, opts_.get_park, [&] { return entry->closed || !entry->outbox.empty(); });
    for (auto& m : entry->outbox) {
      // One JSON-RPC message per event; mcp::dump() output has no raw newline.
      body += "event: message\ndata: ";
      body += m;
      body += "\n\n";
    }
    entry->outbox.clear();
  }
  return HttpReply{200, "text/event-stream", std::move(body), {{"Cache-Control", "no-cache"}}};
}

void McpHttp::close() {
  std::vector<std::shared_ptr<Entry>> entries;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& [id, e] : sessions_) entries.push_back(e);
  }
  for (auto& e : entries) e->close();
}

HttpReply McpHttp::del(const HttpHeaders& headers) {
  if (!origin_allowed(headers)) {
    return error_reply(403, mcp::kInvalidRequest, "Forbidden: Origin not allowed");
  }
  const auto sid = header(headers, kSessionHeader);
  if (!sid) return error_reply(400, mcp::kInvalidRequest, "Bad Request: missing Mcp-Session-Id header");
  if (auto pv = header(headers, kProtocolHeader); pv && !mcp::protocol_version_supported(trim(*pv))) {
    return error_reply(400, mcp::kInvalidRequest,
                       "Bad Request: unsupported MCP-Protocol-Version: " + std::string(trim(*pv)));
  }
  std::lock_guard lock(mu_);
  auto it = sessions_.find(std::string(trim(*sid)));
  if (it == sessions_.end()) return error_reply(404, mcp::kInvalidRequest, "Session not found");
  it->second->close();
  sessions_.erase(it);
  return HttpReply{200, "", "", {}};
}

}  // namespace shmcp::executor
