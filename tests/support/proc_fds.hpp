// What a process has open, read from /proc, for tests that check handles are not kept or leaked.
#pragma once

#include <sys/types.h>

#include <string>

namespace shmcp::testing {

// How many of process `pid`'s descriptors refer to `path` (readlink of /proc/PID/fd/*; `path`
// must be canonical). -1 if /proc/PID/fd cannot be read.
int open_handles_on(pid_t pid, const std::string& path);

// How many of process `pid`'s descriptors are sockets; -1 if /proc/PID/fd cannot be read.
int open_sockets(pid_t pid);

}  // namespace shmcp::testing
