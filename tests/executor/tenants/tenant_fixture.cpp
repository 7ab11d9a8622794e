#include "tests/executor/tenants/tenant_fixture.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/files.hpp"

namespace shmcp::testing {

TenantExecutor::TenantExecutor(const std::string& tag, std::vector<std::string> extra, std::string tenants_json)
    : dirs(tag), channel(unique_channel(tag)) {
  write_file(dirs.base() + "/alice.token", kAliceToken + "\n");
  write_file(dirs.base() + "/bob.token", kBobToken + "\n");
  write_file(dirs.base() + "/admin.token", kAdminToken + "\n");
  if (tenants_json.empty())
    tenants_json = R"([{"name": "alice", "token_file": "alice.token"}, {"name": "bob", "token_file": "bob.token"}])";
  write_file(dirs.base() + "/tenants.json", "{\"tenants\": " + tenants_json + "}\n");
  // The roots exist before the executor (as when an orchestrator prepared them): each holds a secret.
  ::mkdir(root("alice").c_str(), 0755);
  ::mkdir(root("bob").c_str(), 0755);
  write_file(root("alice") + "/secret.txt", kAliceSecret);
  write_file(root("bob") + "/secret.txt", kBobSecret);
  write_file(dirs.outside() + "/secret.txt", "OUTSIDE-SECRET");
  std::vector<std::string> args = {"--tenants", dirs.base() + "/tenants.json", "--admin-token-file", dirs.base() + "/admin.token"};
  args.insert(args.end(), extra.begin(), extra.end());
  args_ = args;
  ex = std::make_unique<ExecutorProcess>(dirs.ws(), channel, args);
}

bool TenantExecutor::start(std::string* why) { return dirs.ok() && ex->start(why); }

bool TenantExecutor::restart(std::string* why) {
  if (const int rc = ex->stop(); rc != 0) {
    if (why) *why = std::string("the executor exited with ").append(std::to_string(rc)).append("\n").append(ex->stderr_text());
    return false;
  }
  ex = std::make_unique<ExecutorProcess>(dirs.ws(), channel, args_);
  return ex->start(why);
}

HttpAnswer TenantExecutor::request(const std::string& method, const std::string& path, const std::string& token,
                                   const std::string& body, const std::string& session) const {
  httplib::Client c("127.0.0.1", ex->port());
  c.set_read_timeout(30, 0);
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  if (!session.empty()) h.emplace("Mcp-Session-Id", session);
  h.emplace("Accept", "application/json, text/event-stream");
  auto send = [&]() -> httplib::Result {
    if (method == "GET") return c.Get(path, h);
    if (method == "DELETE") return c.Delete(path, h);
    if (method == "PATCH") return c.Patch(path, h, body, "application/json");
    return c.Post(path, h, body, "application/json");
  };
  const httplib::Result r = send();
  HttpAnswer a;
  if (!r) return a;
  a.status = r->status;
  a.body = r->body;
  a.json = nlohmann::json::parse(r->body, nullptr, false);
  if (a.json.is_discarded()) a.json = nullptr;
  a.session = r->get_header_value("Mcp-Session-Id");
  return a;
}

HttpAnswer TenantExecutor::execute(const std::string& token, const std::string& tool, const nlohmann::json& args) const {
  return request("POST", "/execute", token, nlohmann::json{{"tool", tool}, {"arguments", args}}.dump());
}

std::string TenantExecutor::mcp_session(const std::string& token) const {
  const nlohmann::json init = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                               {"params", {{"protocolVersion", "2025-06-18"}, {"capabilities", nlohmann::json::object()},
                                           {"clientInfo", {{"name", "tenant-test"}, {"version", "1"}}}}}};
  HttpAnswer a = request("POST", "/mcp", token, init.dump());
  if (a.status != 200 || a.session.empty()) return "";
  (void)request("POST", "/mcp", token, R"({"jsonrpc":"2.0","method":"notifications/initialized"})", a.session);
  return a.session;
}

HttpAnswer TenantExecutor::mcp_call(const std::string& token, const std::string& session, const std::string& tool,
                                    const nlohmann::json& args) const {
  const nlohmann::json call = {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/call"}, {"params", {{"name", tool}, {"arguments", args}}}};
  HttpAnswer a = request("POST", "/mcp", token, call.dump(), session);
  if (a.json.is_object() && a.json.contains("result")) a.json = a.json["result"];
  return a;
}

std::unique_ptr<Client> TenantExecutor::shm_client(const std::string& tenant) const {
  auto c = Client::connect(shm_url(tenant));
  if (!c) return nullptr;
  return std::move(*c);
}

std::string result_text(const nlohmann::json& result) {
  if (!result.is_object() || !result.contains("content") || !result["content"].is_array() || result["content"].empty()) return "";
  const auto& b = result["content"][0];
  return b.is_object() && b.contains("text") && b["text"].is_string() ? b["text"].get<std::string>() : "";
}

}  // namespace shmcp::testing
