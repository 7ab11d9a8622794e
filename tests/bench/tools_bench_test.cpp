// `shmcp-bench tools` end to end: it starts its own executor on a temporary workspace, measures
// each requested transport and operation, and reports them as a table, results.json and an SVG.
// Asserts what a user relies on (exit status, the JSON's shape and consistency, the files, the
// summary and its targets section, clear errors), never how fast anything was.
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/executor_process.hpp"

namespace {

using nlohmann::json;
using shmcp::testing::ProcessResult;
using shmcp::testing::read_file;
using shmcp::testing::run_process;
using shmcp::testing::TempDir;

const std::string kBench = std::string(SHMCP_BUILD_DIR) + "/bench/shmcp-bench";

ProcessResult run_bench(std::vector<std::string> args) {
  args.insert(args.begin(), kBench);
  return run_process(args, 120'000);
}

class ToolsBench : public ::testing::Test {
 protected:
  json results() const { return json::parse(read_file(dir_ / "out/results.json"), nullptr, false); }
  TempDir dir_;
};

TEST_F(ToolsBench, QuickRunWritesConsistentResultsAChartAndASummaryWithTheTargets) {
  const ProcessResult r = run_bench({"tools", "--quick", "--transports", "floor,shm-spin,shm-adaptive,http,mcp-stdio,mcp-http", "--ops",
                           "empty,read_text_file_4k", "--no-open", "--no-scaling", "--out", dir_ / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
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
  // Every transport and operation asked for, and the floor for both (the read's is its syscalls),
  // plus the read's syscalls once more in a process locked down like a worker.
  for (const char* t : {"floor", "shm-spin", "shm-adaptive", "http", "mcp-stdio", "mcp-http"})
    for (const char* op : {"empty", "read_text_file_4k"})
      EXPECT_TRUE(cases.count({t, op})) << t << " " << op << " missing from results.json";
  EXPECT_TRUE(cases.count({"floor-sandboxed", "read_text_file_4k"})) << "no sandboxed floor row in results.json";
  EXPECT_EQ(cases.size(), 13u);

  const std::string svg = read_file(dir_ / "out/latency.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("shm-spin"), std::string::npos) << "the chart has no legend entry for shm-spin";

  EXPECT_NE(r.out.find("closed loop (1 client):"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\ntargets:\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("read_text_file_4k p50 <= 5 us"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bound: floor round trip + the read's syscalls"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nfrontend targets:\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("read_4k p50 <= mcp-http empty + 3x shm-spin read_4k"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("read_4k p50 <= 1.3x (sandboxed floor + floor)"), std::string::npos) << r.out;
  EXPECT_NE(svg.find("mcp-http"), std::string::npos) << "the chart has no legend entry for mcp-http";
  EXPECT_NE(r.err.find("starting shm-spin"), std::string::npos) << "no progress on stderr: " << r.err;
}

TEST_F(ToolsBench, OpenLoopAndScalingRunsAreReportedWithTheirModes) {
  const ProcessResult r = run_bench({"tools", "--quick", "--transports", "shm-adaptive", "--ops", "empty", "--clients", "2",
                           "--scaling-ops", "empty", "--out", dir_ / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
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
  ProcessResult r = run_bench({"tools", "--transports", "carrier-pigeon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown transport 'carrier-pigeon'"), std::string::npos) << r.err;
  r = run_bench({"tools", "--duration-per-case"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--duration-per-case needs a value"), std::string::npos) << r.err;
  r = run_bench({"tools", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* opt : {"--transports", "--ops", "--reference-server", "--connect", "--out", "--workers"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt << " not in --help";
}

}  // namespace
