// Worker log lines cross the channel to the supervisor: delivered in order with their level,
// bounded (overflow counted, never blocking), and a corrupt ring is survived.
#include <memory>
#include <sstream>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include "executor/worker_log.hpp"

using namespace shmcp;
using namespace shmcp::executor;

namespace {

struct Fixture {
  std::unique_ptr<channel::WorkerLog> ring = std::make_unique<channel::WorkerLog>();
  std::shared_ptr<spdlog::logger> worker;
  std::ostringstream out_text;
  std::shared_ptr<spdlog::logger> out;

  Fixture() {
    worker = std::make_shared<spdlog::logger>("w", std::make_shared<ChannelLogSink>(*ring));
    worker->set_level(spdlog::level::trace);
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out_text);
    sink->set_pattern("%l|%v");
    out = std::make_shared<spdlog::logger>("sup", sink);
    out->set_level(spdlog::level::trace);
  }
};

}  // namespace

TEST(WorkerLog, LinesArriveInOrderWithTheirLevelAndWorkerIndex) {
  Fixture f;
  f.worker->warn("lane {} dropped", 3);
  f.worker->error("second");
  EXPECT_EQ(drain_worker_log(*f.ring, 7, *f.out), 2u);
  EXPECT_EQ(f.out_text.str(), "warning|worker 7: lane 3 dropped\nerror|worker 7: second\n");
  EXPECT_EQ(drain_worker_log(*f.ring, 7, *f.out), 0u);  // nothing twice
}

TEST(WorkerLog, AFullRingDropsAndCountsInsteadOfBlocking) {
  Fixture f;
  for (int i = 0; i < 20; ++i) f.worker->info("line {}", i);
  EXPECT_EQ(drain_worker_log(*f.ring, 0, *f.out), channel::kLogEntries);
  const std::string s = f.out_text.str();
  EXPECT_NE(s.find("worker 0: line 15\n"), std::string::npos);
  EXPECT_EQ(s.find("worker 0: line 16\n"), std::string::npos);
  EXPECT_NE(s.find("4 log line(s) dropped"), std::string::npos);
}

TEST(WorkerLog, LongLinesAreTruncatedToTheEntry) {
  Fixture f;
  f.worker->info("{}", std::string(1000, 'x'));
  EXPECT_EQ(drain_worker_log(*f.ring, 1, *f.out), 1u);
  EXPECT_EQ(f.out_text.str(), "info|worker 1: " + std::string(channel::kLogTextBytes, 'x') + "\n");
}

TEST(WorkerLog, CorruptIndicesAndLengthsAreSurvived) {
  Fixture f;
  f.ring->tail.store(1'000'000);  // a hostile worker scribbling on its ring
  EXPECT_EQ(drain_worker_log(*f.ring, 2, *f.out), 0u);
  EXPECT_NE(f.out_text.str().find("out of range"), std::string::npos);
  EXPECT_EQ(f.ring->head.load(), 1'000'000u);
  f.worker->info("after");  // resynchronised: lines flow again
  f.ring->entries[1'000'000 % channel::kLogEntries].len = 0xFFFFFFFFu;  // and a bad length is clamped
  f.ring->entries[1'000'000 % channel::kLogEntries].level = 99;
  EXPECT_EQ(drain_worker_log(*f.ring, 2, *f.out), 1u);
}

// A worker's text is untrusted: it stays one line and carries no terminal escape sequences.
TEST(WorkerLog, ControlCharactersAreEscapedSoALineCannotForgeAnother) {
  Fixture f;
  f.worker->info("evil\nerror|worker 0: forged\x1b[31mred\r\x7f\xc2\x9b" "2J \xc3\xa9t\xc3\xa9");
  EXPECT_EQ(drain_worker_log(*f.ring, 3, *f.out), 1u);
  EXPECT_EQ(f.out_text.str(),
            "info|worker 3: evil\\x0aerror|worker 0: forged\\x1b[31mred\\x0d\\x7f\\u009b2J \xc3\xa9t\xc3\xa9\n");
}
