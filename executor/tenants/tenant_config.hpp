// What a tenant is configured with: its name, root, tokens, quotas and segment group, read from
// the --tenants file or from an admin API request body (the same JSON shape for both).
//
//   {"tenants": [{"name": "alice", "root": "alice", "token_file": "/run/secrets/alice",
//                 "tokens": ["..."], "group": "agents", "workers": 2,
//                 "quota": {"bytes": 1073741824, "files": 100000, "calls_in_flight": 8}}]}
//
// Everything but the name is optional: root defaults to <workspace>/<name> (a relative root is
// taken beneath the workspace; an absolute one must lie beneath it too), no token means the
// tenant is reached over shared memory only, no quota means unlimited (calls_in_flight defaults
// to the channel's lanes), no workers means the executor's --workers.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "channel/base/result.hpp"

namespace shmcp::executor {

struct TenantQuota {
  std::uint64_t bytes = 0;            // 0: unlimited
  std::uint64_t files = 0;            // 0: unlimited
  std::uint32_t calls_in_flight = 0;  // 0: the channel's lane count
};

struct TenantSpec {
  std::string name;
  std::string root;                  // relative to the workspace ("" = the name); see above
  std::vector<std::string> tokens;   // bearer tokens for HTTP and /mcp (from "tokens" and "token_file")
  std::optional<gid_t> group;        // segment 0660 with this group, else 0600
  std::uint32_t workers = 0;         // the size of its pool (0: the executor's --workers)
  TenantQuota quota;
};

// Names are what the segment and metric label are made of: 1-63 of [a-z0-9_-], starting with a
// letter or digit.
Status validate_tenant_name(std::string_view name);

// Resolves a "group" given by name (std::nullopt: no such group).
using GroupLookup = std::function<std::optional<gid_t>(const std::string&)>;
// The system's group database (getgrnam).
std::optional<gid_t> system_group(const std::string& name);

// One tenant object (see the header comment). Token files are read here; relative token file
// names are taken relative to `base_dir` (the tenants file's directory).
Result<TenantSpec> parse_tenant(const nlohmann::json& j, const std::string& base_dir,
                                const GroupLookup& group_of = system_group);
// The quota object alone, applied over `q` (fields absent keep their value): PATCH bodies.
Status parse_quota(const nlohmann::json& j, TenantQuota& q);
// The whole --tenants file; duplicate names and tokens are errors.
Result<std::vector<TenantSpec>> load_tenants_file(const std::string& path);
// A JSON file of the tenants file's kind (its size and depth limits), `what` naming it in errors;
// Errc::not_found if it does not exist.
Result<nlohmann::json> read_json_file(const std::string& path, const std::string& what);

nlohmann::json quota_json(const TenantQuota& q);

}  // namespace shmcp::executor
