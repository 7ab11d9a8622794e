// shmcp executor: the sidecar that serves the MCP filesystem tools over the shared-memory channel,
// HTTP and MCP, running every call in sandboxed worker processes.
//
// Process model: the supervisor (this process) creates the channel, spawns `--workers` worker
// processes (fork + exec of our own binary with the hidden `worker` subcommand, so each starts
// single-threaded), watches them, enforces per-call deadlines by killing a worker whose call
// overran, and respawns workers that died, answering their in-flight call with an error. Workers
// read requests straight from the clients' lanes: dispatch never hops through the supervisor.
// The HTTP and MCP frontends are ordinary channel clients inside the supervisor.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "channel/channel.hpp"
#include "channel/base/result.hpp"
#include "executor/tools/tools.hpp"

namespace shmcp::executor {

inline constexpr const char* kVersion = "0.1.0";
inline constexpr int kExitSandboxFailed = 78;  // worker could not apply the sandbox (EX_CONFIG)
// TEST-ONLY pseudo-tool, served only with `serve --enable-test-hooks` (off by default; an unknown
// tool otherwise): the worker makes a syscall the seccomp filter kills (unshare), so tests can
// check what a sandbox violation mid-call does (error answer, metric, respawn).
inline constexpr std::string_view kTestHookForbiddenSyscall = "__shmcp_test_forbidden_syscall";
// TEST-ONLY pseudo-tool, same condition: write_file's arguments; the worker abort()s once the
// content is in its temp file, before naming it, so tests can check what a worker dying mid-write
// leaves in the workspace.
inline constexpr std::string_view kTestHookAbortMidWrite = "__shmcp_test_abort_mid_write";

struct ExecutorOptions {
  std::string workspace;                      // directory served (canonicalised)
  std::string channel;                        // segment name: <channel_config.dir>/shmcp.<channel>
  bool http = true;
  std::string http_host = "127.0.0.1";
  int http_port = 8002;
  std::uint32_t workers = 1;
  channel::WaitMode wait = channel::WaitMode::adaptive;
  std::uint64_t spin_ns = 50'000;
  std::string token;                          // from --token-file; empty = no auth
  bool read_only = false;
  bool allow_unsandboxed = false;
  std::uint64_t call_timeout_ms = 30'000;     // deadline for calls that carry none
  std::uint64_t max_call_timeout_ms = 600'000;
  channel::ChannelConfig channel_config;
  ToolOptions tools;
  std::string worker_exe;                     // binary to exec for workers (our own)
  std::string log_level = "info";
  bool test_hooks = false;                    // --enable-test-hooks: TEST-ONLY pseudo-tools
};

// What a status query reports; shared by GET /health and the channel's Health call.
nlohmann::json status_json(const channel::Segment& seg, const std::string& workspace, bool read_only);

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

 private:
  Supervisor() = default;
  Status spawn(std::uint32_t index);
  void monitor();
  void on_worker_exit(std::uint32_t index, int wstatus);

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
};

// The hidden `worker` subcommand: attach, sandbox, serve until killed. Returns the exit code.
int worker_main(int argc, char** argv);

}  // namespace shmcp::executor
