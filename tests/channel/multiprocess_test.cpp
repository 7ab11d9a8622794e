// Multi-process channel tests: the server (or worker, or hostile peer) is channel_peer, a separate
// program started with fork+exec, so the two sides share nothing but the segment. The test process
// plays the client, or the supervisor that owns the segment.
//
// No assertion here is about speed. The time bounds are contracts: a call in flight when the
// executor dies fails within 250 ms (plus scheduling slack on a loaded 2-core machine), and an
// idle adaptive server uses about 0% CPU.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "channel/channel.hpp"
#include "tests/support/eventually.hpp"

#ifndef CHANNEL_PEER_PATH
#error "CHANNEL_PEER_PATH must name the channel_peer executable (tests/channel/CMakeLists.txt)"
#endif

namespace shmcp::channel {
namespace {

using shmcp::testing::eventually;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kLivenessBoundNs = 250 * kMs;  // the contract (README: a dead peer is noticed within 250 ms)
constexpr std::uint64_t kSchedulingSlackNs = 150 * kMs;

// Segments whose server process the test SIGKILLs are never unlinked by their owner: remove every
// name this test process handed out when it exits, so runs don't pile segments up in /dev/shm.
std::vector<std::string>& handed_out_names() {
  static std::vector<std::string> names;
  return names;
}

pid_t g_names_owner = 0;  // forked children that exit() must not unlink the parent's segments

void unlink_handed_out_names() {
  if (::getpid() != g_names_owner) return;
  for (const auto& n : handed_out_names()) ::shm_unlink(("/shmcp." + n).c_str());
}

std::string unique_name(const std::string& suffix = "") {
  // The vector is constructed before the handler is registered, so it is destroyed after it runs.
  static const bool registered = (handed_out_names(), g_names_owner = ::getpid(),
                                  std::atexit(unlink_handed_out_names), true);
  (void)registered;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // Appended, not `"m" + std::to_string(...)`: a false -Wrestrict at -O3 (GCC bug 105329).
  std::string n = "m";
  n += std::to_string(getpid()) + "-" + info->name() + suffix;
  for (char& c : n)
    if (c == '/') c = '_';
  handed_out_names().push_back(n);
  return n;
}

// A channel_peer child with its stdin and stdout on pipes. Killed (SIGKILL) when destroyed.
class Peer {
 public:
  explicit Peer(std::vector<std::string> args) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[0]), close(in[1]), close(out[0]), close(out[1]);
      std::vector<char*> argv;
      std::string path = CHANNEL_PEER_PATH;
      argv.push_back(path.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(path.c_str(), argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = fdopen(out[0], "r");
  }
  ~Peer() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_) fclose(stdout_);
    if (stdin_ >= 0) close(stdin_);
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  pid_t pid() const { return pid_; }
  // The next line the peer printed ("" at EOF: it died).
  std::string read_line() {
    char buf[256];
    if (!stdout_ || !fgets(buf, sizeof buf, stdout_)) return "";
    std::string s(buf);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  void write_line(const std::string& s) { (void)!write(stdin_, (s + "\n").data(), s.size() + 1); }
  void kill_now(int sig = SIGKILL) { kill(pid_, sig); }
  // Waits for exit; returns the exit status (128+signal when killed).
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  bool alive() const { return !reaped_ && waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  FILE* stdout_ = nullptr;
  bool reaped_ = false;
};

// Starts an echo server and waits until its segment is ready.
std::unique_ptr<Peer> start_server(const std::string& name, WaitMode mode, std::uint32_t lanes = 64,
                                   std::uint32_t max_message = 64u << 20) {
  auto p = std::make_unique<Peer>(std::vector<std::string>{"server", name, std::string(wait_mode_name(mode)),
                                                           std::to_string(lanes), std::to_string(max_message)});
  EXPECT_EQ(p->read_line(), "ready");
  return p;
}

std::shared_ptr<Segment> attach_or_fail(const std::string& name) {
  auto s = Segment::attach(name, 5'000'000'000ull);
  EXPECT_TRUE(s.ok()) << s.error().describe();
  return s.ok() ? *s : nullptr;
}

struct CallResult {
  Errc code = Errc::ok;  // transport error, or ok
  std::string error;
  std::vector<std::byte> bytes;
};

CallResult call_tool(ClientLane& lane, const std::string& tool, const std::string& args, const WaitPolicy& policy,
                     std::uint64_t timeout_ns = 20'000 * kMs, std::uint64_t* id_out = nullptr) {
  flatbuffers::FlatBufferBuilder fbb;
  const std::uint64_t id = lane.next_id();
  if (id_out) *id_out = id;
  build_json_request(fbb, id, 0, tool, args);
  auto r = lane.call(id, bytes_of(fbb), monotonic_ns() + timeout_ns, policy);
  if (!r) return {r.error().code, r.error().describe(), {}};
  return {Errc::ok, "", std::vector<std::byte>(r->begin(), r->end())};
}

// A verified echo round trip: response id and payload must match the request's.
::testing::AssertionResult echo_ok(ClientLane& lane, const std::string& payload, const WaitPolicy& policy) {
  std::uint64_t id = 0;
  auto r = call_tool(lane, "echo", payload, policy, 20'000 * kMs, &id);
  if (r.code != Errc::ok) return ::testing::AssertionFailure() << "call failed: " << r.error;
  auto resp = verify_response(r.bytes);
  if (!resp) return ::testing::AssertionFailure() << resp.error().describe();
  if ((*resp)->id() != id) return ::testing::AssertionFailure() << "id " << (*resp)->id() << " != " << id;
  if (!(*resp)->json() || (*resp)->json()->str() != payload) return ::testing::AssertionFailure() << "payload differs";
  return ::testing::AssertionSuccess();
}

// ---- many lanes at once --------------------------------------------------------------------------

TEST(Multiprocess, SixteenClientProcessesTimesFourThreadsAllGetTheirOwnResponses) {
  const std::string name = unique_name();
  auto server = start_server(name, WaitMode::adaptive, 64);
  std::vector<std::unique_ptr<Peer>> clients;
  for (int i = 0; i < 16; ++i)
    clients.push_back(std::make_unique<Peer>(std::vector<std::string>{"client", name, "4", "150"}));
  for (auto& c : clients) ASSERT_EQ(c->read_line(), "claimed");
  // All 64 lanes are held at once, by 64 threads in 16 processes.
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);
  for (std::uint32_t i = 0; i < 64; ++i) EXPECT_TRUE(seg->client_alive(i)) << "lane " << i;
  auto extra = ClientLane::claim(seg);
  ASSERT_FALSE(extra.ok());
  EXPECT_EQ(extra.error().code, Errc::busy);

  for (auto& c : clients) c->write_line("go");
  for (std::size_t i = 0; i < clients.size(); ++i) EXPECT_EQ(clients[i]->wait(), 0) << "client process " << i;
  EXPECT_TRUE(server->alive());
}

// ---- large payloads ------------------------------------------------------------------------------

TEST(Multiprocess, EightMebibyteRequestAndResponseCrossIntact) {
  const std::string name = unique_name();
  auto server = start_server(name, WaitMode::adaptive);
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);
  auto lane = ClientLane::claim(seg);
  ASSERT_TRUE(lane.ok()) << lane.error().describe();
  const WaitPolicy policy{};
  for (std::size_t size : {std::size_t{8} << 20, (std::size_t{8} << 20) - 1, std::size_t{8160}, std::size_t{8161}}) {
    std::string content(size, '\0');
    std::uint64_t x = size;
    for (auto& ch : content) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      ch = static_cast<char>(x >> 56);
    }
    flatbuffers::FlatBufferBuilder fbb(size + 1024);
    const std::uint64_t id = lane->next_id();
    build_write_file_request(fbb, id, 0, "big.bin", content);
    auto r = lane->call(id, bytes_of(fbb), monotonic_ns() + 30'000 * kMs, policy);
    ASSERT_TRUE(r.ok()) << size << ": " << r.error().describe();
    std::vector<std::byte> copy(r->begin(), r->end());
    ASSERT_GT(copy.size(), size);
    auto resp = verify_response(copy);
    ASSERT_TRUE(resp.ok()) << resp.error().describe();
    EXPECT_EQ((*resp)->id(), id);
    ASSERT_TRUE((*resp)->content() && (*resp)->content()->size() == 1);
    const auto* text = (*resp)->content()->Get(0)->text();
    ASSERT_NE(text, nullptr);
    ASSERT_EQ(text->size(), size);
    EXPECT_TRUE(std::memcmp(text->data(), content.data(), size) == 0) << "content differs at size " << size;
  }
  // The lane still works for small calls afterwards.
  EXPECT_TRUE(echo_ok(*lane, "after", policy));
}

TEST(Multiprocess, RequestOverTheChannelMaximumIsTooLargeAndTheLaneStaysUsable) {
  const std::string name = unique_name();
  auto server = start_server(name, WaitMode::adaptive, 4, 1u << 20);
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);
  auto lane = ClientLane::claim(seg);
  ASSERT_TRUE(lane.ok());
  std::vector<std::byte> big((1u << 20) + 1);
  auto r = lane->call(lane->next_id(), big, monotonic_ns() + 1000 * kMs, WaitPolicy{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_NE(r.error().message.find("exceeds"), std::string::npos) << r.error().message;
  EXPECT_TRUE(echo_ok(*lane, "still fine", WaitPolicy{}));
}

// ---- executor killed mid-call --------------------------------------------------------------------

class ServerKilled : public ::testing::TestWithParam<WaitMode> {};

TEST_P(ServerKilled, ClientInACallGetsPeerDeadWithinTheBoundThenReattachesToTheRestartedServer) {
  const std::string name = unique_name();
  const WaitPolicy policy{GetParam(), 50'000};
  auto server = start_server(name, WaitMode::adaptive);
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);
  const std::uint64_t old_epoch = seg->epoch();
  auto lane = ClientLane::claim(seg);
  ASSERT_TRUE(lane.ok());
  ASSERT_TRUE(echo_ok(*lane, "before", policy));

  CallResult in_flight;
  std::uint64_t failed_at = 0;
  std::thread caller([&] {
    in_flight = call_tool(*lane, "sleep", "60000", policy, 60'000 * kMs);  // the server will not answer
    failed_at = monotonic_ns();
  });
  // The server has taken the call and sleeps inside it: its worker owns our lane and has read the
  // request (worker slots live in the server's private control region, out of a client's reach).
  ASSERT_TRUE(eventually([&] {
    return (seg->lane(lane->index()).server_owner.load() & kOwnerWorkerMask) == 1 &&
           !seg->request_ring(lane->index()).readable();
  }));
  const std::uint64_t killed_at = monotonic_ns();
  server->kill_now(SIGKILL);
  caller.join();
  EXPECT_EQ(server->wait(), 128 + SIGKILL);
  ASSERT_EQ(in_flight.code, Errc::peer_dead) << in_flight.error;
  EXPECT_LT(failed_at - killed_at, kLivenessBoundNs + kSchedulingSlackNs)
      << "client noticed the dead executor after " << (failed_at - killed_at) / kMs << " ms";

  // The old lane keeps failing fast (never hangs) until the client reconnects.
  const std::uint64_t t0 = monotonic_ns();
  auto again = call_tool(*lane, "echo", "x", policy, 60'000 * kMs);
  EXPECT_EQ(again.code, Errc::peer_dead) << again.error;
  EXPECT_LT(monotonic_ns() - t0, kLivenessBoundNs + kSchedulingSlackNs);

  auto restarted = start_server(name, WaitMode::adaptive);
  auto seg2 = attach_or_fail(name);
  ASSERT_TRUE(seg2);
  EXPECT_NE(seg2->epoch(), old_epoch) << "a restarted executor must have a new epoch";
  auto lane2 = ClientLane::claim(seg2);
  ASSERT_TRUE(lane2.ok()) << lane2.error().describe();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(echo_ok(*lane2, "after restart " + std::to_string(i), policy));
}

INSTANTIATE_TEST_SUITE_P(AllModes, ServerKilled,
                         ::testing::Values(WaitMode::spin, WaitMode::adaptive, WaitMode::block),
                         [](const ::testing::TestParamInfo<WaitMode>& p) { return std::string(wait_mode_name(p.param)); });

TEST(Multiprocess, CallPastItsDeadlineTimesOutAndLaterCallsStillMatchTheirResponses) {
  const std::string name = unique_name();
  auto server = start_server(name, WaitMode::adaptive);
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);
  auto lane = ClientLane::claim(seg);
  ASSERT_TRUE(lane.ok());
  const std::uint64_t t0 = monotonic_ns();
  auto slow = call_tool(*lane, "sleep", "300", WaitPolicy{}, 30 * kMs);
  EXPECT_EQ(slow.code, Errc::timeout) << slow.error;
  EXPECT_LT(monotonic_ns() - t0, 250 * kMs);
  // The late response to the timed-out call arrives first and must be skipped, not returned.
  EXPECT_TRUE(echo_ok(*lane, "next", WaitPolicy{}));
}

// ---- client killed mid-call ----------------------------------------------------------------------

TEST(Multiprocess, KilledClientsLaneIsReclaimedAndOtherClientsAreUnaffected) {
  const std::string name = unique_name();
  constexpr std::uint32_t kLanes = 8;
  auto server = start_server(name, WaitMode::adaptive, kLanes);
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);

  // Two well-behaved clients keep calling throughout.
  std::atomic<bool> stop{false};
  std::atomic<int> good_calls{0}, bad_calls{0};
  std::vector<std::thread> others;
  for (int t = 0; t < 2; ++t)
    others.emplace_back([&, t] {
      auto l = ClientLane::claim(seg);
      if (!l) {
        bad_calls.fetch_add(1);
        return;
      }
      for (int i = 0; !stop.load(); ++i) {
        if (echo_ok(*l, "other " + std::to_string(t) + " " + std::to_string(i), WaitPolicy{})) good_calls.fetch_add(1);
        else bad_calls.fetch_add(1);
      }
    });
  ASSERT_TRUE(eventually([&] { return good_calls.load() >= 20; }));

  Peer victim({"hold", name, "200"});
  const std::string line = victim.read_line();
  ASSERT_EQ(line.rfind("lane ", 0), 0u) << line;
  const std::uint32_t victim_lane = static_cast<std::uint32_t>(std::stoul(line.substr(5)));
  // Its call is in flight: the server has read the request (the victim sends no other).
  ASSERT_TRUE(eventually([&] { return !seg->request_ring(victim_lane).readable(); }));
  victim.kill_now(SIGKILL);
  EXPECT_EQ(victim.wait(), 128 + SIGKILL);

  EXPECT_FALSE(seg->client_alive(victim_lane));
  EXPECT_EQ(reclaim_dead_clients(*seg), 1u);
  EXPECT_EQ(seg->lane(victim_lane).reclaimed.load(), 1u);
  EXPECT_GE(seg->stats().lanes_reclaimed.load(), 1u);
  EXPECT_EQ(reclaim_dead_clients(*seg), 0u) << "a lane is reclaimed once";

  // Every lane not held by the two live clients can be claimed again, including the victim's, and
  // each works (the victim's late response is recognised as not ours and dropped).
  std::vector<ClientLane> lanes;
  for (;;) {
    auto l = ClientLane::claim(seg);
    if (!l) {
      EXPECT_EQ(l.error().code, Errc::busy);
      break;
    }
    lanes.push_back(std::move(*l));
  }
  EXPECT_EQ(lanes.size(), kLanes - 2);
  bool victim_lane_reclaimed = false;
  for (auto& l : lanes) {
    victim_lane_reclaimed |= l.index() == victim_lane;
    EXPECT_TRUE(echo_ok(l, "new owner of lane " + std::to_string(l.index()), WaitPolicy{})) << l.index();
  }
  EXPECT_TRUE(victim_lane_reclaimed);

  const int before = good_calls.load();
  EXPECT_TRUE(eventually([&] { return good_calls.load() >= before + 20; }));
  stop.store(true);
  for (auto& t : others) t.join();
  EXPECT_EQ(bad_calls.load(), 0);
  EXPECT_TRUE(server->alive());
}

// ---- hostile peers -------------------------------------------------------------------------------

TEST(Multiprocess, HostileClientScribblingOnItsLaneAndTheHeaderIsReportedAndOthersSurvive) {
  for (std::uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::string name = unique_name("-" + std::to_string(seed));
    auto server = start_server(name, WaitMode::adaptive, 8);
    auto seg = attach_or_fail(name);
    ASSERT_TRUE(seg);
    auto good = ClientLane::claim(seg);
    ASSERT_TRUE(good.ok());
    ASSERT_TRUE(echo_ok(*good, "before", WaitPolicy{}));

    Peer hostile({"hostile-client", name, std::to_string(seed)});
    const std::string line = hostile.read_line();
    ASSERT_EQ(line.rfind("scribbled lane ", 0), 0u) << line;
    const auto bad_lane = static_cast<std::uint32_t>(std::stoul(line.substr(15)));

    // The server notices the corrupt lane and drops it (its counters are in the server's private
    // control region; the mark on the lane is what a client sees)...
    EXPECT_TRUE(eventually([&] { return seg->lane(bad_lane).poisoned.load() == 1; }));
    // ...and keeps serving everyone else, on existing lanes and new ones.
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(echo_ok(*good, "after " + std::to_string(i), WaitPolicy{}));
    auto late = ClientLane::claim(seg);
    ASSERT_TRUE(late.ok()) << late.error().describe();
    EXPECT_TRUE(echo_ok(*late, "late lane", WaitPolicy{}));
    EXPECT_TRUE(server->alive());
    // The scribbled header now refuses new attaches instead of letting them trust it.
    auto fresh = Segment::attach(name);
    EXPECT_FALSE(fresh.ok());
  }
}

// The lane a hostile client scribbled on is dropped by the workers while it holds it; once it
// is dead and the lane reclaimed, the next client to claim that lane index is served normally.
TEST(Multiprocess, LaneAHostileClientScribbledOnServesItsNextOwner) {
  constexpr std::uint32_t kLanes = 4;
  const std::string name = unique_name();
  auto server = start_server(name, WaitMode::adaptive, kLanes);
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);
  Peer hostile({"hostile-client", name, "5"});
  const std::string line = hostile.read_line();
  ASSERT_EQ(line.rfind("scribbled lane ", 0), 0u) << line;
  const auto bad_lane = static_cast<std::uint32_t>(std::stoul(line.substr(15)));
  ASSERT_TRUE(eventually([&] { return seg->lane(bad_lane).poisoned.load() == 1; }))
      << "the server never looked at the scribbled lane";
  hostile.kill_now(SIGKILL);
  EXPECT_EQ(hostile.wait(), 128 + SIGKILL);
  EXPECT_EQ(reclaim_dead_clients(*seg), 1u);

  // Claim every lane, so the scribbled one is among them; each must answer.
  std::vector<ClientLane> lanes;
  bool got_bad_lane = false;
  for (std::uint32_t k = 0; k < kLanes; ++k) {
    auto l = ClientLane::claim(seg);
    ASSERT_TRUE(l.ok()) << l.error().describe();
    got_bad_lane |= l->index() == bad_lane;
    lanes.push_back(std::move(*l));
  }
  ASSERT_TRUE(got_bad_lane);
  EXPECT_EQ(seg->lane(bad_lane).poisoned.load(), 0u);
  for (auto& l : lanes)
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(echo_ok(l, "lane " + std::to_string(l.index()), WaitPolicy{})) << l.index();
  EXPECT_TRUE(server->alive());
}

// A client whose own lane was dropped as corrupt is told so when its call times out (instead of a
// plain timeout on every later call), and a new claim of the lane works.
TEST(Multiprocess, CallOnALaneDroppedAsCorruptFailsAsCorruptAndANewClaimWorks) {
  const std::string name = unique_name();
  auto server = start_server(name, WaitMode::adaptive, 4);
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);
  auto lane = ClientLane::claim(seg);
  ASSERT_TRUE(lane.ok()) << lane.error().describe();
  const std::uint32_t index = lane->index();
  ASSERT_TRUE(echo_ok(*lane, "before", WaitPolicy{}));
  // Positive control: a call that merely takes too long on a healthy lane stays a timeout.
  auto slow = call_tool(*lane, "sleep", "300", WaitPolicy{}, 50 * kMs);
  EXPECT_EQ(slow.code, Errc::timeout) << slow.error;
  // The slow call's late response has arrived (the next call drops it by id).
  ASSERT_TRUE(eventually([&] { return seg->response_ring(index).readable(); }));

  // Overwrite the sequence number of the slot the server reads next: it finds the lane corrupt.
  LaneControl& lc = seg->lane(index);
  auto* slots = reinterpret_cast<std::byte*>(&lc) + sizeof(LaneControl);
  const std::uint64_t head = lc.request.head.load();
  reinterpret_cast<SlotHeader*>(slots + (head % seg->slots_per_ring()) * seg->slot_size())->seq.store(~0ull ^ 1);
  ASSERT_TRUE(eventually([&] { return lc.poisoned.load() == 1; })) << "the server never dropped the lane";

  auto r = call_tool(*lane, "echo", "after", WaitPolicy{}, 200 * kMs);
  EXPECT_EQ(r.code, Errc::corrupt) << r.error;
  lane = make_error(Errc::closed, "released");  // releases the lease
  auto again = ClientLane::claim(seg);
  ASSERT_TRUE(again.ok()) << again.error().describe();
  ASSERT_EQ(again->index(), index) << "lowest free lane expected";
  EXPECT_TRUE(echo_ok(*again, "new claim", WaitPolicy{}));
}

TEST(Multiprocess, HostileExecutorGarbageIsReportedByTheClientNeverACrash) {
  const std::string name = unique_name();
  Peer hostile({"hostile-server", name, "7"});
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);
  std::vector<ClientLane> lanes;  // a fresh lane per round: each round leaves its lane scribbled
  int transport_corrupt = 0, message_rejected = 0;
  for (int round = 0; round < 30; ++round) {
    auto l = ClientLane::claim(seg);
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lanes.push_back(std::move(*l));
    auto r = call_tool(lanes.back(), "echo", "x", WaitPolicy{}, 5'000 * kMs);
    if (r.code == Errc::corrupt) {
      ++transport_corrupt;
      continue;
    }
    ASSERT_EQ(r.code, Errc::ok) << "round " << round << ": " << r.error;
    auto resp = verify_response(r.bytes);
    ASSERT_FALSE(resp.ok()) << "round " << round << ": garbage passed verification";
    ++message_rejected;
  }
  EXPECT_GT(transport_corrupt, 0);
  EXPECT_GT(message_rejected, 0);
}

// ---- wait modes and idle CPU ---------------------------------------------------------------------

class WaitModes : public ::testing::TestWithParam<WaitMode> {};

TEST_P(WaitModes, ServerAndClientInTheSameModeCompleteCalls) {
  const std::string name = unique_name();
  const WaitPolicy policy{GetParam(), 50'000};
  auto server = start_server(name, GetParam(), 4);
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);
  EXPECT_EQ(seg->default_wait_mode(), GetParam());
  auto lane = ClientLane::claim(seg);
  ASSERT_TRUE(lane.ok());
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(echo_ok(*lane, std::to_string(i), policy)) << i;
    // Stimulus: idle long enough that a sleeping side may fall asleep; calls must complete
    // whether it did or not.
    if (i % 100 == 99) usleep(5'000);
  }
}

INSTANTIATE_TEST_SUITE_P(AllModes, WaitModes, ::testing::Values(WaitMode::spin, WaitMode::adaptive, WaitMode::block),
                         [](const ::testing::TestParamInfo<WaitMode>& p) { return std::string(wait_mode_name(p.param)); });

// CPU time of `pid` in ns: /proc/PID/schedstat's first field (ns on CPU), precise unlike the
// clock-tick counters in /proc/PID/stat.
std::uint64_t cpu_ns(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/schedstat");
  std::uint64_t ns = 0;
  if (f >> ns) return ns;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(st)), {});
  std::istringstream rest(s.substr(s.rfind(')') + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return (utime + stime) * (1'000'000'000ull / static_cast<std::uint64_t>(sysconf(_SC_CLK_TCK)));
}

TEST(Multiprocess, IdleAdaptiveServerUsesAlmostNoCpu) {
  const std::string name = unique_name();
  auto server = start_server(name, WaitMode::adaptive, 64);
  auto seg = attach_or_fail(name);
  ASSERT_TRUE(seg);
  auto lane = ClientLane::claim(seg);
  ASSERT_TRUE(lane.ok());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(echo_ok(*lane, "warm", WaitPolicy{}));
  // Past the spin budget: the worker is asleep on the doorbell.
  ASSERT_TRUE(eventually([&] { return seg->header().sleepers.load() == 1; }));
  const std::uint64_t cpu0 = cpu_ns(server->pid()), t0 = monotonic_ns();
  usleep(1'000'000);
  const std::uint64_t cpu1 = cpu_ns(server->pid()), t1 = monotonic_ns();
  const double share = static_cast<double>(cpu1 - cpu0) / static_cast<double>(t1 - t0);
  std::printf("idle adaptive server used %.2f%% of a core\n", share * 100);
  EXPECT_LT(share, 0.05) << "idle adaptive server used " << share * 100 << "% of a core";
  // And it still answers promptly when work arrives.
  EXPECT_TRUE(echo_ok(*lane, "wake up", WaitPolicy{}));
}

// ---- a worker dies mid-call ------------------------------------------------------------------------

// channel_peer as worker 0 of `seg` (created by this process, the supervisor): it inherits the
// control region the way the executor's workers do, so both sides see its WorkerSlot.
std::unique_ptr<Peer> worker_peer(const Segment& seg, const std::string& name) {
  const int fd = dup(seg.control_fd());  // dup: without close-on-exec, for the child to inherit
  auto p = std::make_unique<Peer>(std::vector<std::string>{"worker", name, "0", "adaptive", std::to_string(fd)});
  close(fd);
  return p;
}

TEST(Multiprocess, InFlightCallOfADeadWorkerIsAnsweredBySupervisor) {
  const std::string name = unique_name();
  // This process is the supervisor: it owns the segment; the worker is a separate process.
  ChannelConfig cfg;
  cfg.lanes = 4;
  auto created = Segment::create(name, cfg);
  ASSERT_TRUE(created.ok()) << created.error().describe();
  std::shared_ptr<Segment> seg = *created;
  auto worker = worker_peer(*seg, name);
  auto lane = ClientLane::claim(seg);
  ASSERT_TRUE(lane.ok());
  ASSERT_TRUE(echo_ok(*lane, "before", WaitPolicy{}));

  CallResult crashed;
  std::uint64_t crashed_id = 0;
  std::thread caller([&] { crashed = call_tool(*lane, "crash", "", WaitPolicy{}, 10'000 * kMs, &crashed_id); });
  EXPECT_EQ(worker->wait(), 128 + SIGKILL);
  EXPECT_EQ(seg->worker(0).lane_plus1.load(), lane->index() + 1) << "the worker recorded its in-flight call";
  answer_for_dead_worker(*seg, 0, wire::Status::WorkerDied, "worker 0 killed by SIGKILL");
  caller.join();

  ASSERT_EQ(crashed.code, Errc::ok) << crashed.error;
  auto resp = verify_response(crashed.bytes);
  ASSERT_TRUE(resp.ok()) << resp.error().describe();
  EXPECT_EQ((*resp)->id(), crashed_id);
  EXPECT_EQ((*resp)->status(), wire::Status::WorkerDied);
  EXPECT_EQ((*resp)->error()->str(), "worker 0 killed by SIGKILL");
  EXPECT_EQ(seg->lane(lane->index()).server_owner.load(), 0u) << "the dead worker's lane was released";

  // A respawned worker serves the same lane.
  worker = worker_peer(*seg, name);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(echo_ok(*lane, "respawned " + std::to_string(i), WaitPolicy{}));
}

TEST(Multiprocess, WorkerThatDiesAfterReplyingIsNotAnsweredTwice) {
  const std::string name = unique_name();
  ChannelConfig cfg;
  cfg.lanes = 4;
  auto created = Segment::create(name, cfg);
  ASSERT_TRUE(created.ok()) << created.error().describe();
  std::shared_ptr<Segment> seg = *created;
  auto worker = worker_peer(*seg, name);
  auto lane = ClientLane::claim(seg);
  ASSERT_TRUE(lane.ok());
  // The worker sends its response and dies before it looks for the next request: the call is
  // complete, so there is nothing left to answer.
  std::uint64_t id = 0;
  auto r = call_tool(*lane, "die-after-reply", "bye", WaitPolicy{}, 10'000 * kMs, &id);
  ASSERT_EQ(r.code, Errc::ok) << r.error;
  EXPECT_EQ(worker->wait(), 128 + SIGKILL);
  answer_for_dead_worker(*seg, 0, wire::Status::WorkerDied, "late");
  EXPECT_FALSE(seg->response_ring(lane->index()).readable()) << "a duplicate response was sent";
}

}  // namespace
}  // namespace shmcp::channel
