// The supervisor, against real `shmcp-executor serve` processes: per-call deadlines (worker killed,
// respawned, later calls fine), a worker SIGKILLed mid-call (its in-flight call answered with an
// error, not a hang), --workers 2 isolation, SIGTERM shutdown, stale segment cleanup, and the
// serve command line (usage errors, --help).
//
// "Held" calls: some tests need a call that is provably still in flight in a worker. A request for
// a file much larger than the response ring (16 x 8 KiB) is sent on a raw channel lane and the
// response is not read: the worker reads the file and then blocks in its reply until the test
// reads or the worker dies. Nothing there depends on timing.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "channel/channel.hpp"
#include "orchestrator/client.hpp"
#include "tests/support/executor_process.hpp"
#include "tests/support/files.hpp"
#include "tests/support/proc_fds.hpp"

using nlohmann::json;
using namespace shmcp;
using namespace shmcp::testing;

namespace {

constexpr std::size_t kBigFile = 48u << 20;  // far larger than a response ring; under max message
// The held call of the shutdown tests: still far larger than a response ring (so the worker is
// stuck in its reply until the test reads), but small enough to stream within the executor's
// 10 s drain on a loaded machine (a larger one may not, and the drain would end the call).
constexpr std::size_t kDrainFile = 8u << 20;

bool await_log(const ExecutorProcess& ex, const std::string& needle, int timeout_ms = 10'000) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < give_up) {
    if (ex.stderr_text().find(needle) != std::string::npos) return true;
    sleep_ms(5);
  }
  return false;
}

// A call sent on a raw lane whose (large) response is not read until receive().
class HeldCall {
 public:
  // Sends read_text_file(path) and waits until some worker has taken it (our lane names it as
  // owner and the request was read).
  bool start(const std::string& channel, const std::string& path, std::uint64_t timeout_ms, std::string* why) {
    auto seg = channel::Segment::attach(channel, 2'000'000'000ull);
    if (!seg) return *why = seg.error().describe(), false;
    seg_ = *seg;
    auto lane = channel::ClientLane::claim(seg_);
    if (!lane) return *why = lane.error().describe(), false;
    lane_.emplace(std::move(*lane));
    id_ = lane_->next_id();
    deadline_ = channel::monotonic_ns() + timeout_ms * 1'000'000ull;
    flatbuffers::FlatBufferBuilder fbb;
    channel::build_read_text_file_request(fbb, id_, deadline_, path, 0, 0);
    if (auto s = lane_->send(id_, channel::bytes_of(fbb), deadline_, {}); !s) return *why = s.error().describe(), false;
    for (int i = 0; i < 10'000; ++i) {
      // Taken and read: our lane names the worker and the request has left the ring (the worker
      // records the call as in flight right after reading it).
      if (const std::uint32_t w = owner_plus1(); w != 0 && !seg_->request_ring(lane_->index()).readable()) {
        worker_ = w - 1;
        return true;
      }
      sleep_ms(1);
    }
    *why = "no worker took the held call";
    return false;
  }
  std::uint32_t worker() const { return worker_; }
  // Read from the lane's server-owner word (the workers' own slots are out of a client's reach):
  // the worker holds the lane while the unread response keeps it in reply().
  bool still_in_flight() const { return owner_plus1() == worker_ + 1; }
  std::uint32_t owner_plus1() const { return seg_->lane(lane_->index()).server_owner.load() & channel::kOwnerWorkerMask; }

  // Reads the response (status, error text, total content bytes). Only a dead executor aborts the
  // wait; the lane's "closing" state does not (a shutting-down executor still finishes calls).
  struct Outcome {
    wire::Status status = wire::Status::Internal;
    std::string error;
    std::size_t text_bytes = 0;
  };
  Result<Outcome> receive(std::uint64_t timeout_ms) {
    channel::Ring ring = seg_->response_ring(lane_->index());
    std::vector<std::byte> buf;
    const std::uint64_t give_up = channel::monotonic_ns() + timeout_ms * 1'000'000ull;
    for (;;) {
      auto got = ring.receive(buf, {}, give_up, [this]() -> Status {
        if (!seg_->executor_alive()) return make_error(Errc::peer_dead, "executor died");
        return {};
      });
      if (!got) return got.error();
      if (*got != id_) continue;
      auto r = channel::verify_response(buf);
      if (!r) return r.error();
      Outcome o;
      o.status = (*r)->status();
      o.error = (*r)->error() ? (*r)->error()->str() : "";
      if ((*r)->content())
        for (const auto* c : *(*r)->content()) o.text_bytes += c->text() ? c->text()->size() : 0;
      return o;
    }
  }

 private:
  std::shared_ptr<channel::Segment> seg_;
  std::optional<channel::ClientLane> lane_;
  std::uint64_t id_ = 0, deadline_ = 0;
  std::uint32_t worker_ = 0;
};

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(ws_.path().empty());
    ASSERT_TRUE(write_file(ws_ / "hello.txt", "hello\n"));
    std::string big(kBigFile, 'a');
    for (std::size_t i = 79; i < big.size(); i += 80) big[i] = '\n';
    ASSERT_TRUE(write_file(ws_ / "big.txt", big));
    big.resize(kDrainFile);
    ASSERT_TRUE(write_file(ws_ / "drain.txt", big));
  }
  // Holds a big read in flight, sends SIGTERM, and requires the call to complete and the executor
  // to exit cleanly and remove its segment.
  void sigterm_lets_held_call_finish(HeldCall& held, std::string& why) {
    held_call_finishes_after_signal(held, why, [this] { return ::kill(ex_->pid(), SIGTERM); },
                                    "finishing in-flight calls");
  }
  // The same with any way of signalling (`send` returns 0 on success) and the log line that shows
  // the executor started draining.
  void held_call_finishes_after_signal(HeldCall& held, std::string& why, const std::function<int()>& send,
                                       const std::string& draining_log) {
    ASSERT_TRUE(held.start(ex_->channel(), "drain.txt", 60'000, &why)) << why;
    ASSERT_EQ(send(), 0);
    ASSERT_TRUE(await_log(*ex_, draining_log));
    auto out = held.receive(30'000);
    ASSERT_TRUE(out) << out.error().describe();
    EXPECT_EQ(out->status, wire::Status::Ok);
    EXPECT_EQ(out->text_bytes, kDrainFile);
    EXPECT_EQ(ex_->stop(), 0);
    EXPECT_FALSE(path_exists(segment_file(ex_->channel())));
  }

  void start(std::vector<std::string> extra = {}) {
    ex_.emplace(ws_.path(), unique_channel("sup-" + test_name()), std::move(extra));
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
  }
  std::unique_ptr<Client> connect() {
    auto c = Client::connect(ex_->shm_url());
    EXPECT_TRUE(c) << c.error().describe();
    return c ? std::move(*c) : nullptr;
  }
  void expect_hello(Client& c) {
    auto r = c.call("read_text_file", {{"path", "hello.txt"}});
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_FALSE(r->is_error);
    EXPECT_EQ(r->text(), "hello\n");
  }

  TempDir ws_;
  std::optional<ExecutorProcess> ex_;
};

TEST_F(SupervisorTest, CallPastItsDeadlineFailsWithTimeoutAndItsWorkerIsReplaced) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto before = ex_->wait_workers(1);
  ASSERT_EQ(before.size(), 1u);
  // A call with a 300 ms deadline whose 48 MiB response is never read: once the worker has taken
  // it (HeldCall::start waits for that, so a worker slow to wake under load cannot turn this into
  // "expired while queued"), it is stuck in its reply when the deadline passes.
  HeldCall held;
  std::string why;
  ASSERT_TRUE(held.start(ex_->channel(), "big.txt", 300, &why)) << why;
  EXPECT_TRUE(await_log(*ex_, "passed its call's deadline")) << ex_->stderr_text();
  EXPECT_EQ(await_metric(ex_->port(), "shmcp_call_timeouts_total", 1), 1);
  EXPECT_EQ(await_metric(ex_->port(), "shmcp_worker_restarts_total", 1), 1);
  auto after = ex_->wait_workers(1, before);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0], before[0]);
  EXPECT_FALSE(path_exists("/proc/" + std::to_string(before[0]) + "/status")) << "old worker still exists";

  // Through the client: 48 MiB cannot be read, encoded and streamed in 1 ms, so the call fails
  // with a timeout (whether or not the worker started it before its deadline).
  auto c = connect();
  ASSERT_TRUE(c);
  auto r = c->call("read_text_file", {{"path", "big.txt"}}, CallOptions{std::chrono::milliseconds(1)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout) << r.error().describe();

  // Later calls on the same client (and lane pool) succeed, including the big one.
  expect_hello(*c);
  auto big = c->call("read_text_file", {{"path", "big.txt"}});
  ASSERT_TRUE(big) << big.error().describe();
  EXPECT_FALSE(big->is_error);
  EXPECT_EQ(big->text().size(), kBigFile);
  EXPECT_EQ(metric(ex_->port(), "shmcp_sandbox_violations_total"), 0);
}

// --call-timeout-ms is the deadline of calls that carry none, which includes HTTP /execute calls.
// Workers close a read's file after replying (Tools::defer_close): many reads must not add up to
// open handles in the worker (it would run out of descriptors).
TEST_F(SupervisorTest, WorkerHoldsNoFileHandlesAfterItsReads) {
  ASSERT_NO_FATAL_FAILURE(start());
  const auto workers = ex_->wait_workers(1);
  ASSERT_EQ(workers.size(), 1u);
  auto c = connect();
  ASSERT_TRUE(c);
  char real[PATH_MAX];
  ASSERT_NE(::realpath((ws_.path() + "/hello.txt").c_str(), real), nullptr);
  const std::string hello = real;
  {  // positive control: the count sees a handle that is open
    const int fd = ::open(hello.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(open_handles_on(::getpid(), hello), 1);
    ::close(fd);
  }
  for (int i = 0; i < 500; ++i) {
    auto r = c->read_text_file("hello.txt");
    ASSERT_TRUE(r) << r.error().describe();
    ASSERT_EQ(*r, "hello\n");
  }
  // The last read's handle is closed just after its reply; the worker serves a ping only after.
  ASSERT_TRUE(c->ping());
  EXPECT_EQ(open_handles_on(workers[0], hello), 0);
}

TEST_F(SupervisorTest, CallTimeoutFlagBoundsHttpCalls) {
  ASSERT_NO_FATAL_FAILURE(start({"--call-timeout-ms", "1"}));
  // A client that waits a minute: the executor's own deadline must cut the call, not ours.
  auto post = [&](std::string* body) {
    httplib::Client cli("127.0.0.1", ex_->port());
    cli.set_read_timeout(60, 0);
    const auto res = cli.Post("/execute", R"({"tool":"read_text_file","arguments":{"path":"big.txt"}})", "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    ASSERT_EQ(res->status, 504) << res->body.substr(0, 300);
    *body = res->body;
  };
  // On a loaded machine the call may reach a worker only after its 1 ms deadline; the worker then
  // answers it as expired without starting it (a timeout too, but no worker to kill). Repeat
  // until one call was running when its deadline passed. Every call must be cut as a timeout.
  int calls = 0;
  bool killed = false;
  while (!killed && calls < 20) {
    ++calls;
    SCOPED_TRACE("call " + std::to_string(calls));
    std::string body;
    ASSERT_NO_FATAL_FAILURE(post(&body));
    const json j = json::parse(body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << body.substr(0, 300);
    EXPECT_NE(j.value("error", "").find("timeout"), std::string::npos) << j.dump();
    // Either way the call is counted once; the supervisor logs a kill before counting it.
    ASSERT_EQ(await_metric(ex_->port(), "shmcp_call_timeouts_total", calls), calls);
    killed = ex_->stderr_text().find("passed its call's deadline") != std::string::npos;
  }
  ASSERT_TRUE(killed) << "no call reached a worker within its 1 ms in " << calls << " tries";
  EXPECT_EQ(await_metric(ex_->port(), "shmcp_worker_restarts_total", 1), 1);
  // Calls that carry their own deadline are unaffected.
  auto c = connect();
  ASSERT_TRUE(c);
  expect_hello(*c);
}

TEST_F(SupervisorTest, WorkerKilledMidCallAnswersTheInFlightCallWithAnError) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto before = ex_->wait_workers(1);
  ASSERT_EQ(before.size(), 1u);
  HeldCall held;
  std::string why;
  ASSERT_TRUE(held.start(ex_->channel(), "big.txt", 60'000, &why)) << why;
  ASSERT_TRUE(held.still_in_flight());
  ASSERT_EQ(::kill(before[0], SIGKILL), 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto out = held.receive(10'000);  // liveness bound: an answer, not a hang until the deadline
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(out->status, wire::Status::WorkerDied);
  EXPECT_EQ(out->error, "the worker running this call died (killed by signal KILL)");
  EXPECT_LT(waited, std::chrono::seconds(10));

  auto after = ex_->wait_workers(1, before);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0], before[0]);
  EXPECT_EQ(await_metric(ex_->port(), "shmcp_worker_restarts_total", 1), 1);
  EXPECT_EQ(metric(ex_->port(), "shmcp_sandbox_violations_total"), 0);
  EXPECT_NE(ex_->stderr_text().find("died with a call in flight"), std::string::npos) << ex_->stderr_text();
  auto c = connect();
  ASSERT_TRUE(c);
  expect_hello(*c);
}

TEST_F(SupervisorTest, WorkerKilledWhileIdleIsRespawnedAndClientsCarryOn) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto c = connect();
  ASSERT_TRUE(c);
  expect_hello(*c);
  auto before = ex_->wait_workers(1);
  ASSERT_EQ(before.size(), 1u);
  ASSERT_EQ(::kill(before[0], SIGKILL), 0);
  auto after = ex_->wait_workers(1, before);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0], before[0]);
  expect_hello(*c);
  auto h = c->health();
  ASSERT_TRUE(h) << h.error().describe();
  EXPECT_EQ((*h)["workers"]["alive"], 1);
}

// se.slice of a process in /proc/PID/sched (Linux >= 6.12), in ns; 0 if the kernel shows none.
std::uint64_t sched_slice_ns(pid_t pid) {
  const std::string text = read_file(std::string("/proc/").append(std::to_string(pid)).append("/sched"));
  const auto at = text.find("se.slice");
  if (at == std::string::npos) return 0;
  const auto colon = text.find(':', at);
  return colon == std::string::npos ? 0 : std::strtoull(text.c_str() + colon + 1, nullptr, 10);
}

TEST_F(SupervisorTest, WorkerSliceFlagSetsTheWorkersSchedulerSlice) {
  if (sched_slice_ns(::getpid()) == 0) GTEST_SKIP() << "this kernel shows no se.slice (custom slices: Linux >= 6.12)";
  ASSERT_NO_FATAL_FAILURE(start({"--worker-slice-us", "150"}));
  auto workers = ex_->wait_workers(1);
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(sched_slice_ns(workers[0]), 150'000u);
  auto c = connect();
  ASSERT_TRUE(c);
  expect_hello(*c);  // and it serves
  // Without the flag the kernel's own slice stays (the control: not 150 us).
  ex_.reset();
  ASSERT_NO_FATAL_FAILURE(start());
  workers = ex_->wait_workers(1);
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(sched_slice_ns(workers[0]), sched_slice_ns(::getpid()));
  EXPECT_NE(sched_slice_ns(workers[0]), 150'000u);
}

TEST_F(SupervisorTest, WithTwoWorkersASlowCallDoesNotHoldUpAnotherClient) {
  ASSERT_NO_FATAL_FAILURE(start({"--workers", "2"}));
  HeldCall held;
  std::string why;
  ASSERT_TRUE(held.start(ex_->channel(), "big.txt", 60'000, &why)) << why;
  auto c = connect();
  ASSERT_TRUE(c);
  for (int i = 0; i < 20; ++i) {
    auto r = c->call("read_text_file", {{"path", "hello.txt"}}, CallOptions{std::chrono::milliseconds(10'000)});
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->text(), "hello\n");
  }
  EXPECT_TRUE(held.still_in_flight());  // the slow call was running the whole time
  auto out = held.receive(30'000);
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(out->status, wire::Status::Ok);
  EXPECT_EQ(out->text_bytes, kBigFile);
}

// The control for the test above: with a single worker the same quick call must wait.
TEST_F(SupervisorTest, WithOneWorkerASlowCallDoesHoldUpOthers) {
  ASSERT_NO_FATAL_FAILURE(start({"--workers", "1"}));
  HeldCall held;
  std::string why;
  ASSERT_TRUE(held.start(ex_->channel(), "big.txt", 60'000, &why)) << why;
  auto c = connect();
  ASSERT_TRUE(c);
  auto r = c->call("read_text_file", {{"path", "hello.txt"}}, CallOptions{std::chrono::milliseconds(300)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout);
  auto out = held.receive(30'000);
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(out->status, wire::Status::Ok);
  expect_hello(*c);
}

TEST_F(SupervisorTest, SigtermStopsCleanlyAndRemovesTheSegment) {
  ASSERT_NO_FATAL_FAILURE(start({"--workers", "2"}));
  auto workers = ex_->wait_workers(2);
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_TRUE(path_exists(segment_file(ex_->channel())));
  EXPECT_EQ(ex_->stop(), 0);
  EXPECT_FALSE(path_exists(segment_file(ex_->channel())));
  for (pid_t w : workers) EXPECT_FALSE(path_exists("/proc/" + std::to_string(w) + "/status")) << "worker " << w << " survived";
  const std::string log = ex_->stderr_text();
  EXPECT_NE(log.find("received TERM"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped; removing " + segment_file(ex_->channel())), std::string::npos) << log;
}

TEST_F(SupervisorTest, SigtermLetsAnInFlightCallFinish) {
  ASSERT_NO_FATAL_FAILURE(start());
  HeldCall held;
  std::string why;
  ASSERT_NO_FATAL_FAILURE(sigterm_lets_held_call_finish(held, why));
}

// Ctrl-C in a terminal signals the whole process group, workers included: the supervisor must
// still be the one that decides when they stop, after the in-flight call has finished.
TEST_F(SupervisorTest, SigintToTheProcessGroupLetsAnInFlightCallFinish) {
  ASSERT_NO_FATAL_FAILURE(start({"--workers", "2"}));
  ASSERT_EQ(::getpgid(ex_->pid()), ex_->pid());  // the helper puts the executor in its own group
  HeldCall held;
  std::string why;
  ASSERT_NO_FATAL_FAILURE(held_call_finishes_after_signal(held, why, [this] { return ::killpg(ex_->pid(), SIGINT); },
                                                          "received INT: finishing in-flight calls"));
  EXPECT_EQ(ex_->stderr_text().find("killed by signal INT"), std::string::npos) << ex_->stderr_text();
}

// A respawned worker is forked by the supervisor's monitor thread; shutting down must still let it
// finish its call (it must not die with that thread).
TEST_F(SupervisorTest, SigtermLetsARespawnedWorkerFinishItsCall) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto before = ex_->wait_workers(1);
  ASSERT_EQ(before.size(), 1u);
  ASSERT_EQ(::kill(before[0], SIGKILL), 0);
  ASSERT_EQ(ex_->wait_workers(1, before).size(), 1u);
  ASSERT_EQ(await_metric(ex_->port(), "shmcp_workers_alive", 1), 1);
  HeldCall held;
  std::string why;
  ASSERT_NO_FATAL_FAILURE(sigterm_lets_held_call_finish(held, why));
}

TEST_F(SupervisorTest, StaleSegmentOfAKilledExecutorIsReplacedByANewOne) {
  ASSERT_NO_FATAL_FAILURE(start({"--workers", "2"}));
  const std::string channel = ex_->channel();
  auto workers = ex_->wait_workers(2);
  ex_->kill9();
  ASSERT_TRUE(path_exists(segment_file(channel))) << "SIGKILL cannot remove the segment";
  // The workers die with their supervisor (PR_SET_PDEATHSIG).
  for (pid_t w : workers)
    for (int i = 0; i < 500 && path_exists("/proc/" + std::to_string(w) + "/status"); ++i) sleep_ms(10);
  for (pid_t w : workers) EXPECT_FALSE(path_exists("/proc/" + std::to_string(w) + "/status")) << "orphaned worker " << w;

  ExecutorProcess second(ws_.path(), channel);
  std::string why;
  ASSERT_TRUE(second.start(&why)) << why;
  EXPECT_NE(second.stderr_text().find("removed stale segment " + segment_file(channel)), std::string::npos)
      << second.stderr_text();
  auto c = Client::connect(second.shm_url());
  ASSERT_TRUE(c) << c.error().describe();
  expect_hello(**c);
  EXPECT_EQ(second.stop(), 0);
  EXPECT_FALSE(path_exists(segment_file(channel)));
}

TEST_F(SupervisorTest, SecondExecutorOnALiveChannelRefusesToStart) {
  ASSERT_NO_FATAL_FAILURE(start());
  ExecutorProcess second(ws_.path(), ex_->channel());
  std::string why;
  EXPECT_FALSE(second.start(&why));
  EXPECT_TRUE(WIFEXITED(second.exit_status()));
  EXPECT_EQ(WEXITSTATUS(second.exit_status()), 1);
  EXPECT_NE(second.stderr_text().find("already served by a live executor"), std::string::npos) << second.stderr_text();
  // The first executor is unharmed.
  auto c = connect();
  ASSERT_TRUE(c);
  expect_hello(*c);
}

TEST(ServeCommandLine, WithoutWorkspaceExits2WithUsage) {
  auto r = run_process({executor_binary(), "serve", "--channel", unique_channel("noworkspace")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--workspace is required"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Usage: shmcp-executor serve"), std::string::npos) << r.err;
}

TEST(ServeCommandLine, BadFlagsExit2WithAReason) {
  TempDir ws;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--bogus"}, "unknown option '--bogus'"},
      {{"--workers", "0"}, "--workers expects a number in 1..64"},
      {{"--workers", "x"}, "--workers expects a number"},
      {{"--http", "8002"}, "--http expects HOST:PORT"},
      {{"--wait", "sometimes"}, "unknown wait mode"},
      {{"--log-level", "loud"}, "unknown log level"},
      {{"--token-file", ws / "absent"}, "cannot read --token-file"},
      {{"--channel"}, "--channel needs a value"},
  };
  for (const auto& [flags, reason] : cases) {
    std::vector<std::string> argv = {executor_binary(), "serve", "--workspace", ws.path()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto r = run_process(argv);
    EXPECT_EQ(r.exit_code, 2) << flags[0];
    EXPECT_NE(r.err.find(reason), std::string::npos) << flags[0] << ": " << r.err;
  }
}

TEST(ServeCommandLine, HelpDocumentsEveryFlagAndDefault) {
  auto r = run_process({executor_binary(), "serve", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--workspace DIR", "--channel NAME", "--http HOST:PORT", "--no-http", "--workers N",
                           "--wait MODE", "--spin-us N", "--token-file F", "--read-only", "--call-timeout-ms N",
                           "--max-read-bytes N", "--allow-hardlinks", "--lanes N", "--slots N", "--slot-size BYTES",
                           "--max-message BYTES", "--shm-group", "--allow-unsandboxed", "--log-level LEVEL", "--help"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  for (const char* dflt : {"[default: default]", "[default: 127.0.0.1:8002]", "[default: 1]", "[default: adaptive]",
                           "[default: 30000]", "[default: info]", "[default: 64]"})
    EXPECT_NE(r.out.find(dflt), std::string::npos) << dflt;
  auto top = run_process({executor_binary(), "--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("serve"), std::string::npos);
}

}  // namespace
