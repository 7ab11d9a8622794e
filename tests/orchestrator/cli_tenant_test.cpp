// `shmcp tenant` against a real `shmcp-executor serve --tenants --admin-token-file`: every
// command through the real binary, its JSON output, exit codes (0 done, 1 refused, 2 usage or
// transport) and that what it did is what the executor now serves.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/executor/tenants/tenant_fixture.hpp"
#include "tests/support/files.hpp"
#include "tests/support/process.hpp"

namespace shmcp::testing {
namespace {

class TenantCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(t.start(&why)) << why;
    admin_file = t.dirs.base() + "/admin.token";  // written by the fixture
    url = std::string("http://127.0.0.1:").append(std::to_string(t.ex->port()));
  }
  ProcessResult tenant(std::vector<std::string> args, bool with_connection = true) {
    args.insert(args.begin(), {cli_binary(), "tenant"});
    if (with_connection) args.insert(args.end(), {"--connect", url, "--admin-token-file", admin_file});
    return run_process(args);
  }
  TenantExecutor t{"tenant-cli"};
  std::string admin_file, url;
};

TEST_F(TenantCli, CreateShowUpdateListDrainAndDeleteDoWhatTheySay) {
  const std::string token_file = t.dirs.base() + "/carol.token";
  ASSERT_TRUE(write_file(token_file, "carol-token-0123456789abcdef\n"));
  ProcessResult c = tenant({"create", "carol", "--token-file", token_file, "--workers", "1", "--quota-bytes", "5000",
                            "--calls-in-flight", "2"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  const auto created = nlohmann::json::parse(c.out, nullptr, false);
  ASSERT_TRUE(created.is_object()) << c.out;
  EXPECT_EQ(created["name"], "carol");
  EXPECT_EQ(created["workers"], 1);
  EXPECT_EQ(created["quota"]["bytes"], 5000);
  EXPECT_EQ(created["quota"]["calls_in_flight"], 2);
  EXPECT_FALSE(created.contains("token"));  // its own token was given
  // The executor serves carol at once, with her token.
  HttpAnswer w = t.execute("carol-token-0123456789abcdef", "write_file", {{"path", "c.txt"}, {"content", "CAROL"}});
  ASSERT_EQ(w.status, 200) << w.body;

  ProcessResult dave = tenant({"create", "dave"});  // no token given: one is made up and shown once
  ASSERT_EQ(dave.exit_code, 0) << dave.err;
  const auto dj = nlohmann::json::parse(dave.out, nullptr, false);
  ASSERT_TRUE(dj.contains("token")) << dave.out;
  EXPECT_EQ(t.execute(dj["token"].get<std::string>(), "list_allowed_directories", nlohmann::json::object()).status, 200);

  ProcessResult u = tenant({"update", "carol", "--quota-files", "3"});
  ASSERT_EQ(u.exit_code, 0) << u.err;
  EXPECT_EQ(t.admin("GET", "/admin/tenants/carol").json["quota"]["files"], 3);
  ProcessResult s = tenant({"show", "carol"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(nlohmann::json::parse(s.out, nullptr, false)["quota"]["files"], 3);
  ProcessResult l = tenant({"list"});
  ASSERT_EQ(l.exit_code, 0) << l.err;
  const auto listed = nlohmann::json::parse(l.out, nullptr, false);
  std::vector<std::string> names;
  for (const auto& x : listed["tenants"]) names.push_back(x["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"alice", "bob", "carol", "dave"}));

  ProcessResult d = tenant({"drain", "carol"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(t.execute("carol-token-0123456789abcdef", "read_text_file", {{"path", "c.txt"}}).status, 503);
  ProcessResult del = tenant({"delete", "carol", "--purge"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_FALSE(path_exists(t.root("carol")));
  EXPECT_FALSE(path_exists(t.segment("carol")));
  ProcessResult keep = tenant({"delete", "dave"});
  ASSERT_EQ(keep.exit_code, 0) << keep.err;
  EXPECT_TRUE(path_exists(t.root("dave")));  // files are kept without --purge
  EXPECT_EQ(t.admin("GET", "/admin/tenants/carol").status, 404);
}

TEST_F(TenantCli, RefusalsExit1AndUsageOrTransportErrorsExit2WithTheReason) {
  ProcessResult taken = tenant({"create", "alice"});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_NE(taken.err.find("exists"), std::string::npos) << taken.err;
  ProcessResult missing = tenant({"delete", "nobody"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nobody"), std::string::npos) << missing.err;
  EXPECT_EQ(tenant({"create", "x", "--workers", "0"}).exit_code, 2);
  EXPECT_EQ(tenant({"frobnicate", "x"}).exit_code, 2);
  EXPECT_EQ(tenant({"show"}).exit_code, 2);                                  // NAME missing
  EXPECT_EQ(tenant({"list"}, /*with_connection=*/false).exit_code, 2);      // --connect missing
  // The wrong admin token is a usage error (fix the flags; retrying cannot help), with the status.
  const std::string wrong = t.dirs.base() + "/wrong.token";
  ASSERT_TRUE(write_file(wrong, "not-the-admin-token-0123456789\n"));
  ProcessResult denied = run_process({cli_binary(), "tenant", "list", "--connect", url, "--admin-token-file", wrong});
  EXPECT_EQ(denied.exit_code, 2);
  EXPECT_NE(denied.err.find("HTTP 401"), std::string::npos) << denied.err;
  ProcessResult down = run_process({cli_binary(), "tenant", "list", "--connect", "http://127.0.0.1:1", "--admin-token-file", admin_file});
  EXPECT_EQ(down.exit_code, 2);
  EXPECT_FALSE(down.err.empty());
  ProcessResult help = run_process({cli_binary(), "tenant", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--workers N"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace shmcp::testing
