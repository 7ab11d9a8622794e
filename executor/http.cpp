#include "executor/http.hpp"

#include <bit>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "channel/base/log.hpp"
#include "executor/http_guard.hpp"
#include "executor/stats.hpp"
#include "executor/status.hpp"
#include "executor/supervisor.hpp"
#include "orchestrator/bounded_json.hpp"
#include "orchestrator/convert.hpp"

namespace shmcp::executor {

namespace {

int http_status_for(Errc c) {
  switch (c) {
    case Errc::invalid_argument: return 400;
    case Errc::not_found: return 503;  // the channel is gone (a tenant deleted under the call)
    case Errc::timeout: return 504;
    case Errc::too_large: return 413;
    case Errc::closed: return 503;
    case Errc::peer_dead: return 503;
    case Errc::busy: return 503;
    default: return 500;
  }
}

// Response::set_content copies its argument; a result body (megabytes) is moved in instead.
void set_body(httplib::Response& res, std::string body, const char* content_type) {
  res.body = std::move(body);
  res.set_header("Content-Type", content_type);
}
void set_body(httplib::Response& res, std::string body, const std::string& content_type) {
  set_body(res, std::move(body), content_type.c_str());
}

void json_reply(httplib::Response& res, int status, const nlohmann::json& j) {
  res.status = status;
  res.set_content(to_json_text(j), "application/json");
}

}  // namespace

// cpp-httplib's default pool has a few threads behind an unbounded FIFO, so a dozen connections
// that send nothing hold every thread for the keep-alive timeout and queue all others (GET /health
// included) behind them. Here every accepted connection gets a thread at once, up to `max`
// threads (reused). At most `max` more accepted connections wait for a thread; beyond that
// enqueue() blocks the listen thread, so further peers wait in the kernel's listen backlog and
// past it are not accepted at all: the sockets the executor holds are bounded (2 x max).
// Shared by the pool (which cpp-httplib owns and deletes when listen returns) and the frontend
// (whose stop() must wake a listen thread blocked in enqueue before the server can stop).
// enqueue/shutdown run on the listen thread, run() on the pool's threads, release() on any.
struct ConnectionPoolState {
  explicit ConnectionPoolState(std::size_t cap) : max(std::max<std::size_t>(cap, 1)) {}
  const std::size_t max;
  std::mutex mu;
  std::condition_variable work;   // a job was queued, or the pool is stopping
  std::condition_variable room;   // a queued job was taken, or the frontend is stopping
  std::deque<std::function<void()>> jobs;
  std::vector<std::thread> threads;
  std::size_t idle = 0;
  bool stopping = false;  // shutdown(): run what is queued, then exit
  bool released = false;  // the frontend is stopping: enqueue no longer waits for room

  void release() {
    {
      std::lock_guard lock(mu);
      released = true;
    }
    room.notify_all();
  }
};

namespace {

class ConnectionPool final : public httplib::TaskQueue {
 public:
  explicit ConnectionPool(std::shared_ptr<ConnectionPoolState> s) : s_(std::move(s)) {}
  ~ConnectionPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(s_->mu);
    // Backpressure: the listen thread accepts nothing more until a waiting connection is taken.
    s_->room.wait(lock, [&] { return s_->jobs.size() < s_->max || s_->released; });
    s_->jobs.push_back(std::move(fn));
    // Invariant: every queued connection has an idle thread to take it, unless the cap is reached.
    if (s_->jobs.size() > s_->idle && s_->threads.size() < s_->max) {
      try {
        s_->threads.emplace_back([this] { run(); });
        return;
      } catch (const std::system_error&) {
        // Out of threads (RLIMIT_NPROC, memory): the connection waits for a running one.
      }
    }
    s_->work.notify_one();
  }

  // Runs the connections still queued (the server is stopping: they close at once) and joins.
  void shutdown() override {
    {
      std::lock_guard lock(s_->mu);
      if (s_->stopping) return;
      s_->stopping = true;
    }
    s_->work.notify_all();
    for (auto& t : s_->threads) t.join();
    s_->threads.clear();
  }

 private:
  void run() {
    std::unique_lock lock(s_->mu);
    for (;;) {
      ++s_->idle;
      s_->work.wait(lock, [&] { return !s_->jobs.empty() || s_->stopping; });
      --s_->idle;
      if (s_->jobs.empty()) return;
      auto fn = std::move(s_->jobs.front());
      s_->jobs.pop_front();
      s_->room.notify_one();
      lock.unlock();
      fn();  // serves one connection until it closes, then closes its socket
      lock.lock();
    }
  }

  std::shared_ptr<ConnectionPoolState> s_;
};

// The one gate in front of every endpoint: a browser-borne request (foreign Origin, or a Host that
// only DNS rebinding could produce) is refused before routing; GET /health answers it too (probes
// must reach it) but with the status alone. Authorization is the backend's (per endpoint).
struct Gate {
  std::string bound_host;
  std::vector<std::string> allowed_hosts;

  bool browser_safe(const httplib::Request& req) const {
    if (req.has_header("Host") && !host_allowed(req.get_header_value("Host"), bound_host, allowed_hosts)) return false;
    if (req.has_header("Origin") && !origin_allowed(req.get_header_value("Origin"), {})) return false;
    return true;
  }
};

// The bearer token of a request ("" if none or malformed).
std::string bearer_of(const httplib::Request& req) {
  const std::string auth = req.get_header_value("Authorization");
  constexpr std::string_view prefix = "Bearer ";
  if (auth.size() <= prefix.size() || auth.compare(0, prefix.size(), prefix) != 0) return {};
  return auth.substr(prefix.size());
}

HttpAccess access_of(const std::string& path) {
  if (path == "/metrics") return HttpAccess::metrics;
  if (path == "/admin" || path.rfind("/admin/", 0) == 0) return HttpAccess::admin;
  return HttpAccess::call;
}

class WorkspaceBackend final : public HttpBackend {
 public:
  WorkspaceBackend(Supervisor& sup, std::shared_ptr<Client> client, McpHttpHandler mcp, std::string token)
      : sup_(sup), client_(std::move(client)), mcp_(std::move(mcp)), token_(std::move(token)) {}
  bool authorized(HttpAccess what, std::string_view bearer) const override {
    if (what == HttpAccess::admin) return false;
    return token_.empty() || token_equal(bearer, token_);
  }
  Result<HttpTarget> target(std::string_view bearer) override {
    if (!authorized(HttpAccess::call, bearer)) return make_error(Errc::access_denied, "missing or invalid bearer token");
    return HttpTarget{client_, mcp_, nullptr};
  }
  nlohmann::json health(bool detailed) const override {
    auto j = status_json(sup_.segment(), sup_.options().workspace, sup_.options().read_only);
    if (!detailed) return {{"status", j["status"]}};
    j["workspace"] = sup_.options().workspace;
    j["worker_restarts"] = sup_.worker_restarts();
    return j;
  }
  std::string metrics() const override { return sup_.metrics_text(); }

 private:
  Supervisor& sup_;
  std::shared_ptr<Client> client_;
  McpHttpHandler mcp_;
  std::string token_;
};

// End-to-end latency of POST /execute as seen by the HTTP frontend (request parsed to response
// built), per tool: the "http" transport next to the workers' "channel" service-time histogram.
struct HttpLatency {
  channel::AtomicU64 bucket[channel::kMaxTools][channel::kLatencyBuckets] = {};
  channel::AtomicU64 sum_ns[channel::kMaxTools] = {};

  void record(int tix, std::uint64_t ns) noexcept {
    if (tix < 0 || tix >= static_cast<int>(channel::kMaxTools)) return;
    const std::uint64_t us = ns / 1000;
    std::size_t b = us == 0 ? 0 : static_cast<std::size_t>(std::bit_width(us));
    if (b >= channel::kLatencyBuckets) b = channel::kLatencyBuckets - 1;
    bucket[tix][b].fetch_add(1, std::memory_order_relaxed);
    sum_ns[tix].fetch_add(ns, std::memory_order_relaxed);
  }

  std::string prometheus() const {
    std::string out =
        "# HELP shmcp_http_execute_duration_seconds End-to-end latency of POST /execute at the HTTP frontend, by tool.\n"
        "# TYPE shmcp_http_execute_duration_seconds histogram\n";
    const auto& names = tool_index().names();
    for (std::size_t t = 0; t < names.size(); ++t)
      append_latency_histogram(out, "shmcp_http_execute_duration_seconds", names[t], "http", bucket[t],
                               sum_ns[t].load(std::memory_order_relaxed));
    return out;
  }
};

}  // namespace

HttpReply HttpBackend::admin(const std::string&, const std::string&, const std::map<std::string, std::string>&,
                             const std::string&) {
  return HttpReply{404, "application/json", R"x({"error":"no admin API (serve --tenants FILE --admin-token-file F)"})x", {}};
}

std::shared_ptr<HttpBackend> make_workspace_backend(Supervisor& sup, std::shared_ptr<Client> client, McpHttpHandler mcp,
                                                    std::string token) {
  return std::make_shared<WorkspaceBackend>(sup, std::move(client), std::move(mcp), std::move(token));
}

ExecuteReply handle_execute(std::string_view text, std::size_t max_body_bytes, const ExecuteCall& call,
                            const ExecutePing& ping) {
  return handle_execute(text, max_body_bytes, ExecuteTextCall([&call](const std::string& tool, const nlohmann::json& args) -> Result<std::string> {
    auto r = call(tool, args);
    if (!r) return r.error();
    // /execute always states isError (the MCP result omits it on success, like the reference).
    if (!r->json.contains("isError")) r->json["isError"] = false;
    return to_json_text(r->json);  // strict: invalid UTF-8 throws, answered below with 500
  }), ping);
}

ExecuteReply handle_execute(std::string_view text, std::size_t max_body_bytes, const ExecuteTextCall& call,
                            const ExecutePing& ping) {
  auto reply = [](int status, const nlohmann::json& j) { return ExecuteReply{status, to_json_text(j), {}}; };
  try {
    nlohmann::json body;
    if (const JsonFault fault = parse_json_bounded(text, body, {kMaxJsonDepth, max_body_bytes}); fault != JsonFault::none)
      return reply(fault == JsonFault::too_large ? 413 : 400, {{"error", std::string(describe(fault)) + " body"}});
    if (!body.is_object() || !body.contains("tool") || !body["tool"].is_string())
      return reply(400, {{"error", "body must be {\"tool\": NAME, \"arguments\": {...}}"}});
    const std::string tool = body["tool"].get<std::string>();
    const auto args_it = body.find("arguments");
    nlohmann::json args = args_it != body.end() ? std::move(*args_it) : nlohmann::json::object();
    if (args.is_null()) args = nlohmann::json::object();
    if (!args.is_object()) return reply(400, {{"error", "\"arguments\" must be a JSON object"}});
    if (tool == "$ping") {
      // The empty call: a round trip through a worker without touching the filesystem.
      auto s = ping();
      if (!s) return reply(http_status_for(s.error().code), {{"error", s.error().describe()}});
      return reply(200, {{"content", nlohmann::json::array()}});
    }
    if (!Tools::known(tool)) return reply(400, {{"error", "unknown tool: " + tool}});
    auto r = call(tool, args);
    if (!r) {
      ExecuteReply e = reply(http_status_for(r.error().code), {{"error", r.error().describe()}});
      e.tool = tool;
      return e;
    }
    return ExecuteReply{200, std::move(r).value(), tool};
  } catch (const std::exception& e) {
    // Only a result that cannot be written as JSON (invalid UTF-8 from a tool) or memory
    // exhaustion gets here; the request must still be answered.
    return ExecuteReply{500, to_json_text(nlohmann::json{{"error", std::string("internal error: ") + e.what()}},
                                          nlohmann::json::error_handler_t::replace), {}};
  }
}

Result<std::unique_ptr<HttpFrontend>> HttpFrontend::start(std::shared_ptr<HttpBackend> backend, const HttpOptions& opts) {
  auto log = component_logger("executor");
  std::unique_ptr<HttpFrontend> f(new HttpFrontend());
  f->server_ = std::make_unique<httplib::Server>();
  httplib::Server& srv = *f->server_;
  srv.set_tcp_nodelay(true);
  srv.set_keep_alive_max_count(100000);
  srv.set_payload_max_length(opts.max_body_bytes);  // larger: 413 before the body is read
  srv.set_read_timeout(opts.io_timeout_ms / 1000, (opts.io_timeout_ms % 1000) * 1000);
  srv.set_write_timeout(opts.io_timeout_ms / 1000, (opts.io_timeout_ms % 1000) * 1000);
  srv.set_keep_alive_timeout(opts.idle_timeout_s);
  f->pool_ = std::make_shared<ConnectionPoolState>(opts.max_connections);
  srv.new_task_queue = [pool = f->pool_] { return new ConnectionPool(pool); };

  auto gate = std::make_shared<const Gate>(Gate{opts.host, opts.allowed_hosts});
  srv.set_pre_routing_handler([gate, backend](const httplib::Request& req, httplib::Response& res) {
    const bool health = req.path == "/health";
    if (!gate->browser_safe(req)) {
      if (health) return httplib::Server::HandlerResponse::Unhandled;
      json_reply(res, 403, {{"error", "forbidden: Host or Origin not allowed"}});
      return httplib::Server::HandlerResponse::Handled;
    }
    if (health) return httplib::Server::HandlerResponse::Unhandled;
    if (!backend->authorized(access_of(req.path), bearer_of(req))) {
      res.set_header("WWW-Authenticate", "Bearer");
      json_reply(res, 401, {{"error", "missing or invalid bearer token"}});
      return httplib::Server::HandlerResponse::Handled;
    }
    if ((req.method == "POST" || req.method == "PATCH") && !is_json_content_type(req.get_header_value("Content-Type"))) {
      json_reply(res, 415, {{"error", "Content-Type must be application/json"}});
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // The call's target, or the reply that refuses it.
  auto target_of = [backend](const httplib::Request& req, httplib::Response& res) -> std::optional<HttpTarget> {
    auto t = backend->target(bearer_of(req));
    if (t) return std::move(*t);
    const Errc c = t.error().code;
    const int status = c == Errc::access_denied ? 401 : c == Errc::busy ? 429 : c == Errc::closed ? 503 : 500;
    if (status == 401) res.set_header("WWW-Authenticate", "Bearer");
    if (status == 429) res.set_header("Retry-After", "1");
    json_reply(res, status, {{"error", t.error().message}});
    return std::nullopt;
  };

  auto latency = std::make_shared<HttpLatency>();
  srv.Post("/execute", [target_of, latency, max_body = opts.max_body_bytes](const httplib::Request& req, httplib::Response& res) {
    const std::uint64_t t0 = channel::monotonic_ns();
    auto target = target_of(req, res);
    if (!target) return;
    const std::shared_ptr<Client>& client = target->client;
    ExecuteReply r = handle_execute(
        req.body, max_body,
        ExecuteTextCall([&](const std::string& tool, const nlohmann::json& args) {
          // The result's text goes into the body as the worker produced it, escaped once.
          return client->call_json_text(tool, args, /*state_is_error=*/true);
        }),
        [&] { return client->ping(); });
    if (!r.tool.empty()) latency->record(tool_index().find(r.tool), channel::monotonic_ns() - t0);
    res.status = r.status;
    set_body(res, std::move(r.body), "application/json");
  });

  srv.Get("/health", [backend, gate](const httplib::Request& req, httplib::Response& res) {
    // Probes (the kubelet's carry no token) learn whether it serves; paths, the channel name and
    // the configuration are for authenticated, non-browser callers.
    const bool detailed = gate->browser_safe(req) && backend->authorized(HttpAccess::metrics, bearer_of(req));
    auto j = backend->health(detailed);
    json_reply(res, j["status"] == "ok" ? 200 : 503, j);
  });

  srv.Get("/metrics", [backend, latency](const httplib::Request&, httplib::Response& res) {
    res.set_content(backend->metrics() + latency->prometheus(), "text/plain; version=0.0.4");
  });

  srv.Get("/tools", [](const httplib::Request&, httplib::Response& res) {
    json_reply(res, 200, {{"tools", Tools::list()}});
  });

  auto admin = [backend](const httplib::Request& req, httplib::Response& res) {
    std::map<std::string, std::string> params;
    for (const auto& [k, v] : req.params) params[k] = v;
    const std::string sub = req.path.size() > 6 ? req.path.substr(6) : std::string("/");
    HttpReply r = backend->admin(req.method, sub, params, req.body);
    res.status = r.status;
    for (const auto& [k, v] : r.headers) res.set_header(k, v);
    if (!r.body.empty() || !r.content_type.empty())
      set_body(res, std::move(r.body), r.content_type.empty() ? "application/json" : r.content_type);
  };
  srv.Get(R"(/admin(/.*)?)", admin);
  srv.Post(R"(/admin(/.*)?)", admin);
  srv.Patch(R"(/admin(/.*)?)", admin);
  srv.Delete(R"(/admin(/.*)?)", admin);

  auto handle = [target_of](const httplib::Request& req, httplib::Response& res) {
    auto target = target_of(req, res);
    if (!target) return;
    if (!target->mcp) return json_reply(res, 404, {{"error", "no MCP endpoint"}});
    std::map<std::string, std::string> headers;
    for (const auto& [k, v] : req.headers) {
      std::string lk = k;
      for (auto& ch : lk) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      headers[lk] = v;
    }
    HttpReply r = target->mcp(req.method, headers, req.body);
    res.status = r.status;
    for (const auto& [k, v] : r.headers) res.set_header(k, v);
    if (!r.body.empty() || !r.content_type.empty())
      set_body(res, std::move(r.body), r.content_type.empty() ? "application/json" : r.content_type);
  };
  srv.Post("/mcp", handle);
  srv.Get("/mcp", handle);
  srv.Delete("/mcp", handle);

  const std::string& host = opts.host;
  if (opts.port == 0) {
    f->port_ = srv.bind_to_any_port(host);
    if (f->port_ <= 0) return make_error(Errc::io, "cannot bind HTTP on " + host + " (any port)");
  } else {
    if (!srv.bind_to_port(host, opts.port))
      return make_error(Errc::io, "cannot bind HTTP on " + host + ":" + std::to_string(opts.port) + " (in use, or bad address?)");
    f->port_ = opts.port;
  }
  f->thread_ = std::thread([p = f.get()] { p->server_->listen_after_bind(); });
  log->info("HTTP on http://{}:{} (POST /execute, /mcp; GET /health, /metrics, /tools){}", host, f->port_,
            backend->authorized(HttpAccess::call, "") ? "" : ", bearer token required");
  return f;
}

void HttpFrontend::stop() {
  if (pool_) pool_->release();
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

HttpFrontend::~HttpFrontend() { stop(); }

}  // namespace shmcp::executor
