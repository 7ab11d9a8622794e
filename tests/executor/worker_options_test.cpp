// The worker's command line: what the supervisor serialises (to_argv) the worker parses back
// (parse_worker_options) field for field, and a malformed command line is refused with a reason.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "executor/worker_options.hpp"

namespace shmcp::executor {
namespace {

Result<WorkerOptions> parse(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_worker_options(static_cast<int>(argv.size()), argv.data());
}

void expect_same(const WorkerOptions& a, const WorkerOptions& b) {
  EXPECT_EQ(a.channel, b.channel);
  EXPECT_EQ(a.shm_dir, b.shm_dir);
  EXPECT_EQ(a.root, b.root);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.control_fd, b.control_fd);
  EXPECT_EQ(a.quota_fd, b.quota_fd);
  EXPECT_EQ(a.read_only, b.read_only);
  EXPECT_EQ(a.allow_unsandboxed, b.allow_unsandboxed);
  EXPECT_EQ(a.policy.mode, b.policy.mode);
  EXPECT_EQ(a.policy.spin_ns, b.policy.spin_ns);
  EXPECT_EQ(a.tools.read_only, b.tools.read_only);
  EXPECT_EQ(a.tools.allow_hardlinks, b.tools.allow_hardlinks);
  EXPECT_EQ(a.tools.fsync_writes, b.tools.fsync_writes);
  EXPECT_EQ(a.tools.max_read_bytes, b.tools.max_read_bytes);
  EXPECT_EQ(a.tools.max_write_bytes, b.tools.max_write_bytes);
  EXPECT_EQ(a.tools.max_walk_depth, b.tools.max_walk_depth);
  EXPECT_EQ(a.tools.max_walk_entries, b.tools.max_walk_entries);
  EXPECT_EQ(a.tools.max_walk_millis, b.tools.max_walk_millis);
  EXPECT_EQ(a.tools.test_abort_after_fill, b.tools.test_abort_after_fill);
  EXPECT_EQ(a.call_timeout_ms, b.call_timeout_ms);
  EXPECT_EQ(a.max_call_timeout_ms, b.max_call_timeout_ms);
  EXPECT_EQ(a.log_level, b.log_level);
  EXPECT_EQ(a.test_hooks, b.test_hooks);
  EXPECT_EQ(a.idle_exit_ms, b.idle_exit_ms);
  EXPECT_EQ(a.slice_us, b.slice_us);
}

// Every field set away from its default, so a field the serialiser forgets fails the comparison.
WorkerOptions everything_changed() {
  WorkerOptions o;
  o.channel = "round-trip";
  o.shm_dir = "/run/shmcp dir";
  o.root = "/srv/work space";
  o.index = 7;
  o.control_fd = 4;
  o.quota_fd = 5;
  o.read_only = o.tools.read_only = true;
  o.allow_unsandboxed = true;
  o.policy.mode = channel::WaitMode::block;
  o.policy.spin_ns = 123'000;
  o.tools.allow_hardlinks = true;
  o.tools.fsync_writes = true;
  o.tools.max_read_bytes = 1'234'567;
  o.tools.max_write_bytes = 7'654'321;
  o.tools.max_walk_depth = 9;
  o.tools.max_walk_entries = 4242;
  o.tools.max_walk_millis = 777;
  o.call_timeout_ms = 1500;
  o.max_call_timeout_ms = 90'000;
  o.log_level = "debug";
  o.test_hooks = true;
  o.idle_exit_ms = 2500;
  o.slice_us = 150;
  return o;
}

TEST(WorkerOptions, EveryFieldRoundTripsThroughTheCommandLine) {
  const WorkerOptions sent = everything_changed();
  const auto argv = to_argv(sent, "/usr/bin/shmcp-executor");
  ASSERT_GE(argv.size(), 2u);
  EXPECT_EQ(argv[0], "/usr/bin/shmcp-executor");
  EXPECT_EQ(argv[1], "worker");
  auto got = parse(argv);
  ASSERT_TRUE(got) << got.error().describe();
  expect_same(*got, sent);
}

TEST(WorkerOptions, DefaultsRoundTripToo) {
  WorkerOptions sent;
  // Moved in, not assigned from literals: GCC 12 -O3 reports a false -Wrestrict on the latter.
  sent.channel = std::string("c");
  sent.root = std::string("/r");
  sent.control_fd = 4;
  for (const auto mode : {channel::WaitMode::spin, channel::WaitMode::adaptive, channel::WaitMode::block}) {
    sent.policy.mode = mode;
    auto got = parse(to_argv(sent, "exe"));
    ASSERT_TRUE(got) << got.error().describe();
    expect_same(*got, sent);
  }
}

TEST(WorkerOptions, ReadOnlyAlsoMakesTheToolsReadOnly) {
  auto got = parse({"exe", "worker", "--channel", "c", "--root", "/r", "--control-fd", "4", "--read-only"});
  ASSERT_TRUE(got) << got.error().describe();
  EXPECT_TRUE(got->read_only);
  EXPECT_TRUE(got->tools.read_only);
}

TEST(WorkerOptions, MalformedCommandLinesAreRefusedWithAReason) {
  const std::vector<std::string> base = {"exe", "worker", "--channel", "c", "--root", "/r", "--control-fd", "4"};
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--bogus"}, "unknown argument --bogus"},
      {{"--index", "64"}, "--index expects a number in 0..63"},
      {{"--spin-ns", "fast"}, "--spin-ns expects a number"},
      {{"--wait", "sometimes"}, "wait mode"},
      {{"--log-level"}, "--log-level needs a value"},
      {{"--quota-fd", "five"}, "--quota-fd expects a number"},
  };
  for (const auto& [extra, reason] : cases) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    auto got = parse(args);
    ASSERT_FALSE(got) << extra[0];
    EXPECT_EQ(got.error().code, Errc::invalid_argument) << extra[0];
    EXPECT_NE(got.error().message.find(reason), std::string::npos) << extra[0] << ": " << got.error().message;
  }
  for (const std::vector<std::string>& missing : {std::vector<std::string>{"exe", "worker", "--root", "/r", "--control-fd", "4"},
                                                  std::vector<std::string>{"exe", "worker", "--channel", "c", "--control-fd", "4"},
                                                  std::vector<std::string>{"exe", "worker", "--channel", "c", "--root", "/r"},
                                                  std::vector<std::string>{"exe", "worker", "--channel", "", "--root", "/r", "--control-fd", "4"}}) {
    auto got = parse(missing);
    ASSERT_FALSE(got) << ::testing::PrintToString(missing);
    EXPECT_EQ(got.error().code, Errc::invalid_argument);
  }
}

}  // namespace
}  // namespace shmcp::executor
