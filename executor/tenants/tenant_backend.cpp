#include "executor/tenants/tenant_backend.hpp"

#include <fcntl.h>
#include <sys/random.h>

#include <nlohmann/json.hpp>

#include "executor/http_guard.hpp"
#include "executor/mcp.hpp"
#include "orchestrator/bounded_json.hpp"
#include "orchestrator/convert.hpp"

namespace shmcp::executor {

namespace {

HttpReply json_reply(int status, const nlohmann::json& j) { return HttpReply{status, "application/json", to_json_text(j), {}}; }
HttpReply error_reply(int status, const std::string& message) { return json_reply(status, {{"error", message}}); }

int status_for(Errc c) {
  switch (c) {
    case Errc::invalid_argument: return 400;
    case Errc::not_found: return 404;
    case Errc::busy: return 409;
    case Errc::too_large: return 409;
    case Errc::access_denied: return 403;
    default: return 500;
  }
}

Result<std::string> random_token() {
  unsigned char raw[24];
  std::size_t got = 0;
  while (got < sizeof raw) {
    const ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(Errc::io, "getrandom", errno);
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string t;
  for (unsigned char c : raw) {
    t += kHex[c >> 4];
    t += kHex[c & 15];
  }
  return t;
}

class TenantBackend final : public HttpBackend {
 public:
  TenantBackend(std::shared_ptr<TenantManager> tenants, std::string admin_token, std::size_t max_body)
      : tenants_(std::move(tenants)), admin_token_(std::move(admin_token)), max_body_(max_body) {}

  bool authorized(HttpAccess what, std::string_view bearer) const override {
    if (what == HttpAccess::call) return tenants_->find_by_token(bearer) != nullptr;
    return !admin_token_.empty() && token_equal(bearer, admin_token_);
  }

  Result<HttpTarget> target(std::string_view bearer) override {
    std::shared_ptr<Tenant> t = tenants_->find_by_token(bearer);
    if (!t) return make_error(Errc::access_denied, "missing or invalid bearer token");
    if (auto s = t->enter(); !s) return s.error();
    // The hold counts the call in flight; the client and sessions are the request's own
    // references (a delete racing the request stops the tenant without freeing them under it).
    std::shared_ptr<void> hold(t.get(), [t](void*) { t->leave(); });
    std::shared_ptr<Client> client = t->client();
    std::shared_ptr<McpHttp> sessions = t->mcp();
    if (!client || !sessions) return make_error(Errc::closed, "tenant " + t->name() + " is stopping");
    McpHttpHandler mcp = [sessions](const std::string& method, const std::map<std::string, std::string>& headers,
                                    const std::string& body) { return sessions->handle(method, headers, body); };
    return HttpTarget{std::move(client), std::move(mcp), std::move(hold)};
  }

  nlohmann::json health(bool detailed) const override {
    nlohmann::json j = {{"status", "ok"}};
    if (!detailed) return j;
    j["tenants"] = tenants_->size();
    j["workspace"] = tenants_->options().base.workspace;
    return j;
  }

  std::string metrics() const override { return tenants_->metrics_text(); }

  HttpReply admin(const std::string& method, const std::string& path, const std::map<std::string, std::string>& params,
                  const std::string& body) override {
    try {
      return route(method, path, params, body);
    } catch (const std::exception& e) {  // a body nlohmann could not handle: never past this boundary
      return error_reply(400, std::string("bad request: ") + e.what());
    }
  }

 private:
  Result<nlohmann::json> parse_body(const std::string& body) const {
    nlohmann::json j;
    if (const JsonFault f = parse_json_bounded(body, j, {kMaxJsonDepth, max_body_}); f != JsonFault::none)
      return make_error(Errc::invalid_argument, std::string(describe(f)) + " body");
    if (!j.is_object()) return make_error(Errc::invalid_argument, "body must be a JSON object");
    return j;
  }

  HttpReply route(const std::string& method, const std::string& path, const std::map<std::string, std::string>& params,
                  const std::string& body) {
    // path: /tenants, /tenants/NAME, /tenants/NAME/drain
    std::vector<std::string> parts;
    for (std::size_t pos = 1; pos <= path.size();) {
      const std::size_t slash = path.find('/', pos);
      const std::size_t end = slash == std::string::npos ? path.size() : slash;
      if (end > pos) parts.push_back(path.substr(pos, end - pos));
      pos = end + 1;
    }
    if (parts.empty() || parts[0] != "tenants") return error_reply(404, "unknown admin path; see /admin/tenants");
    if (parts.size() == 1) {
      if (method == "GET") return json_reply(200, tenants_->list());
      if (method == "POST") return create(body);
      return error_reply(405, "GET or POST /admin/tenants");
    }
    const std::string& name = parts[1];
    if (auto s = validate_tenant_name(name); !s) return error_reply(404, "no tenant " + name.substr(0, 64));
    if (parts.size() == 3 && parts[2] == "drain") {
      if (method != "POST") return error_reply(405, "POST /admin/tenants/NAME/drain");
      if (auto s = tenants_->drain(name); !s) return error_reply(status_for(s.error().code), s.error().message);
      return json_reply(200, tenants_->find(name) ? tenants_->find(name)->describe() : nlohmann::json::object());
    }
    if (parts.size() != 2) return error_reply(404, "unknown admin path");
    if (method == "GET") {
      auto t = tenants_->find(name);
      if (!t) return error_reply(404, "no tenant " + name);
      return json_reply(200, t->describe());
    }
    if (method == "PATCH") {
      auto j = parse_body(body);
      if (!j) return error_reply(400, j.error().message);
      for (const auto& [k, v] : j->items()) {
        (void)v;
        if (k != "quota") return error_reply(400, "only \"quota\" can be changed (got \"" + k + "\")");
      }
      auto t = tenants_->find(name);
      if (!t) return error_reply(404, "no tenant " + name);
      TenantQuota q = t->spec().quota;
      if (j->contains("quota"))
        if (auto s = parse_quota((*j)["quota"], q); !s) return error_reply(400, s.error().message);
      auto r = tenants_->update_quota(name, q);
      if (!r) return error_reply(status_for(r.error().code), r.error().message);
      return json_reply(200, *r);
    }
    if (method == "DELETE") {
      const auto it = params.find("purge");
      const bool purge = it != params.end() && (it->second == "1" || it->second == "true");
      if (auto s = tenants_->remove(name, purge); !s) return error_reply(status_for(s.error().code), s.error().message);
      return json_reply(200, {{"deleted", name}, {"purged", purge}});
    }
    return error_reply(405, "GET, PATCH or DELETE /admin/tenants/NAME");
  }

  HttpReply create(const std::string& body) {
    auto j = parse_body(body);
    if (!j) return error_reply(400, j.error().message);
    // Files are the operator's (the tenants file); over the network tokens come in the body.
    if (j->contains("token_file")) return error_reply(400, "\"token_file\" is for the --tenants file; send \"tokens\"");
    auto spec = parse_tenant(*j, "");
    if (!spec) return error_reply(400, spec.error().message);
    std::string made_up;
    if (spec->tokens.empty()) {
      auto tok = random_token();
      if (!tok) return error_reply(500, tok.error().describe());
      made_up = *tok;
      spec->tokens.push_back(made_up);
    }
    auto r = tenants_->create(*spec);
    if (!r) return error_reply(status_for(r.error().code), r.error().message);
    if (!made_up.empty()) (*r)["token"] = made_up;  // shown once: the executor keeps no other copy it shows
    return json_reply(201, *r);
  }

  std::shared_ptr<TenantManager> tenants_;
  std::string admin_token_;
  std::size_t max_body_;
};

}  // namespace

std::shared_ptr<HttpBackend> make_tenant_backend(std::shared_ptr<TenantManager> tenants, std::string admin_token,
                                                 std::size_t max_body_bytes) {
  return std::make_shared<TenantBackend>(std::move(tenants), std::move(admin_token), max_body_bytes);
}

}  // namespace shmcp::executor
