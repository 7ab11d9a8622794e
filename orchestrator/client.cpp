#include "orchestrator/client.hpp"

#include <mutex>
#include <vector>

#include <httplib.h>
#include <simdjson.h>

#include "channel/channel.hpp"
#include "channel/messages.hpp"
#include "orchestrator/bounded_json.hpp"
#include "orchestrator/convert.hpp"
#include "orchestrator/http_conn.hpp"

namespace shmcp {

// Responses are as large as the transport let them be (a 64 MiB file read is longer than that as
// JSON); only their nesting is bounded, since callers walk and dump them recursively.
static constexpr JsonLimits kResponseLimits{kMaxJsonDepth, SIZE_MAX};

std::string ToolResult::text() const {
  std::string out;
  if (!json.contains("content") || !json["content"].is_array()) return out;
  for (const auto& b : json["content"])
    if (b.value("type", "") == "text" && b.contains("text") && b["text"].is_string()) out += b["text"].get<std::string>();
  return out;
}

Result<std::string> Client::read_text_file(std::string_view path, CallOptions o) {
  auto r = call("read_text_file", nlohmann::json{{"path", path}}, o);
  if (!r) return r.error();
  if (r->is_error) return make_error(Errc::tool_error, r->text());
  return r->text();
}

Result<std::string> Client::call_json_text(std::string_view tool, const nlohmann::json& arguments, bool state_is_error,
                                           nlohmann::json::error_handler_t handler, CallOptions o) {
  auto r = call(tool, arguments, o);
  if (!r) return r.error();
  if (state_is_error && !r->json.contains("isError")) r->json["isError"] = false;
  return to_json_text(r->json, handler);
}

Status Client::write_file(std::string_view path, std::string_view content, CallOptions o) {
  auto r = call("write_file", nlohmann::json{{"path", path}, {"content", content}}, o);
  if (!r) return r.error();
  if (r->is_error) return make_error(Errc::tool_error, r->text());
  return {};
}

namespace {

using channel::ClientLane;
using channel::Segment;

std::uint64_t deadline_from(const ClientOptions& c, const CallOptions& o) {
  const auto ms = o.timeout.value_or(c.timeout);
  return channel::monotonic_ns() + static_cast<std::uint64_t>(ms.count()) * 1'000'000ull;
}

// One lane per concurrently calling thread, pooled: a thread takes an idle lane (or claims a new
// one), calls, and gives it back. The pool lock is held only to pop/push a pointer, never during
// a call. After the executor dies every pooled lane is dropped and the next call re-attaches.
class ShmClient final : public Client {
 public:
  ShmClient(ShmAddress addr, ClientOptions o) : name_(std::move(addr.name)), dir_(std::move(addr.dir)), opt_(std::move(o)) {
    policy_.mode = opt_.wait;
    policy_.spin_ns = opt_.spin_ns;
  }

  Status connect_now() {
    std::lock_guard lock(mu_);
    return ensure_segment_locked();
  }

  Result<ToolResult> call(std::string_view tool, const nlohmann::json& arguments, CallOptions o) override {
    if (!arguments.is_object() && !arguments.is_null())
      return make_error(Errc::invalid_argument, "tool arguments must be a JSON object");
    // Byte for byte arguments.dump() (which the worker parses), several times faster on long strings.
    const std::string args = arguments.is_null() ? std::string("{}") : to_json_text(arguments);
    return round_trip(o, [&](flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t dl) {
      if (o.roots) channel::build_json_request(fbb, id, dl, tool, args, *o.roots);
      else channel::build_json_request(fbb, id, dl, tool, args);
    }, [](const wire::Response& r) -> Result<ToolResult> { return response_to_result(r); });
  }

  Result<std::string> call_json_text(std::string_view tool, const nlohmann::json& arguments, bool state_is_error,
                                     nlohmann::json::error_handler_t handler, CallOptions o) override {
    if (!arguments.is_object() && !arguments.is_null())
      return make_error(Errc::invalid_argument, "tool arguments must be a JSON object");
    const std::string args = arguments.is_null() ? std::string("{}") : to_json_text(arguments);
    return round_trip(o, [&](flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t dl) {
      if (o.roots) channel::build_json_request(fbb, id, dl, tool, args, *o.roots);
      else channel::build_json_request(fbb, id, dl, tool, args);
    }, [&](const wire::Response& r) -> Result<std::string> {
      std::string out;
      if (auto s = append_result_json(out, r, state_is_error, handler); !s) return s.error();
      return out;
    });
  }

  Result<std::string> read_text_file(std::string_view path, CallOptions o) override {
    if (o.roots) return Client::read_text_file(path, o);  // the typed request carries no roots
    return round_trip(o, [&](flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t dl) {
      channel::build_read_text_file_request(fbb, id, dl, path, 0, 0);
    }, [](const wire::Response& resp) -> Result<std::string> { return response_text(resp); });
  }

  Status write_file(std::string_view path, std::string_view content, CallOptions o) override {
    if (o.roots) return Client::write_file(path, content, o);  // the typed request carries no roots
    auto r = round_trip(o, [&](flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t dl) {
      channel::build_write_file_request(fbb, id, dl, path, content);
    }, [](const wire::Response& resp) -> Result<std::string> { return response_text(resp); });
    if (!r) return r.error();
    return {};
  }

  Status ping(CallOptions o) override {
    // A budget, not a deadline: the request carries none (see below), and a ping answered within
    // the first polls then reads no clock (see channel::Deadline).
    const auto ms = o.timeout.value_or(opt_.timeout);
    const auto budget = channel::Deadline::within(static_cast<std::uint64_t>(ms.count()) * 1'000'000ull);
    // The request id travels in the slot header, which is what both sides match on, and a ping
    // has no executor-side work to bound: leaving both fields at their defaults keeps the request
    // within one cache line together with its slot header (28 + 32 bytes), and always the same
    // bytes, which the worker recognises without verifying them.
    auto r = round_trip(budget, [](std::uint64_t) { return channel::ping_request_bytes(); },
                        [](const wire::Response& resp) -> Result<bool> {
      if (auto s = status_error(resp); !s) return s.error();
      return true;
    });
    if (!r) return r.error();
    return {};
  }

  Result<nlohmann::json> health(CallOptions o) override { return json_kind(wire::CallKind::Health, o); }
  Result<nlohmann::json> tools(CallOptions o) override { return json_kind(wire::CallKind::ListTools, o); }
  std::string url() const override { return shm_url(name_, dir_); }

 private:
  Result<nlohmann::json> json_kind(wire::CallKind kind, CallOptions o) {
    return round_trip(o, [kind](flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t dl) {
      channel::build_kind_request(fbb, id, dl, kind);
    }, [](const wire::Response& r) -> Result<nlohmann::json> {
      if (auto s = status_error(r); !s) return s.error();
      nlohmann::json j;
      if (parse_json_bounded(r.json() ? r.json()->string_view() : std::string_view("null"), j, kResponseLimits) != JsonFault::none) return make_error(Errc::corrupt, "executor sent malformed JSON");
      return j;
    });
  }

  // build(fbb, id, deadline_ns): the request carries the call's deadline, so the executor can
  // bound the tool's work.
  template <class Build, class Decode>
  auto round_trip(const CallOptions& o, Build&& build, Decode&& decode) -> decltype(decode(std::declval<const wire::Response&>())) {
    const std::uint64_t dl = deadline_from(opt_, o);
    return round_trip(channel::Deadline(dl), [&](std::uint64_t id) {
      thread_local flatbuffers::FlatBufferBuilder fbb(1024);
      build(fbb, id, dl);
      return channel::bytes_of(fbb);
    }, std::forward<Decode>(decode));
  }

  // request(id) returns the request's bytes (valid until the call completes).
  template <class Request, class Decode>
  auto round_trip(channel::Deadline deadline, Request&& request, Decode&& decode)
      -> decltype(decode(std::declval<const wire::Response&>())) {
    auto lane = acquire();
    if (!lane) return lane.error();
    const std::uint64_t id = (*lane)->next_id();
    auto bytes = (*lane)->call(id, request(id), deadline, policy_);
    if (!bytes) {
      const Errc c = bytes.error().code;
      // A call that timed out gives its lane up (not the segment): the next call claims one
      // afresh, which resets it when no worker serves it, so a lane whose rings a truncation or a
      // hostile client left unservable costs one call, not every call on it from then on.
      give_back(std::move(*lane), c == Errc::peer_dead || c == Errc::closed || c == Errc::corrupt ? LaneFate::reconnect
                                  : c == Errc::timeout                                           ? LaneFate::drop
                                                                                                 : LaneFate::reuse);
      return bytes.error();
    }
    auto resp = channel::verify_response(*bytes);
    if (!resp) {
      give_back(std::move(*lane), LaneFate::reconnect);
      return resp.error();
    }
    auto out = decode(**resp);  // decode before the lane (and its buffer) goes back to the pool
    give_back(std::move(*lane), LaneFate::reuse);
    return out;
  }

  Status ensure_segment_locked() {
    if (seg_) return {};
    const auto wait = static_cast<std::uint64_t>(opt_.connect_wait.count()) * 1'000'000ull;
    auto s = Segment::attach(name_, wait, dir_);
    if (!s) return s.error();
    seg_ = std::move(*s);
    return {};
  }

  Result<std::unique_ptr<ClientLane>> acquire() {
    std::lock_guard lock(mu_);
    if (seg_ && static_cast<channel::SegmentState>(seg_->header().state.load(std::memory_order_acquire)) ==
                    channel::SegmentState::closing) {
      // The executor is shutting down; a restarted one will create a new segment.
      idle_.clear();
      seg_.reset();
    }
    if (auto s = ensure_segment_locked(); !s) return s.error();
    while (!idle_.empty()) {
      auto l = std::move(idle_.back());
      idle_.pop_back();
      if (l->segment() == seg_) return l;
    }
    auto l = ClientLane::claim(seg_);
    if (!l) {
      if (l.error().code == Errc::peer_dead) seg_.reset();
      return l.error();
    }
    return std::make_unique<ClientLane>(std::move(*l));
  }

  // reuse: back to the idle pool; drop: released (by its destructor); reconnect: released, and the
  // segment too (the executor died, closed or reset it), so the next call attaches again.
  enum class LaneFate { reuse, drop, reconnect };
  void give_back(std::unique_ptr<ClientLane> lane, LaneFate fate) {
    std::lock_guard lock(mu_);
    if (fate == LaneFate::drop) return;
    if (fate == LaneFate::reconnect) {
      if (lane->segment() == seg_) {
        seg_.reset();
        idle_.clear();
      }
      return;  // the lane (and its lease) is released by its destructor
    }
    if (lane->segment() == seg_) idle_.push_back(std::move(lane));
  }

  std::string name_;
  std::string dir_;
  ClientOptions opt_;
  channel::WaitPolicy policy_;
  std::mutex mu_;
  std::shared_ptr<Segment> seg_;
  std::vector<std::unique_ptr<ClientLane>> idle_;
};

// HTTP: POST /execute with {"tool", "arguments"}; one keep-alive connection per calling thread
// (pooled like the shm lanes), TCP_NODELAY on.
class HttpClient final : public Client {
 public:
  HttpClient(std::string host, int port, ClientOptions o) : host_(std::move(host)), port_(port), opt_(std::move(o)) {}

  Result<ToolResult> call(std::string_view tool, const nlohmann::json& arguments, CallOptions o) override {
    // /execute has no way to carry a narrowing; running the call on the whole workspace instead
    // would widen what the caller asked for.
    if (o.roots) return make_error(Errc::invalid_argument, "roots need an shm:// channel (HTTP /execute cannot carry them)");
    nlohmann::json body{{"tool", tool}, {"arguments", arguments.is_null() ? nlohmann::json::object() : arguments}};
    auto r = post("/execute", body.dump(), o);
    if (!r) return r.error();
    auto& [status, text] = *r;
    nlohmann::json j;
    if (parse_json_bounded(text, j, kResponseLimits) != JsonFault::none) return make_error(Errc::corrupt, "executor sent malformed JSON (HTTP " + std::to_string(status) + ")");
    if (status != 200) return http_error(status, j);
    ToolResult tr;
    tr.is_error = j.value("isError", false);
    // /execute always states isError; a CallToolResult (and the shm transport) omits it on
    // success, like the reference server. Normalise so both transports give identical JSON.
    if (!tr.is_error) j.erase("isError");
    tr.json = std::move(j);
    return tr;
  }

  // The text of the result's text blocks, as call() and ToolResult::text() would give it, without
  // building a DOM of a response that may be megabytes: the response is read into one buffer
  // sized up front and checked whole by simdjson (structure, UTF-8), then only the content's
  // strings are copied out.
  Result<std::string> read_text_file(std::string_view path, CallOptions o) override {
    if (o.roots) return make_error(Errc::invalid_argument, "roots need an shm:// channel (HTTP /execute cannot carry them)");
    std::string body = R"({"tool":"read_text_file","arguments":{"path":)";
    body += to_json_text(nlohmann::json(path));  // strict: a path that is not UTF-8 throws, as call() does
    body += "}}";
    auto r = post_padded("/execute", body, o);
    if (!r) return r.error();
    auto& [status, text] = *r;
    if (status != 200) {
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_discarded()) return make_error(Errc::corrupt, "executor sent malformed JSON (HTTP " + std::to_string(status) + ")");
      return http_error(status, j);
    }
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::object result;
    if (parser.parse(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), false).get(doc) ||
        doc.get_object().get(result))
      return make_error(Errc::corrupt, "executor sent malformed JSON (HTTP 200)");
    bool is_error = false;
    if (auto e = result["isError"]; !e.error() && e.get_bool().get(is_error)) is_error = false;
    std::string out;
    simdjson::dom::array content;
    if (!result["content"].get_array().get(content))
      for (simdjson::dom::element b : content) {
        simdjson::dom::object block;
        std::string_view type, t;
        if (!b.get_object().get(block) && !block["type"].get_string().get(type) && type == "text" &&
            !block["text"].get_string().get(t))
          out.append(t);
      }
    if (is_error) return make_error(Errc::tool_error, std::move(out));
    return out;
  }

  Status ping(CallOptions o) override {
    auto r = post("/execute", R"({"tool":"$ping","arguments":{}})", o);
    if (!r) return r.error();
    nlohmann::json j;
    (void)parse_json_bounded(r->second, j, kResponseLimits);
    if (r->first != 200) return http_error(r->first, j);
    return {};
  }

  Result<nlohmann::json> health(CallOptions o) override { return get_json("/health", o); }
  Result<nlohmann::json> tools(CallOptions o) override { return get_json("/tools", o); }
  std::string url() const override { return "http://" + host_ + ":" + std::to_string(port_); }

 private:
  static Error http_error(int status, const nlohmann::json& j) {
    std::string msg = "HTTP " + std::to_string(status);
    if (j.is_object() && j.contains("error")) msg += ": " + (j["error"].is_string() ? j["error"].get<std::string>() : j["error"].dump());
    Errc c = status == 401 || status == 403 ? Errc::access_denied
             : status == 400               ? Errc::invalid_argument
             : status == 404               ? Errc::not_found
             : status == 504               ? Errc::timeout
             : status == 503               ? Errc::closed
             : status == 413               ? Errc::too_large
                                           : Errc::io;
    return make_error(c, msg);
  }

  std::unique_ptr<httplib::Client> take() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<httplib::Client>(host_, port_);
    c->set_tcp_nodelay(true);
    c->set_keep_alive(true);
    if (!opt_.token.empty()) c->set_bearer_token_auth(opt_.token.c_str());
    return c;
  }

  void put(std::unique_ptr<httplib::Client> c) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
  }

  void set_timeouts(httplib::Client& c, const CallOptions& o) {
    const auto ms = o.timeout.value_or(opt_.timeout).count();
    c.set_read_timeout(ms / 1000, (ms % 1000) * 1000);
    c.set_write_timeout(ms / 1000, (ms % 1000) * 1000);
    c.set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
  }

  Result<std::pair<int, std::string>> post(const char* path, const std::string& body, const CallOptions& o) {
    auto c = take();
    set_timeouts(*c, o);
    const auto t0 = std::chrono::steady_clock::now();
    auto res = c->Post(path, body, "application/json");
    if (!res) return transport_error(res.error(), std::chrono::steady_clock::now() - t0 >= o.timeout.value_or(opt_.timeout));
    auto out = std::make_pair(res->status, std::move(res->body));
    put(std::move(c));
    return out;
  }

  // post() with the response body received into one buffer reserved from Content-Length, with
  // simdjson's padding after it, by a connection of our own (HttpConnection: cpp-httplib reads a
  // body 4 KiB at a time, a poll() and a recv() each; ~1,000 syscalls for a 1 MiB file's answer).
  Result<std::pair<int, std::string>> post_padded(const char* path, const std::string& body, const CallOptions& o) {
    std::unique_ptr<HttpConnection> c;
    {
      std::lock_guard lock(mu_);
      if (!idle_conns_.empty()) {
        c = std::move(idle_conns_.back());
        idle_conns_.pop_back();
      }
    }
    if (!c) c = std::make_unique<HttpConnection>(host_, port_);
    std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/json"}};
    if (!opt_.token.empty()) headers.emplace_back("Authorization", "Bearer " + opt_.token);
    const auto ms = static_cast<std::uint64_t>(o.timeout.value_or(opt_.timeout).count());
    auto res = c->post(path, headers, body, ms, simdjson::SIMDJSON_PADDING);
    if (!res) {
      Error e = std::move(res).error();
      e.message = "HTTP " + url() + ": " + e.message;
      return e;
    }
    auto out = std::make_pair(res->status, std::move(res->body));
    std::lock_guard lock(mu_);
    idle_conns_.push_back(std::move(c));
    return out;
  }

  Result<nlohmann::json> get_json(const char* path, const CallOptions& o) {
    auto c = take();
    set_timeouts(*c, o);
    const auto t0 = std::chrono::steady_clock::now();
    auto res = c->Get(path);
    if (!res) return transport_error(res.error(), std::chrono::steady_clock::now() - t0 >= o.timeout.value_or(opt_.timeout));
    nlohmann::json j;
    const JsonFault fault = parse_json_bounded(res->body, j, kResponseLimits);
    const int status = res->status;
    put(std::move(c));
    if (fault != JsonFault::none) return make_error(Errc::corrupt, "executor sent malformed JSON (HTTP " + std::to_string(status) + ")");
    if (status != 200) return http_error(status, j);
    return j;
  }

  // cpp-httplib 0.11 reports read timeouts as Read errors, so a failure that took the whole call
  // deadline is the deadline passing (Errc::timeout), not a dead peer.
  Error transport_error(httplib::Error e, bool deadline_passed) const {
    const Errc c = deadline_passed && (e == httplib::Error::Read || e == httplib::Error::Write ||
                                       e == httplib::Error::Connection)
                       ? Errc::timeout
                   : e == httplib::Error::Read || e == httplib::Error::Write ? Errc::peer_dead
                   : e == httplib::Error::Connection                       ? Errc::peer_dead
                                                                           : Errc::io;
    return make_error(c, "HTTP " + url() + ": " + httplib::to_string(e) + (c == Errc::timeout ? " (deadline passed)" : ""));
  }

  std::string host_;
  int port_;
  ClientOptions opt_;
  std::mutex mu_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;
  std::vector<std::unique_ptr<HttpConnection>> idle_conns_;
};

}  // namespace

Result<ShmAddress> parse_shm_url(std::string_view url) {
  if (!url.starts_with("shm://"))
    return make_error(Errc::invalid_argument, "not a shm URL: '" + std::string(url) + "' (use shm://NAME or shm:///DIR/NAME)");
  const std::string_view rest = url.substr(6);
  if (rest.find_first_of("?#") != std::string_view::npos)
    return make_error(Errc::invalid_argument, "shm URL '" + std::string(url) +
                                                  "' has a query or fragment; name a directory as shm:///DIR/NAME");
  ShmAddress a;
  if (rest.starts_with('/')) {
    // shm:///DIR/NAME: everything up to the last '/' is the directory, taken literally.
    const auto slash = rest.rfind('/');
    a.dir = slash == 0 ? std::string("/") : std::string(rest.substr(0, slash));
    a.name = std::string(rest.substr(slash + 1));
    if (a.name.empty())
      return make_error(Errc::invalid_argument, "shm URL '" + std::string(url) + "' names no channel after the directory");
  } else {
    a.dir = std::string(channel::kDefaultShmDir);
    a.name = std::string(rest);
  }
  if (auto s = channel::validate_name(a.name); !s)
    return make_error(Errc::invalid_argument, "shm URL '" + std::string(url) + "': " + s.error().message);
  if (auto s = channel::validate_shm_dir(a.dir); !s) return s.error();
  return a;
}

std::string shm_url(std::string_view name, std::string_view dir) {
  if (dir == channel::kDefaultShmDir) return "shm://" + std::string(name);
  std::string d(dir);
  while (!d.empty() && d.back() == '/') d.pop_back();
  return "shm://" + d + "/" + std::string(name);
}

Result<std::unique_ptr<Client>> Client::connect(std::string_view url, ClientOptions options) {
  if (url.starts_with("shm://")) {
    auto addr = parse_shm_url(url);
    if (!addr) return addr.error();
    auto c = std::make_unique<ShmClient>(std::move(*addr), std::move(options));
    if (auto s = c->connect_now(); !s) return s.error();
    return std::unique_ptr<Client>(std::move(c));
  }
  if (url.starts_with("http://")) {
    std::string_view rest = url.substr(7);
    while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    const auto colon = rest.rfind(':');
    std::string host(colon == std::string_view::npos ? rest : rest.substr(0, colon));
    int port = 80;
    if (colon != std::string_view::npos) {
      const std::string p(rest.substr(colon + 1));
      char* end = nullptr;
      const long v = std::strtol(p.c_str(), &end, 10);
      if (p.empty() || *end != '\0' || v < 1 || v > 65535)
        return make_error(Errc::invalid_argument, "bad port in '" + std::string(url) + "'");
      port = static_cast<int>(v);
    }
    if (host.empty()) return make_error(Errc::invalid_argument, "missing host in '" + std::string(url) + "'");
    return std::unique_ptr<Client>(std::make_unique<HttpClient>(std::move(host), port, std::move(options)));
  }
  return make_error(Errc::invalid_argument, "unsupported URL '" + std::string(url) + "' (use shm://NAME, shm:///DIR/NAME or http://HOST:PORT)");
}

}  // namespace shmcp
