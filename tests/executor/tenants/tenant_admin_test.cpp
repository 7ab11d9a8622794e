// The admin API and tenant life cycle against a real executor: who may call it, create / list /
// update / drain / delete (with and without purge), deleting a tenant with calls in flight,
// lazily started pools that stop when idle, the executor-wide worker cap, and metrics.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "tests/executor/tenants/tenant_fixture.hpp"
#include "tests/support/eventually.hpp"

namespace shmcp::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::size_t workers_of(const TenantExecutor& t, const std::string& tenant) {
  std::size_t n = 0;
  for (pid_t p : t.ex->worker_pids()) {
    const std::string cmd = read_file("/proc/" + std::to_string(p) + "/cmdline");
    if (cmd.find(t.channel + "." + tenant + std::string(1, '\0')) != std::string::npos) ++n;
  }
  return n;
}

TEST(TenantAdmin, OnlyTheAdminTokenOpensTheAdminApiAndMetrics) {
  TenantExecutor t("tenant-adm-auth");
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  EXPECT_EQ(t.request("GET", "/admin/tenants", "").status, 401);
  EXPECT_EQ(t.request("GET", "/admin/tenants", kAliceToken).status, 401);
  EXPECT_EQ(t.request("POST", "/admin/tenants", kAliceToken, R"({"name":"eve"})").status, 401);
  EXPECT_EQ(t.request("DELETE", "/admin/tenants/bob", kAliceToken).status, 401);
  EXPECT_EQ(t.request("GET", "/metrics", kAliceToken).status, 401);
  EXPECT_FALSE(path_exists(t.segment("eve")));
  EXPECT_TRUE(path_exists(t.segment("bob")));
  // Positive controls.
  HttpAnswer list = t.admin("GET", "/admin/tenants");
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.json["tenants"].size(), 2u);
  EXPECT_EQ(list.json["tenants"][0]["name"], "alice");
  EXPECT_EQ(list.json["tenants"][1]["name"], "bob");
  EXPECT_TRUE(list.json["volume"].contains("bytes_free"));
  EXPECT_EQ(t.request("GET", "/metrics", kAdminToken).status, 200);
}

TEST(TenantAdmin, CreateServesANewTenantAtOnceAndRefusesBadOnes) {
  TenantExecutor t("tenant-adm-create");
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  HttpAnswer c = t.admin("POST", "/admin/tenants", R"({"name": "carol", "quota": {"calls_in_flight": 3}})");
  ASSERT_EQ(c.status, 201) << c.body;
  const std::string token = c.json.value("token", "");
  ASSERT_GE(token.size(), 32u);
  EXPECT_EQ(c.json["url"], "shm://" + t.channel + ".carol");
  EXPECT_TRUE(path_exists(t.segment("carol")));
  HttpAnswer w = t.execute(token, "write_file", {{"path", "hello.txt"}, {"content", "from carol"}});
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(read_file(t.root("carol") + "/hello.txt"), "from carol");
  auto shm = t.shm_client("carol");
  ASSERT_TRUE(shm);
  auto r = shm->call("read_text_file", {{"path", "hello.txt"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text(), "from carol");

  EXPECT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "carol"})").status, 409);  // taken
  EXPECT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "Bad Name"})").status, 400);
  EXPECT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "up", "root": "../outside"})").status, 400);
  EXPECT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "abs", "root": "/etc"})").status, 400);
  EXPECT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "inner", "root": "alice/sub"})").status, 400);  // nests in alice
  EXPECT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "dup", "tokens": ["alice-token-0123456789abcdef"]})").status, 409);
  EXPECT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "tf", "token_file": "/etc/passwd"})").status, 400);
  EXPECT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "short", "tokens": ["abc"]})").status, 400);
  EXPECT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "q", "quota": {"bytes": -1}})").status, 400);
  EXPECT_EQ(t.admin("POST", "/admin/tenants", "[[[[").status, 400);
  EXPECT_FALSE(path_exists(t.dirs.outside() + "/up"));
  EXPECT_FALSE(path_exists(t.root("alice") + "/sub"));
  EXPECT_EQ(t.admin("GET", "/admin/tenants").json["tenants"].size(), 3u);

  // A root through a symlink is refused (it could point into another tenant).
  ASSERT_EQ(::symlink(t.root("bob").c_str(), (t.dirs.ws() + "/sneaky").c_str()), 0);
  HttpAnswer s = t.admin("POST", "/admin/tenants", R"({"name": "sneaky"})");
  EXPECT_EQ(s.status, 403) << s.body;
  EXPECT_FALSE(path_exists(t.segment("sneaky")));
}

TEST(TenantAdmin, QuotaUpdatesAreValidatedAndShownByTheTenant) {
  TenantExecutor t("tenant-adm-quota", {}, R"([{"name": "alice", "token_file": "alice.token"}, {"name": "bob", "token_file": "bob.token"}])");
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  HttpAnswer u = t.admin("PATCH", "/admin/tenants/alice", R"({"quota": {"calls_in_flight": 2, "bytes": 5000}})");
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_EQ(u.json["quota"]["calls_in_flight"], 2);
  EXPECT_EQ(u.json["quota"]["bytes"], 5000);
  EXPECT_EQ(t.admin("PATCH", "/admin/tenants/alice", R"({"name": "x"})").status, 400);
  EXPECT_EQ(t.admin("PATCH", "/admin/tenants/nobody", R"({"quota": {}})").status, 404);
  EXPECT_EQ(t.admin("GET", "/admin/tenants/alice").json["quota"]["bytes"], 5000);
}

TEST(TenantAdmin, ACallBeyondTheCallsInFlightQuotaIsRefusedWith429AndOthersStillRun) {
  // One worker in the whole executor, kept by bob's pool (it idles out only after 60 s): alice's
  // first call waits for a worker, in flight, while her second one meets her quota of one.
  TenantExecutor t("tenant-adm-inflight", {"--max-workers", "1", "--tenant-idle-s", "60"});
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  ASSERT_EQ(t.admin("PATCH", "/admin/tenants/alice", R"({"quota": {"calls_in_flight": 1}})").status, 200);
  ASSERT_EQ(t.execute(kBobToken, "read_text_file", {{"path", "secret.txt"}}).status, 200);
  auto first = std::async(std::launch::async, [&] { return t.execute(kAliceToken, "read_text_file", {{"path", "secret.txt"}}); });
  auto in_flight = [&] {
    return t.request("GET", "/metrics", kAdminToken).body.find("shmcp_tenant_calls_in_flight{tenant=\"alice\"} 1\n") !=
           std::string::npos;
  };
  ASSERT_TRUE(eventually(in_flight, 30s));
  HttpAnswer second = t.execute(kAliceToken, "read_text_file", {{"path", "secret.txt"}});
  EXPECT_EQ(second.status, 429) << second.body;
  EXPECT_NE(second.body.find("calls in flight"), std::string::npos) << second.body;
  EXPECT_EQ(second.body.find(kAliceSecret), std::string::npos);
  // Other tenants are not limited by alice's quota (positive control).
  HttpAnswer bob = t.execute(kBobToken, "read_text_file", {{"path", "secret.txt"}});
  ASSERT_EQ(bob.status, 200) << bob.body;
  EXPECT_EQ(result_text(bob.json), kBobSecret);
  // Bob's pool goes with bob: the worker is free, alice's waiting call runs, and the next is let in.
  ASSERT_EQ(t.admin("DELETE", "/admin/tenants/bob").status, 200);
  HttpAnswer a1 = first.get();
  ASSERT_EQ(a1.status, 200) << a1.body;
  EXPECT_EQ(result_text(a1.json), kAliceSecret);
  HttpAnswer a3 = t.execute(kAliceToken, "read_text_file", {{"path", "secret.txt"}});
  ASSERT_EQ(a3.status, 200) << a3.body;
  EXPECT_EQ(result_text(a3.json), kAliceSecret);
}

TEST(TenantAdmin, TenantsStateKeepsAdminChangesAcrossARestart) {
  SandboxDirs state_dir("tenant-state-file");
  const std::string state = state_dir.base() + "/tenants-state.json";
  TenantExecutor t("tenant-adm-state", {"--tenants-state", state});
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  const std::string carol_token = "carol-token-0123456789abcdef";
  ASSERT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "carol", "tokens": [")" + carol_token + R"("], "workers": 1, "quota": {"bytes": 7000}})").status, 201);
  ASSERT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "dave"})").status, 201);
  ASSERT_EQ(t.execute(carol_token, "write_file", {{"path", "kept.txt"}, {"content", "CAROL"}}).status, 200);
  ASSERT_EQ(t.admin("PATCH", "/admin/tenants/alice", R"({"quota": {"files": 9}})").status, 200);  // a declared tenant
  ASSERT_EQ(t.admin("DELETE", "/admin/tenants/dave").status, 200);
  struct stat st{};
  ASSERT_EQ(::stat(state.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // it holds tokens

  ASSERT_TRUE(t.restart(&why)) << why;
  HttpAnswer carol = t.admin("GET", "/admin/tenants/carol");
  ASSERT_EQ(carol.status, 200) << carol.body;
  EXPECT_EQ(carol.json["quota"]["bytes"], 7000);
  EXPECT_EQ(carol.json["workers"], 1);
  HttpAnswer read = t.execute(carol_token, "read_text_file", {{"path", "kept.txt"}});
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(result_text(read.json), "CAROL");
  EXPECT_EQ(t.admin("GET", "/admin/tenants/dave").status, 404);  // deleted stays deleted
  EXPECT_EQ(t.admin("GET", "/admin/tenants/alice").json["quota"]["files"], 9);
  EXPECT_EQ(t.admin("GET", "/admin/tenants/bob").json["quota"]["files"], 0);  // untouched
  EXPECT_EQ(t.execute(kBobToken, "read_text_file", {{"path", "secret.txt"}}).status, 200);

  // A state file that is not JSON stops the executor with the reason, not a silent loss.
  ASSERT_EQ(t.ex->stop(), 0);
  write_file(state, "{not json");
  ExecutorProcess broken(t.dirs.ws(), t.channel + "-b", {"--tenants", t.dirs.base() + "/tenants.json", "--tenants-state", state});
  EXPECT_FALSE(broken.start(&why));
  EXPECT_NE(why.find("tenants state"), std::string::npos) << why;
}

TEST(TenantAdmin, DrainRefusesNewCallsAndDeleteKeepsOrPurgesFiles) {
  TenantExecutor t("tenant-adm-del");
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  ASSERT_EQ(t.execute(kAliceToken, "read_text_file", {{"path", "secret.txt"}}).status, 200);
  HttpAnswer d = t.admin("POST", "/admin/tenants/alice/drain", "{}");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.json["state"], "draining");
  EXPECT_EQ(t.execute(kAliceToken, "read_text_file", {{"path", "secret.txt"}}).status, 503);
  EXPECT_EQ(t.execute(kBobToken, "read_text_file", {{"path", "secret.txt"}}).status, 200);  // bob unaffected

  ASSERT_EQ(t.admin("DELETE", "/admin/tenants/alice").status, 200);
  EXPECT_FALSE(path_exists(t.segment("alice")));
  EXPECT_EQ(read_file(t.root("alice") + "/secret.txt"), kAliceSecret);  // files kept
  EXPECT_EQ(t.execute(kAliceToken, "read_text_file", {{"path", "secret.txt"}}).status, 401);
  EXPECT_EQ(t.admin("DELETE", "/admin/tenants/alice").status, 404);

  // Purge removes the root without following symlinks out of it.
  ASSERT_EQ(::symlink(t.dirs.outside().c_str(), (t.root("bob") + "/out-link").c_str()), 0);
  ASSERT_EQ(::mkdir((t.root("bob") + "/deep").c_str(), 0755), 0);
  ASSERT_TRUE(write_file(t.root("bob") + "/deep/f.txt", "x"));
  ASSERT_EQ(t.admin("DELETE", "/admin/tenants/bob?purge=1").status, 200);
  EXPECT_FALSE(path_exists(t.root("bob")));
  EXPECT_EQ(read_file(t.dirs.outside() + "/secret.txt"), "OUTSIDE-SECRET");
  EXPECT_EQ(t.admin("GET", "/admin/tenants").json["tenants"].size(), 0u);
  // The name is free again.
  EXPECT_EQ(t.admin("POST", "/admin/tenants", R"({"name": "bob"})").status, 201);
}

TEST(TenantAdmin, DeletingATenantWithCallsInFlightEndsThemCleanly) {
  ::signal(SIGPIPE, SIG_IGN);  // a connection the executor closes mid-upload must not kill the test
  TenantExecutor t("tenant-adm-busy");
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  const std::string big(8u << 20, 'b');
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::atomic<bool> deleting{false};
  std::mutex mu;
  std::string others;
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; ++i)
    callers.emplace_back([&, i] {
      while (!stop.load()) {
        HttpAnswer a = t.execute(kAliceToken, "write_file", {{"path", "big" + std::to_string(i) + ".txt"}, {"content", big}});
        if (a.status == 200) ++ok;
        else if (a.status == 401 || a.status == 503) ++refused;  // deleted / draining
        // Refused as unauthenticated before its 8 MiB body was read: the executor closes the
        // connection under the upload (the client sees no response).
        else if (a.status == 0 && deleting.load()) ++refused;
        else {
          ++other;
          std::lock_guard lock(mu);
          others += std::to_string(a.status) + " " + a.body.substr(0, 200) + "\n";
        }
        if (a.status == 401 || a.status == 0) break;
      }
    });
  ASSERT_TRUE(eventually([&] { return ok.load() > 0; }, 30s));
  deleting = true;
  HttpAnswer d = t.admin("DELETE", "/admin/tenants/alice");
  EXPECT_EQ(d.status, 200) << d.body;
  stop = true;
  for (auto& th : callers) th.join();
  EXPECT_EQ(other.load(), 0) << others;
  EXPECT_FALSE(path_exists(t.segment("alice")));
  // No half-written file under a final name: every big file is whole.
  for (int i = 0; i < 3; ++i) {
    const std::string f = t.root("alice") + "/big" + std::to_string(i) + ".txt";
    if (path_exists(f)) {
      EXPECT_EQ(read_file(f).size(), big.size());
    }
  }
  EXPECT_EQ(t.execute(kBobToken, "read_text_file", {{"path", "secret.txt"}}).status, 200);
  EXPECT_EQ(::kill(t.ex->pid(), 0), 0);
}

TEST(TenantAdmin, OneTenantsCrashingWorkerLeavesOtherTenantsUntouched) {
  TenantExecutor t("tenant-adm-crash", {"--enable-test-hooks"});
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  ASSERT_EQ(t.execute(kBobToken, "read_text_file", {{"path", "secret.txt"}}).status, 200);
  ASSERT_TRUE(eventually([&] { return workers_of(t, "bob") == 1; }));
  const auto bob_before = t.ex->worker_pids();
  auto alice = t.shm_client("alice");  // the test hooks are channel-only pseudo-tools
  ASSERT_TRUE(alice);
  auto crash = alice->call("__shmcp_test_forbidden_syscall", json::object());
  ASSERT_FALSE(crash);
  EXPECT_NE(crash.error().message.find("seccomp"), std::string::npos) << crash.error().describe();
  // bob's worker is the same process and serves on.
  HttpAnswer b = t.execute(kBobToken, "read_text_file", {{"path", "secret.txt"}});
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(result_text(b.json), kBobSecret);
  bool bob_kept = false;
  for (pid_t p : t.ex->worker_pids())
    for (pid_t q : bob_before) bob_kept = bob_kept || (p == q && workers_of(t, "bob") == 1);
  EXPECT_TRUE(bob_kept);
  // alice is served again too.
  EXPECT_TRUE(eventually([&] { return t.execute(kAliceToken, "read_text_file", {{"path", "secret.txt"}}).status == 200; }, 20s));
}

TEST(TenantAdmin, PoolsStartWithTheFirstCallAndStopWhenIdle) {
  TenantExecutor t("tenant-adm-lazy", {"--tenant-idle-s", "1"});
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  EXPECT_EQ(workers_of(t, "alice"), 0u);
  EXPECT_EQ(workers_of(t, "bob"), 0u);
  auto c = t.shm_client("alice");
  ASSERT_TRUE(c);
  auto r = c->call("read_text_file", {{"path", "secret.txt"}});  // the cold start
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->text(), kAliceSecret);
  EXPECT_EQ(workers_of(t, "alice"), 1u);
  EXPECT_EQ(workers_of(t, "bob"), 0u);
  EXPECT_TRUE(eventually([&] { return workers_of(t, "alice") == 0; }, 20s));  // idled out
  auto again = c->call("read_text_file", {{"path", "secret.txt"}});            // and back
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(again->text(), kAliceSecret);
}

TEST(TenantAdmin, ATenantsWorkersFieldSizesItsPool) {
  TenantExecutor t("tenant-adm-pool", {"--workers", "3"},
                   R"([{"name": "alice", "token_file": "alice.token", "workers": 1}, {"name": "bob", "token_file": "bob.token"}])");
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  EXPECT_EQ(t.admin("GET", "/admin/tenants/alice").json["workers"], 1);
  EXPECT_EQ(t.admin("GET", "/admin/tenants/bob").json["workers"], 3);
  // Concurrent calls of each tenant until bob's pool has grown past one worker (the positive
  // control; a lazy pool starts a worker per waiting call): alice's never does.
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> alice_max{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 6; ++i)
    callers.emplace_back([&, i] {
      const std::string& token = i % 2 == 0 ? kAliceToken : kBobToken;
      while (!stop.load())
        if (t.execute(token, "write_file", {{"path", std::string("f").append(std::to_string(i))}, {"content", std::string(1 << 16, 'x')}}).status != 200) ++failures;
    });
  bool bob_grew = false;
  const bool grew = eventually([&] {
    alice_max = std::max(alice_max.load(), workers_of(t, "alice"));
    bob_grew = bob_grew || workers_of(t, "bob") > 1;
    return bob_grew && alice_max.load() > 0;
  }, 60s);
  for (int k = 0; k < 20; ++k) alice_max = std::max(alice_max.load(), workers_of(t, "alice"));
  stop = true;
  for (auto& th : callers) th.join();
  EXPECT_TRUE(grew) << "bob's pool never grew past one worker (" << bob_grew << "), or alice's never ran";
  EXPECT_EQ(alice_max.load(), 1u);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_NE(t.admin("POST", "/admin/tenants", R"({"name": "carol", "workers": 0})").status, 200);
  HttpAnswer carol = t.admin("POST", "/admin/tenants", R"({"name": "carol", "workers": 2})");
  ASSERT_EQ(carol.status, 201) << carol.body;
  EXPECT_EQ(carol.json["workers"], 2);
}

TEST(TenantAdmin, TheWorkerCapMakesATenantWaitForAnotherToIdle) {
  TenantExecutor t("tenant-adm-cap", {"--tenant-idle-s", "1", "--max-workers", "1"});
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  ASSERT_EQ(t.execute(kAliceToken, "read_text_file", {{"path", "secret.txt"}}).status, 200);
  EXPECT_EQ(workers_of(t, "alice"), 1u);
  // bob's call waits until alice's worker idles out, then runs: never two workers at once.
  auto bob = std::async(std::launch::async, [&] { return t.execute(kBobToken, "read_text_file", {{"path", "secret.txt"}}); });
  bool both = false;
  while (bob.wait_for(5ms) != std::future_status::ready) both = both || (workers_of(t, "alice") + workers_of(t, "bob") > 1);
  HttpAnswer b = bob.get();
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(result_text(b.json), kBobSecret);
  EXPECT_FALSE(both);
}

TEST(TenantAdmin, MetricsCarryATenantLabelAndTheVolumesUsage) {
  TenantExecutor t("tenant-adm-metrics");
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  ASSERT_EQ(t.execute(kAliceToken, "read_text_file", {{"path", "secret.txt"}}).status, 200);
  std::string text;
  ASSERT_TRUE(eventually([&] {
    text = t.request("GET", "/metrics", kAdminToken).body;
    return text.find("shmcp_calls_total{tenant=\"alice\",tool=\"read_text_file\",outcome=\"ok\"} 1") != std::string::npos;
  })) << text;
  EXPECT_NE(text.find("shmcp_calls_total{tenant=\"bob\",tool=\"read_text_file\",outcome=\"ok\"} 0"), std::string::npos);
  EXPECT_NE(text.find("shmcp_tenant_calls_in_flight{tenant=\"alice\"}"), std::string::npos);
  EXPECT_NE(text.find("shmcp_volume_bytes_free "), std::string::npos);
  EXPECT_NE(text.find("shmcp_volume_inodes_used "), std::string::npos);
  // Each family's HELP appears once although every tenant reports it.
  const std::string help = "# HELP shmcp_calls_total ";
  EXPECT_EQ(text.find(help), text.rfind(help));
}

}  // namespace
}  // namespace shmcp::testing

namespace shmcp::testing {
namespace {

TEST(TenantQuota, ATenantsQuotaIsExactItsUsageListedAndChangeableAtRunTime) {
  TenantExecutor t("tenant-quota", {},
                   R"([{"name": "alice", "token_file": "alice.token", "quota": {"bytes": 1017}},
                       {"name": "bob", "token_file": "bob.token"}])");
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  // alice holds secret.txt (17 bytes): 1000 more fit exactly, one more byte does not.
  const std::string fill(1000, 'a');
  HttpAnswer ok = t.execute(kAliceToken, "write_file", {{"path", "fill.txt"}, {"content", fill}});
  ASSERT_EQ(ok.status, 200);
  EXPECT_FALSE(ok.json.value("isError", true)) << ok.body;
  HttpAnswer over = t.execute(kAliceToken, "write_file", {{"path", "one.txt"}, {"content", "x"}});
  ASSERT_EQ(over.status, 200);
  EXPECT_TRUE(over.json.value("isError", false)) << over.body;
  EXPECT_NE(result_text(over.json).find("quota exceeded"), std::string::npos) << over.body;
  EXPECT_FALSE(path_exists(t.root("alice") + "/one.txt"));
  // A move adds nothing: it works in a full tenant.
  EXPECT_FALSE(t.execute(kAliceToken, "move_file", {{"source", "fill.txt"}, {"destination", "moved.txt"}}).json.value("isError", true));
  // bob has no quota: alice's being full is not his concern.
  EXPECT_FALSE(t.execute(kBobToken, "write_file", {{"path", "big.txt"}, {"content", std::string(5000, 'b')}}).json.value("isError", true));
  // Usage is listed; raising the quota lets the write through at once.
  HttpAnswer show = t.admin("GET", "/admin/tenants/alice");
  ASSERT_EQ(show.status, 200);
  EXPECT_EQ(show.json["usage"]["bytes"], 1017);
  ASSERT_EQ(t.admin("PATCH", "/admin/tenants/alice", R"({"quota": {"bytes": 1018}})").status, 200);
  EXPECT_FALSE(t.execute(kAliceToken, "write_file", {{"path", "one.txt"}, {"content", "x"}}).json.value("isError", true));
  EXPECT_TRUE(t.execute(kAliceToken, "write_file", {{"path", "two.txt"}, {"content", "y"}}).json.value("isError", false));
  // A files quota set at run time counts what is there already.
  ASSERT_EQ(t.admin("PATCH", "/admin/tenants/alice", R"({"quota": {"bytes": 0, "files": 3}})").status, 200);
  EXPECT_TRUE(t.execute(kAliceToken, "create_directory", {{"path", "d"}}).json.value("isError", false));  // secret, moved, one
  std::string metrics = t.request("GET", "/metrics", kAdminToken).body;
  EXPECT_NE(metrics.find("shmcp_tenant_used_files{tenant=\"alice\"} 3"), std::string::npos) << metrics;
}

}  // namespace
}  // namespace shmcp::testing
