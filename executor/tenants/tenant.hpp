// One tenant at run time: its own root beneath the workspace, channel segment, lazily started
// pool of sandboxed workers (a Supervisor whose workspace is that root alone), the frontends'
// client of that channel, its /mcp sessions, and its HTTP calls in flight. Created and destroyed
// by the TenantManager; any thread may use a Tenant it holds a shared_ptr to.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "channel/base/result.hpp"
#include "executor/executor.hpp"
#include "executor/supervisor.hpp"
#include "executor/tenants/cpu_group.hpp"
#include "executor/tenants/tenant_config.hpp"
#include "executor/worker_budget.hpp"
#include "orchestrator/client.hpp"

namespace shmcp::executor {

class McpHttp;

// Lanes of a tenant's segment without a calls_in_flight quota (--lanes caps it either way).
inline constexpr std::uint32_t kDefaultTenantLanes = 8;

class Tenant {
 public:
  // `base` holds the executor-wide settings (workspace, channel prefix, shm dir, workers per
  // tenant, wait mode, timeouts, tool limits); the tenant's root, channel, group and quotas
  // replace its own. The root is created beneath the workspace if missing.
  static Result<std::shared_ptr<Tenant>> start(const ExecutorOptions& base, const TenantSpec& spec,
                                               std::shared_ptr<WorkerBudget> budget);
  ~Tenant();

  const std::string& name() const noexcept { return name_; }
  const std::string& root() const noexcept { return root_; }        // canonical absolute path
  const std::string& channel() const noexcept { return channel_; }  // segment name
  std::string shm_url() const;
  Supervisor& supervisor() noexcept { return *sup_; }
  // The frontends' client of the channel and the tenant's /mcp sessions; null once stopped. A
  // request holds its own references, so stop() racing it never frees what it uses.
  std::shared_ptr<Client> client() const;
  std::shared_ptr<McpHttp> mcp() const;

  TenantSpec spec() const;
  bool has_token(std::string_view bearer) const;  // constant time per token
  void set_quota(const TenantQuota& q);

  // HTTP and /mcp calls: enter() fails with Errc::busy at the calls_in_flight quota and with
  // Errc::closed once draining. Each successful enter() is paired with one leave().
  Status enter();
  void leave() noexcept;
  std::uint32_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

  // No new calls (HTTP refused, shm clients told "shutting down"); calls in flight finish.
  void drain();
  bool draining() const noexcept { return draining_.load(); }
  // Drains and stops: in-flight calls finish (bounded by the supervisor's drain timeout), the
  // workers stop and the segment is removed. Idempotent.
  void stop();

  // {name, root, channel, url, state, quota, usage}; usage has bytes/files (when quota'd),
  // calls_in_flight and workers.
  nlohmann::json describe() const;

 private:
  Tenant() = default;
  std::string name_, root_, channel_, shm_dir_;
  mutable std::mutex mu_;  // spec_, client_, mcp_
  TenantSpec spec_;
  CpuGroup cpu_group_;  // its workers' cgroup (serve --tenant-cgroup), removed after they stop
  std::unique_ptr<Supervisor> sup_;
  std::shared_ptr<Client> client_;
  std::shared_ptr<McpHttp> mcp_;
  std::atomic<std::uint32_t> in_flight_{0};
  std::atomic<std::uint32_t> max_in_flight_{0};
  std::atomic<bool> draining_{false};
  std::once_flag stopped_;
};

// A tenant's root relative to the workspace: spec.root, else the name. Lexically checked: no
// empty, "." or ".." component, and an absolute root must continue `workspace` on a component
// boundary. Returns the relative form ("users/alice").
Result<std::string> tenant_relative_root(const std::string& workspace, const TenantSpec& spec);

}  // namespace shmcp::executor
