// serve --tenant-cgroup: each tenant's workers run in a cgroup of their own (created with the
// tenant, removed with it), against a real `shmcp-executor serve --tenants`. Needs a cgroup
// directory this process may create groups in (root with cgroup v2, or a cgroup v1 cpu hierarchy);
// where there is none, the cases that need one are skipped and say why. A directory that is not
// a cgroup is refused at start wherever the suite runs.
#include <sys/stat.h>  // mkdir
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/executor/tenants/tenant_fixture.hpp"
#include "tests/support/eventually.hpp"

namespace shmcp::testing {
namespace {

// A fresh parent group for this test (removed by the destructor), or none.
class CgroupParent {
 public:
  CgroupParent() {
    for (const std::string base : {"/sys/fs/cgroup", "/sys/fs/cgroup/cpu"}) {
      const bool usable = path_exists(base + "/cgroup.procs") &&
                          (path_exists(base + "/cpu.shares") || read_file(base + "/cgroup.controllers").find("cpu") != std::string::npos);
      if (!usable || ::access(base.c_str(), W_OK) != 0) continue;
      const std::string dir = base + "/shmcp-test-" + std::to_string(::getpid());
      if (::mkdir(dir.c_str(), 0755) == 0) {
        dir_ = dir;
        return;
      }
    }
  }
  ~CgroupParent() {
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

std::vector<pid_t> pids_in(const std::string& group) {
  std::vector<pid_t> out;
  std::istringstream in(read_file(group + "/cgroup.procs"));
  pid_t p;
  while (in >> p) out.push_back(p);
  return out;
}

bool serves_tenant(pid_t worker, const TenantExecutor& t, const std::string& tenant) {
  const std::string cmd = read_file("/proc/" + std::to_string(worker) + "/cmdline");
  return cmd.find(t.channel + "." + tenant + std::string(1, '\0')) != std::string::npos;
}

TEST(TenantCgroup, EachTenantsWorkersRunInItsOwnGroupWhichGoesWithTheTenant) {
  CgroupParent parent;
  if (parent.dir().empty()) GTEST_SKIP() << "no cgroup directory this process can create groups in";
  TenantExecutor t("tenant-cgroup", {"--tenant-cgroup", parent.dir(), "--workers", "2"});
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  const std::string alice_group = parent.dir() + "/shmcp." + t.channel + ".alice";
  const std::string bob_group = parent.dir() + "/shmcp." + t.channel + ".bob";
  ASSERT_TRUE(path_exists(alice_group)) << alice_group;
  ASSERT_TRUE(path_exists(bob_group)) << bob_group;
  EXPECT_TRUE(pids_in(alice_group).empty());  // pools start with their first call
  for (const std::string tenant : {"alice", "bob"}) {
    auto c = t.shm_client(tenant);
    ASSERT_TRUE(c);
    auto r = c->call("list_allowed_directories", nlohmann::json::object());
    ASSERT_TRUE(r) << r.error().describe();
  }
  // Every process in a tenant's group is one of that tenant's workers, and both of them are there.
  for (const auto& [tenant, group] : {std::pair{"alice", alice_group}, std::pair{"bob", bob_group}}) {
    std::vector<pid_t> pids;
    ASSERT_TRUE(eventually([&] { return (pids = pids_in(group)).size() == 2; })) << tenant << ": " << pids.size();
    for (pid_t p : pids) EXPECT_TRUE(serves_tenant(p, t, tenant)) << tenant << " group holds pid " << p;
  }
  // The supervisor and its frontends stay where they were.
  for (const auto& g : {alice_group, bob_group})
    for (pid_t p : pids_in(g)) EXPECT_NE(p, t.ex->pid());
  ASSERT_EQ(t.admin("DELETE", "/admin/tenants/bob").status, 200);
  EXPECT_FALSE(path_exists(bob_group));
  EXPECT_TRUE(path_exists(alice_group));
  EXPECT_EQ(t.ex->stop(), 0) << t.ex->stderr_text();
  EXPECT_FALSE(path_exists(alice_group));
}

TEST(TenantCgroup, ADirectoryThatIsNotACgroupIsRefusedAtStart) {
  TenantExecutor t("tenant-cgroup-bad", {"--tenant-cgroup", "/"});
  std::string why;
  EXPECT_FALSE(t.start(&why));
  EXPECT_NE(why.find("--tenant-cgroup /: not a cgroup v2 directory or a cgroup v1 cpu hierarchy"), std::string::npos) << why;
}

}  // namespace
}  // namespace shmcp::testing
