// shmcp executor, supervisor: creates the channel, spawns and watches the workers, enforces call
// deadlines and answers for workers that died (see executor.hpp for the process model).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "channel/base/result.hpp"
#include "channel/segment.hpp"
#include "executor/executor.hpp"
#include "executor/tools/tools.hpp"
#include "executor/worker_budget.hpp"
#include "sandbox/workspace.hpp"

namespace shmcp::executor {

class Supervisor {
 public:
  // Creates the channel, spawns the workers and waits until each is sandboxed and serving. Fails
  // (and cleans up) if a worker cannot apply the sandbox, unless allow_unsandboxed.
  // A lazy pool (options.lazy_workers) starts no worker here: the first request that waits in a
  // lane starts them (budget permitting: each live worker holds one unit of `budget`, if given).
  static Result<std::unique_ptr<Supervisor>> start(const ExecutorOptions& options,
                                                   std::shared_ptr<WorkerBudget> budget = nullptr);
  ~Supervisor();

  // Graceful stop: marks the channel closing, lets in-flight calls finish (bounded), kills the
  // workers and removes the segment. Idempotent; called by the destructor.
  void stop();

  const ExecutorOptions& options() const noexcept { return opt_; }
  channel::Segment& segment() const noexcept { return *seg_; }
  std::uint64_t worker_restarts() const noexcept { return restarts_.load(); }
  std::vector<pid_t> worker_pids() const;
  std::uint32_t workers_alive() const;  // worker processes running (a lazy pool may have none)
  std::string metrics_text() const;  // Prometheus exposition of the channel's counters

  // The workspace's storage quota (limits as configured, usage as the tools counted it), or
  // std::nullopt when no quota is set. Any thread.
  std::optional<QuotaUsage> quota_usage() const;
  // Recounts the workspace's usage. The tools only see their own changes: files created, grown or
  // removed by anything else (another process, a shell in the container) make the count drift until
  // this runs. Calls in flight meanwhile may leave it off by what they change. Any thread; errors
  // when no quota is set.
  Result<QuotaUsage> rescan_quota();
  // New limits (0: unlimited) for a supervisor started with a quota; Errc::invalid_argument
  // without one (its tools count nothing). Calls already past their reservation keep it. Any
  // thread.
  Status set_quota_limits(std::uint64_t bytes, std::uint64_t files);

 private:
  Supervisor() = default;
  Status spawn(std::uint32_t index);
  void monitor();
  // Lazy pools: a request waits in a lane no worker has taken.
  bool request_waiting() const;
  // Lazy pools with no worker running: sleeps on the doorbell (clients ring it for sleepers) up
  // to `ns`, so a pool that stays idle costs no 5 ms polling and a first call is seen at once.
  void wait_for_demand(std::uint64_t ns);
  void on_worker_exit(std::uint32_t index, int wstatus);
  Status start_quota();  // supervisor_quota.cpp


  struct Worker {
    pid_t pid = -1;
    bool killed_for_deadline = false;
    std::uint64_t last_spawn_ns = 0;
    std::uint32_t quick_deaths = 0;
    bool idle = false;      // not started or exited idle (lazy pools): started on demand, not respawned
    bool budgeted = false;  // holds a unit of budget_
  };

  ExecutorOptions opt_;
  std::shared_ptr<channel::Segment> seg_;
  sandbox::UniqueFd ws_fd_;
  std::string root_;
  mutable std::mutex mu_;
  std::vector<Worker> workers_;
  std::shared_ptr<WorkerBudget> budget_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};  // stop(): no more respawns, monitor still running
  std::atomic<std::uint64_t> restarts_{0};
  std::unique_ptr<std::thread> monitor_;
  QuotaMapping quota_;     // set when opt_ has a quota; shared with every worker
  UniqueFd quota_fd_;
  // The limits as configured (quota_usage reports these, not the block's, which workers can
  // write); set_quota_limits changes both.
  std::atomic<std::uint64_t> limit_bytes_{0}, limit_files_{0};      // its memfd, numbered above the fds a worker's are dup2'ed to
};
}  // namespace shmcp::executor
