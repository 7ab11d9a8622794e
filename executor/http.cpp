#include "executor/http.hpp"

#include <httplib.h>

#include <bit>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "channel/log.hpp"
#include "executor/executor.hpp"
#include "executor/stats.hpp"
#include "orchestrator/convert.hpp"

namespace shmcp::executor {

namespace {

int http_status_for(Errc c) {
  switch (c) {
    case Errc::invalid_argument: return 400;
    case Errc::not_found: return 400;
    case Errc::timeout: return 504;
    case Errc::too_large: return 413;
    case Errc::closed: return 503;
    case Errc::peer_dead: return 503;
    case Errc::busy: return 503;
    default: return 500;
  }
}

void json_reply(httplib::Response& res, int status, const nlohmann::json& j) {
  res.status = status;
  res.set_content(to_json_text(j), "application/json");
}

// Compares without an early exit so response timing doesn't reveal how much of a guess matched.
bool token_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

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
    char buf[256];
    const auto& names = tool_index().names();
    for (std::size_t t = 0; t < names.size(); ++t) {
      std::uint64_t cum = 0;
      for (std::size_t b = 0; b < channel::kLatencyBuckets; ++b) {
        cum += bucket[t][b].load(std::memory_order_relaxed);
        if (b + 1 < channel::kLatencyBuckets)
          std::snprintf(buf, sizeof buf, "shmcp_http_execute_duration_seconds_bucket{tool=\"%s\",transport=\"http\",le=\"%g\"} %llu\n",
                        names[t].c_str(), static_cast<double>(1ull << b) / 1e6, static_cast<unsigned long long>(cum));
        else
          std::snprintf(buf, sizeof buf, "shmcp_http_execute_duration_seconds_bucket{tool=\"%s\",transport=\"http\",le=\"+Inf\"} %llu\n",
                        names[t].c_str(), static_cast<unsigned long long>(cum));
        out += buf;
      }
      std::snprintf(buf, sizeof buf,
                    "shmcp_http_execute_duration_seconds_sum{tool=\"%s\",transport=\"http\"} %.9f\n"
                    "shmcp_http_execute_duration_seconds_count{tool=\"%s\",transport=\"http\"} %llu\n",
                    names[t].c_str(), static_cast<double>(sum_ns[t].load(std::memory_order_relaxed)) / 1e9,
                    names[t].c_str(), static_cast<unsigned long long>(cum));
      out += buf;
    }
    return out;
  }
};

}  // namespace

Result<std::unique_ptr<HttpFrontend>> HttpFrontend::start(Supervisor& sup, std::shared_ptr<Client> client,
                                                          const std::string& host, int port, std::string token,
                                                          McpHttpHandler mcp) {
  auto log = component_logger("executor");
  std::unique_ptr<HttpFrontend> f(new HttpFrontend());
  f->server_ = std::make_unique<httplib::Server>();
  httplib::Server& srv = *f->server_;
  srv.set_tcp_nodelay(true);
  srv.set_keep_alive_max_count(100000);
  srv.set_payload_max_length(static_cast<std::size_t>(sup.segment().max_message()));

  srv.set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
    if (token.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.size() > prefix.size() && auth.compare(0, prefix.size(), prefix) == 0 &&
        token_equal(auth.substr(prefix.size()), token))
      return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    json_reply(res, 401, {{"error", "missing or invalid bearer token"}});
    return httplib::Server::HandlerResponse::Handled;
  });

  auto latency = std::make_shared<HttpLatency>();
  srv.Post("/execute", [client, latency](const httplib::Request& req, httplib::Response& res) {
    const std::uint64_t t0 = channel::monotonic_ns();
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return json_reply(res, 400, {{"error", "malformed JSON body"}});
    if (!body.is_object() || !body.contains("tool") || !body["tool"].is_string())
      return json_reply(res, 400, {{"error", "body must be {\"tool\": NAME, \"arguments\": {...}}"}});
    const std::string tool = body["tool"].get<std::string>();
    nlohmann::json args = body.contains("arguments") ? body["arguments"] : nlohmann::json::object();
    if (args.is_null()) args = nlohmann::json::object();
    if (!args.is_object()) return json_reply(res, 400, {{"error", "\"arguments\" must be a JSON object"}});
    if (tool == "$ping") {
      // The empty call: a round trip through a worker without touching the filesystem.
      auto s = client->ping();
      if (!s) return json_reply(res, http_status_for(s.error().code), {{"error", s.error().describe()}});
      return json_reply(res, 200, {{"content", nlohmann::json::array()}});
    }
    if (!Tools::known(tool)) return json_reply(res, 400, {{"error", "unknown tool: " + tool}});
    auto r = client->call(tool, args);
    latency->record(tool_index().find(tool), channel::monotonic_ns() - t0);
    if (!r) return json_reply(res, http_status_for(r.error().code), {{"error", r.error().describe()}});
    // /execute always states isError (the MCP result omits it on success, like the reference).
    if (!r->json.contains("isError")) r->json["isError"] = false;
    res.status = 200;
    res.set_content(to_json_text(r->json), "application/json");
  });

  srv.Get("/health", [&sup](const httplib::Request&, httplib::Response& res) {
    auto j = status_json(sup.segment(), sup.options().workspace, sup.options().read_only);
    j["workspace"] = sup.options().workspace;
    j["worker_restarts"] = sup.worker_restarts();
    json_reply(res, j["status"] == "ok" ? 200 : 503, j);
  });

  srv.Get("/metrics", [&sup, latency](const httplib::Request&, httplib::Response& res) {
    res.set_content(sup.metrics_text() + latency->prometheus(), "text/plain; version=0.0.4");
  });

  srv.Get("/tools", [](const httplib::Request&, httplib::Response& res) {
    json_reply(res, 200, {{"tools", Tools::list()}});
  });

  if (mcp) {
    auto handle = [mcp](const httplib::Request& req, httplib::Response& res) {
      std::map<std::string, std::string> headers;
      for (const auto& [k, v] : req.headers) {
        std::string lk = k;
        for (auto& ch : lk) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        headers[lk] = v;
      }
      McpHttpReply r = mcp(req.method, headers, req.body);
      res.status = r.status;
      for (const auto& [k, v] : r.headers) res.set_header(k, v);
      if (!r.body.empty() || !r.content_type.empty()) res.set_content(r.body, r.content_type.empty() ? "application/json" : r.content_type);
    };
    srv.Post("/mcp", handle);
    srv.Get("/mcp", handle);
    srv.Delete("/mcp", handle);
  }

  if (port == 0) {
    f->port_ = srv.bind_to_any_port(host);
    if (f->port_ <= 0) return make_error(Errc::io, "cannot bind HTTP on " + host + " (any port)");
  } else {
    if (!srv.bind_to_port(host, port))
      return make_error(Errc::io, "cannot bind HTTP on " + host + ":" + std::to_string(port) + " (in use, or bad address?)");
    f->port_ = port;
  }
  f->thread_ = std::thread([p = f.get()] { p->server_->listen_after_bind(); });
  log->info("HTTP on http://{}:{} (POST /execute, /mcp; GET /health, /metrics, /tools){}", host, f->port_,
            token.empty() ? "" : ", bearer token required");
  return f;
}

void HttpFrontend::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

HttpFrontend::~HttpFrontend() { stop(); }

}  // namespace shmcp::executor
