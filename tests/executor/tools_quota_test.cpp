// The workspace quota in one process: the shared block's reservation logic (limits, all or
// nothing, racing threads never overshoot, saturating release, slots a dead worker leaves), the
// memfd mapping and its checks, the workspace scan (what counts, symlinks not followed, bounds),
// and the write tools against a quota (refusals change nothing, shrinking frees).
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "executor/tools/quota.hpp"
#include "tests/executor/tools_fixture.hpp"

namespace shmcp::executor::testing {
namespace {

using What = QuotaRefusal::What;

QuotaBlock& fresh(QuotaBlock& b, std::uint64_t limit_bytes, std::uint64_t limit_files) {
  init_quota_block(b, limit_bytes, limit_files);
  return b;
}

TEST(QuotaBlock, AReservationThatExactlyFillsIsGrantedAndOneMoreByteIsNot) {
  QuotaBlock b;
  fresh(b, 100, 0);
  EXPECT_EQ(try_reserve(b, 60, 1).what, What::none);
  EXPECT_EQ(try_reserve(b, 40, 1).what, What::none);
  const QuotaRefusal r = try_reserve(b, 1, 0);
  EXPECT_EQ(r.what, What::bytes);
  EXPECT_EQ(r.would_use, 101u);
  EXPECT_EQ(r.limit, 100u);
  EXPECT_EQ(quota_usage(b).used_bytes, 100u);
  EXPECT_EQ(quota_usage(b).used_files, 2u);
  EXPECT_EQ(try_reserve(b, 0, 5).what, What::none) << "no file limit: files are only counted";
}

TEST(QuotaBlock, ZeroLimitsAreUnlimitedButUsageIsStillCounted) {
  QuotaBlock b;
  fresh(b, 0, 0);
  EXPECT_EQ(try_reserve(b, 1ull << 50, 1'000'000).what, What::none);
  EXPECT_EQ(quota_usage(b).used_bytes, 1ull << 50);
  EXPECT_EQ(quota_usage(b).used_files, 1'000'000u);
}

TEST(QuotaBlock, AFileRefusalGivesTheBytesBack) {
  QuotaBlock b;
  fresh(b, 100, 2);
  ASSERT_EQ(try_reserve(b, 10, 2).what, What::none);
  const QuotaRefusal r = try_reserve(b, 10, 1);
  EXPECT_EQ(r.what, What::files);
  EXPECT_EQ(r.would_use, 3u);
  EXPECT_EQ(r.limit, 2u);
  EXPECT_EQ(quota_usage(b).used_bytes, 10u) << "all or nothing";
  EXPECT_EQ(quota_usage(b).used_files, 2u);
}

TEST(QuotaBlock, ReleaseSaturatesAtZeroAndFreesRoomForMore) {
  QuotaBlock b;
  fresh(b, 100, 0);
  ASSERT_EQ(try_reserve(b, 100, 0).what, What::none);
  EXPECT_EQ(try_reserve(b, 30, 0).what, What::bytes);
  release(b, 30, 0);
  EXPECT_EQ(try_reserve(b, 30, 0).what, What::none);
  release(b, 1000, 7);  // more than is used (usage drifted): no wrap-around
  EXPECT_EQ(quota_usage(b).used_bytes, 0u);
  EXPECT_EQ(quota_usage(b).used_files, 0u);
  EXPECT_EQ(try_reserve(b, 100, 0).what, What::none);
}

TEST(QuotaBlock, UsageAlreadyOverTheLimitRefusesGrowthButNotShrinking) {
  QuotaBlock b;
  fresh(b, 10, 0);
  b.used_bytes.store(50);  // e.g. counted at start, larger than the quota
  EXPECT_EQ(try_reserve(b, 1, 0).what, What::bytes);
  EXPECT_EQ(try_reserve(b, 0, 1).what, What::none) << "a change that adds no bytes is not refused for bytes";
  release(b, 45, 0);
  EXPECT_EQ(try_reserve(b, 5, 0).what, What::none);
}

TEST(QuotaBlock, RacingThreadsAreGrantedExactlyWhatFits) {
  QuotaBlock b;
  fresh(b, 1000, 0);
  std::atomic<int> granted{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 100; ++i)
        if (try_reserve(b, 7, 1).what == What::none) granted.fetch_add(1);
    });
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 1000 / 7);
  EXPECT_EQ(quota_usage(b).used_bytes, 1000u / 7 * 7);
  EXPECT_EQ(quota_usage(b).used_files, 1000u / 7);
}

TEST(QuotaBlock, ADeadWorkersSlotGivesBackOnlyWhatItStillHeld) {
  QuotaBlock b;
  fresh(b, 100, 10);
  WorkspaceQuota w3(b, 3);
  ASSERT_EQ(w3.reserve(40, 1).what, What::none);
  EXPECT_EQ(b.slots[3].bytes.load(), 40u);
  reclaim_slot(b, 3);  // the worker died mid-write
  EXPECT_EQ(quota_usage(b).used_bytes, 0u);
  EXPECT_EQ(quota_usage(b).used_files, 0u);

  WorkspaceQuota w5(b, 5);
  ASSERT_EQ(w5.reserve(30, 1).what, What::none);
  w5.commit();
  reclaim_slot(b, 5);  // died after the write was in place: nothing to give back
  EXPECT_EQ(quota_usage(b).used_bytes, 30u);
  EXPECT_EQ(quota_usage(b).used_files, 1u);
  reclaim_slot(b, channel::kMaxWorkers);  // out of range: ignored
}

TEST(QuotaBlock, CommitReleasesWhatTheChangeFreedAndCancelUndoes) {
  QuotaBlock b;
  fresh(b, 100, 0);
  b.used_bytes.store(80);
  WorkspaceQuota w(b, 0);
  ASSERT_EQ(w.reserve(0, 0).what, What::none);
  w.commit(50);  // overwritten with 50 bytes less
  EXPECT_EQ(quota_usage(b).used_bytes, 30u);
  ASSERT_EQ(w.reserve(70, 1).what, What::none);
  w.cancel();  // the write failed
  EXPECT_EQ(quota_usage(b).used_bytes, 30u);
  EXPECT_EQ(quota_usage(b).used_files, 0u);
  EXPECT_EQ(b.slots[0].bytes.load(), 0u);
}

TEST(QuotaBlock, RefusalMessagesNameTheChangeTheUsageAndTheQuota) {
  EXPECT_EQ(quota_refusal_message({What::bytes, 101, 100}, "writing", "/w/a.txt"),
            "quota exceeded: writing /w/a.txt would use 101 bytes of the workspace's 100-byte quota");
  EXPECT_EQ(quota_refusal_message({What::files, 6, 5}, "creating directory", "/w/d"),
            "quota exceeded: creating directory /w/d would use 6 files of the workspace's 5-file quota");
}

// ---- the shared mapping ----------------------------------------------------------------------

TEST(QuotaMapping, AWorkersMappingSharesTheSupervisorsBlock) {
  auto sup = create_quota_block(1000, 10);
  ASSERT_TRUE(sup) << sup.error().describe();
  EXPECT_EQ(quota_usage(sup->block()).limit_bytes, 1000u);
  auto worker = map_quota_block(sup->fd());
  ASSERT_TRUE(worker) << worker.error().describe();
  EXPECT_EQ(worker->fd(), -1) << "the worker does not keep the fd";
  ASSERT_EQ(try_reserve(worker->block(), 600, 1).what, What::none);
  EXPECT_EQ(quota_usage(sup->block()).used_bytes, 600u);
  EXPECT_EQ(try_reserve(sup->block(), 401, 0).what, What::bytes);
  // The size is sealed: no holder can shrink the file under the others' mappings.
  EXPECT_NE(::ftruncate(sup->fd(), 0), 0);
}

TEST(QuotaMapping, AnFdThatIsNotAQuotaBlockIsRefused) {
  // Wrong size.
  UniqueFd small(::memfd_create("q", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_TRUE(small);
  ASSERT_EQ(::ftruncate(small.get(), 64), 0);
  EXPECT_FALSE(map_quota_block(small.get()));
  // Right size, not sealed.
  UniqueFd unsealed(::memfd_create("q", MFD_CLOEXEC));
  ASSERT_TRUE(unsealed);
  ASSERT_EQ(::ftruncate(unsealed.get(), sizeof(QuotaBlock)), 0);
  EXPECT_FALSE(map_quota_block(unsealed.get()));
  // Right size, sealed, no magic.
  UniqueFd blank(::memfd_create("q", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_TRUE(blank);
  ASSERT_EQ(::ftruncate(blank.get(), sizeof(QuotaBlock)), 0);
  ASSERT_EQ(::fcntl(blank.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
  auto m = map_quota_block(blank.get());
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("magic"), std::string::npos) << m.error().message;
  // Not a file at all.
  EXPECT_FALSE(map_quota_block(-1));
  // Positive control: a real block maps.
  auto real = create_quota_block(1, 1);
  ASSERT_TRUE(real);
  EXPECT_TRUE(map_quota_block(real->fd()));
}

// ---- the workspace scan and the tools --------------------------------------------------------

class QuotaTools : public ToolsTest {
 protected:
  ScanResult scan(ScanLimits limits = {}) {
    UniqueFd root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return scan_workspace_usage(root.get(), limits);
  }
  // Tools with a quota whose usage is what the scan counts.
  void with_quota(std::uint64_t limit_bytes, std::uint64_t limit_files) {
    init_quota_block(block_, limit_bytes, limit_files);
    const ScanResult s = scan();
    block_.used_bytes.store(s.bytes);
    block_.used_files.store(s.files);
    quota_.emplace(block_, 0);
    tools_->set_quota(&*quota_);
  }
  bool exists(const std::string& rel) const {
    struct stat st {};
    return ::lstat(p(rel).c_str(), &st) == 0;
  }
  std::uint64_t used_bytes() const { return block_.used_bytes.load(); }
  std::uint64_t used_files() const { return block_.used_files.load(); }
  std::string error_text(const std::string& tool, const nlohmann::json& args) {
    const CallResult r = call(tool, args);
    EXPECT_TRUE(r.is_error) << tool << " " << args.dump();
    return r.content.empty() ? "" : r.content[0].text;
  }

  QuotaBlock block_;
  std::optional<WorkspaceQuota> quota_;
};

TEST_F(QuotaTools, TheScanCountsRegularFileBytesAndEveryEntryWithoutFollowingSymlinks) {
  file("a.txt", "12345");
  dir("d");
  dir("d/e");
  file("d/e/b.txt", "1234567890");
  file("d/empty", "");
  put(outside_ + "/big.txt", std::string(100'000, 'x'));
  link(outside_, "out");               // a symlink to a directory outside: not walked
  link(outside_ + "/big.txt", "big");  // to a file outside: its size not counted
  const ScanResult s = scan();
  EXPECT_EQ(s.bytes, 15u);
  EXPECT_EQ(s.files, 7u);  // a.txt d d/e d/e/b.txt d/empty out big
  EXPECT_FALSE(s.truncated);
}

TEST_F(QuotaTools, TheScanStopsAtItsBoundsAndSaysSo) {
  dir("d");
  dir("d/e");
  file("d/e/deep.txt", "1234");
  file("top.txt", "12");
  const ScanResult shallow = scan({1, 1000});
  EXPECT_TRUE(shallow.truncated);
  EXPECT_EQ(shallow.bytes, 2u);  // d/e is not entered
  const ScanResult few = scan({64, 2});
  EXPECT_TRUE(few.truncated);
  EXPECT_LE(few.files, 2u);
  EXPECT_FALSE(scan().truncated);  // positive control
  EXPECT_EQ(scan().bytes, 6u);
}

TEST_F(QuotaTools, AWriteThatWouldPassTheLimitIsRefusedAndChangesNothing) {
  file("a.txt", "0123456789");
  with_quota(20, 0);
  EXPECT_EQ(ok("write_file", {{"path", "b.txt"}, {"content", "0123456789"}}), "Successfully wrote to b.txt");
  EXPECT_EQ(used_bytes(), 20u);
  EXPECT_EQ(error_text("write_file", {{"path", "c.txt"}, {"content", "x"}}),
            "quota exceeded: writing " + p("c.txt") + " would use 21 bytes of the workspace's 20-byte quota");
  EXPECT_FALSE(exists("c.txt"));
  EXPECT_NE(error_text("write_file", {{"path", "b.txt"}, {"content", "0123456789!"}}).find("quota exceeded"), std::string::npos);
  EXPECT_EQ(slurp(p("b.txt")), "0123456789");
  EXPECT_EQ(used_bytes(), 20u);
  EXPECT_EQ(used_files(), 2u);
  // Overwriting with less frees the difference, and the room can be used again.
  EXPECT_EQ(ok("write_file", {{"path", "a.txt"}, {"content", "01234"}}), "Successfully wrote to a.txt");
  EXPECT_EQ(used_bytes(), 15u);
  EXPECT_EQ(ok("write_file", {{"path", "c.txt"}, {"content", "01234"}}), "Successfully wrote to c.txt");
  EXPECT_EQ(used_bytes(), 20u);
  EXPECT_EQ(used_files(), 3u);
}

TEST_F(QuotaTools, EditFileGrowingPastTheLimitIsRefusedUnchangedAndShrinkingFrees) {
  file("a.txt", "hello world\n");  // 12 bytes
  with_quota(15, 0);
  const std::string msg =
      error_text("edit_file", {{"path", "a.txt"}, {"edits", {{{"oldText", "hello"}, {"newText", "hello there"}}}}});
  EXPECT_EQ(msg, "quota exceeded: editing " + p("a.txt") + " would use 18 bytes of the workspace's 15-byte quota");
  EXPECT_EQ(slurp(p("a.txt")), "hello world\n");
  EXPECT_EQ(used_bytes(), 12u);
  ok("edit_file", {{"path", "a.txt"}, {"edits", {{{"oldText", "hello"}, {"newText", "hey"}}}}});
  EXPECT_EQ(slurp(p("a.txt")), "hey world\n");
  EXPECT_EQ(used_bytes(), 10u);
  ok("edit_file", {{"path", "a.txt"}, {"edits", {{{"oldText", "hey"}, {"newText", "hey there"}}}}, {"dryRun", true}});
  EXPECT_EQ(used_bytes(), 10u) << "a dry run changes nothing";
}

TEST_F(QuotaTools, CreateDirectoryCountsEachDirectoryItCreates) {
  dir("d");
  with_quota(0, 3);
  EXPECT_EQ(used_files(), 1u);
  ok("create_directory", {{"path", "x/y"}});
  EXPECT_EQ(used_files(), 3u);
  EXPECT_EQ(error_text("create_directory", {{"path", "x/y/z"}}),
            "quota exceeded: creating directory " + p("x/y/z") + " would use 4 files of the workspace's 3-file quota");
  EXPECT_FALSE(exists("x/y/z"));
  ok("create_directory", {{"path", "x/y"}});  // exists already: fine in a full workspace
  ok("create_directory", {{"path", "d"}});
  EXPECT_NE(error_text("write_file", {{"path", "f.txt"}, {"content", ""}}).find("3-file quota"), std::string::npos);
  EXPECT_EQ(used_files(), 3u);
}

TEST_F(QuotaTools, MoveFileWorksInAFullWorkspaceAndChangesNoUsage) {
  file("a.txt", "12345");
  dir("sub");
  with_quota(5, 2);
  ok("move_file", {{"source", "a.txt"}, {"destination", "sub/a.txt"}});
  EXPECT_EQ(slurp(p("sub/a.txt")), "12345");
  EXPECT_EQ(used_bytes(), 5u);
  EXPECT_EQ(used_files(), 2u);
}

TEST_F(QuotaTools, AFailedWriteGivesItsReservationBack) {
  with_quota(100, 0);
  // The write itself fails (EFBIG past RLIMIT_FSIZE, root or not), after the reservation.
  rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 10;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const CallResult r = call("write_file", {{"path", "f.txt"}, {"content", std::string(50, 'x')}});
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(used_bytes(), 0u);
  EXPECT_EQ(used_files(), 0u);
  EXPECT_EQ(block_.slots[0].bytes.load(), 0u);
  EXPECT_FALSE(exists("f.txt"));
  // Positive control: the same write fits once the file system lets it through.
  ok("write_file", {{"path", "f.txt"}, {"content", std::string(50, 'x')}});
  EXPECT_EQ(used_bytes(), 50u);
}

}  // namespace
}  // namespace shmcp::executor::testing
