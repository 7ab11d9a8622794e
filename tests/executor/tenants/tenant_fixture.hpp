// A real `shmcp-executor serve --tenants` with two tenants, alice and bob, each with a bearer
// token and a secret file in its root, plus the admin token; helpers to call a tenant's tools over
// shm, POST /execute and /mcp, and to speak the admin API. The layout:
//   BASE/ws/{alice,bob}      the tenants' roots (the workspace is BASE/ws)
//   BASE/outside             next to the workspace, never reachable
//   BASE/tenants.json, BASE/{alice,bob,admin}.token
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "orchestrator/client.hpp"
#include "tests/support/executor_process.hpp"
#include "tests/support/sandbox_dirs.hpp"

namespace shmcp::testing {

inline const std::string kAliceToken = "alice-token-0123456789abcdef";
inline const std::string kBobToken = "bob-token-0123456789abcdef-bob";
inline const std::string kAdminToken = "admin-token-0123456789abcdef";
inline const std::string kBobSecret = "BOB-SECRET-4b1d";
inline const std::string kAliceSecret = "ALICE-SECRET-77aa";

struct HttpAnswer {
  int status = 0;  // 0: no response
  std::string body;
  nlohmann::json json;  // body parsed (null if not JSON)
  std::string session;  // Mcp-Session-Id
};

class TenantExecutor {
 public:
  // extra: more serve flags; tenants_json: the "tenants" array (default alice and bob, tokens
  // from files).
  explicit TenantExecutor(const std::string& tag, std::vector<std::string> extra = {}, std::string tenants_json = "");
  bool start(std::string* why);
  // Stops the executor (SIGTERM, exit 0 expected) and starts a new one with the same flags.
  bool restart(std::string* why);

  SandboxDirs dirs;
  std::string channel;
  std::unique_ptr<ExecutorProcess> ex;

  std::string root(const std::string& tenant) const { return dirs.ws() + "/" + tenant; }
  std::string shm_url(const std::string& tenant) const { return "shm://" + channel + "." + tenant; }
  std::string segment(const std::string& tenant) const { return "/dev/shm/shmcp." + channel + "." + tenant; }

  HttpAnswer request(const std::string& method, const std::string& path, const std::string& token,
                     const std::string& body = "", const std::string& session = "") const;
  // POST /execute {tool, arguments} with a tenant's token.
  HttpAnswer execute(const std::string& token, const std::string& tool, const nlohmann::json& args) const;
  // An initialized /mcp session for the token ("" on failure), and a tools/call in it.
  std::string mcp_session(const std::string& token) const;
  HttpAnswer mcp_call(const std::string& token, const std::string& session, const std::string& tool,
                      const nlohmann::json& args) const;
  HttpAnswer admin(const std::string& method, const std::string& path, const std::string& body = "") const {
    return request(method, path, kAdminToken, body);
  }
  std::unique_ptr<Client> shm_client(const std::string& tenant) const;

 private:
  std::vector<std::string> args_;
};

// The text of a CallToolResult (its first content block), "" if none.
std::string result_text(const nlohmann::json& result);

}  // namespace shmcp::testing
