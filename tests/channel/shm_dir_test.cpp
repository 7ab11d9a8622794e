// The segment in a directory other than /dev/shm (the executor's --shm-dir): where the file is,
// its mode, a too-small filesystem, a missing or relative directory, a planted symlink, a stale
// segment of a killed executor, and liveness both ways (OFD leases) across real processes.
// The directory is a fresh one under the build tree, so it is disk-backed like an ECS task volume.
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "channel/channel.hpp"
#include "tests/support/eventually.hpp"

namespace shmcp::channel {
namespace {

std::string unique_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return "d" + std::to_string(getpid()) + "-" + info->name();
}

ChannelConfig small_config(const std::string& dir) {
  ChannelConfig cfg;
  cfg.lanes = 4;
  cfg.slots_per_ring = 4;
  cfg.slot_size = 1024;
  cfg.max_message = 1 << 20;
  cfg.dir = dir;
  return cfg;
}

bool path_exists(const std::string& p) {
  struct stat st {};
  return lstat(p.c_str(), &st) == 0;
}

// A fresh directory under the build tree, removed with everything in it.
class ShmDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::string(SHMCP_BUILD_DIR) + "/shm-dir-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << tmpl;
    dir_ = tmpl;
    name_ = unique_name();
  }
  void TearDown() override {
    if (!dir_.empty()) (void)std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  std::string path() const { return dir_ + "/shmcp." + name_; }

  std::string dir_, name_;
};

using shmcp::testing::eventually;

// Forks a child that runs `fn` (true = report 'y'), reports through a pipe, then waits to be
// killed. Returns the child's pid once it reported; *ok is what it reported.
template <class Fn>
pid_t fork_and_hold(Fn fn, bool* ok) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  const pid_t child = fork();
  if (child == 0) {
    close(ready[0]);
    const char c = fn() ? 'y' : 'n';
    (void)!write(ready[1], &c, 1);
    for (;;) pause();
  }
  close(ready[1]);
  char c = 0;
  *ok = read(ready[0], &c, 1) == 1 && c == 'y';
  close(ready[0]);
  return child;
}

void kill_and_reap(pid_t pid) {
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
}

// Kills and reaps a forked child when the test leaves its scope, whether or not an assertion
// failed first (a child left pausing would keep the test's output pipe open).
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid > 0) kill_and_reap(pid);
  }
  void reap() {
    kill_and_reap(pid);
    pid = -1;
  }
};

TEST_F(ShmDirTest, CreateAndAttachUseTheDirectoryOnly) {
  EXPECT_EQ(segment_path(name_, dir_), path());
  EXPECT_EQ(segment_path(name_, dir_ + "/"), path());
  const mode_t old = umask(0);
  auto server = Segment::create(name_, small_config(dir_));
  umask(old);
  ASSERT_TRUE(server.ok()) << server.error().describe();
  EXPECT_EQ((*server)->path(), path());
  struct stat st {};
  ASSERT_EQ(lstat(path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "mode 0600 whatever the umask";
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), segment_size(small_config(dir_)));
  // posix_fallocate reserved the blocks up front (no sparse file that could fail on first touch).
  EXPECT_GE(static_cast<std::uint64_t>(st.st_blocks) * 512, segment_size(small_config(dir_)));
  EXPECT_FALSE(path_exists(segment_path(name_))) << "nothing in /dev/shm";

  auto client = Segment::attach(name_, 0, dir_);
  ASSERT_TRUE(client.ok()) << client.error().describe();
  EXPECT_EQ((*client)->epoch(), (*server)->epoch());
  EXPECT_EQ((*client)->path(), path());
  EXPECT_TRUE((*client)->executor_alive());
  // Both mappings are the same memory.
  (*server)->header().heartbeat_ns.store(12345);
  EXPECT_EQ((*client)->header().heartbeat_ns.load(), 12345u);

  // The default directory does not have it, and says where it looked.
  auto elsewhere = Segment::attach(name_);
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_EQ(elsewhere.error().code, Errc::not_found);
  EXPECT_NE(elsewhere.error().message.find(segment_path(name_)), std::string::npos) << elsewhere.error().message;

  client->reset();
  server->reset();
  EXPECT_FALSE(path_exists(path())) << "the owner unlinks its segment";
}

TEST_F(ShmDirTest, GroupModeAppliesInTheDirectory) {
  ChannelConfig cfg = small_config(dir_);
  cfg.mode = 0660;
  const gid_t group = geteuid() == 0 ? 4242 : getegid();
  cfg.group = group;
  auto server = Segment::create(name_, cfg);
  ASSERT_TRUE(server.ok()) << server.error().describe();
  struct stat st {};
  ASSERT_EQ(stat(path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, group);
}

TEST_F(ShmDirTest, MissingOrRelativeDirectoriesAreClearErrors) {
  const std::string missing = dir_ + "/does-not-exist";
  auto c = Segment::create(name_, small_config(missing));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::not_found);
  EXPECT_NE(c.error().message.find(missing + "/shmcp." + name_), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("does " + missing + " exist"), std::string::npos) << c.error().message;

  auto a = Segment::attach(name_, 0, missing);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::not_found);
  EXPECT_NE(a.error().message.find("mount " + missing), std::string::npos) << a.error().message;

  for (const char* bad : {"", "relative/dir", "shm"}) {
    auto r = Segment::create(name_, small_config(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
    auto r2 = Segment::attach(name_, 0, bad);
    ASSERT_FALSE(r2.ok()) << bad;
    EXPECT_EQ(r2.error().code, Errc::invalid_argument) << bad;
  }
}

// A volume smaller than the segment: create fails at once with the directory, the size and what
// to change in the message, and leaves no file behind (never a SIGBUS on a later first touch).
// The small volume is a 256 KiB tmpfs mounted over the directory in a private mount namespace.
TEST_F(ShmDirTest, TooSmallVolumeIsTooLargeNamingTheDirectory) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a small volume needs root";
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(out[0]);
    std::string msg;
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("shmcp-small", dir_.c_str(), "tmpfs", 0, "size=256k") != 0) {
      msg = "SETUP " + std::string(strerror(errno));
    } else {
      ChannelConfig cfg = small_config(dir_);
      cfg.slot_size = 64 * 1024;  // 4 lanes x 2 rings x 4 slots x 64 KiB = 2 MiB > 256 KiB
      auto r = Segment::create(name_, cfg);
      if (r.ok()) msg = "CREATED";
      else msg = std::string(errc_name(r.error().code)) + "|" + (path_exists(path()) ? "LEFT" : "CLEAN") + "|" +
                 r.error().message;
    }
    (void)!write(out[1], msg.data(), msg.size());
    _exit(0);
  }
  close(out[1]);
  std::string msg;
  char buf[1024];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "status " << st;
  ASSERT_NE(msg.rfind("SETUP", 0), 0u) << msg;
  EXPECT_EQ(msg.rfind("too_large|CLEAN|", 0), 0u) << msg;
  EXPECT_NE(msg.find(dir_ + " is too small for channel '" + name_ + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs "), std::string::npos) << msg;
  EXPECT_NE(msg.find("--lanes/--slots/--slot-size"), std::string::npos) << msg;
}

// The directory may be writable by the other side: a symlink planted at the segment's name is
// never followed (create replaces it, attach refuses it), so its target is never truncated,
// resized or mapped.
TEST_F(ShmDirTest, APlantedSymlinkIsNeverFollowed) {
  const std::string victim = dir_ + "/victim";
  {
    FILE* f = fopen(victim.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("precious", f);
    fclose(f);
  }
  ASSERT_EQ(symlink(victim.c_str(), path().c_str()), 0);
  auto client = Segment::attach(name_, 0, dir_);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, Errc::corrupt) << client.error().describe();

  auto server = Segment::create(name_, small_config(dir_));
  ASSERT_TRUE(server.ok()) << server.error().describe();
  struct stat st {};
  ASSERT_EQ(lstat(path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "the symlink was replaced by the segment";
  ASSERT_EQ(stat(victim.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 8) << "the symlink's target is untouched";
}

// An executor that dies leaves its segment; clients see it dead through the lease (attached or
// attaching), and the next executor removes it and serves again.
TEST_F(ShmDirTest, KilledExecutorIsSeenDeadAndItsStaleSegmentIsReplaced) {
  bool ok = false;
  // The child keeps its segment (and so its lease) until it is killed.
  ChildGuard executor{fork_and_hold([&] { return (new auto(Segment::create(name_, small_config(dir_))))->ok(); }, &ok)};
  ASSERT_GT(executor.pid, 0);
  ASSERT_TRUE(ok) << "the child could not create the segment";

  auto client = Segment::attach(name_, 0, dir_);
  ASSERT_TRUE(client.ok()) << client.error().describe();
  EXPECT_TRUE((*client)->executor_alive());
  auto lane = ClientLane::claim(*client);
  ASSERT_TRUE(lane.ok()) << lane.error().describe();
  {
    auto busy = Segment::create(name_, small_config(dir_));
    ASSERT_FALSE(busy.ok());
    EXPECT_EQ(busy.error().code, Errc::busy);
  }

  executor.reap();
  ASSERT_TRUE(path_exists(path())) << "SIGKILL leaves the segment behind";
  EXPECT_FALSE((*client)->executor_alive());
  auto call = lane->call(lane->next_id(), {}, Deadline(monotonic_ns() + 5'000'000'000ull), WaitPolicy{});
  ASSERT_FALSE(call.ok());
  EXPECT_EQ(call.error().code, Errc::peer_dead) << call.error().describe();
  auto late = Segment::attach(name_, 0, dir_);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, Errc::peer_dead);
  EXPECT_NE(late.error().message.find(path()), std::string::npos) << late.error().message;

  ::testing::internal::CaptureStderr();
  auto fresh = Segment::create(name_, small_config(dir_));
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(fresh.ok()) << fresh.error().describe();
  EXPECT_NE(log.find("removed stale segment " + path()), std::string::npos) << log;
  auto again = Segment::attach(name_, 0, dir_);
  ASSERT_TRUE(again.ok()) << again.error().describe();
  EXPECT_EQ((*again)->epoch(), (*fresh)->epoch());
  EXPECT_NE((*again)->epoch(), (*client)->epoch());
}

// A client that dies holding a lane: the executor sees its lease gone and reclaims the lane.
TEST_F(ShmDirTest, KilledClientsLaneIsSeenDeadAndReclaimed) {
  auto server = Segment::create(name_, small_config(dir_));
  ASSERT_TRUE(server.ok()) << server.error().describe();
  bool ok = false;
  ChildGuard client;
  client.pid = fork_and_hold(
      [&] {
        auto seg = Segment::attach(name_, 0, dir_);
        if (!seg.ok()) return false;
        auto lane = ClientLane::claim(*seg);
        if (!lane.ok() || lane->index() != 0) return false;
        new ClientLane(std::move(*lane));  // held until the process dies
        return true;
      },
      &ok);
  ASSERT_GT(client.pid, 0);
  ASSERT_TRUE(ok) << "the child could not claim a lane";
  EXPECT_TRUE((*server)->client_alive(0));
  EXPECT_EQ(reclaim_dead_clients(**server), 0u);
  client.reap();
  EXPECT_TRUE(eventually([&] { return !(*server)->client_alive(0); }));
  EXPECT_EQ(reclaim_dead_clients(**server), 1u);
  EXPECT_EQ((*server)->lane(0).claimed.load(), 0u);
}

}  // namespace
}  // namespace shmcp::channel
