#include "executor/tenants/tenant_config.hpp"

#include <grp.h>
#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "channel/layout.hpp"
#include "orchestrator/bounded_json.hpp"

namespace shmcp::executor {

namespace {

constexpr std::size_t kMaxTenantsFileBytes = 16u << 20;

Result<std::uint64_t> number_field(const nlohmann::json& j, const char* key, std::uint64_t max) {
  const auto& v = j.at(key);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
    return make_error(Errc::invalid_argument, std::string("\"") + key + "\" must be a non-negative integer");
  const std::uint64_t n = v.get<std::uint64_t>();
  if (n > max) return make_error(Errc::invalid_argument, std::string("\"") + key + "\" is at most " + std::to_string(max));
  return n;
}

Result<std::vector<std::string>> read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(Errc::not_found, "cannot read token file " + path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {  // one token per line: rotation = old and new side by side
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  if (out.empty()) return make_error(Errc::invalid_argument, "token file " + path + " is empty");
  return out;
}

Status check_token(const std::string& t) {
  if (t.size() < 16) return make_error(Errc::invalid_argument, "a tenant token must be at least 16 characters");
  if (t.size() > 4096) return make_error(Errc::invalid_argument, "a tenant token must be at most 4096 characters");
  for (char c : t)
    if (c <= ' ' || c == 0x7f) return make_error(Errc::invalid_argument, "a tenant token must be printable ASCII without spaces");
  return {};
}

}  // namespace

Status validate_tenant_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return make_error(Errc::invalid_argument, "tenant name must be 1-63 characters");
  if (name.front() == '-' || name.front() == '_')
    return make_error(Errc::invalid_argument, "tenant name must start with a letter or digit");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return make_error(Errc::invalid_argument, "tenant name may contain only a-z, 0-9, '_' and '-': '" + std::string(name) + "'");
  }
  return {};
}

Status parse_quota(const nlohmann::json& j, TenantQuota& q) {
  if (!j.is_object()) return make_error(Errc::invalid_argument, "\"quota\" must be an object");
  for (const auto& [k, v] : j.items()) {
    (void)v;
    if (k != "bytes" && k != "files" && k != "calls_in_flight")
      return make_error(Errc::invalid_argument, "unknown quota field \"" + k + "\" (bytes, files, calls_in_flight)");
  }
  if (j.contains("bytes")) {
    auto n = number_field(j, "bytes", 1ull << 60);
    if (!n) return n.error();
    q.bytes = *n;
  }
  if (j.contains("files")) {
    auto n = number_field(j, "files", 1ull << 40);
    if (!n) return n.error();
    q.files = *n;
  }
  if (j.contains("calls_in_flight")) {
    auto n = number_field(j, "calls_in_flight", 4096);
    if (!n) return n.error();
    q.calls_in_flight = static_cast<std::uint32_t>(*n);
  }
  return {};
}

std::optional<gid_t> system_group(const std::string& name) {
  const group* gr = getgrnam(name.c_str());
  if (!gr) return std::nullopt;
  return gr->gr_gid;
}

Result<TenantSpec> parse_tenant(const nlohmann::json& j, const std::string& base_dir, const GroupLookup& group_of) {
  if (!j.is_object()) return make_error(Errc::invalid_argument, "a tenant must be a JSON object");
  TenantSpec t;
  for (const auto& [k, v] : j.items()) {
    (void)v;
    if (k != "name" && k != "root" && k != "tokens" && k != "token_file" && k != "group" && k != "workers" && k != "quota")
      return make_error(Errc::invalid_argument,
                        "unknown tenant field \"" + k + "\" (name, root, tokens, token_file, group, workers, quota)");
  }
  if (!j.contains("name") || !j["name"].is_string()) return make_error(Errc::invalid_argument, "a tenant needs a \"name\" string");
  t.name = j["name"].get<std::string>();
  if (auto s = validate_tenant_name(t.name); !s) return s.error();
  auto where = [&t](const Error& e) { return make_error(e.code, "tenant " + t.name + ": " + e.message); };
  if (j.contains("root")) {
    if (!j["root"].is_string() || j["root"].get<std::string>().empty())
      return where(Error{Errc::invalid_argument, "\"root\" must be a non-empty string"});
    t.root = j["root"].get<std::string>();
  }
  if (j.contains("tokens")) {
    if (!j["tokens"].is_array()) return where(Error{Errc::invalid_argument, "\"tokens\" must be an array of strings"});
    for (const auto& tok : j["tokens"]) {
      if (!tok.is_string()) return where(Error{Errc::invalid_argument, "\"tokens\" must be an array of strings"});
      t.tokens.push_back(tok.get<std::string>());
    }
  }
  if (j.contains("token_file")) {
    if (!j["token_file"].is_string()) return where(Error{Errc::invalid_argument, "\"token_file\" must be a string"});
    std::string path = j["token_file"].get<std::string>();
    if (!path.empty() && path.front() != '/' && !base_dir.empty()) path = base_dir + "/" + path;
    auto toks = read_token_file(path);
    if (!toks) return where(toks.error());
    t.tokens.insert(t.tokens.end(), toks->begin(), toks->end());
  }
  for (const auto& tok : t.tokens)
    if (auto s = check_token(tok); !s) return where(s.error());
  if (j.contains("group")) {
    const auto& g = j["group"];
    if (g.is_number_unsigned()) {
      t.group = static_cast<gid_t>(g.get<std::uint64_t>());
    } else if (g.is_string()) {
      const std::optional<gid_t> gid = group_of(g.get<std::string>());
      if (!gid) return where(Error{Errc::invalid_argument, "unknown group '" + g.get<std::string>() + "'"});
      t.group = *gid;
    } else {
      return where(Error{Errc::invalid_argument, "\"group\" must be a name or a gid"});
    }
  }
  if (j.contains("workers")) {
    const auto& w = j["workers"];
    if (!w.is_number_unsigned() || w.get<std::uint64_t>() < 1 || w.get<std::uint64_t>() > channel::kMaxWorkers)
      return where(Error{Errc::invalid_argument, std::string("\"workers\" must be an integer from 1 to ").append(std::to_string(channel::kMaxWorkers))});
    t.workers = static_cast<std::uint32_t>(w.get<std::uint64_t>());
  }
  if (j.contains("quota"))
    if (auto s = parse_quota(j["quota"], t.quota); !s) return where(s.error());
  return t;
}

Result<nlohmann::json> read_json_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return sys_error(errno == ENOENT ? Errc::not_found : Errc::io, "cannot read " + what + " " + path, errno);
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, "cannot read " + what + " " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  if (const JsonFault f = parse_json_bounded(ss.str(), j, {kMaxJsonDepth, kMaxTenantsFileBytes}); f != JsonFault::none)
    return make_error(Errc::invalid_argument, what + " " + path + ": " + std::string(describe(f)) + " JSON");
  return j;
}

Result<std::vector<TenantSpec>> load_tenants_file(const std::string& path) {
  auto parsed = read_json_file(path, "--tenants file");
  if (!parsed) return parsed.error();
  const nlohmann::json& j = *parsed;
  if (!j.is_object() || !j.contains("tenants") || !j["tenants"].is_array())
    return make_error(Errc::invalid_argument, path + ": expected {\"tenants\": [...]}");
  const auto slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  std::vector<TenantSpec> out;
  std::set<std::string> names, tokens;
  for (const auto& tj : j["tenants"]) {
    auto t = parse_tenant(tj, base);
    if (!t) return make_error(t.error().code, path + ": " + t.error().message);
    if (!names.insert(t->name).second) return make_error(Errc::invalid_argument, path + ": tenant " + t->name + " is declared twice");
    for (const auto& tok : t->tokens)
      if (!tokens.insert(tok).second)
        return make_error(Errc::invalid_argument, path + ": tenant " + t->name + " reuses another tenant's token");
    out.push_back(std::move(*t));
  }
  return out;
}

nlohmann::json quota_json(const TenantQuota& q) {
  return {{"bytes", q.bytes}, {"files", q.files}, {"calls_in_flight", q.calls_in_flight}};
}

}  // namespace shmcp::executor
