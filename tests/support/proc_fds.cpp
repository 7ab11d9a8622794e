#include "tests/support/proc_fds.hpp"

#include <dirent.h>
#include <unistd.h>

namespace shmcp::testing {

int open_handles_on(pid_t pid, const std::string& path) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    std::string link = dir;
    link.append("/").append(e->d_name);
    char target[4096];
    const ssize_t len = ::readlink(link.c_str(), target, sizeof target - 1);
    if (len > 0 && std::string(target, static_cast<std::size_t>(len)) == path) ++n;
  }
  ::closedir(d);
  return n;
}

}  // namespace shmcp::testing
