#include "orchestrator/cli_tenant.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "channel/base/cli.hpp"
#include "orchestrator/bounded_json.hpp"

namespace shmcp::cli_tenant {

namespace {

constexpr const char* kProg = "shmcp tenant";

std::vector<std::string> read_lines(const std::string& flag, const std::string& f) {
  std::ifstream in(f);
  if (!in) throw cli::UsageError("cannot read " + flag + " " + f);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  if (out.empty()) throw cli::UsageError(flag + " " + f + " is empty");
  return out;
}

struct Flags {
  std::string connect, root, group;
  std::string admin_token;
  std::vector<std::string> tokens;
  std::optional<std::uint64_t> bytes, files, calls, workers;
  bool purge = false;
  std::uint64_t timeout_ms = 30'000;
  std::vector<std::string> positional;
};

int run(const Flags& f) {
  if (f.positional.empty()) {
    std::fputs(kHelp, stderr);
    return 2;
  }
  const std::string& cmd = f.positional[0];
  const bool needs_name = cmd != "list";
  if (cmd != "create" && cmd != "list" && cmd != "show" && cmd != "update" && cmd != "drain" && cmd != "delete") {
    std::fprintf(stderr, "%s: unknown command '%s'\n\n%s", kProg, cmd.c_str(), kHelp);
    return 2;
  }
  if (needs_name && f.positional.size() != 2) {
    std::fprintf(stderr, "%s %s: NAME is required\n", kProg, cmd.c_str());
    return 2;
  }
  if (!needs_name && f.positional.size() != 1) {
    std::fprintf(stderr, "%s list takes no NAME\n", kProg);
    return 2;
  }
  if (f.connect.rfind("http://", 0) != 0) {
    std::fprintf(stderr, "%s: --connect http://HOST:PORT is required\n", kProg);
    return 2;
  }
  if (f.admin_token.empty()) {
    std::fprintf(stderr, "%s: --admin-token-file is required\n", kProg);
    return 2;
  }
  const std::string name = needs_name ? f.positional[1] : "";
  nlohmann::json quota = nlohmann::json::object();
  if (f.bytes) quota["bytes"] = *f.bytes;
  if (f.files) quota["files"] = *f.files;
  if (f.calls) quota["calls_in_flight"] = *f.calls;

  httplib::Client http(f.connect);
  const auto secs = static_cast<time_t>(f.timeout_ms / 1000);
  const auto usecs = static_cast<time_t>((f.timeout_ms % 1000) * 1000);
  http.set_connection_timeout(secs, usecs);
  http.set_read_timeout(secs, usecs);
  http.set_write_timeout(secs, usecs);
  const httplib::Headers headers = {{"Authorization", "Bearer " + f.admin_token}};
  auto send = [&]() -> httplib::Result {
    if (cmd == "create") {
      nlohmann::json body = {{"name", name}};
      if (!f.root.empty()) body["root"] = f.root;
      if (!f.tokens.empty()) body["tokens"] = f.tokens;
      if (!f.group.empty()) {
        const bool numeric = f.group.find_first_not_of("0123456789") == std::string::npos;
        if (numeric) body["group"] = std::stoull(f.group);
        else body["group"] = f.group;
      }
      if (f.workers) body["workers"] = *f.workers;
      if (!quota.empty()) body["quota"] = quota;
      return http.Post("/admin/tenants", headers, body.dump(), "application/json");
    }
    if (cmd == "list") return http.Get("/admin/tenants", headers);
    if (cmd == "show") return http.Get("/admin/tenants/" + name, headers);
    if (cmd == "update")
      return http.Patch("/admin/tenants/" + name, headers, nlohmann::json{{"quota", quota}}.dump(), "application/json");
    if (cmd == "drain") return http.Post("/admin/tenants/" + name + "/drain", headers, "{}", "application/json");
    return http.Delete("/admin/tenants/" + name + (f.purge ? "?purge=1" : ""), headers);
  };
  if (cmd == "update" && quota.empty()) {
    std::fprintf(stderr, "%s update: give at least one of --quota-bytes, --quota-files, --calls-in-flight\n", kProg);
    return 2;
  }
  const httplib::Result res = send();
  if (!res) {
    std::fprintf(stderr, "%s: cannot reach %s: %s\n", kProg, f.connect.c_str(), httplib::to_string(res.error()).c_str());
    return 2;
  }
  nlohmann::json j;
  const bool json_ok = parse_json_bounded(res->body, j) == JsonFault::none;
  if (res->status >= 200 && res->status < 300) {
    std::cout << (json_ok ? j.dump(2) : res->body) << "\n";
    return 0;
  }
  const std::string why = json_ok && j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : res->body;
  std::fprintf(stderr, "%s %s: HTTP %d: %s\n", kProg, cmd.c_str(), res->status, why.c_str());
  return res->status == 401 || res->status == 403 ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("shmcp tenant", kProg);
  cli::configure(app, kHelp);
  Flags f;
  app.add_option("--connect", f.connect);
  app.add_option_function<std::string>("--admin-token-file", [&f](const std::string& v) { f.admin_token = read_lines("--admin-token-file", v).front(); });
  app.add_option_function<std::string>("--token-file", [&f](const std::string& v) { f.tokens = read_lines("--token-file", v); });
  app.add_option("--root", f.root);
  app.add_option("--group", f.group);
  app.add_option_function<std::string>("--quota-bytes", [&f](const std::string& v) { f.bytes = cli::parse_u64("--quota-bytes", v); });
  app.add_option_function<std::string>("--quota-files", [&f](const std::string& v) { f.files = cli::parse_u64("--quota-files", v); });
  app.add_option_function<std::string>("--calls-in-flight", [&f](const std::string& v) { f.calls = cli::parse_u64("--calls-in-flight", v, 0, 4096); });
  app.add_option_function<std::string>("--workers", [&f](const std::string& v) { f.workers = cli::parse_u64("--workers", v, 1, 64); });
  app.add_flag("--purge", f.purge);
  cli::number(app, "--timeout-ms", f.timeout_ms, 1, 3'600'000);
  // argv[1] is "tenant": parse from there as the program name. COMMAND [NAME] are left over.
  cli::parse_or_exit(kProg, app, argc - 1, argv + 1, &app, &f.positional);
  return run(f);
}

}  // namespace shmcp::cli_tenant
