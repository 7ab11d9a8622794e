#include "executor/tenants/cpu_group.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "channel/base/log.hpp"

namespace shmcp::executor {

namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string read_small(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool has_word(const std::string& list, const std::string& word) {
  std::istringstream in(list);
  std::string w;
  while (in >> w)
    if (w == word) return true;
  return false;
}

// "+cpu" into a v2 directory's subtree_control: its children get the cpu controller (cpu.weight).
Status enable_cpu_for_children(const std::string& parent) {
  if (has_word(read_small(parent + "/cgroup.subtree_control"), "cpu")) return {};
  if (!has_word(read_small(parent + "/cgroup.controllers"), "cpu"))
    return make_error(Errc::invalid_argument, "--tenant-cgroup " + parent + ": the cpu controller is not available there (cgroup.controllers)");
  const int fd = ::open((parent + "/cgroup.subtree_control").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return sys_error(Errc::access_denied, "--tenant-cgroup " + parent + ": open cgroup.subtree_control", errno);
  const bool ok = ::write(fd, "+cpu", 4) == 4;
  const int err = errno;
  ::close(fd);
  // EBUSY: the directory has processes of its own (cgroup v2's no-internal-processes rule).
  if (!ok) return sys_error(Errc::access_denied, "--tenant-cgroup " + parent + ": enable the cpu controller for its children (use an empty cgroup)", err);
  return {};
}

}  // namespace

Status CpuGroup::check_parent(const std::string& parent) {
  const bool v2 = exists(parent + "/cgroup.controllers");
  const bool v1 = exists(parent + "/cpu.shares");
  if (!v2 && !v1)
    return make_error(Errc::invalid_argument, "--tenant-cgroup " + parent + ": not a cgroup v2 directory or a cgroup v1 cpu hierarchy");
  if (::access(parent.c_str(), W_OK) != 0)
    return sys_error(Errc::access_denied, "--tenant-cgroup " + parent + ": cannot create groups there", errno);
  if (v2) return enable_cpu_for_children(parent);
  return {};
}

Result<CpuGroup> CpuGroup::create(const std::string& parent, const std::string& name) {
  const std::string dir = parent + "/" + name;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return sys_error(Errc::io, "create cgroup " + dir, errno);
  if (::access((dir + "/cgroup.procs").c_str(), W_OK) != 0) return sys_error(Errc::access_denied, "cgroup " + dir + ": cgroup.procs", errno);
  return CpuGroup(dir);
}

CpuGroup& CpuGroup::operator=(CpuGroup&& o) noexcept {
  if (this != &o) {
    remove();
    dir_ = std::move(o.dir_);
    o.dir_.clear();
  }
  return *this;
}

void CpuGroup::remove() noexcept {
  if (dir_.empty()) return;
  if (::rmdir(dir_.c_str()) != 0 && errno != ENOENT) {
    try {
      component_logger("executor")->warn("cannot remove cgroup {}: {}", dir_, errno_name(errno));
    } catch (...) {
    }
  }
  dir_.clear();
}

}  // namespace shmcp::executor
