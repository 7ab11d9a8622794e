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
#include "executor/tools/quota.hpp"
#include "sandbox/workspace.hpp"

namespace shmcp::executor {

class Supervisor {
 public:
  // Creates the channel, spawns the workers and waits until each is sandboxed and serving. Fails
  // (and cleans up) if a worker cannot apply the sandbox, unless allow_unsandboxed.
  static Result<std::unique_ptr<Supervisor>> start(const ExecutorOptions& options);
  ~Supervisor();

  // Graceful stop: marks the channel closing, lets in-flight calls finish (bounded), kills the
  // workers and removes the segment. Idempotent; called by the destructor.
  void stop();

  const ExecutorOptions& options() const noexcept { return opt_; }
  channel::Segment& segment() const noexcept { return *seg_; }
  std::uint64_t worker_restarts() const noexcept { return restarts_.load(); }
  std::vector<pid_t> worker_pids() const;
  std::string metrics_text() const;  // Prometheus exposition of the channel's counters

  // The workspace's storage quota (limits as configured, usage as the tools counted it), or
  // std::nullopt when no quota is set. Any thread.
  std::optional<QuotaUsage> quota_usage() const;
  // Recounts the workspace's usage. The tools only see their own changes: files created, grown or
  // removed by anything else (another process, a shell in the container) make the count drift until
  // this runs. Calls in flight meanwhile may leave it off by what they change. Any thread; errors
  // when no quota is set.
  Result<QuotaUsage> rescan_quota();

 private:
  Supervisor() = default;
  Status spawn(std::uint32_t index);
  void monitor();
  void on_worker_exit(std::uint32_t index, int wstatus);
  Status start_quota();  // supervisor_quota.cpp


  struct Worker {
    pid_t pid = -1;
    bool killed_for_deadline = false;
    std::uint64_t last_spawn_ns = 0;
    std::uint32_t quick_deaths = 0;
  };

  ExecutorOptions opt_;
  std::shared_ptr<channel::Segment> seg_;
  sandbox::UniqueFd ws_fd_;
  std::string root_;
  mutable std::mutex mu_;
  std::vector<Worker> workers_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};  // stop(): no more respawns, monitor still running
  std::atomic<std::uint64_t> restarts_{0};
  std::unique_ptr<std::thread> monitor_;
  QuotaMapping quota_;     // set when opt_ has a quota; shared with every worker
  UniqueFd quota_fd_;      // its memfd, numbered above the fds a worker's are dup2'ed to
};
}  // namespace shmcp::executor
