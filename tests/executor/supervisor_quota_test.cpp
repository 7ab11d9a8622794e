// The supervisor's side of the storage quota, in process (its workers are real processes of the
// executor binary): the usage counted at start, quota_usage(), rescan_quota() catching up with
// changes made outside the tools, the metrics, and no quota without the options.
#include <sys/stat.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "executor/supervisor.hpp"
#include "orchestrator/client.hpp"
#include "tests/support/executor_process.hpp"

using namespace shmcp;
using namespace shmcp::executor;
using namespace shmcp::testing;

namespace {

ExecutorOptions options_for(const TempDir& ws, std::uint64_t quota_bytes, std::uint64_t quota_files) {
  ExecutorOptions o;
  o.workspace = ws.path();
  o.channel = unique_channel(test_name());
  o.http = false;
  o.worker_exe = executor_binary();
  o.log_level = "warn";
  o.channel_config.lanes = 4;
  o.quota_bytes = quota_bytes;
  o.quota_files = quota_files;
  return o;
}

TEST(SupervisorQuota, RescanCatchesUpWithChangesMadeOutsideTheTools) {
  TempDir ws;
  ASSERT_TRUE(write_file(ws / "a.txt", std::string(100, 'a')));
  auto sup = Supervisor::start(options_for(ws, 1000, 50));
  ASSERT_TRUE(sup) << sup.error().describe();
  auto u = (*sup)->quota_usage();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->used_bytes, 100u);
  EXPECT_EQ(u->used_files, 1u);
  EXPECT_EQ(u->limit_bytes, 1000u);
  EXPECT_EQ(u->limit_files, 50u);

  // Through the tools: counted at once.
  auto c = Client::connect("shm://" + (*sup)->options().channel);
  ASSERT_TRUE(c) << c.error().describe();
  ASSERT_TRUE((*c)->write_file("b.txt", std::string(200, 'b')));
  EXPECT_EQ((*sup)->quota_usage()->used_bytes, 300u);

  // Behind the tools' back: not seen until a rescan.
  ASSERT_EQ(::mkdir((ws / "d").c_str(), 0755), 0);
  ASSERT_TRUE(write_file(ws / "d/c.txt", std::string(650, 'c')));
  EXPECT_EQ((*sup)->quota_usage()->used_bytes, 300u);
  auto r = (*sup)->rescan_quota();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->used_bytes, 950u);
  EXPECT_EQ(r->used_files, 4u);
  EXPECT_EQ((*sup)->quota_usage()->used_bytes, 950u);
  auto refused = (*c)->write_file("e.txt", std::string(51, 'e'));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("would use 1001 bytes"), std::string::npos) << refused.error().describe();
  EXPECT_TRUE((*c)->write_file("e.txt", std::string(50, 'e'))) << "positive control: exactly the rest fits";

  const std::string metrics = (*sup)->metrics_text();
  EXPECT_NE(metrics.find("shmcp_quota_used_bytes 1000\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("shmcp_quota_limit_bytes 1000\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("shmcp_quota_used_files 5\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("shmcp_quota_limit_files 50\n"), std::string::npos) << metrics;
  c->reset();
  (*sup)->stop();
}

TEST(SupervisorQuota, WithoutQuotaOptionsThereIsNoUsageToReport) {
  TempDir ws;
  auto sup = Supervisor::start(options_for(ws, 0, 0));
  ASSERT_TRUE(sup) << sup.error().describe();
  EXPECT_FALSE((*sup)->quota_usage());
  EXPECT_FALSE((*sup)->rescan_quota());
  EXPECT_EQ((*sup)->metrics_text().find("shmcp_quota"), std::string::npos);
  EXPECT_NE((*sup)->metrics_text().find("shmcp_workers_alive"), std::string::npos);
  (*sup)->stop();
}

}  // namespace
