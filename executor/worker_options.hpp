// What a worker process is started with: the supervisor serialises it into the worker's command
// line (to_argv) and the worker parses it back (parse_worker_options), so the two cannot drift
// apart. Every field round-trips (tests/executor/worker_options_test.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "channel/base/result.hpp"
#include "channel/channel.hpp"
#include "executor/tools/tools.hpp"

namespace shmcp::executor {

struct WorkerOptions {
  std::string channel;                        // segment name (required)
  std::string shm_dir = std::string(channel::kDefaultShmDir);
  std::string root;                           // the workspace's canonical path (required)
  std::uint32_t index = 0;                    // worker slot, < channel::kMaxWorkers
  int control_fd = -1;                        // the inherited control region (required)
  int quota_fd = -1;                          // the inherited quota block (quota.hpp); -1: no quota
  bool read_only = false;                     // Landlock read-only (tools.read_only follows it)
  bool allow_unsandboxed = false;
  channel::WaitPolicy policy;
  // Serialised but for read_only (parsing sets it to read_only above, as the worker's tools follow
  // its Landlock mode) and test_abort_after_fill (the worker sets it on its own test-hook copy).
  ToolOptions tools;
  std::uint64_t call_timeout_ms = 30'000;
  std::uint64_t max_call_timeout_ms = 600'000;
  std::string log_level = "info";
  bool test_hooks = false;                    // TEST-ONLY pseudo-tools (serve --enable-test-hooks)
  // A lazily started pool's worker exits (WorkerState::stopped) after this long without a
  // request; 0: serves until killed.
  std::uint64_t idle_exit_ms = 0;
  std::uint64_t slice_us = 0;  // ExecutorOptions::worker_slice_us
};

// exe, "worker", then the options as flags.
std::vector<std::string> to_argv(const WorkerOptions& o, const std::string& exe);

// Parses the flags after "worker" (argv[0] the program, argv[1] "worker").
Result<WorkerOptions> parse_worker_options(int argc, const char* const* argv);

}  // namespace shmcp::executor
