#include "tests/support/proc_fds.hpp"

#include <dirent.h>
#include <unistd.h>

#include <string_view>

namespace shmcp::testing {

namespace {

// Calls `fn(target)` with the readlink of each of `pid`'s descriptors; false if /proc/PID/fd
// cannot be read.
template <class Fn>
bool for_each_fd_target(pid_t pid, Fn fn) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  while (dirent* e = ::readdir(d)) {
    std::string link = dir;
    link.append("/").append(e->d_name);
    char target[4096];
    const ssize_t len = ::readlink(link.c_str(), target, sizeof target - 1);
    if (len > 0) fn(std::string_view(target, static_cast<std::size_t>(len)));
  }
  ::closedir(d);
  return true;
}

}  // namespace

int open_handles_on(pid_t pid, const std::string& path) {
  int n = 0;
  return for_each_fd_target(pid, [&](std::string_view t) { n += t == path; }) ? n : -1;
}

int open_sockets(pid_t pid) {
  int n = 0;
  return for_each_fd_target(pid, [&](std::string_view t) { n += t.starts_with("socket:"); }) ? n : -1;
}

}  // namespace shmcp::testing
