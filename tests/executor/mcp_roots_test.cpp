// MCP roots as a narrowing of the workspace: McpSession's roots/list dance (after
// notifications/initialized and notifications/roots/list_changed) with the executor's roots
// support, against a real executor (forked supervisor + sandboxed workers), so what a root allows
// and denies is what the worker's kernel-confined resolution does.
//
// Layout (SandboxDirs): BASE/ws is the workspace with ws/a and ws/b (siblings), BASE/outside a
// canary next to the workspace.
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "channel/base/log.hpp"
#include "executor/mcp.hpp"
#include "orchestrator/client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/executor_process.hpp"
#include "tests/support/files.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sandbox_dirs.hpp"

using nlohmann::json;
using shmcp::Client;
using shmcp::ClientOptions;
using shmcp::executor::make_roots_support;
using shmcp::executor::make_tool_text_caller;
using shmcp::executor::McpRootsSupport;
using shmcp::executor::McpSession;
using shmcp::executor::resolve_root_uri;
using shmcp::testing::eventually;
using shmcp::testing::ExecutorProcess;
using shmcp::testing::SandboxDirs;
using shmcp::testing::unique_channel;
using shmcp::testing::write_file;

namespace {

std::string file_uri(const std::string& p) { return "file://" + p; }

class McpRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dirs_.ok());
    char buf[PATH_MAX];
    ASSERT_NE(::realpath(dirs_.ws().c_str(), buf), nullptr);
    ws_ = buf;
    ASSERT_NE(::realpath(dirs_.outside().c_str(), buf), nullptr);
    outside_ = buf;
    ASSERT_EQ(::mkdir((ws_ + "/a").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((ws_ + "/a/sub").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((ws_ + "/b").c_str(), 0755), 0);
    ASSERT_TRUE(write_file(ws_ + "/a/in.txt", "IN-A"));
    ASSERT_TRUE(write_file(ws_ + "/a/sub/deep.txt", "DEEP"));
    ASSERT_TRUE(write_file(ws_ + "/b/sibling.txt", "SIBLING"));
    ASSERT_TRUE(write_file(ws_ + "/top.txt", "TOP"));
    ASSERT_TRUE(write_file(outside_ + "/secret.txt", "SECRET"));
    // Links inside root a that lead to its sibling b (relative and absolute), out of the
    // workspace, and one that stays inside a (the positive control).
    ASSERT_EQ(::symlink("../b", (ws_ + "/a/rel_b").c_str()), 0);
    ASSERT_EQ(::symlink((ws_ + "/b").c_str(), (ws_ + "/a/abs_b").c_str()), 0);
    ASSERT_EQ(::symlink(outside_.c_str(), (ws_ + "/a/out").c_str()), 0);
    ASSERT_EQ(::symlink("sub", (ws_ + "/a/inner").c_str()), 0);
    // Roots that are symlinks: one out of the workspace, one to a directory inside it.
    ASSERT_EQ(::symlink(outside_.c_str(), (ws_ + "/evil").c_str()), 0);
    ASSERT_EQ(::symlink("a", (ws_ + "/alias").c_str()), 0);

    ex_ = std::make_unique<ExecutorProcess>(ws_, unique_channel("roots"), std::vector<std::string>{"--workers", "1"},
                                            false);
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why << ex_->stderr_text();
    ClientOptions co;
    co.timeout = std::chrono::seconds(30);
    auto c = Client::connect(ex_->shm_url(), co);
    ASSERT_TRUE(c) << c.error().describe();
    client_ = std::shared_ptr<Client>(std::move(*c));
  }

  // A session as the stdio loop runs it: server-initiated messages and held calls' answers go to
  // `sent_`.
  std::unique_ptr<McpSession> make_session(bool roots_capability,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto s = std::make_unique<McpSession>(make_tool_text_caller(client_));
    McpRootsSupport support = make_roots_support(client_, ws_);
    support.answer_timeout = timeout;
    s->enable_roots(std::move(support), [this](std::string m) {
      std::lock_guard lock(mu_);
      sent_.push_back(json::parse(m));
      return true;
    }, /*queue_calls=*/true);
    json caps = json::object();
    if (roots_capability) caps["roots"] = json{{"listChanged", true}};
    auto init = s->handle(json{{"jsonrpc", "2.0"},
                               {"id", 1},
                               {"method", "initialize"},
                               {"params", {{"protocolVersion", "2025-11-25"},
                                           {"capabilities", caps},
                                           {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}}
                                  .dump());
    EXPECT_TRUE(init && json::parse(*init).contains("result")) << init.value_or("(none)");
    EXPECT_FALSE(s->handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
    return s;
  }

  std::vector<json> take_sent() {
    std::lock_guard lock(mu_);
    return std::exchange(sent_, {});
  }

  // The one roots/list request the session sent since the last take; its id.
  json expect_roots_request() {
    auto sent = take_sent();
    EXPECT_EQ(sent.size(), 1u) << json(sent).dump();
    if (sent.size() != 1) return nullptr;
    EXPECT_EQ(sent[0].value("method", ""), "roots/list");
    EXPECT_TRUE(sent[0]["id"].is_string()) << sent[0].dump();
    return sent[0]["id"];
  }

  static void answer_roots(McpSession& s, const json& id, const std::vector<std::string>& uris) {
    json roots = json::array();
    for (const auto& u : uris) roots.push_back(json{{"uri", u}, {"name", "r"}});
    EXPECT_FALSE(s.handle(json{{"jsonrpc", "2.0"}, {"id", id}, {"result", {{"roots", roots}}}}.dump()));
  }

  // A session narrowed to `uris`.
  std::unique_ptr<McpSession> rooted(const std::vector<std::string>& uris) {
    auto s = make_session(true);
    const json id = expect_roots_request();
    answer_roots(*s, id, uris);
    EXPECT_TRUE(take_sent().empty());
    return s;
  }

  int next_id_ = 100;

  // tools/call answered at once (no roots/list outstanding): the CallToolResult.
  json call(McpSession& s, const std::string& tool, const json& args) {
    auto out = s.handle(json{{"jsonrpc", "2.0"}, {"id", next_id_++}, {"method", "tools/call"},
                             {"params", {{"name", tool}, {"arguments", args}}}}
                            .dump());
    EXPECT_TRUE(out.has_value()) << tool << " " << args.dump() << " was held";
    if (!out) return nullptr;
    const json r = json::parse(*out);
    EXPECT_TRUE(r.contains("result")) << r.dump();
    return r.value("result", json());
  }
  static std::string text(const json& result) {
    if (!result.is_object() || !result.contains("content") || result["content"].empty()) return "";
    return result["content"][0].value("text", "");
  }
  static bool is_error(const json& result) { return result.is_object() && result.value("isError", false); }

  // Reads `path` and expects the content (positive control) or an access denial.
  void expect_reads(McpSession& s, const std::string& path, const std::string& content) {
    const json r = call(s, "read_text_file", {{"path", path}});
    EXPECT_FALSE(is_error(r)) << path << ": " << r.dump();
    EXPECT_EQ(text(r), content) << path;
  }
  void expect_denied(McpSession& s, const std::string& tool, const json& args) {
    const json r = call(s, tool, args);
    EXPECT_TRUE(is_error(r)) << tool << " " << args.dump() << ": " << r.dump();
    EXPECT_NE(text(r).find("Access denied"), std::string::npos) << tool << " " << args.dump() << ": " << text(r);
    EXPECT_EQ(text(r).find("SECRET"), std::string::npos);
    EXPECT_EQ(text(r).find("SIBLING"), std::string::npos);
  }

  SandboxDirs dirs_{"roots"};
  std::string ws_, outside_;
  std::unique_ptr<ExecutorProcess> ex_;
  std::shared_ptr<Client> client_;
  std::mutex mu_;
  std::vector<json> sent_;
};

TEST_F(McpRootsTest, WithoutTheCapabilityNoRootsAreAskedAndTheWholeWorkspaceStays) {
  auto s = make_session(false);
  EXPECT_TRUE(take_sent().empty());
  EXPECT_FALSE(s->effective_roots());
  EXPECT_EQ(text(call(*s, "list_allowed_directories", json::object())), "Allowed directories:\n" + ws_);
  expect_reads(*s, ws_ + "/a/in.txt", "IN-A");
  expect_reads(*s, ws_ + "/b/sibling.txt", "SIBLING");
  expect_reads(*s, "top.txt", "TOP");
  // notifications/roots/list_changed from a client without the capability asks nothing.
  EXPECT_FALSE(s->handle(R"({"jsonrpc":"2.0","method":"notifications/roots/list_changed"})"));
  EXPECT_TRUE(take_sent().empty());
}

TEST_F(McpRootsTest, ARootInsideTheWorkspaceNarrowsEveryTool) {
  auto s = rooted({file_uri(ws_ + "/a")});
  ASSERT_TRUE(s->effective_roots());
  EXPECT_EQ(*s->effective_roots(), std::vector<std::string>{"a"});
  EXPECT_EQ(text(call(*s, "list_allowed_directories", json::object())), "Allowed directories:\n" + ws_ + "/a");
  // Positive controls: inside the root, absolute, relative (to the root) and through a link that
  // stays inside it.
  expect_reads(*s, ws_ + "/a/in.txt", "IN-A");
  expect_reads(*s, "in.txt", "IN-A");
  expect_reads(*s, ws_ + "/a/inner/deep.txt", "DEEP");
  expect_reads(*s, ws_ + "/a/sub/../in.txt", "IN-A");
  // In the workspace but in no root: denied like a path outside the workspace.
  expect_denied(*s, "read_text_file", {{"path", ws_ + "/b/sibling.txt"}});
  expect_denied(*s, "read_text_file", {{"path", ws_ + "/top.txt"}});
  expect_denied(*s, "list_directory", {{"path", ws_}});
  expect_denied(*s, "get_file_info", {{"path", ws_ + "/b"}});
  // Outside the workspace.
  expect_denied(*s, "read_text_file", {{"path", outside_ + "/secret.txt"}});
  // Writes outside the root create nothing.
  expect_denied(*s, "write_file", {{"path", ws_ + "/b/new.txt"}, {"content", "x"}});
  EXPECT_FALSE(shmcp::testing::path_exists(ws_ + "/b/new.txt"));
  const json w = call(*s, "write_file", {{"path", ws_ + "/a/new.txt"}, {"content", "x"}});
  EXPECT_FALSE(is_error(w)) << w.dump();
  EXPECT_TRUE(shmcp::testing::path_exists(ws_ + "/a/new.txt"));
}

TEST_F(McpRootsTest, EscapesFromARootToItsSiblingOrOutsideAreDenied) {
  auto s = rooted({file_uri(ws_ + "/a")});
  for (const std::string& p : {ws_ + "/a/../b/sibling.txt", std::string("../b/sibling.txt"),
                               ws_ + "/a/rel_b/sibling.txt", ws_ + "/a/abs_b/sibling.txt",
                               ws_ + "/a/out/secret.txt", ws_ + "/a/../../outside/secret.txt",
                               outside_ + "/secret.txt", std::string("rel_b/sibling.txt")}) {
    expect_denied(*s, "read_text_file", {{"path", p}});
  }
  // The same escapes by the other tools, including those that walk.
  expect_denied(*s, "list_directory", {{"path", ws_ + "/a/rel_b"}});
  expect_denied(*s, "directory_tree", {{"path", ws_ + "/a/.."}});
  expect_denied(*s, "search_files", {{"path", ws_ + "/a/abs_b"}, {"pattern", "*"}});
  expect_denied(*s, "move_file", {{"source", ws_ + "/a/in.txt"}, {"destination", ws_ + "/b/moved.txt"}});
  EXPECT_TRUE(shmcp::testing::path_exists(ws_ + "/a/in.txt"));
  EXPECT_FALSE(shmcp::testing::path_exists(ws_ + "/b/moved.txt"));
  // Walks from the root stay beneath it: they find a's file, never b's or outside's.
  const json found = call(*s, "search_files", {{"path", ws_ + "/a"}, {"pattern", "**/*.txt"}});
  EXPECT_FALSE(is_error(found)) << found.dump();
  EXPECT_NE(text(found).find("deep.txt"), std::string::npos) << text(found);
  EXPECT_EQ(text(found).find("sibling.txt"), std::string::npos) << text(found);
  EXPECT_EQ(text(found).find("secret.txt"), std::string::npos) << text(found);
  const json tree = call(*s, "directory_tree", {{"path", ws_ + "/a"}});
  EXPECT_FALSE(is_error(tree)) << tree.dump();
  EXPECT_NE(text(tree).find("in.txt"), std::string::npos);
  EXPECT_EQ(text(tree).find("sibling.txt"), std::string::npos);
}

TEST_F(McpRootsTest, RootsOutsideTheWorkspaceAreIgnored) {
  auto s = rooted({file_uri(outside_), file_uri(ws_ + "/a"), file_uri(ws_ + "/../outside"), "https://example.com/x",
                   file_uri(ws_ + "/missing"), file_uri(ws_ + "/top.txt")});
  ASSERT_TRUE(s->effective_roots());
  EXPECT_EQ(*s->effective_roots(), std::vector<std::string>{"a"});
  EXPECT_EQ(text(call(*s, "list_allowed_directories", json::object())), "Allowed directories:\n" + ws_ + "/a");
  expect_reads(*s, ws_ + "/a/in.txt", "IN-A");
  expect_denied(*s, "read_text_file", {{"path", outside_ + "/secret.txt"}});
}

TEST_F(McpRootsTest, AnIgnoredRootIsLoggedAsAWarning) {
  // The session logs through the "mcp" component logger of this process.
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto logger = shmcp::component_logger("mcp");
  logger->sinks().push_back(sink);
  auto s = rooted({file_uri(outside_), file_uri(ws_ + "/a")});
  logger->sinks().pop_back();
  std::string warnings;
  for (const auto& line : sink->last_formatted()) warnings += line;
  EXPECT_NE(warnings.find("ignoring root \"" + file_uri(outside_) + "\""), std::string::npos) << warnings;
  EXPECT_EQ(warnings.find("ignoring root \"" + file_uri(ws_ + "/a") + "\""), std::string::npos) << warnings;
}

TEST_F(McpRootsTest, ASymlinkedRootLeadingOutIsIgnoredOneLeadingInIsCanonical) {
  auto s = rooted({file_uri(ws_ + "/evil"), file_uri(ws_ + "/alias")});
  ASSERT_TRUE(s->effective_roots());
  EXPECT_EQ(*s->effective_roots(), std::vector<std::string>{"a"});  // alias -> a, evil dropped
  EXPECT_EQ(text(call(*s, "list_allowed_directories", json::object())), "Allowed directories:\n" + ws_ + "/a");
  expect_reads(*s, ws_ + "/a/in.txt", "IN-A");
  expect_denied(*s, "read_text_file", {{"path", ws_ + "/evil/secret.txt"}});
}

TEST_F(McpRootsTest, WhenNoRootIsValidTheSessionAllowsNothing) {
  auto s = rooted({file_uri(ws_ + "/evil"), file_uri(outside_)});
  ASSERT_TRUE(s->effective_roots());
  EXPECT_TRUE(s->effective_roots()->empty());
  EXPECT_EQ(text(call(*s, "list_allowed_directories", json::object())), "Allowed directories:");
  expect_denied(*s, "read_text_file", {{"path", ws_ + "/a/in.txt"}});
  expect_denied(*s, "read_text_file", {{"path", "top.txt"}});
  expect_denied(*s, "list_directory", {{"path", ws_}});
  // An empty roots list is the same: the client named no directory inside the workspace.
  auto e = rooted({});
  ASSERT_TRUE(e->effective_roots());
  expect_denied(*e, "read_text_file", {{"path", ws_ + "/a/in.txt"}});
}

TEST_F(McpRootsTest, SeveralRootsEachAllowTheirOwnPaths) {
  auto s = rooted({file_uri(ws_ + "/a"), file_uri(ws_ + "/b")});
  EXPECT_EQ(text(call(*s, "list_allowed_directories", json::object())),
            "Allowed directories:\n" + ws_ + "/a\n" + ws_ + "/b");
  expect_reads(*s, ws_ + "/a/in.txt", "IN-A");
  expect_reads(*s, ws_ + "/b/sibling.txt", "SIBLING");
  expect_denied(*s, "read_text_file", {{"path", ws_ + "/top.txt"}});
  // The tools with several paths resolve each beneath its own root.
  const json multi = call(*s, "read_multiple_files",
                          {{"paths", {ws_ + "/a/in.txt", ws_ + "/b/sibling.txt", ws_ + "/top.txt", outside_ + "/secret.txt"}}});
  EXPECT_NE(text(multi).find(ws_ + "/a/in.txt:\nIN-A"), std::string::npos) << text(multi);
  EXPECT_NE(text(multi).find(ws_ + "/b/sibling.txt:\nSIBLING"), std::string::npos) << text(multi);
  EXPECT_NE(text(multi).find(ws_ + "/top.txt: Error - Access denied"), std::string::npos) << text(multi);
  EXPECT_EQ(text(multi).find("SECRET"), std::string::npos) << text(multi);
  const json moved = call(*s, "move_file", {{"source", ws_ + "/a/in.txt"}, {"destination", ws_ + "/b/moved.txt"}});
  EXPECT_FALSE(is_error(moved)) << moved.dump();
  EXPECT_EQ(shmcp::testing::read_file(ws_ + "/b/moved.txt"), "IN-A");
  expect_denied(*s, "move_file", {{"source", ws_ + "/b/moved.txt"}, {"destination", ws_ + "/top2.txt"}});
  expect_denied(*s, "move_file", {{"source", ws_ + "/top.txt"}, {"destination", ws_ + "/a/top.txt"}});
  EXPECT_TRUE(shmcp::testing::path_exists(ws_ + "/b/moved.txt"));
  EXPECT_TRUE(shmcp::testing::path_exists(ws_ + "/top.txt"));
  // The workspace itself as a root allows all of it (positive control for ".").
  auto w = rooted({file_uri(ws_)});
  EXPECT_EQ(*w->effective_roots(), std::vector<std::string>{"."});
  expect_reads(*w, ws_ + "/top.txt", "TOP");
  expect_denied(*w, "read_text_file", {{"path", outside_ + "/secret.txt"}});
}

TEST_F(McpRootsTest, ListChangedMidSessionAsksAgainAndAppliesTheNewRoots) {
  auto s = rooted({file_uri(ws_ + "/a")});
  expect_reads(*s, ws_ + "/a/in.txt", "IN-A");
  expect_denied(*s, "read_text_file", {{"path", ws_ + "/b/sibling.txt"}});

  EXPECT_FALSE(s->handle(R"({"jsonrpc":"2.0","method":"notifications/roots/list_changed"})"));
  const json first = expect_roots_request();
  // Changed again before answering: only the newest request's answer counts.
  EXPECT_FALSE(s->handle(R"({"jsonrpc":"2.0","method":"notifications/roots/list_changed"})"));
  const json second = expect_roots_request();
  ASSERT_NE(first, second);
  // A call now is held until the answer is in, then answered on the new roots.
  EXPECT_FALSE(s->handle(json{{"jsonrpc", "2.0"}, {"id", 7}, {"method", "tools/call"},
                              {"params", {{"name", "read_text_file"}, {"arguments", {{"path", ws_ + "/b/sibling.txt"}}}}}}
                             .dump()));
  answer_roots(*s, first, {file_uri(ws_)});  // stale: ignored, the call stays held
  EXPECT_TRUE(take_sent().empty());
  EXPECT_EQ(*s->effective_roots(), std::vector<std::string>{"a"});
  answer_roots(*s, second, {file_uri(ws_ + "/b")});
  auto held = take_sent();
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0]["id"], 7);
  EXPECT_EQ(text(held[0]["result"]), "SIBLING") << held[0].dump();

  EXPECT_EQ(*s->effective_roots(), std::vector<std::string>{"b"});
  EXPECT_EQ(text(call(*s, "list_allowed_directories", json::object())), "Allowed directories:\n" + ws_ + "/b");
  expect_reads(*s, ws_ + "/b/sibling.txt", "SIBLING");
  expect_denied(*s, "read_text_file", {{"path", ws_ + "/a/in.txt"}});
}

TEST_F(McpRootsTest, CallsBeforeTheFirstAnswerAreHeldAndAnsweredOnTheRoots) {
  auto s = make_session(true);
  const json id = expect_roots_request();
  EXPECT_FALSE(s->handle(json{{"jsonrpc", "2.0"}, {"id", 5}, {"method", "tools/call"},
                              {"params", {{"name", "read_text_file"}, {"arguments", {{"path", ws_ + "/b/sibling.txt"}}}}}}
                             .dump()));
  EXPECT_FALSE(s->handle(json{{"jsonrpc", "2.0"}, {"id", 6}, {"method", "tools/call"},
                              {"params", {{"name", "read_text_file"}, {"arguments", {{"path", ws_ + "/a/in.txt"}}}}}}
                             .dump()));
  // Other requests are answered meanwhile.
  EXPECT_TRUE(s->handle(R"({"jsonrpc":"2.0","id":9,"method":"ping"})"));
  EXPECT_TRUE(s->next_wait_deadline());
  answer_roots(*s, id, {file_uri(ws_ + "/a")});
  auto held = take_sent();
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0]["id"], 5);  // in order
  EXPECT_TRUE(held[0]["result"].value("isError", false)) << held[0].dump();
  EXPECT_EQ(held[1]["id"], 6);
  EXPECT_EQ(text(held[1]["result"]), "IN-A");
  EXPECT_FALSE(s->next_wait_deadline());
}

TEST_F(McpRootsTest, AFailedOrMissingAnswerKeepsThePreviousRoots) {
  // An error answer: nothing was named, the session stays on the whole workspace.
  auto s = make_session(true);
  const json id = expect_roots_request();
  EXPECT_FALSE(s->handle(json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", -32601}, {"message", "no"}}}}.dump()));
  EXPECT_FALSE(s->effective_roots());
  expect_reads(*s, ws_ + "/b/sibling.txt", "SIBLING");

  // No answer at all: a held call runs on the previous roots once the wait is over.
  auto t = make_session(true, std::chrono::milliseconds(200));
  (void)expect_roots_request();
  EXPECT_FALSE(t->handle(json{{"jsonrpc", "2.0"}, {"id", 3}, {"method", "tools/call"},
                              {"params", {{"name", "read_text_file"}, {"arguments", {{"path", ws_ + "/top.txt"}}}}}}
                             .dump()));
  EXPECT_TRUE(eventually([&] {
    t->expire_wait();
    std::lock_guard lock(mu_);
    return !sent_.empty();
  }));
  auto held = take_sent();
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(text(held[0]["result"]), "TOP");
}

// A channel client sends Request.roots itself: the worker checks them again, so hostile roots
// (absolute, climbing, a symlink out, NUL) allow nothing rather than widen anything.
TEST_F(McpRootsTest, HostileRootsFromAChannelClientNeverWiden) {
  auto read = [&](const std::vector<std::string>& roots, const std::string& path) {
    shmcp::CallOptions o;
    o.roots = roots;
    auto r = client_->call("read_text_file", json{{"path", path}}, o);
    EXPECT_TRUE(r) << r.error().describe();
    return r ? std::make_pair(r->is_error, r->text()) : std::make_pair(true, std::string());
  };
  // Positive control: a valid root reads its file, and the same call without roots reads anything.
  EXPECT_EQ(read({"a"}, ws_ + "/a/in.txt"), std::make_pair(false, std::string("IN-A")));
  auto plain = client_->call("read_text_file", json{{"path", ws_ + "/b/sibling.txt"}});
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->text(), "SIBLING");
  for (const std::vector<std::string>& roots :
       {std::vector<std::string>{"/"}, {outside_}, {".."}, {"a/../.."}, {"../outside"}, {"evil"},
        {std::string("a\0b", 3)}, {""}, {}}) {
    for (const std::string& p : {outside_ + "/secret.txt", ws_ + "/b/sibling.txt", ws_ + "/evil/secret.txt"}) {
      const auto [err, text] = read(roots, p);
      EXPECT_TRUE(err) << json(roots).dump() << " " << p << ": " << text;
      EXPECT_EQ(text.find("SECRET"), std::string::npos);
      EXPECT_EQ(text.find("SIBLING"), std::string::npos);
    }
  }
  // Too many roots: refused as a malformed request.
  shmcp::CallOptions many;
  many.roots = std::vector<std::string>(300, "a");
  auto r = client_->call("read_text_file", json{{"path", ws_ + "/a/in.txt"}}, many);
  EXPECT_FALSE(r);
  // list_allowed_directories shows what survived the check.
  shmcp::CallOptions mixed;
  mixed.roots = std::vector<std::string>{"..", "a", "/etc"};
  auto l = client_->call("list_allowed_directories", json::object(), mixed);
  ASSERT_TRUE(l) << l.error().describe();
  EXPECT_EQ(l->text(), "Allowed directories:\n" + ws_ + "/a");
}

// The stdio loop (run_stdio_fd) itself: roots/list goes out on the same stream, the answer comes
// in on it, held calls are answered in order, and a held call whose answer never comes is answered
// once its wait is over although the client sends nothing more.
TEST_F(McpRootsTest, TheStdioLoopAsksOnItsStreamAndAnswersHeldCallsAfterTheWait) {
  int to_loop[2], from_loop[2];
  ASSERT_EQ(::pipe(to_loop), 0);
  ASSERT_EQ(::pipe(from_loop), 0);
  McpSession session(make_tool_text_caller(client_));
  McpRootsSupport support = make_roots_support(client_, ws_);
  support.answer_timeout = std::chrono::milliseconds(300);
  int rc = -1;
  std::thread loop([&] { rc = shmcp::executor::run_stdio_fd(session, to_loop[0], from_loop[1], 0, std::move(support)); });
  auto send = [&](const json& m) {
    const std::string line = m.dump() + "\n";
    ASSERT_EQ(::write(to_loop[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  };
  std::string buf;
  auto next = [&]() -> json {  // the next line from the loop (10 s at most)
    for (;;) {
      const auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        json j = json::parse(buf.substr(0, nl));
        buf.erase(0, nl + 1);
        return j;
      }
      pollfd p{from_loop[0], POLLIN, 0};
      if (::poll(&p, 1, 10'000) != 1) return nullptr;
      char chunk[4096];
      const ssize_t n = ::read(from_loop[0], chunk, sizeof chunk);
      if (n <= 0) return nullptr;
      buf.append(chunk, static_cast<std::size_t>(n));
    }
  };
  auto read_call = [&](int id, const std::string& path) {
    send(json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"},
              {"params", {{"name", "read_text_file"}, {"arguments", {{"path", path}}}}}});
  };
  send(json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
            {"params", {{"protocolVersion", "2025-11-25"}, {"capabilities", {{"roots", json::object()}}},
                        {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}});
  EXPECT_EQ(next()["id"], 1);
  send(json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  const json ask = next();
  ASSERT_EQ(ask.value("method", ""), "roots/list") << ask.dump();
  read_call(2, ws_ + "/b/sibling.txt");  // before the answer: held
  send(json{{"jsonrpc", "2.0"}, {"id", ask["id"]},
            {"result", {{"roots", json::array({json{{"uri", file_uri(ws_ + "/a")}}})}}}});
  json r = next();
  EXPECT_EQ(r["id"], 2);
  EXPECT_TRUE(r["result"].value("isError", false)) << r.dump();  // b is in no root
  read_call(3, ws_ + "/a/in.txt");
  r = next();
  EXPECT_EQ(r["id"], 3);
  EXPECT_EQ(text(r["result"]), "IN-A");

  // list_changed, never answered: the held call runs on the previous roots after the wait.
  send(json{{"jsonrpc", "2.0"}, {"method", "notifications/roots/list_changed"}});
  EXPECT_EQ(next().value("method", ""), "roots/list");
  read_call(4, ws_ + "/a/in.txt");
  r = next();
  EXPECT_EQ(r["id"], 4) << r.dump();
  EXPECT_EQ(text(r["result"]), "IN-A");

  ::close(to_loop[1]);
  loop.join();
  EXPECT_EQ(rc, 0);
  ::close(to_loop[0]);
  ::close(from_loop[0]);
  ::close(from_loop[1]);
}

TEST(McpRootsUri, ResolvesFileUrisBeneathTheWorkspaceOnly) {
  SandboxDirs dirs("roots-uri");
  ASSERT_TRUE(dirs.ok());
  char buf[PATH_MAX];
  ASSERT_NE(::realpath(dirs.ws().c_str(), buf), nullptr);
  const std::string ws = buf;
  ASSERT_EQ(::mkdir((ws + "/a b").c_str(), 0755), 0);
  auto r = resolve_root_uri(ws, "file://" + ws + "/a%20b");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, "a b");
  r = resolve_root_uri(ws, "FILE://localhost" + ws + "/a%20b/");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, "a b");
  r = resolve_root_uri(ws, "file://" + ws);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, ".");
  EXPECT_FALSE(resolve_root_uri(ws, "file://otherhost" + ws));
  EXPECT_FALSE(resolve_root_uri(ws, "file://" + ws + "/a%2"));
  EXPECT_FALSE(resolve_root_uri(ws, "file://" + ws + "/a%00b"));
  EXPECT_FALSE(resolve_root_uri(ws, "file://" + ws + "?x"));
  EXPECT_FALSE(resolve_root_uri(ws, ws));
  EXPECT_FALSE(resolve_root_uri(ws, "file://" + ws + "/.."));
  EXPECT_FALSE(resolve_root_uri(ws, "file://" + ws + "%2F..%2F"));
}

}  // namespace
