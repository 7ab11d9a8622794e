// The executor's tenants (serve --tenants FILE or the admin API): one Tenant per name, each with
// its own root, channel, lazily started worker pool and tokens, all under one cap on live worker
// processes. The HTTP frontend routes a request to the tenant its bearer token belongs to; the
// admin API and `shmcp tenant` create, list, update, drain and delete tenants at run time.
//
// Threading: every public function may be called from any thread (HTTP connection threads);
// the tenant map is guarded by one mutex that is never held across a tenant's start or stop.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "channel/base/result.hpp"
#include "executor/executor.hpp"
#include "executor/tenants/tenant.hpp"
#include "executor/tenants/tenant_config.hpp"
#include "executor/worker_budget.hpp"

namespace shmcp::executor {

struct TenantManagerOptions {
  ExecutorOptions base;             // see Tenant::start
  std::uint32_t max_workers = 64;   // live worker processes over all tenants
  std::uint32_t max_tenants = 1000;
  // Where tenants created through the admin API (with their tokens) and quota changes of
  // declared tenants are kept, so that a restarted executor serves them again ("": nowhere,
  // they last as long as the process). Written atomically (0600) after every such change.
  std::string state_file;
};

class TenantManager {
 public:
  // Starts the declared tenants (their pools start with their first call). Before that, proves
  // once that a worker can be sandboxed here (a probe pool over the workspace, read-only, that
  // is stopped again): the executor refuses to run otherwise, as without tenants.
  static Result<std::unique_ptr<TenantManager>> start(TenantManagerOptions opts, const std::vector<TenantSpec>& specs);
  ~TenantManager();
  void stop();  // every tenant, in parallel drains

  std::shared_ptr<Tenant> find(const std::string& name) const;
  // The tenant one of whose tokens `bearer` is; nullptr if none (every tenant is compared, in
  // constant time per token, so timing says nothing about which one nearly matched).
  std::shared_ptr<Tenant> find_by_token(std::string_view bearer) const;

  // Errc::busy if the name or a token is taken. Saved to the state file, if any.
  Result<nlohmann::json> create(const TenantSpec& spec);
  nlohmann::json list() const;                            // {"tenants": [describe()...], "volume": ..., "workers": ...}
  Result<nlohmann::json> update_quota(const std::string& name, const TenantQuota& q);
  Status drain(const std::string& name);
  // Drains and stops the tenant and removes its segment. With purge, its root is then removed
  // (beneath the workspace, never following symlinks); else its files are kept.
  Status remove(const std::string& name, bool purge);

  std::size_t size() const;
  // Prometheus text: each tenant's channel metrics with a tenant label, per-tenant usage gauges,
  // the worker budget and the workspace volume's usage (statfs).
  std::string metrics_text() const;
  const TenantManagerOptions& options() const noexcept { return opt_; }

 private:
  TenantManager() = default;
  Result<nlohmann::json> start_tenant(const TenantSpec& spec);
  // Reads the state file (absent: nothing to do) and serves what it holds.
  Status load_state();
  // Writes the state file from the tenants now served; logs (and returns) a failure.
  Status save_state() const;
  TenantManagerOptions opt_;
  std::set<std::string> declared_;                 // names from the --tenants file (under mu_)
  std::map<std::string, TenantQuota> overrides_;   // quota changes of declared tenants (under mu_)
  mutable std::mutex save_mu_;                     // one writer of the state file at a time
  std::shared_ptr<WorkerBudget> budget_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Tenant>> tenants_;
  std::map<std::string, bool> starting_;  // names being created or removed (outside mu_)
};

// statfs of the workspace volume: bytes and inodes used and free.
struct VolumeUsage {
  std::uint64_t bytes_total = 0, bytes_free = 0, inodes_total = 0, inodes_free = 0;
};
Result<VolumeUsage> volume_usage(const std::string& path);

// Prometheus text of several exporters merged into one exposition: every sample of `texts[i]`
// gets the label name="values[i]" and each metric family's HELP/TYPE lines appear once, its
// samples grouped under them (as the format requires).
std::string merge_labelled_metrics(const std::vector<std::pair<std::string, std::string>>& texts, const std::string& label);

}  // namespace shmcp::executor
