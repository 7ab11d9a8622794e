// `shmcp-bench tools` end to end: it starts its own executor on a temporary workspace, measures
// each requested transport and operation, and reports them as a table, results.json and an SVG.
// Asserts what a user relies on (exit status, the JSON's shape and consistency, the files, the
// summary and its targets section, clear errors), never how fast anything was.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

const std::string kBench = std::string(SHMCP_BUILD_DIR) + "/bench/shmcp-bench";

struct BenchRun {
  int status = -1;  // exit code, or -1 if it did not exit normally
  std::string out, err;
};

// Runs shmcp-bench with `args`, capturing stdout and stderr through files (the bench writes
// progress to stderr while it runs; pipes would need a reader thread).
BenchRun run_bench(const std::vector<std::string>& args, const std::string& dir) {
  const std::string out_path = dir + "/stdout", err_path = dir + "/stderr";
  const pid_t pid = ::fork();
  if (pid == 0) {
    FILE* o = std::freopen(out_path.c_str(), "w", stdout);
    FILE* e = std::freopen(err_path.c_str(), "w", stderr);
    if (o == nullptr || e == nullptr) ::_exit(126);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(kBench.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(kBench.c_str(), argv.data());
    ::_exit(127);
  }
  BenchRun r;
  int st = 0;
  if (pid > 0 && ::waitpid(pid, &st, 0) == pid && WIFEXITED(st)) r.status = WEXITSTATUS(st);
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

class ToolsBench : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/shmcp-bench-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    const std::string cmd = "rm -rf '" + dir_ + "'";
    (void)std::system(cmd.c_str());
  }
  json results() const {
    std::ifstream in(dir_ + "/out/results.json");
    return json::parse(in, nullptr, false);
  }
  std::string dir_;
};

TEST_F(ToolsBench, QuickRunWritesConsistentResultsAChartAndASummaryWithTheTargets) {
  const BenchRun r = run_bench({"tools", "--quick", "--transports", "floor,shm-spin,shm-adaptive,http,mcp-stdio", "--ops",
                           "empty,read_text_file_4k", "--no-open", "--no-scaling", "--out", dir_ + "/out"},
                          dir_);
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = results();
  ASSERT_TRUE(j.is_array()) << "results.json is not a JSON array";
  std::set<std::pair<std::string, std::string>> cases;
  for (const auto& row : j) {
    for (const char* k : {"transport", "op", "mode"}) ASSERT_TRUE(row.contains(k) && row[k].is_string()) << row.dump();
    for (const char* k : {"samples", "min_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns", "calls_per_s"})
      ASSERT_TRUE(row.contains(k) && row[k].is_number()) << k << " in " << row.dump();
    EXPECT_EQ(row["mode"], "closed") << row.dump();
    EXPECT_GT(row["samples"].get<double>(), 0) << row.dump();
    // Percentiles of one sample set are ordered; a report that breaks that has mixed them up.
    EXPECT_LE(row["min_ns"].get<double>(), row["p50_ns"].get<double>()) << row.dump();
    EXPECT_LE(row["p50_ns"].get<double>(), row["p99_ns"].get<double>()) << row.dump();
    EXPECT_LE(row["p99_ns"].get<double>(), row["p999_ns"].get<double>()) << row.dump();
    EXPECT_LE(row["p999_ns"].get<double>(), row["max_ns"].get<double>()) << row.dump();
    EXPECT_GT(row["calls_per_s"].get<double>(), 0) << row.dump();
    cases.insert({row["transport"].get<std::string>(), row["op"].get<std::string>()});
  }
  // Every transport and operation asked for, and the floor for both (the read's is its syscalls).
  for (const char* t : {"floor", "shm-spin", "shm-adaptive", "http", "mcp-stdio"})
    for (const char* op : {"empty", "read_text_file_4k"})
      EXPECT_TRUE(cases.count({t, op})) << t << " " << op << " missing from results.json";
  EXPECT_EQ(cases.size(), 10u);

  std::ifstream svg(dir_ + "/out/latency.svg");
  std::stringstream s;
  s << svg.rdbuf();
  EXPECT_NE(s.str().find("<svg"), std::string::npos);
  EXPECT_NE(s.str().find("shm-spin"), std::string::npos) << "the chart has no legend entry for shm-spin";

  EXPECT_NE(r.out.find("closed loop (1 client):"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("targets (issue 6):"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("read_text_file_4k p50 <= 5 us"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bound: floor round trip + the read's syscalls"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("starting shm-spin"), std::string::npos) << "no progress on stderr: " << r.err;
}

TEST_F(ToolsBench, OpenLoopAndScalingRunsAreReportedWithTheirModes) {
  const BenchRun r = run_bench({"tools", "--quick", "--transports", "shm-adaptive", "--ops", "empty", "--clients", "2",
                           "--scaling-ops", "empty", "--out", dir_ + "/out"},
                          dir_);
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = results();
  ASSERT_TRUE(j.is_array());
  std::map<std::string, std::set<unsigned>> clients_by_mode;
  for (const auto& row : j) {
    clients_by_mode[row["mode"].get<std::string>()].insert(row["clients"].get<unsigned>());
    if (row["mode"] == "open") {
      ASSERT_TRUE(row.contains("offered_per_s")) << row.dump();
      EXPECT_GT(row["offered_per_s"].get<double>(), 0) << row.dump();
    }
  }
  EXPECT_EQ(clients_by_mode["closed"], (std::set<unsigned>{1}));
  EXPECT_EQ(clients_by_mode["open"], (std::set<unsigned>{1}));
  EXPECT_EQ(clients_by_mode["scaling"], (std::set<unsigned>{1, 2}));
}

TEST_F(ToolsBench, BadOptionsAreClearErrorsAndHelpListsTheOptions) {
  BenchRun r = run_bench({"tools", "--transports", "carrier-pigeon"}, dir_);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown transport 'carrier-pigeon'"), std::string::npos) << r.err;
  r = run_bench({"tools", "--duration-per-case"}, dir_);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--duration-per-case needs a value"), std::string::npos) << r.err;
  r = run_bench({"tools", "--help"}, dir_);
  EXPECT_EQ(r.status, 0);
  for (const char* opt : {"--transports", "--ops", "--reference-server", "--connect", "--out", "--workers"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt << " not in --help";
}

}  // namespace
