// shmcp sandbox: the one-way process lockdown (rlimits, no_new_privs, capabilities, Landlock,
// seccomp) each executor worker applies to itself once before serving any call.
//
// Threading: lock_down() must be called from a process that has exactly one thread (seccomp and
// Landlock are per thread).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "channel/base/result.hpp"
#include "sandbox/workspace.hpp"

namespace shmcp::sandbox {

struct Limits {
  std::uint64_t max_file_size = 1ull << 30;      // RLIMIT_FSIZE
  std::uint64_t max_open_files = 256;            // RLIMIT_NOFILE
  std::uint64_t max_address_space = 4ull << 30;  // RLIMIT_AS (0 = leave as is)
};

struct LockdownOptions {
  bool read_only = false;          // Landlock grants read rights only
  bool allow_unsandboxed = false;  // continue (with a warning) if Landlock/seccomp are unavailable
  Limits limits;
  // fds to keep open; the workspace fd is always kept. 0, 1 and 2 are never left closed: those not
  // kept are pointed at /dev/null, so no later open() can land on them and receive stray output.
  std::vector<int> keep_fds;
  // Under ASan/TSan/coverage the runtime makes extra syscalls; the filter then also allows those.
  bool sanitizer_runtime = false;
};

struct LockdownReport {
  int landlock_abi = 0;       // 0 when not applied
  bool seccomp = false;
  bool no_new_privs = false;
  bool caps_dropped = false;
  std::vector<std::string> warnings;  // what was skipped under allow_unsandboxed
};

// Best Landlock ABI the running kernel offers (0 if none). Safe to call anywhere.
int landlock_abi_version() noexcept;

// The Landlock layer of lock_down() on its own (also sets no_new_privs, which Landlock requires):
// restricts the calling thread to the workspace with the same rights lock_down() grants. Returns the
// ABI used. Exposed so tests can check Landlock's answers without seccomp in front of it.
Result<int> restrict_to_workspace(const Workspace& workspace, bool read_only);

// Applies, in order: close every fd not in keep_fds (close_range), rlimits, no_new_privs, drop all
// capabilities (bounding set, ambient, effective/permitted/inheritable), Landlock rooted at
// workspace (read-only rights with read_only; no execute, no device/FIFO/socket/symlink creation,
// no TCP bind/connect where the ABI supports it), then the seccomp allowlist (default action
// SECCOMP_RET_KILL_PROCESS). Call once, single-threaded, after tzset() and after mapping shared
// memory. A failure means the process must not serve calls (unless allow_unsandboxed).
// SIGXFSZ is ignored, so a write past max_file_size fails with EFBIG instead of killing the worker.
// A multi-threaded caller gets Errc::internal (the other threads would run unconfined). The exact
// syscall allowlist is documented at the top of sandbox/lockdown.cpp; anything else kills the
// process with SIGSYS, except mknod/mknodat which fail with EACCES.
Result<LockdownReport> lock_down(const Workspace& workspace, const LockdownOptions& options);

}  // namespace shmcp::sandbox
