// A cgroup per tenant for its workers (serve --tenant-cgroup DIR), so that tenants share the CPUs
// by group, each with the same weight, instead of by thread count: a tenant whose pool and
// clients keep many threads busy gets no more CPU than a tenant with one worker waking for a call.
//
// Works with a cgroup v2 directory (the cpu controller enabled for its children, or enabled here
// through cgroup.subtree_control) and with a cgroup v1 cpu hierarchy directory. The executor needs
// write access to DIR (root, or a delegated subtree: systemd Delegate=yes, a Kubernetes pod with
// a writable cgroup namespace). Called by the tenant manager's thread; not thread-safe.
#pragma once

#include <string>

#include "channel/base/result.hpp"

namespace shmcp::executor {

class CpuGroup {
 public:
  // Whether `parent` is a cgroup directory this process can create CPU-weighted children in;
  // the error says what is missing.
  static Status check_parent(const std::string& parent);
  // Creates (or adopts, after an unclean stop) parent/name; its weight is the default one.
  static Result<CpuGroup> create(const std::string& parent, const std::string& name);

  CpuGroup() = default;
  CpuGroup(CpuGroup&& o) noexcept : dir_(std::move(o.dir_)) { o.dir_.clear(); }
  CpuGroup& operator=(CpuGroup&& o) noexcept;
  CpuGroup(const CpuGroup&) = delete;
  CpuGroup& operator=(const CpuGroup&) = delete;
  ~CpuGroup() { remove(); }

  const std::string& dir() const noexcept { return dir_; }
  // The file a process joins the group through by writing "0" (itself) or its pid.
  std::string procs_file() const { return dir_.empty() ? "" : dir_ + "/cgroup.procs"; }
  // Removes the group; its processes must have exited (a failure is logged, not fatal).
  void remove() noexcept;

 private:
  explicit CpuGroup(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace shmcp::executor
