// The `shmcp` command line, run as a real process against a real executor: call (exit 0 / 1 / 2),
// tools, ping percentiles, health, and --help for every subcommand.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/executor_process.hpp"

using nlohmann::json;
using namespace shmcp::testing;

namespace {

std::size_t count_char(const std::string& s, char c) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), c)); }

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(ws_.path().empty());
    ASSERT_TRUE(write_file(ws_ / "hello.txt", "hello\n"));
    ex_.emplace(ws_.path(), unique_channel("cli-" + test_name()));
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
  }
  ProcessResult shmcp(std::vector<std::string> args) {
    args.insert(args.begin(), cli_binary());
    return run_process(args);
  }
  TempDir ws_;
  std::optional<ExecutorProcess> ex_;
};

TEST_F(CliTest, CallPrintsTheCallToolResultAndExits0) {
  for (const std::string& url : {ex_->shm_url(), ex_->http_url()}) {
    SCOPED_TRACE(url);
    auto r = shmcp({"call", "--connect", url, "read_text_file", R"({"path": "hello.txt"})"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out, nullptr, false),
              json::parse(R"({"content":[{"type":"text","text":"hello\n"}],"structuredContent":{"content":"hello\n"}})"))
        << r.out;
    EXPECT_EQ(r.err, "");
  }
  // No JSON means {}.
  auto r = shmcp({"call", "--connect", ex_->shm_url(), "list_allowed_directories"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["content"][0]["text"].get<std::string>().rfind("Allowed directories:\n", 0), 0u);
  // A write really happens.
  r = shmcp({"call", "--connect", ex_->shm_url(), "write_file", R"({"path": "cli.txt", "content": "from cli"})"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(ws_ / "cli.txt"), "from cli");
}

TEST_F(CliTest, CallExits1WhenTheResultIsAnError) {
  for (const std::string& url : {ex_->shm_url(), ex_->http_url()}) {
    SCOPED_TRACE(url);
    auto r = shmcp({"call", "--connect", url, "read_text_file", R"({"path": "missing.txt"})"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    const json j = json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j.value("isError", false), true);
    EXPECT_NE(j["content"][0]["text"].get<std::string>().find("missing.txt"), std::string::npos);
  }
}

TEST_F(CliTest, CallExits2OnTransportErrorsWithAOneLineReason) {
  const std::vector<std::vector<std::string>> cases = {
      {"call", "--connect", "shm://" + unique_channel("absent"), "read_text_file", R"({"path":"hello.txt"})"},
      {"call", "--connect", ex_->shm_url(), "no_such_tool"},
      {"call", "--connect", "bogus://x", "read_text_file"},
  };
  for (const auto& args : cases) {
    SCOPED_TRACE(args[2] + " " + args[3]);
    auto r = shmcp(args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("shmcp: ", 0), 0u) << r.err;
    EXPECT_EQ(count_char(r.err, '\n'), 1u) << r.err;
    EXPECT_EQ(r.err.back(), '\n');
  }
  // An HTTP port with nothing behind it.
  ex_->kill9();
  auto r = shmcp({"call", "--connect", ex_->http_url(), "read_text_file", R"({"path":"hello.txt"})"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_char(r.err, '\n'), 1u) << r.err;
  // And a dead executor's channel.
  r = shmcp({"call", "--connect", ex_->shm_url(), "read_text_file", R"({"path":"hello.txt"})"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_char(r.err, '\n'), 1u) << r.err;
  EXPECT_NE(r.err.find("peer_dead"), std::string::npos) << r.err;
}

TEST_F(CliTest, CallExits2OnUsageErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"call", "--connect", ex_->shm_url()}, "TOOL is required"},
      {{"call", "read_text_file"}, "--connect URL is required"},
      {{"call", "--connect", ex_->shm_url(), "read_text_file", "{not json"}, "JSON arguments must be an object"},
      {{"call", "--connect", ex_->shm_url(), "read_text_file", "[1]"}, "JSON arguments must be an object"},
      {{"call", "--connect", ex_->shm_url(), "read_text_file", "{}", "extra"}, "too many arguments"},
      {{"call", "--connect", ex_->shm_url(), "--bogus", "read_text_file"}, "unknown option '--bogus'"},
      {{"call", "--connect", ex_->shm_url(), "--timeout-ms", "soon", "read_text_file"}, "--timeout-ms expects a number"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
  };
  for (const auto& [args, reason] : cases) {
    SCOPED_TRACE(::testing::PrintToString(args));
    auto r = shmcp(args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    const std::string first = r.err.substr(0, r.err.find('\n'));
    EXPECT_EQ(first.rfind("shmcp: ", 0), 0u) << r.err;
    EXPECT_NE(first.find(reason), std::string::npos) << r.err;
  }
}

TEST_F(CliTest, ToolsListsTheFourteenTools) {
  for (const std::string& url : {ex_->shm_url(), ex_->http_url()}) {
    SCOPED_TRACE(url);
    auto r = shmcp({"tools", "--connect", url});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.out.substr(0, 200);
    ASSERT_EQ(j["tools"].size(), 14u);
    for (const auto& t : j["tools"]) {
      EXPECT_TRUE(t["name"].is_string());
      EXPECT_EQ(t["inputSchema"]["type"], "object") << t["name"];
    }
  }
  auto r = shmcp({"tools", "--connect", ex_->shm_url(), "--names"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out,
            "read_file\nread_text_file\nread_media_file\nread_multiple_files\nwrite_file\nedit_file\ncreate_directory\n"
            "list_directory\nlist_directory_with_sizes\ndirectory_tree\nmove_file\nsearch_files\nget_file_info\n"
            "list_allowed_directories\n");
}

TEST_F(CliTest, PingPrintsPercentiles) {
  for (const std::string& url : {ex_->shm_url(), ex_->http_url()}) {
    SCOPED_TRACE(url);
    auto r = shmcp({"ping", "--connect", url, "--count", "50"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("50 pings to " + url + ":", 0), 0u) << r.out;
    for (const char* f : {" min ", " p50 ", " p90 ", " p99 ", " p99.9 ", " max ", "calls/s"})
      EXPECT_NE(r.out.find(f), std::string::npos) << f << " in " << r.out;
  }
}

int lanes_in_use(int port) {
  std::string body;
  if (http_get(port, "/health", &body) != 200) return -1;
  const json j = json::parse(body, nullptr, false);
  return j.is_discarded() ? -1 : j["channel"].value("lanes_in_use", -1);
}

// The executor dies while ping is running: ping stops at the first failed call with exit 2 and
// one line naming the failure, instead of timing the remaining (here millions of) calls.
TEST_F(CliTest, PingStopsAtTheFirstTransportErrorAndExits2) {
  const int port = ex_->port();
  const int idle = lanes_in_use(port);
  ASSERT_GE(idle, 0);
  ProcessResult r;
  std::thread pinger([&] { r = shmcp({"ping", "--connect", ex_->shm_url(), "--count", "50000000"}); });
  // The pinger holds a lane from its connect on: then it is pinging (warm-up or timed loop).
  bool pinging = false;
  for (int i = 0; i < 2000 && !pinging; ++i) {
    pinging = lanes_in_use(port) > idle;
    if (!pinging) sleep_ms(5);
  }
  ex_->kill9();
  pinger.join();
  ASSERT_TRUE(pinging) << "the ping client never claimed a lane";
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("shmcp: ping ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(" of 50000000 to " + ex_->shm_url() + " failed: "), std::string::npos) << r.err;
  EXPECT_EQ(count_char(r.err, '\n'), 1u) << r.err;
}

// The executor stops answering before ping's first call (its supervisor and worker are frozen
// with SIGSTOP, so the segment still looks alive and connect succeeds): the first warm-up ping
// times out and ping ends there, reporting it as ping 1, instead of going through the 99 other
// warm-up pings (99 more timeouts, 30 s here) and then the timed ones.
TEST_F(CliTest, PingStopsAtAFailedWarmUpPing) {
  std::vector<pid_t> frozen = ex_->worker_pids();
  frozen.push_back(ex_->pid());
  for (pid_t p : frozen) ASSERT_EQ(::kill(p, SIGSTOP), 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = shmcp({"ping", "--connect", ex_->shm_url(), "--count", "5", "--timeout-ms", "300"});
  const auto took = std::chrono::steady_clock::now() - t0;
  for (pid_t p : frozen) ::kill(p, SIGCONT);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "shmcp: ping 1 of 5 to " + ex_->shm_url() + " failed: timeout: deadline exceeded\n");
  // One timeout, not a hundred: a generous bound that only a warm-up going on after its first
  // failure (99 x 300 ms more) could exceed.
  EXPECT_LT(took, std::chrono::seconds(15));
  // Positive control: thawed, the same executor answers pings.
  r = shmcp({"ping", "--connect", ex_->shm_url(), "--count", "5"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CliTest, HealthExits0AndPrintsStatus) {
  for (const std::string& url : {ex_->shm_url(), ex_->http_url()}) {
    SCOPED_TRACE(url);
    auto r = shmcp({"health", "--connect", url});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j["status"], "ok");
    EXPECT_EQ(j["channel"]["name"], ex_->channel());
    EXPECT_EQ(j["workers"]["alive"], 1);
  }
  ex_->kill9();
  auto r = shmcp({"health", "--connect", ex_->shm_url()});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(CliTest, HttpCallsUseTheTokenFile) {
  TempDir tok;
  ASSERT_TRUE(write_file(tok / "t", "cli-token\n"));
  ExecutorProcess authed(ws_.path(), unique_channel("cli-auth"), {"--token-file", tok / "t"});
  std::string why;
  ASSERT_TRUE(authed.start(&why)) << why;
  auto denied = shmcp({"call", "--connect", authed.http_url(), "read_text_file", R"({"path":"hello.txt"})"});
  EXPECT_EQ(denied.exit_code, 2);
  EXPECT_NE(denied.err.find("401"), std::string::npos) << denied.err;
  auto ok = shmcp({"call", "--connect", authed.http_url(), "--token-file", tok / "t", "read_text_file", R"({"path":"hello.txt"})"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST(CliHelp, EverySubcommandHasHelp) {
  for (const char* cmd : {"call", "tools", "ping", "health", "demo"}) {
    SCOPED_TRACE(cmd);
    auto r = run_process({cli_binary(), cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out.rfind(std::string("Usage: shmcp ") + cmd, 0), 0u) << r.out;
    auto h = run_process({cli_binary(), cmd, "-h"});
    EXPECT_EQ(h.exit_code, 0);
    EXPECT_EQ(h.out, r.out);
  }
  auto top = run_process({cli_binary(), "--help"});
  EXPECT_EQ(top.exit_code, 0);
  for (const char* cmd : {"call", "tools", "ping", "health", "demo"}) EXPECT_NE(top.out.find(std::string("  ") + cmd), std::string::npos);
  auto none = run_process({cli_binary()});
  EXPECT_EQ(none.exit_code, 2);
}

}  // namespace
