// Tenant isolation, from outside: a real executor with tenants alice and bob; alice's calls try
// every path attack of the workspace escape tests against bob's root, over shm, POST /execute and
// /mcp, and must all be denied without a byte of bob's files, with positive controls on alice's
// own files.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "tests/executor/tenants/tenant_fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/process.hpp"
#include "tests/support/stdio_mcp.hpp"

namespace shmcp::testing {
namespace {

// One transport's way of running a tool as alice: the CallToolResult JSON, or null when the call
// produced none (a transport error).
using Caller = std::function<nlohmann::json(const std::string& tool, const nlohmann::json& args)>;

class TenantIsolation : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(t.start(&why)) << why;
    const std::string bob = t.root("bob");
    // What an orchestrator (or an earlier, innocent call) might have left in alice's root.
    ASSERT_EQ(::symlink("../bob/secret.txt", (t.root("alice") + "/rel-link").c_str()), 0);
    ASSERT_EQ(::symlink((bob + "/secret.txt").c_str(), (t.root("alice") + "/abs-link").c_str()), 0);
    ASSERT_EQ(::symlink("../bob", (t.root("alice") + "/dir-link").c_str()), 0);
    ASSERT_TRUE(write_file(bob + "/linked.txt", kBobSecret));
    ASSERT_EQ(::link((bob + "/linked.txt").c_str(), (t.root("alice") + "/hard-link").c_str()), 0);
  }

  // Every attack must fail and show nothing of bob's.
  void expect_all_denied(const Caller& call) {
    const std::string bob = t.root("bob");
    const std::vector<std::pair<std::string, nlohmann::json>> attacks = {
        {"read_text_file", {{"path", "../bob/secret.txt"}}},
        {"read_text_file", {{"path", bob + "/secret.txt"}}},
        {"read_text_file", {{"path", "rel-link"}}},
        {"read_text_file", {{"path", "abs-link"}}},
        {"read_text_file", {{"path", "dir-link/secret.txt"}}},
        {"read_text_file", {{"path", "hard-link"}}},
        {"read_text_file", {{"path", t.root("alice") + "/../bob/secret.txt"}}},
        {"read_multiple_files", {{"paths", {"../bob/secret.txt", "abs-link"}}}},
        {"list_directory", {{"path", ".."}}},
        {"list_directory", {{"path", bob}}},
        {"list_directory", {{"path", "dir-link"}}},
        {"directory_tree", {{"path", ".."}}},
        {"search_files", {{"path", ".."}, {"pattern", "**/secret.txt"}}},
        {"search_files", {{"path", "dir-link"}, {"pattern", "*"}}},
        {"get_file_info", {{"path", bob + "/secret.txt"}}},
        {"get_file_info", {{"path", "../bob"}}},
        {"write_file", {{"path", "../bob/pwned.txt"}, {"content", "x"}}},
        {"write_file", {{"path", "dir-link/pwned.txt"}, {"content", "x"}}},
        {"edit_file", {{"path", "rel-link"}, {"edits", {{{"oldText", "BOB"}, {"newText", "EVE"}}}}}},
        {"create_directory", {{"path", "../bob/newdir"}}},
        {"move_file", {{"source", "secret.txt"}, {"destination", "../bob/moved.txt"}}},
        {"move_file", {{"source", "../bob/secret.txt"}, {"destination", "stolen.txt"}}},
        {"read_media_file", {{"path", "abs-link"}}},
    };
    for (const auto& [tool, args] : attacks) {
      SCOPED_TRACE(tool + " " + args.dump());
      const nlohmann::json r = call(tool, args);
      if (r.is_null()) continue;  // no result at all: denied as well
      EXPECT_EQ(r.dump().find(kBobSecret), std::string::npos) << r.dump();
      if (tool == "read_multiple_files") {  // per-file errors in a successful result, like the reference
        const std::string text = result_text(r);
        EXPECT_NE(text.find("../bob/secret.txt: Error - Access denied"), std::string::npos) << text;
        EXPECT_NE(text.find("abs-link: Error - Access denied"), std::string::npos) << text;
        continue;
      }
      EXPECT_EQ(r.value("isError", false), true) << r.dump();
    }
    // Writing to a symlink replaces the link in alice's root (temp file + rename), never its
    // target in bob's.
    const nlohmann::json w = call("write_file", {{"path", "abs-link"}, {"content", "overwritten"}});
    if (w.is_object() && !w.value("isError", false)) {
      struct stat st{};
      ASSERT_EQ(::lstat((t.root("alice") + "/abs-link").c_str(), &st), 0);
      EXPECT_TRUE(S_ISREG(st.st_mode));
    }
    // bob's root is exactly as it was.
    EXPECT_EQ(read_file(bob + "/secret.txt"), kBobSecret);
    EXPECT_FALSE(path_exists(bob + "/pwned.txt"));
    EXPECT_FALSE(path_exists(bob + "/moved.txt"));
    EXPECT_FALSE(path_exists(bob + "/newdir"));
    EXPECT_FALSE(path_exists(t.root("alice") + "/stolen.txt"));
    EXPECT_EQ(read_file(t.root("alice") + "/secret.txt"), kAliceSecret);
  }

  // Positive controls: the same transport serves alice's own root.
  void expect_own_root_served(const Caller& call) {
    const nlohmann::json own = call("read_text_file", {{"path", "secret.txt"}});
    ASSERT_TRUE(own.is_object());
    EXPECT_EQ(result_text(own), kAliceSecret);
    const nlohmann::json dirs = call("list_allowed_directories", nlohmann::json::object());
    EXPECT_EQ(result_text(dirs), "Allowed directories:\n" + t.root("alice"));
    const nlohmann::json w = call("write_file", {{"path", "mine.txt"}, {"content", "ok"}});
    EXPECT_FALSE(w.value("isError", false)) << w.dump();
    EXPECT_EQ(read_file(t.root("alice") + "/mine.txt"), "ok");
  }

  TenantExecutor t{"tenant-iso"};
};

TEST_F(TenantIsolation, ShmCallsOfOneTenantNeverReachAnother) {
  auto c = t.shm_client("alice");
  ASSERT_TRUE(c);
  Caller call = [&](const std::string& tool, const nlohmann::json& args) -> nlohmann::json {
    auto r = c->call(tool, args);
    return r ? r->json : nlohmann::json();
  };
  expect_own_root_served(call);
  expect_all_denied(call);
}

TEST_F(TenantIsolation, ExecuteCallsOfOneTenantNeverReachAnother) {
  Caller call = [&](const std::string& tool, const nlohmann::json& args) -> nlohmann::json {
    HttpAnswer a = t.execute(kAliceToken, tool, args);
    return a.status == 200 ? a.json : nlohmann::json();
  };
  expect_own_root_served(call);
  expect_all_denied(call);
}

TEST_F(TenantIsolation, McpCallsOfOneTenantNeverReachAnother) {
  const std::string session = t.mcp_session(kAliceToken);
  ASSERT_FALSE(session.empty());
  Caller call = [&](const std::string& tool, const nlohmann::json& args) -> nlohmann::json {
    HttpAnswer a = t.mcp_call(kAliceToken, session, tool, args);
    return a.status == 200 ? a.json : nlohmann::json();
  };
  expect_own_root_served(call);
  expect_all_denied(call);
  // bob's token cannot use alice's session: sessions belong to their tenant's endpoint.
  HttpAnswer cross = t.mcp_call(kBobToken, session, "read_text_file", {{"path", "secret.txt"}});
  EXPECT_NE(cross.status, 200) << cross.body;
  EXPECT_EQ(cross.body.find(kAliceSecret), std::string::npos);
}

// An MCP client that launches stdio servers reaches a tenant through `shmcp-executor mcp
// --connect shm://CHANNEL.TENANT` (over shm) or `--connect http://... --token-file` (over HTTP):
// either way the calls are alice's, beneath alice's root. (The attacks rewrite abs-link, so each
// form gets a fresh fixture: one test each.)
void expect_stdio_front_isolated(const std::vector<std::string>& connect, const std::function<void(const Caller&)>& own,
                                 const std::function<void(const Caller&)>& attacks) {
  std::vector<std::string> argv = {executor_binary(), "mcp"};
  argv.insert(argv.end(), connect.begin(), connect.end());
  StdioMcp mcp(argv);
  ASSERT_TRUE(mcp.started());
  ASSERT_TRUE(mcp.initialize()) << mcp.stderr_text();
  Caller call = [&](const std::string& tool, const nlohmann::json& args) { return mcp.call_tool(tool, args); };
  own(call);
  attacks(call);
  const int st = mcp.finish();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << mcp.stderr_text();
}

TEST_F(TenantIsolation, StdioMcpFrontOverShmNeverReachesAnotherTenant) {
  expect_stdio_front_isolated({"--connect", t.shm_url("alice")},
                              [&](const Caller& c) { expect_own_root_served(c); }, [&](const Caller& c) { expect_all_denied(c); });
}

TEST_F(TenantIsolation, StdioMcpFrontOverHttpNeverReachesAnotherTenant) {
  expect_stdio_front_isolated({"--connect", "http://127.0.0.1:" + std::to_string(t.ex->port()), "--token-file",
                               t.dirs.base() + "/alice.token"},
                              [&](const Caller& c) { expect_own_root_served(c); }, [&](const Caller& c) { expect_all_denied(c); });
}

TEST_F(TenantIsolation, TokensSelectTheirTenantAndNothingElseOpensACall) {
  HttpAnswer a = t.execute(kAliceToken, "read_text_file", {{"path", "secret.txt"}});
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(result_text(a.json), kAliceSecret);
  HttpAnswer b = t.execute(kBobToken, "read_text_file", {{"path", "secret.txt"}});
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(result_text(b.json), kBobSecret);
  EXPECT_EQ(t.execute("", "read_text_file", {{"path", "secret.txt"}}).status, 401);
  EXPECT_EQ(t.execute("not-a-token-0123456789", "read_text_file", {{"path", "secret.txt"}}).status, 401);
  EXPECT_EQ(t.execute(kAdminToken, "read_text_file", {{"path", "secret.txt"}}).status, 401);  // admin is not a tenant
  EXPECT_EQ(t.execute(kAliceToken.substr(0, kAliceToken.size() - 1), "read_text_file", {{"path", "secret.txt"}}).status, 401);
}

TEST_F(TenantIsolation, SymlinkSwapRaceNeverServesTheOtherTenantsFile) {
  // alice's race.txt flips between a regular file and a symlink to bob's secret while alice
  // reads it over and over: every read is her own content or an error, never bob's.
  const std::string race = t.root("alice") + "/race.txt";
  const std::string tmp = t.root("alice") + "/.race-swap";
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    for (int i = 0; !stop.load(); ++i) {
      ::unlink(tmp.c_str());
      if (i % 2 == 0) {
        (void)::symlink((t.root("bob") + "/secret.txt").c_str(), tmp.c_str());
      } else {
        write_file(tmp, "ALICE-OWN");
      }
      (void)::rename(tmp.c_str(), race.c_str());
    }
  });
  auto c = t.shm_client("alice");
  ASSERT_TRUE(c);
  // At least 400 reads, and on until both sides of the race were observed (on a loaded machine
  // the flipper may not run at all during the first few hundred reads); the bound only keeps a
  // broken flipper from hanging the suite.
  int own = 0;
  int refused = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int i = 0; i < 400 || ((own == 0 || refused == 0) && std::chrono::steady_clock::now() < give_up); ++i) {
    auto r = c->call("read_text_file", {{"path", "race.txt"}});
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->json.dump().find(kBobSecret), std::string::npos);
    if (r->text() == "ALICE-OWN") {
      ++own;
    } else if (r->is_error) {
      ++refused;
    }
  }
  stop = true;
  flipper.join();
  EXPECT_GT(own, 0);      // positive control: the race really served the regular file sometimes
  EXPECT_GT(refused, 0);  // and really presented the symlink to bob's file sometimes
}

TEST_F(TenantIsolation, TenantSegmentsArePrivateToTheExecutorsUser) {
  struct stat st{};
  ASSERT_EQ(::stat(t.segment("alice").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(t.segment("bob").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Without tenants' shared workspace channel: shmcp.CHANNEL itself does not exist.
  EXPECT_FALSE(path_exists("/dev/shm/shmcp." + t.channel));
}

// Opens a tenant's segment read-write in a forked child running as uid 10001 with only the
// group `gid`: 0 if it could, else the errno.
int open_segment_as(const std::string& path, gid_t gid) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(10001) != 0) ::_exit(250);
    const int fd = ::open(path.c_str(), O_RDWR);
    ::_exit(fd >= 0 ? 0 : errno);
  }
  int st = 0;
  if (pid < 0 || ::waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

TEST(TenantSegments, AGroupTenantsSegmentIsOpenToThatGroupAndNoOtherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (chown to a group, and switching users to try it)";
  constexpr gid_t kGroup = 43210;
  TenantExecutor t("tenant-group", {}, R"([{"name": "alice", "token_file": "alice.token", "group": 43210},
                                          {"name": "bob", "token_file": "bob.token"}])");
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  struct stat st{};
  ASSERT_EQ(::stat(t.segment("alice").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, kGroup);
  ASSERT_EQ(::stat(t.segment("bob").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // A member of the group (another user) can map alice's channel; the same user in another group
  // cannot, nor can it open bob's private one.
  EXPECT_EQ(open_segment_as(t.segment("alice"), kGroup), 0);
  EXPECT_EQ(open_segment_as(t.segment("alice"), kGroup + 1), EACCES);
  EXPECT_EQ(open_segment_as(t.segment("bob"), kGroup), EACCES);
  // And the group member really is served: a call over alice's channel from the executor's user.
  auto c = t.shm_client("alice");
  ASSERT_TRUE(c);
  auto r = c->call("read_text_file", {{"path", "secret.txt"}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->text(), kAliceSecret);
}

}  // namespace
}  // namespace shmcp::testing
