// shmcp executor: the sidecar that serves the MCP filesystem tools over the shared-memory channel,
// HTTP and MCP, running every call in sandboxed worker processes.
//
// Process model: the supervisor (this process) creates the channel, spawns `--workers` worker
// processes (fork + exec of our own binary with the hidden `worker` subcommand, so each starts
// single-threaded), watches them, enforces per-call deadlines by killing a worker whose call
// overran, and respawns workers that died, answering their in-flight call with an error. Workers
// read requests straight from the clients' lanes: dispatch never hops through the supervisor.
// The HTTP and MCP frontends are ordinary channel clients inside the supervisor.
//
// This header: what the supervisor and its workers share (version, exit codes, test hooks, the
// options). supervisor.hpp, worker.hpp and status.hpp declare the three parts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "channel/segment.hpp"
#include "executor/tools/tools.hpp"

namespace shmcp::executor {

inline constexpr const char* kVersion = "0.1.0";
inline constexpr int kExitSandboxFailed = 78;  // worker could not apply the sandbox (EX_CONFIG)
inline constexpr int kExitCgroupFailed = 79;   // a forked worker could not join its tenant's cgroup
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
  // The workers' CFS/EEVDF slice (sched_setattr sched_runtime, Linux >= 6.12; 0: the kernel's
  // default). A short slice lets a worker woken for a call preempt a busy one (another tenant's
  // saturated pool) within it, instead of after a default slice of milliseconds.
  std::uint64_t worker_slice_us = 0;
  // serve --tenant-cgroup: the directory each tenant's CPU group is made in (tenants only).
  std::string tenant_cgroup;
  // The cgroup.procs file every worker joins before exec (a tenant's CPU group; empty: none).
  std::string worker_cgroup_procs;
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
  // A lazily started pool (tenants): no worker runs until a request waits in a lane, and workers
  // exit after idle_stop_ms without a call (0: they never do). Eager pools (the default) start
  // every worker in Supervisor::start and respawn them whenever they die.
  bool lazy_workers = false;
  std::uint64_t idle_stop_ms = 0;
  // Storage quota of the workspace, enforced by the write tools (executor/tools/quota.hpp); 0 =
  // unlimited. With either set, the supervisor counts the workspace's usage at start.
  std::uint64_t quota_bytes = 0;
  std::uint64_t quota_files = 0;
  // Count usage even with no limit set, so that limits can be set later (Supervisor::
  // set_quota_limits: a tenant's quota changed through the admin API).
  bool count_usage = false;
};

}  // namespace shmcp::executor
