// What a process has open, read from /proc, for tests that check handles are not kept or leaked.
#pragma once

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>

namespace shmcp::testing {

// How many of process `pid`'s descriptors refer to `path` (readlink of /proc/PID/fd/*; `path`
// must be canonical). -1 if /proc/PID/fd cannot be read.
inline int open_handles_on(pid_t pid, const std::string& path) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    char target[4096];
    const ssize_t len = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (len > 0 && std::string(target, static_cast<std::size_t>(len)) == path) ++n;
  }
  ::closedir(d);
  return n;
}

}  // namespace shmcp::testing
