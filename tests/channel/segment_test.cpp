// The named segment: creation, attach, header checks, permissions, stale-segment cleanup, lane
// leases. Everything here is single-process except the stale-segment case, which needs an
// executor that dies (a forked child, SIGKILLed).
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "channel/channel.hpp"
#include "tests/support/eventually.hpp"

namespace shmcp::channel {
namespace {

// Unique per process and test, so parallel ctest runs never share a segment.
std::string unique_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // Appended, not `"t" + std::to_string(...)`: GCC 12 at -O3 reports a false -Wrestrict on that
  // operator+ (GCC bug 105329).
  std::string name = "t";
  name += std::to_string(getpid());
  name += "-";
  name += info->name();
  return name;
}

ChannelConfig small_config() {
  ChannelConfig cfg;
  cfg.lanes = 4;
  cfg.slots_per_ring = 4;
  cfg.slot_size = 1024;
  cfg.max_message = 1 << 20;
  return cfg;
}

bool path_exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}

TEST(Segment, CreateThenAttachByNameSeesTheSameGeometryAndEpoch) {
  const std::string name = unique_name();
  auto server = Segment::create(name, small_config());
  ASSERT_TRUE(server.ok()) << server.error().describe();
  EXPECT_TRUE(path_exists(segment_path(name)));
  auto client = Segment::attach(name);
  ASSERT_TRUE(client.ok()) << client.error().describe();
  EXPECT_FALSE((*client)->is_owner());
  EXPECT_EQ((*client)->epoch(), (*server)->epoch());
  EXPECT_EQ((*client)->lane_count(), 4u);
  EXPECT_EQ((*client)->slots_per_ring(), 4u);
  EXPECT_EQ((*client)->slot_size(), 1024u);
  EXPECT_EQ((*client)->max_message(), 1u << 20);
  EXPECT_EQ((*client)->size(), segment_size(small_config()));
  EXPECT_TRUE((*client)->executor_alive());
}

TEST(Segment, DestroyingTheOwnerUnlinksTheSegment) {
  const std::string name = unique_name();
  {
    auto server = Segment::create(name, small_config());
    ASSERT_TRUE(server.ok()) << server.error().describe();
    ASSERT_TRUE(path_exists(segment_path(name)));
  }
  EXPECT_FALSE(path_exists(segment_path(name)));
}

TEST(Segment, AttachToAMissingChannelIsNotFound) {
  auto r = Segment::attach(unique_name());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_NE(r.error().message.find("does not exist"), std::string::npos) << r.error().message;
}

TEST(Segment, AttachWaitsForAnExecutorThatStartsLater) {
  const std::string name = unique_name();
  std::shared_ptr<Segment> server;
  std::thread starter([&] {
    usleep(50'000);  // stimulus: the executor comes late; attach must wait however long this is
    auto s = Segment::create(name, small_config());
    ASSERT_TRUE(s.ok()) << s.error().describe();
    server = *s;
  });
  auto r = Segment::attach(name, 5'000'000'000ull);
  starter.join();
  ASSERT_TRUE(r.ok()) << r.error().describe();
}

TEST(Segment, InvalidNamesAndGeometryAreRejected) {
  for (const char* bad : {"", ".hidden", "a/b", "sp ace", "x\n"}) {
    auto r = Segment::create(bad, small_config());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
  }
  ChannelConfig cfg = small_config();
  cfg.slot_size = 100;  // not a multiple of 64
  auto r = Segment::create(unique_name(), cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

// Corrupts one header field of a live segment, attaches, and restores it.
template <class Field>
Error attach_with_patched(const std::string& name, Segment& owner, Field SegmentHeader::*field, Field value) {
  SegmentHeader& h = owner.header();
  const Field saved = h.*field;
  h.*field = value;
  auto r = Segment::attach(name);
  h.*field = saved;
  EXPECT_FALSE(r.ok());
  return r.ok() ? Error{} : r.error();
}

TEST(Segment, HeaderMismatchIsRefusedWithAClearMessage) {
  const std::string name = unique_name();
  auto server = Segment::create(name, small_config());
  ASSERT_TRUE(server.ok()) << server.error().describe();
  Segment& s = **server;

  Error e = attach_with_patched(name, s, &SegmentHeader::magic, std::uint64_t{0x1234});
  EXPECT_EQ(e.code, Errc::version_mismatch);
  EXPECT_NE(e.message.find("bad magic"), std::string::npos) << e.message;

  e = attach_with_patched(name, s, &SegmentHeader::abi_version, kAbiVersion + 1);
  EXPECT_EQ(e.code, Errc::version_mismatch);
  EXPECT_NE(e.message.find("ABI version " + std::to_string(kAbiVersion + 1)), std::string::npos) << e.message;

  e = attach_with_patched(name, s, &SegmentHeader::layout_hash, layout_hash() ^ 1);
  EXPECT_EQ(e.code, Errc::version_mismatch);
  EXPECT_NE(e.message.find("layout"), std::string::npos) << e.message;

  // Geometry that disagrees with the file is corrupt, not a version problem.
  e = attach_with_patched(name, s, &SegmentHeader::lane_count, std::uint32_t{5});
  EXPECT_EQ(e.code, Errc::corrupt);
  e = attach_with_patched(name, s, &SegmentHeader::slot_size, std::uint32_t{0});
  EXPECT_EQ(e.code, Errc::corrupt);
  e = attach_with_patched(name, s, &SegmentHeader::lanes_offset, std::uint64_t{1} << 40);
  EXPECT_EQ(e.code, Errc::corrupt);

  // Restored: attach works again.
  auto ok = Segment::attach(name);
  EXPECT_TRUE(ok.ok()) << ok.error().describe();
}

TEST(Segment, ModeIs0600ByDefault) {
  const std::string name = unique_name();
  const mode_t old = umask(0);  // the mode is a contract independent of the caller's umask
  auto server = Segment::create(name, small_config());
  umask(old);
  ASSERT_TRUE(server.ok()) << server.error().describe();
  struct stat st {};
  ASSERT_EQ(stat(segment_path(name).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
}

TEST(Segment, Mode0660WithAGroupOption) {
  const std::string name = unique_name();
  ChannelConfig cfg = small_config();
  cfg.mode = 0660;
  // Root may give the file any group, which makes the check meaningful; others use their own.
  const gid_t group = geteuid() == 0 ? 4242 : getegid();
  cfg.group = group;
  auto server = Segment::create(name, cfg);
  ASSERT_TRUE(server.ok()) << server.error().describe();
  struct stat st {};
  ASSERT_EQ(stat(segment_path(name).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, group);
}

TEST(Segment, StaleSegmentOfAKilledExecutorIsRemovedOnCreate) {
  const std::string name = unique_name();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    auto s = Segment::create(name, small_config());
    const char c = s.ok() ? 'y' : 'n';
    (void)!write(ready[1], &c, 1);
    for (;;) pause();
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  ASSERT_EQ(c, 'y');
  // While the executor lives, its segment is not stale.
  {
    auto busy = Segment::create(name, small_config());
    ASSERT_FALSE(busy.ok());
    EXPECT_EQ(busy.error().code, Errc::busy);
  }
  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(path_exists(segment_path(name))) << "SIGKILL leaves the segment behind";

  // Clients see a stale segment as a dead executor, not as a hang.
  auto client = Segment::attach(name);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, Errc::peer_dead);

  ::testing::internal::CaptureStderr();
  auto fresh = Segment::create(name, small_config());
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(fresh.ok()) << fresh.error().describe();
  EXPECT_NE(log.find("removed stale segment " + segment_path(name)), std::string::npos) << log;
  auto attached = Segment::attach(name);
  ASSERT_TRUE(attached.ok()) << attached.error().describe();
  EXPECT_EQ((*attached)->epoch(), (*fresh)->epoch());
}

TEST(Segment, SecondLiveExecutorIsRefusedAsBusy) {
  const std::string name = unique_name();
  auto first = Segment::create(name, small_config());
  ASSERT_TRUE(first.ok()) << first.error().describe();
  auto second = Segment::create(name, small_config());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::busy);
  EXPECT_NE(second.error().message.find("already served"), std::string::npos) << second.error().message;
  // The refused attempt must not have damaged or unlinked the live segment.
  auto client = Segment::attach(name);
  ASSERT_TRUE(client.ok()) << client.error().describe();
  EXPECT_EQ((*client)->epoch(), (*first)->epoch());
}

TEST(Segment, DevShmTooSmallIsTooLargeNotSigbus) {
  struct statvfs vfs {};
  ASSERT_EQ(statvfs("/dev/shm", &vfs), 0);
  const std::uint64_t fs_total = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  const std::uint64_t fs_free = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  // Ask for more than the whole filesystem (tmpfs refuses such a fallocate up front, without
  // touching memory) but stay under the channel's own 64 GiB limit.
  ChannelConfig cfg;
  cfg.slot_size = 1u << 24;  // 16 MiB slots
  cfg.slots_per_ring = 2;    // 64 MiB per lane (two rings)
  const std::uint64_t per_lane = 2ull * cfg.slots_per_ring * cfg.slot_size;
  const std::uint64_t want = std::max(fs_total, fs_free) + (1ull << 30);
  if (want >= (63ull << 30))
    GTEST_SKIP() << "/dev/shm holds " << fs_total << " bytes: cannot exceed it while staying under the 64 GiB "
                 << "segment limit (a small tmpfs cannot be mounted for /dev/shm names here)";
  cfg.lanes = static_cast<std::uint32_t>(want / per_lane + 1);
  ASSERT_GT(segment_size(cfg), std::max(fs_total, fs_free));
  const std::string name = unique_name();
  auto r = Segment::create(name, cfg);
  ASSERT_FALSE(r.ok()) << "a " << segment_size(cfg) << "-byte segment fit in /dev/shm";
  EXPECT_EQ(r.error().code, Errc::too_large) << r.error().describe();
  EXPECT_NE(r.error().message.find("/dev/shm is too small"), std::string::npos) << r.error().message;
  EXPECT_FALSE(path_exists(segment_path(name))) << "a failed create must not leave a file behind";
}

TEST(Segment, LanesAreClaimedUpToTheCountThenBusy) {
  const std::string name = unique_name();
  auto server = Segment::create(name, small_config());
  ASSERT_TRUE(server.ok()) << server.error().describe();
  auto client = Segment::attach(name);
  ASSERT_TRUE(client.ok()) << client.error().describe();

  std::vector<ClientLane> lanes;
  for (std::uint32_t i = 0; i < 4; ++i) {
    auto l = ClientLane::claim(*client);
    ASSERT_TRUE(l.ok()) << i << ": " << l.error().describe();
    EXPECT_EQ(l->index(), i);
    EXPECT_TRUE((*server)->client_alive(i));
    lanes.push_back(std::move(*l));
  }
  auto extra = ClientLane::claim(*client);
  ASSERT_FALSE(extra.ok());
  EXPECT_EQ(extra.error().code, Errc::busy);
  EXPECT_EQ((*server)->header().lanes_high_water.load(), 4u);

  // Releasing lane 2 frees exactly that lane for the next claimant.
  lanes.erase(lanes.begin() + 2);
  EXPECT_FALSE((*server)->client_alive(2));
  auto again = ClientLane::claim(*client);
  ASSERT_TRUE(again.ok()) << again.error().describe();
  EXPECT_EQ(again->index(), 2u);
}

TEST(Segment, EachClaimOfALaneGetsANewGenerationInItsRequestIds) {
  const std::string name = unique_name();
  auto server = Segment::create(name, small_config());
  ASSERT_TRUE(server.ok()) << server.error().describe();
  std::uint64_t first_id = 0;
  {
    auto l = ClientLane::claim(*server);
    ASSERT_TRUE(l.ok());
    first_id = l->next_id();
  }
  auto l = ClientLane::claim(*server);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->index(), 0u);
  const std::uint64_t second_id = l->next_id();
  EXPECT_NE(first_id >> 40, second_id >> 40) << "a new owner's ids must differ from its predecessor's";
}

TEST(Segment, ClientSeesClosedAfterTheExecutorMarksClosing) {
  const std::string name = unique_name();
  auto server = Segment::create(name, small_config());
  ASSERT_TRUE(server.ok());
  auto client = Segment::attach(name);
  ASSERT_TRUE(client.ok());
  auto lane = ClientLane::claim(*client);
  ASSERT_TRUE(lane.ok());
  (*server)->mark_closing();
  auto r = lane->call(lane->next_id(), {}, monotonic_ns() + 1'000'000'000ull, WaitPolicy{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::closed);
  auto late = Segment::attach(name);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, Errc::closed);
}

// The spinner token with another worker asleep. By default a worker gives the token up as soon
// as it takes a request (so clients wake the sleeper for other lanes while it is busy); a worker
// that deferred the hand-off keeps it until it calls hand_off_spinner() (pings never do).
TEST(ServerEndpointSpinner, DeferredHandOffKeepsTheTokenUntilHandedOffTheDefaultGivesItUpAtOnce) {
  const std::string name = unique_name();
  auto server = Segment::create(name, small_config());
  ASSERT_TRUE(server.ok()) << server.error().describe();
  SegmentHeader& h = (*server)->header();
  const WaitPolicy patient{WaitMode::adaptive, 10'000'000'000ull};
  // A second worker asleep on the doorbell, as far as the token logic can tell. Only the count:
  // a real sleeping worker wakes every ~10 ms and could take the request itself, leaving the
  // worker under test waiting for it forever.
  h.sleepers.fetch_add(1);
  auto wait_for = [&](auto pred) { return shmcp::testing::eventually(pred); };

  auto lane = ClientLane::claim(*server);
  ASSERT_TRUE(lane.ok());
  const std::byte msg[4] = {};
  for (const bool defer : {true, false}) {
    SCOPED_TRACE(defer ? "deferred" : "default");
    ServerEndpoint ep(*server, 0);
    ep.defer_spinner_handoff(defer);
    std::thread client([&] {
      // Sent once the worker spins, so the request is found by its scan, not by a wake-up.
      wait_for([&] { return h.spinner.load() == 1; });
      (void)lane->send(lane->next_id(), msg, monotonic_ns() + 1'000'000'000ull, patient);
    });
    auto in = ep.next(patient, nullptr);
    client.join();
    ASSERT_TRUE(in.ok()) << in.error().describe();
    if (defer) EXPECT_EQ(h.spinner.load(), 1u);
    else EXPECT_EQ(h.spinner.load(), 0u);
    ep.hand_off_spinner();
    EXPECT_EQ(h.spinner.load(), 0u);  // handed off: clients now wake the sleeper
    ASSERT_TRUE(ep.reply(in->lane, in->id, in->bytes, monotonic_ns() + 1'000'000'000ull, patient).ok());
    ASSERT_TRUE(lane->receive(monotonic_ns() + 1'000'000'000ull, patient).ok());
    ep.release_current();
  }
  h.sleepers.fetch_sub(1);
}

}  // namespace
}  // namespace shmcp::channel
