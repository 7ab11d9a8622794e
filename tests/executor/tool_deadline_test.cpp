// Tool calls whose work grows with a hostile input end in the worker's own timeout answer at the
// call's deadline, not in the supervisor killing the worker after it: a real
// `shmcp-executor serve --workers 1 --call-timeout-ms 300`, called on a raw lane with requests
// that carry no deadline of their own (unless a case says otherwise), so a call has the
// executor's 300 ms (and the test waits for the answer as long as it takes).
//
// Each case asserts that the call is answered Timeout with the worker's own message no later than
// 100 ms after its deadline (the bound: the tools poll the deadline often enough that the
// answer is not held up by the rest of the work), the worker's pid is unchanged and no worker was
// restarted; then a normal call of the same tool succeeds on the same worker (positive control).
// The 100 ms is measured conservatively (from before the request is sent, so a call on the
// executor's default timeout is charged for its own queueing too); the work each case asks for
// takes seconds to minutes, so the bound tells polling from not polling on any machine.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "channel/channel.hpp"
#include "tests/support/executor_process.hpp"

using nlohmann::json;
using namespace shmcp;
using namespace shmcp::testing;

namespace {

constexpr const char* kToolGaveUp = "the call's deadline passed before the tool finished";
constexpr std::uint64_t kExecutorTimeoutMs = 300;
constexpr std::int64_t kLateBoundMs = 100;

struct Answer {
  wire::Status status = wire::Status::Internal;
  std::string error;
  bool is_error = false;
  std::string text;
  std::int64_t late_ms = 0;  // how long after the call's deadline (at the latest) the answer came
};

class ToolDeadlineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(ws_.path().empty());
    ASSERT_TRUE(write_file(ws_ / "small.txt", "alpha\nbeta\ngamma\n"));
    ex_.emplace(ws_.path(), unique_channel("deadline"), std::vector<std::string>{"--workers", "1", "--call-timeout-ms", std::to_string(kExecutorTimeoutMs)});
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
    auto seg = channel::Segment::attach(ex_->channel(), 2'000'000'000ull);
    ASSERT_TRUE(seg.ok()) << seg.error().describe();
    seg_ = *seg;
    auto lane = channel::ClientLane::claim(seg_);
    ASSERT_TRUE(lane.ok()) << lane.error().describe();
    lane_.emplace(std::move(*lane));
    pids_ = ex_->worker_pids();
    ASSERT_EQ(pids_.size(), 1u);
  }

  // budget_ms 0: the request carries no deadline, so the executor's 300 ms apply.
  Answer call(const std::string& tool, const json& args, std::uint64_t budget_ms = 0) {
    Answer a;
    flatbuffers::FlatBufferBuilder fbb;
    const std::uint64_t id = lane_->next_id();
    const std::uint64_t sent = channel::monotonic_ns();
    const std::uint64_t deadline = budget_ms == 0 ? 0 : sent + budget_ms * 1'000'000ull;
    channel::build_json_request(fbb, id, deadline, tool, args.dump());
    auto got = lane_->call(id, channel::bytes_of(fbb), channel::Deadline::within(60'000'000'000ull), {});
    // Without a deadline of its own the call gets the executor's, counted from when a worker
    // takes it: later than `sent`, so this overstates the lateness, never understates it.
    const std::uint64_t due = deadline != 0 ? deadline : sent + kExecutorTimeoutMs * 1'000'000ull;
    a.late_ms = (static_cast<std::int64_t>(channel::monotonic_ns()) - static_cast<std::int64_t>(due)) / 1'000'000;
    EXPECT_TRUE(got.ok()) << got.error().describe();
    if (!got) return a;
    auto r = channel::verify_response(*got);
    EXPECT_TRUE(r.ok()) << r.error().describe();
    if (!r) return a;
    a.status = (*r)->status();
    a.error = (*r)->error() ? (*r)->error()->str() : "";
    a.is_error = (*r)->is_error();
    if ((*r)->content())
      for (const auto* c : *(*r)->content()) a.text += c->text() ? c->text()->str() : "";
    return a;
  }

  // The call ends in the worker's timeout answer, and the worker lives on. budget_ms as for call().
  void expect_tool_timeout(const std::string& tool, const json& args, std::uint64_t budget_ms = 0) {
    const Answer a = call(tool, args, budget_ms);
    EXPECT_EQ(a.status, wire::Status::Timeout) << tool << " answered " << a.error << a.text.substr(0, 200);
    EXPECT_NE(a.error.find(kToolGaveUp), std::string::npos) << a.error;
    EXPECT_LE(a.late_ms, kLateBoundMs) << tool << " answered " << a.late_ms << " ms after its deadline";
    expect_worker_alive();
  }

  void expect_worker_alive() {
    EXPECT_EQ(ex_->worker_pids(), pids_) << "the worker was replaced";
    EXPECT_EQ(metric(ex_->port(), "shmcp_worker_restarts_total"), 0);
  }

  std::string ok(const std::string& tool, const json& args, std::uint64_t budget_ms = 0) {
    const Answer a = call(tool, args, budget_ms);
    EXPECT_EQ(a.status, wire::Status::Ok) << tool << ": " << a.error;
    EXPECT_FALSE(a.is_error) << a.text;
    return a.text;
  }

  TempDir ws_;
  std::optional<ExecutorProcess> ex_;
  std::shared_ptr<channel::Segment> seg_;
  std::optional<channel::ClientLane> lane_;
  std::vector<pid_t> pids_;
};

std::string lines(std::size_t n, const std::string& prefix) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += prefix + std::to_string(i) + "\n";
  return s;
}

// No exact match, so edit_file tries every window of the file's lines against the old text's
// lines, trimmed: 60,000 windows of 60,000 equal lines, each failing only at its last line.
// The call carries a budget of 2 s rather than the executor's 300 ms: before the search polls
// anything, the worker parses 300 KB of JSON arguments and reads an 840 KB file, which on a
// loaded machine takes longer than 300 ms of wall time. 2 s covers that; the 3.6e9 line
// comparisons of the search cannot finish in it on any machine, so the tool still gives up.
TEST_F(ToolDeadlineTest, EditFileLineWindowSearchTimesOut) {
  std::string content;
  for (int i = 0; i < 120'000; ++i) content += "  same\n";
  ASSERT_TRUE(write_file(ws_ / "lines.txt", content));
  std::string old_text;
  for (int i = 0; i < 60'000; ++i) old_text += "same\n";
  old_text += "different";
  expect_tool_timeout("edit_file", {{"path", "lines.txt"}, {"edits", {{{"oldText", old_text}, {"newText", "x"}}}}, {"dryRun", true}},
                      2'000);
  EXPECT_EQ(read_file(ws_ / "lines.txt"), content);
  ok("edit_file", {{"path", "small.txt"}, {"edits", {{{"oldText", "beta"}, {"newText", "BETA"}}}}});
  EXPECT_EQ(read_file(ws_ / "small.txt"), "alpha\nBETA\ngamma\n");
  expect_worker_alive();
}

// Replacing 40,000 distinct lines by 40,000 others: the Myers search explores every diagonal
// until its work cap (edit::kMaxDiffWork), which takes about 2 s on the development VM. Nothing is
// written when the diff could not be finished. The call carries a budget of 700 ms, so the tools
// give up at 600 ms: enough for parsing 1 MB of JSON arguments and reading the file first on a
// loaded machine, and well short of the search (a machine over three times faster would reach the
// work cap first and answer with a whole-file diff instead).
TEST_F(ToolDeadlineTest, EditFileDiffTimesOutAndWritesNothing) {
  const std::string before = lines(40'000, "old line ");
  ASSERT_TRUE(write_file(ws_ / "big.txt", before));
  expect_tool_timeout("edit_file", {{"path", "big.txt"}, {"edits", {{{"oldText", before}, {"newText", lines(40'000, "new ")}}}}},
                      700);
  EXPECT_EQ(read_file(ws_ / "big.txt"), before);
  expect_worker_alive();
}

// A line of 900,000 backticks in the diff: the fence is found in one pass (it grew one backtick at
// a time with a search each, 16 s of CPU), so the call simply completes, on the same worker. The
// call carries a deadline of 5 s: moving ~3 MB through the channel is not what is tested here.
TEST_F(ToolDeadlineTest, EditFileFenceAroundLongBacktickRunCompletes) {
  const std::string ticks(900'000, '`');
  const std::string out =
      ok("edit_file", {{"path", "small.txt"}, {"edits", {{{"oldText", "gamma"}, {"newText", ticks}}}}, {"dryRun", true}}, 5'000);
  EXPECT_EQ(out.rfind(std::string(900'001, '`') + "diff\n", 0), 0u) << out.substr(0, 100);
  expect_worker_alive();
}

// A glob whose 1024 brace alternatives each backtrack over every long name: the matcher polls the
// deadline inside its loops, not only between directories.
TEST_F(ToolDeadlineTest, SearchFilesWithAHostileGlobTimesOut) {
  ASSERT_EQ(::mkdir((ws_ / "many").c_str(), 0755), 0);
  for (int i = 0; i < 300; ++i) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%05d", i);
    ASSERT_TRUE(write_file(ws_ / ("many/" + std::string(240, 'x') + suffix), ""));
  }
  std::string pattern = "*";
  for (int i = 0; i < 10; ++i) pattern += "{x,?}";
  pattern += std::string(100, 'x') + "z";
  ASSERT_LT(pattern.size(), 233u);
  expect_tool_timeout("search_files", {{"path", "many"}, {"pattern", pattern}});
  expect_tool_timeout("search_files", {{"path", "."}, {"pattern", "**/*.txt"}, {"excludePatterns", {pattern}}});
  expect_tool_timeout("directory_tree", {{"path", "."}, {"excludePatterns", {pattern}}});
  // Positive control: an ordinary glob over the same entries.
  const std::string found = ok("search_files", {{"path", "many"}, {"pattern", "*00007"}});
  EXPECT_EQ(found, ex_->workspace() + "/many/" + std::string(240, 'x') + "00007");
  expect_worker_alive();
}

// list_directory_with_sizes stats every entry through the workspace, following symlinks: here
// each of 1,000 entries is a symlink into a chain of 30 links, each hop of which walks ~900 path
// components down and back up (legal, beneath the root). ~27,000 lookups per entry, so the
// listing takes seconds, but any one entry only milliseconds: the deadline is polled per entry.
TEST_F(ToolDeadlineTest, ListingWithSizesThroughDeepSymlinkChainsTimesOut) {
  std::string deep = ws_ / "deep";
  ASSERT_EQ(::mkdir(deep.c_str(), 0755), 0);
  std::string down, up;
  for (int i = 0; i < 450; ++i) {
    deep += "/d";
    ASSERT_EQ(::mkdir(deep.c_str(), 0755), 0) << i;
    down += "/d";
    up += "/..";
  }
  ASSERT_EQ(::mkdir((ws_ / "chain").c_str(), 0755), 0);
  ASSERT_EQ(::symlink(("../deep" + down).c_str(), (ws_ / "chain/L0").c_str()), 0);
  for (int k = 1; k < 30; ++k) {
    const std::string target = "../deep" + down + up + "/../chain/L" + std::to_string(k - 1);
    ASSERT_LT(target.size(), 4096u);
    ASSERT_EQ(::symlink(target.c_str(), (ws_ / ("chain/L" + std::to_string(k))).c_str()), 0) << k;
  }
  ASSERT_EQ(::mkdir((ws_ / "links").c_str(), 0755), 0);
  for (int i = 0; i < 1000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "links/e%05d", i);
    ASSERT_EQ(::symlink("../chain/L29", (ws_ / name).c_str()), 0) << i;
  }
  expect_tool_timeout("list_directory_with_sizes", {{"path", "links"}});
  // Positive control: the chain itself (30 entries) lists, each link's target a directory.
  const std::string out = ok("list_directory_with_sizes", {{"path", "chain"}}, 10'000);
  EXPECT_NE(out.find("L29"), std::string::npos) << out;
  EXPECT_NE(out.find("Total: 30 files, 0 directories"), std::string::npos) << out;
  expect_worker_alive();
}

}  // namespace
