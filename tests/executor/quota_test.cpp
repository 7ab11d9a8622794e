// The workspace quota against real `shmcp-executor serve` processes (--quota-bytes, --quota-files):
// the exact boundary, overwriting with less, the file count with create_directory and new files,
// edit_file, several clients racing for the last bytes over several workers, move_file in a full
// workspace, the usage counted at start, a worker dying mid-write, the metrics, and that nothing
// changes without the flags.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "executor/executor.hpp"
#include "orchestrator/client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/executor_process.hpp"

using nlohmann::json;
using namespace shmcp;
using namespace shmcp::testing;

namespace {

std::unique_ptr<Client> connect_shm(const std::string& channel) {
  ClientOptions co;
  co.timeout = std::chrono::seconds(30);
  auto c = Client::connect("shm://" + channel, co);
  return c ? std::move(*c) : nullptr;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// A served workspace with a quota and a channel client.
class QuotaTest : public ::testing::Test {
 protected:
  void serve(std::vector<std::string> flags) {
    ex_ = std::make_unique<ExecutorProcess>(ws_.path(), unique_channel(test_name()), std::move(flags));
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
    c_ = connect_shm(ex_->channel());
    ASSERT_TRUE(c_);
  }
  void TearDown() override {
    c_.reset();
    if (ex_) {
      EXPECT_EQ(ex_->stop(), 0);
    }
  }

  // The call's text; *is_error its isError (the call must reach the tool).
  std::string call(const std::string& tool, const json& args, bool* is_error) {
    auto r = c_->call(tool, args);
    EXPECT_TRUE(r) << tool << ": " << r.error().describe();
    if (!r) return *is_error = true, "";
    *is_error = r->is_error;
    return r->text();
  }
  std::string ok(const std::string& tool, const json& args) {
    bool err = false;
    std::string t = call(tool, args, &err);
    EXPECT_FALSE(err) << tool << " " << args.dump() << ": " << t;
    return t;
  }
  std::string refused(const std::string& tool, const json& args) {
    bool err = false;
    std::string t = call(tool, args, &err);
    EXPECT_TRUE(err) << tool << " " << args.dump() << " succeeded";
    EXPECT_NE(t.find("quota exceeded"), std::string::npos) << t;
    return t;
  }
  double used_bytes() const { return metric(ex_->port(), "shmcp_quota_used_bytes"); }
  double used_files() const { return metric(ex_->port(), "shmcp_quota_used_files"); }

  TempDir ws_;
  std::unique_ptr<ExecutorProcess> ex_;
  std::unique_ptr<Client> c_;
};

TEST_F(QuotaTest, AWriteThatExactlyFillsSucceedsAndOneMoreByteIsRefusedWithNothingChanged) {
  ASSERT_TRUE(write_file(ws_ / "a.txt", std::string(10, 'a')));
  serve({"--quota-bytes", "100"});
  EXPECT_EQ(used_bytes(), 10);
  ok("write_file", {{"path", "b.txt"}, {"content", std::string(90, 'b')}});
  EXPECT_EQ(used_bytes(), 100);
  const std::string msg = refused("write_file", {{"path", "c.txt"}, {"content", "c"}});
  EXPECT_NE(msg.find("would use 101 bytes of the workspace's 100-byte quota"), std::string::npos) << msg;
  refused("write_file", {{"path", "b.txt"}, {"content", std::string(91, 'B')}});
  EXPECT_EQ(read_file(ws_ / "b.txt"), std::string(90, 'b'));
  // The typed shm path (no JSON) is held to the same quota.
  auto typed = c_->write_file("d.txt", "d");
  ASSERT_FALSE(typed);
  EXPECT_NE(typed.error().message.find("quota exceeded"), std::string::npos) << typed.error().describe();
  EXPECT_EQ(list_dir(ws_.path()), (std::vector<std::string>{"a.txt", "b.txt"})) << "no file, no temp file";
  EXPECT_EQ(used_bytes(), 100);
  ok("write_file", {{"path", "b.txt"}, {"content", std::string(90, 'B')}});  // same size: fits
  EXPECT_EQ(read_file(ws_ / "b.txt"), std::string(90, 'B'));
}

TEST_F(QuotaTest, OverwritingWithSmallerContentFreesBytes) {
  serve({"--quota-bytes", "100"});
  ok("write_file", {{"path", "a.txt"}, {"content", std::string(100, 'a')}});
  refused("write_file", {{"path", "b.txt"}, {"content", std::string(60, 'b')}});
  ok("write_file", {{"path", "a.txt"}, {"content", std::string(40, 'a')}});
  EXPECT_EQ(used_bytes(), 40);
  ok("write_file", {{"path", "b.txt"}, {"content", std::string(60, 'b')}});
  EXPECT_EQ(used_bytes(), 100);
  refused("write_file", {{"path", "c.txt"}, {"content", "c"}});
}

TEST_F(QuotaTest, TheFileQuotaCountsNewFilesAndCreatedDirectories) {
  ASSERT_EQ(::mkdir((ws_ / "d").c_str(), 0755), 0);
  serve({"--quota-files", "4"});
  EXPECT_EQ(used_files(), 1);
  ok("create_directory", {{"path", "x/y"}});
  EXPECT_EQ(used_files(), 3);
  ok("write_file", {{"path", "x/y/f.txt"}, {"content", "f"}});
  EXPECT_EQ(used_files(), 4);
  const std::string msg = refused("write_file", {{"path", "g.txt"}, {"content", ""}});
  EXPECT_NE(msg.find("would use 5 files of the workspace's 4-file quota"), std::string::npos) << msg;
  refused("create_directory", {{"path", "z"}});
  EXPECT_FALSE(path_exists(ws_ / "g.txt"));
  EXPECT_FALSE(path_exists(ws_ / "z"));
  ok("create_directory", {{"path", "x/y"}});                      // exists: no new entry
  ok("write_file", {{"path", "x/y/f.txt"}, {"content", "more"}});  // replaces: no new entry
  EXPECT_EQ(used_files(), 4);
}

TEST_F(QuotaTest, EditFileGrowingPastTheLimitFailsAndLeavesTheFileUnchanged) {
  ASSERT_TRUE(write_file(ws_ / "a.txt", "hello world\n"));
  serve({"--quota-bytes", "15"});
  const json grow = {{"path", "a.txt"}, {"edits", {{{"oldText", "hello"}, {"newText", "hello there"}}}}};
  const std::string msg = refused("edit_file", grow);
  EXPECT_NE(msg.find("editing"), std::string::npos) << msg;
  EXPECT_EQ(read_file(ws_ / "a.txt"), "hello world\n");
  ok("edit_file", {{"path", "a.txt"}, {"edits", {{{"oldText", "hello "}, {"newText", ""}}}}});
  EXPECT_EQ(read_file(ws_ / "a.txt"), "world\n");
  EXPECT_EQ(used_bytes(), 6);
  ok("edit_file", {{"path", "a.txt"}, {"edits", {{{"oldText", "world"}, {"newText", "world, hello"}}}}});
  EXPECT_EQ(used_bytes(), 13);
}

TEST_F(QuotaTest, ConcurrentWritersRacingForTheLastBytesGetExactlyWhatFits) {
  constexpr int kClients = 8, kWritesEach = 4, kSize = 100, kFit = 10;
  serve({"--workers", "4", "--quota-bytes", std::to_string(kSize * kFit)});
  std::atomic<int> succeeded{0}, refused_n{0}, other{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      auto c = connect_shm(ex_->channel());
      if (!c) return (void)other.fetch_add(kWritesEach);
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kWritesEach; ++i) {
        // append, not "f" + std::string&&: GCC 12 -O3 reports a false -Wrestrict for the latter.
        std::string path = "f";
        path.append(std::to_string(t)).append("_").append(std::to_string(i)).append(".txt");
        auto r = c->call("write_file", {{"path", path}, {"content", std::string(kSize, 'x')}});
        if (r && !r->is_error) succeeded.fetch_add(1);
        else if (r && r->text().find("quota exceeded") != std::string::npos) refused_n.fetch_add(1);
        else other.fetch_add(1);
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(succeeded.load(), kFit);
  EXPECT_EQ(refused_n.load(), kClients * kWritesEach - kFit);
  EXPECT_EQ(used_bytes(), kSize * kFit);
  EXPECT_EQ(used_files(), kFit);
  const auto names = list_dir(ws_.path());
  EXPECT_EQ(names.size(), static_cast<std::size_t>(kFit)) << "no temp files, no extra files";
  std::size_t on_disk = 0;
  for (const auto& n : names) on_disk += read_file(ws_ / n).size();
  EXPECT_EQ(on_disk, static_cast<std::size_t>(kSize * kFit));
}

TEST_F(QuotaTest, MoveFileSucceedsInAFullWorkspace) {
  ASSERT_TRUE(write_file(ws_ / "a.txt", "12345"));
  ASSERT_EQ(::mkdir((ws_ / "sub").c_str(), 0755), 0);
  serve({"--quota-bytes", "5", "--quota-files", "2"});
  refused("write_file", {{"path", "b.txt"}, {"content", "x"}});  // full indeed
  ok("move_file", {{"source", "a.txt"}, {"destination", "sub/a.txt"}});
  EXPECT_EQ(read_file(ws_ / "sub/a.txt"), "12345");
  EXPECT_EQ(used_bytes(), 5);
  EXPECT_EQ(used_files(), 2);
}

TEST_F(QuotaTest, TheUsageAtStartCountsWhatTheWorkspaceHoldsWithoutFollowingSymlinks) {
  TempDir outside;
  ASSERT_TRUE(write_file(outside / "big.txt", std::string(100'000, 'x')));
  ASSERT_TRUE(write_file(ws_ / "a.txt", std::string(300, 'a')));
  ASSERT_EQ(::mkdir((ws_ / "d").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((ws_ / "d/e").c_str(), 0755), 0);
  ASSERT_TRUE(write_file(ws_ / "d/e/b.txt", std::string(200, 'b')));
  ASSERT_EQ(::symlink(outside.path().c_str(), (ws_ / "out").c_str()), 0);
  ASSERT_EQ(::symlink((outside / "big.txt").c_str(), (ws_ / "big").c_str()), 0);
  serve({"--quota-bytes", "1000"});
  EXPECT_EQ(used_bytes(), 500);
  EXPECT_EQ(used_files(), 6);  // a.txt d d/e d/e/b.txt out big
  EXPECT_NE(ex_->stderr_text().find("quota: workspace holds 500 bytes in 6 entries"), std::string::npos) << ex_->stderr_text();
  ok("write_file", {{"path", "c.txt"}, {"content", std::string(500, 'c')}});
  refused("write_file", {{"path", "e.txt"}, {"content", "e"}});
}

TEST_F(QuotaTest, AWorkerDyingMidWriteGivesItsReservationBack) {
  serve({"--workers", "1", "--quota-bytes", "100", "--enable-test-hooks"});
  const auto before = ex_->wait_workers(1);
  ASSERT_EQ(before.size(), 1u);
  ok("write_file", {{"path", "a.txt"}, {"content", std::string(30, 'a')}});
  auto r = c_->call(std::string(executor::kTestHookAbortMidWrite), json{{"path", "b.txt"}, {"content", std::string(70, 'b')}});
  ASSERT_FALSE(r) << "the worker survived: " << r->json.dump();
  EXPECT_EQ(await_metric(ex_->port(), "shmcp_quota_used_bytes", 30), 30) << "the reservation was not given back";
  EXPECT_EQ(await_metric(ex_->port(), "shmcp_quota_used_files", 1), 1);
  ex_->wait_workers(1, before);
  ok("write_file", {{"path", "b.txt"}, {"content", std::string(70, 'b')}});  // the whole rest fits
  refused("write_file", {{"path", "c.txt"}, {"content", "c"}});
}

TEST_F(QuotaTest, MetricsShowTheQuotaGauges) {
  serve({"--quota-bytes", "12345", "--quota-files", "67"});
  EXPECT_EQ(metric(ex_->port(), "shmcp_quota_limit_bytes"), 12345);
  EXPECT_EQ(metric(ex_->port(), "shmcp_quota_limit_files"), 67);
  EXPECT_EQ(used_bytes(), 0);
  EXPECT_EQ(used_files(), 0);
  ok("write_file", {{"path", "a.txt"}, {"content", "abc"}});
  EXPECT_EQ(used_bytes(), 3);
  EXPECT_EQ(used_files(), 1);
  std::string body;
  ASSERT_EQ(http_get(ex_->port(), "/metrics", &body), 200);
  EXPECT_NE(body.find("# TYPE shmcp_quota_used_bytes gauge"), std::string::npos) << body;
}

TEST_F(QuotaTest, WithoutTheFlagsThereIsNoQuotaAndNoGauges) {
  serve({});
  ok("write_file", {{"path", "a.txt"}, {"content", std::string(1 << 20, 'a')}});
  ok("create_directory", {{"path", "x/y/z"}});
  EXPECT_EQ(metric(ex_->port(), "shmcp_quota_used_bytes"), -1);
  EXPECT_EQ(metric(ex_->port(), "shmcp_quota_limit_files"), -1);
  EXPECT_EQ(metric(ex_->port(), "shmcp_workers_alive"), 1) << "positive control: metrics are served";
}

TEST(QuotaFlags, ServeAndMcpDocumentAndValidateThem) {
  for (const char* cmd : {"serve", "mcp"}) {
    SCOPED_TRACE(cmd);
    const ProcessResult help = run_process({executor_binary(), cmd, "--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE((help.out + help.err).find("--quota-bytes"), std::string::npos) << help.out;
    EXPECT_NE((help.out + help.err).find("--quota-files"), std::string::npos) << help.out;
    const ProcessResult bad = run_process({executor_binary(), cmd, "--workspace", "/", "--quota-bytes", "lots"});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE((bad.out + bad.err).find("--quota-bytes expects a number"), std::string::npos) << bad.out << bad.err;
  }
}

}  // namespace
