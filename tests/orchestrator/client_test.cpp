// shmcp::Client against a real `shmcp-executor serve`: shm:// and http:// give identical results,
// typed calls, Errc values (not_found, peer_dead, timeout, tool_error), 8 threads x 200 calls on
// one Client, reconnect after an executor restart, per-call deadlines.
//
// Stalled workers are made with SIGSTOP: a stopped worker takes no request, so a call waits for
// exactly as long as its deadline allows, independent of machine speed.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "channel/channel.hpp"
#include "orchestrator/client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/executor_process.hpp"

using nlohmann::json;
using namespace shmcp;
using namespace shmcp::testing;
using std::chrono::milliseconds;

namespace {

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(ws_.path().empty());
    ASSERT_TRUE(write_file(ws_ / "hello.txt", "hello\n"));
    ASSERT_EQ(::mkdir((ws_ / "dir").c_str(), 0755), 0);
    ASSERT_TRUE(write_file(ws_ / "dir/a.txt", "a\n"));
    ASSERT_TRUE(write_file(ws_ / "dir/b.md", "b\n"));
    ASSERT_TRUE(write_file(ws_ / "pic.png", std::string("\x89PNG\r\n\x1a\n", 8)));
    channel_ = unique_channel("cli-" + test_name());
  }
  void TearDown() override {
    for (pid_t p : stopped_) ::kill(p, SIGCONT);
  }
  void start(std::vector<std::string> extra = {}) {
    ex_.emplace(ws_.path(), channel_, std::move(extra));
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
  }
  std::unique_ptr<Client> connect(const std::string& url, ClientOptions o = {}) {
    auto c = Client::connect(url, o);
    EXPECT_TRUE(c) << url << ": " << c.error().describe();
    return c ? std::move(*c) : nullptr;
  }
  // SIGSTOPs every worker (TearDown resumes them).
  void stall_workers() {
    for (pid_t p : ex_->worker_pids()) {
      ASSERT_EQ(::kill(p, SIGSTOP), 0);
      stopped_.push_back(p);
    }
    ASSERT_FALSE(stopped_.empty());
  }
  void resume_workers() {
    for (pid_t p : stopped_) ::kill(p, SIGCONT);
    stopped_.clear();
  }

  TempDir ws_;
  std::string channel_;
  std::optional<ExecutorProcess> ex_;
  std::vector<pid_t> stopped_;
};

TEST_F(ClientTest, ShmAndHttpGiveIdenticalCallToolResults) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto shm = connect(ex_->shm_url());
  auto http = connect(ex_->http_url());
  ASSERT_TRUE(shm && http);
  EXPECT_EQ(shm->url(), ex_->shm_url());
  EXPECT_EQ(http->url(), ex_->http_url());
  const std::vector<std::pair<std::string, json>> calls = {
      {"read_text_file", {{"path", "hello.txt"}}},
      {"read_text_file", {{"path", "hello.txt"}, {"head", 1}}},
      {"read_file", {{"path", "hello.txt"}}},
      {"read_text_file", {{"path", "missing.txt"}}},             // isError
      {"read_text_file", {{"path", "/etc/passwd"}}},             // outside: isError
      {"read_text_file", {{"path", 42}}},                        // invalid arguments: isError
      {"read_media_file", {{"path", "pic.png"}}},
      {"read_multiple_files", {{"paths", {"hello.txt", "dir/a.txt", "nope"}}}},
      {"write_file", {{"path", "w.txt"}, {"content", "same\n"}}},
      {"edit_file", {{"path", "dir/a.txt"}, {"edits", {{{"oldText", "a"}, {"newText", "A"}}}}, {"dryRun", true}}},
      {"create_directory", {{"path", "dir/sub"}}},
      {"list_directory", {{"path", "dir"}}},
      {"list_directory_with_sizes", {{"path", "dir"}, {"sortBy", "size"}}},
      {"directory_tree", {{"path", "dir"}}},
      {"search_files", {{"path", "."}, {"pattern", "**/*.md"}}},
      {"move_file", {{"source", "nope.txt"}, {"destination", "nope2.txt"}}},  // isError
      {"list_allowed_directories", json::object()},
  };
  int errors = 0;
  for (const auto& [tool, args] : calls) {
    auto a = shm->call(tool, args);
    auto b = http->call(tool, args);
    ASSERT_TRUE(a) << tool << ": " << a.error().describe();
    ASSERT_TRUE(b) << tool << ": " << b.error().describe();
    EXPECT_EQ(a->json, b->json) << tool << " " << args.dump();
    EXPECT_EQ(a->is_error, b->is_error) << tool;
    EXPECT_EQ(a->is_error, a->json.value("isError", false)) << tool;
    errors += a->is_error;
  }
  EXPECT_EQ(errors, 4);
  // The exact shape of a success and of a failure.
  auto ok = shm->call("read_text_file", {{"path", "hello.txt"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->json, json::parse(R"({"content":[{"type":"text","text":"hello\n"}],"structuredContent":{"content":"hello\n"}})"));
  EXPECT_EQ(ok->text(), "hello\n");
  // Unknown tools are invalid_argument on both transports.
  auto u1 = shm->call("no_such_tool", json::object());
  auto u2 = http->call("no_such_tool", json::object());
  ASSERT_FALSE(u1);
  ASSERT_FALSE(u2);
  EXPECT_EQ(u1.error().code, Errc::invalid_argument);
  EXPECT_EQ(u2.error().code, Errc::invalid_argument);
  // Non-object arguments are refused before anything is sent.
  auto bad = shm->call("read_text_file", json::array({"hello.txt"}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  // ping / health / tools on both.
  EXPECT_TRUE(shm->ping());
  EXPECT_TRUE(http->ping());
  auto h1 = shm->health();
  auto h2 = http->health();
  ASSERT_TRUE(h1 && h2);
  EXPECT_EQ((*h1)["channel"]["name"], channel_);
  EXPECT_EQ((*h2)["channel"]["name"], channel_);
  auto t1 = shm->tools();
  auto t2 = http->tools();
  ASSERT_TRUE(t1 && t2);
  EXPECT_EQ((*t1)["tools"].size(), 14u);
  EXPECT_EQ(*t1, *t2);
}

TEST_F(ClientTest, TypedCallsReadAndWriteAndReportToolErrors) {
  ASSERT_NO_FATAL_FAILURE(start());
  for (const std::string& url : {ex_->shm_url(), ex_->http_url()}) {
    SCOPED_TRACE(url);
    auto c = connect(url);
    ASSERT_TRUE(c);
    const std::string file = url.starts_with("shm") ? "typed-shm.txt" : "typed-http.txt";
    const std::string content = "typed\xC3\xA9 content\n" + std::string(100'000, 'z');
    ASSERT_TRUE(c->write_file(file, content));
    EXPECT_EQ(read_file(ws_ / file), content);
    auto r = c->read_text_file(file);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(*r, content);

    auto missing = c->read_text_file("missing.txt");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, Errc::tool_error);
    EXPECT_NE(missing.error().message.find("missing.txt"), std::string::npos) << missing.error().message;
    auto outside = c->write_file("../escape.txt", "x");
    ASSERT_FALSE(outside);
    EXPECT_EQ(outside.error().code, Errc::tool_error);
    EXPECT_FALSE(path_exists(ws_.path() + "/../escape.txt"));
    auto dir = c->read_text_file("dir");
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error().code, Errc::tool_error);
  }
}

TEST_F(ClientTest, ConnectingToAMissingChannelIsNotFound) {
  auto c = Client::connect("shm://" + channel_);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::not_found);
  auto bad = Client::connect("shm://no/slashes");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  auto scheme = Client::connect("ftp://x");
  ASSERT_FALSE(scheme);
  EXPECT_EQ(scheme.error().code, Errc::invalid_argument);
  auto port = Client::connect("http://127.0.0.1:99999");
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().code, Errc::invalid_argument);
}

TEST(ShmUrl, NamesAChannelInDevShmOrInAnAbsoluteDirectory) {
  auto plain = parse_shm_url("shm://agent1");
  ASSERT_TRUE(plain) << plain.error().describe();
  EXPECT_EQ(plain->dir, "/dev/shm");
  EXPECT_EQ(plain->name, "agent1");

  auto dir = parse_shm_url("shm:///run/shmcp/agent1");
  ASSERT_TRUE(dir) << dir.error().describe();
  EXPECT_EQ(dir->dir, "/run/shmcp");
  EXPECT_EQ(dir->name, "agent1");

  auto root = parse_shm_url("shm:///agent1");
  ASSERT_TRUE(root) << root.error().describe();
  EXPECT_EQ(root->dir, "/");
  EXPECT_EQ(root->name, "agent1");

  auto same = parse_shm_url("shm:///dev/shm/agent1");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->dir, "/dev/shm");

  // Formatting is the inverse, and the default directory keeps the short form.
  EXPECT_EQ(shm_url("agent1"), "shm://agent1");
  EXPECT_EQ(shm_url("agent1", "/dev/shm"), "shm://agent1");
  EXPECT_EQ(shm_url("agent1", "/run/shmcp"), "shm:///run/shmcp/agent1");
  EXPECT_EQ(shm_url("agent1", "/run/shmcp/"), "shm:///run/shmcp/agent1");
  for (const char* u : {"shm://agent1", "shm:///run/shmcp/agent1"}) {
    auto a = parse_shm_url(u);
    ASSERT_TRUE(a);
    EXPECT_EQ(shm_url(a->name, a->dir), u);
  }

  // Refused: no channel after the directory, an invalid channel name, a query (the directory is
  // a path, not a parameter), another scheme.
  for (const char* bad : {"shm:///run/shmcp/", "shm://", "shm:///", "shm://a/b", "shm:///run/shmcp/.hidden",
                          "shm://agent1?dir=/run/shmcp", "shm:///run/shmcp/agent1#x", "http://agent1"}) {
    auto r = parse_shm_url(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
    if (std::string_view(bad).starts_with("shm://")) {
      auto c = Client::connect(bad);
      ASSERT_FALSE(c) << bad;
      EXPECT_EQ(c.error().code, Errc::invalid_argument) << bad;
    }
  }
  auto query = parse_shm_url("shm://agent1?dir=/run/shmcp");
  ASSERT_FALSE(query);
  EXPECT_NE(query.error().message.find("shm:///DIR/NAME"), std::string::npos) << query.error().message;
}

TEST_F(ClientTest, ConnectingToAMissingDirectoryChannelNamesThePath) {
  TempDir shm;
  auto c = Client::connect("shm://" + shm.path() + "/" + channel_);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::not_found);
  EXPECT_NE(c.error().message.find(shm.path() + "/shmcp." + channel_), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("mount " + shm.path()), std::string::npos) << c.error().message;
}

// The executor's --shm-dir and the client's shm:///DIR/NAME: the segment lives in DIR only, and
// calls, liveness (a killed executor is peer_dead) and reconnecting after a restart work there.
TEST_F(ClientTest, ExecutorWithShmDirIsReachedThroughTheDirectoryUrl) {
  TempDir shm;
  ASSERT_NO_FATAL_FAILURE(start({"--shm-dir", shm.path()}));
  const std::string url = "shm://" + shm.path() + "/" + channel_;
  ASSERT_EQ(ex_->shm_url(), url);
  EXPECT_TRUE(path_exists(shm.path() + "/shmcp." + channel_));
  EXPECT_FALSE(path_exists(segment_file(channel_))) << "nothing in /dev/shm";
  auto wrong = Client::connect("shm://" + channel_);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::not_found);

  auto c = connect(url);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->url(), url);
  auto r = c->read_text_file("hello.txt");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, "hello\n");
  auto h = c->health();
  ASSERT_TRUE(h) << h.error().describe();
  EXPECT_EQ((*h)["channel"]["path"], shm.path() + "/shmcp." + channel_) << h->dump();
  // The HTTP frontend reaches the workers through the same directory.
  auto http = connect(ex_->http_url());
  ASSERT_TRUE(http);
  auto hr = http->call("read_text_file", {{"path", "hello.txt"}});
  ASSERT_TRUE(hr) << hr.error().describe();
  EXPECT_FALSE(hr->is_error) << hr->json.dump();

  ex_->kill9();
  auto dead = c->ping();
  ASSERT_FALSE(dead);
  EXPECT_EQ(dead.error().code, Errc::peer_dead) << dead.error().describe();
  ex_.reset();
  ASSERT_NO_FATAL_FAILURE(start({"--shm-dir", shm.path()}));
  auto again = c->read_text_file("hello.txt");
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(*again, "hello\n");
}

TEST_F(ClientTest, ConnectWaitsForAnExecutorThatIsStarting) {
  // The executor is started from this (main) thread: its PR_SET_PDEATHSIG follows the forking thread.
  Result<std::unique_ptr<Client>> c = make_error(Errc::internal, "not run");
  std::thread connector([&] {
    ClientOptions o;
    o.connect_wait = milliseconds(20'000);
    c = Client::connect("shm://" + channel_, o);
  });
  sleep_ms(300);  // stimulus: the executor starts late (connect waits however long this is)
  start();
  connector.join();  // before any early return: a joinable std::thread would terminate the test
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(c) << c.error().describe();
  auto r = (*c)->read_text_file("hello.txt");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, "hello\n");
}

TEST_F(ClientTest, KilledExecutorIsPeerDeadWithin250ms) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto c = connect(ex_->shm_url());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->ping());
  stall_workers();  // the next call is certainly in flight when the executor dies
  Result<ToolResult> r = make_error(Errc::internal, "not run");
  std::chrono::steady_clock::time_point done;
  std::thread caller([&] {
    r = c->call("read_text_file", {{"path", "hello.txt"}});  // default deadline: 30 s
    done = std::chrono::steady_clock::now();
  });
  // Handshake: the call is in flight once its request waits in a lane's request ring (the
  // stopped workers cannot take it).
  bool in_flight = false;
  if (auto seg = channel::Segment::attach(channel_, 2'000'000'000ull); seg) {
    in_flight = eventually([&] {
      for (std::uint32_t i = 0; i < (*seg)->lane_count(); ++i)
        if ((*seg)->request_ring(i).readable()) return true;
      return false;
    });
  }
  const auto killed = std::chrono::steady_clock::now();
  ex_->kill9();
  stopped_.clear();  // the workers died with their supervisor
  caller.join();
  EXPECT_TRUE(in_flight) << "the call never reached the channel";
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::peer_dead) << r.error().describe();
  EXPECT_LT(done - killed, milliseconds(250));
  // Calls made after the death fail the same way, promptly.
  const auto t0 = std::chrono::steady_clock::now();
  auto again = c->ping();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::peer_dead) << again.error().describe();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(250));
}

TEST_F(ClientTest, PerCallDeadlineIsATimeoutOnBothTransports) {
  ASSERT_NO_FATAL_FAILURE(start());
  ClientOptions short_default;
  short_default.timeout = milliseconds(300);
  auto shm = connect(ex_->shm_url());
  auto http = connect(ex_->http_url());
  auto shm_short = connect(ex_->shm_url(), short_default);
  auto http_short = connect(ex_->http_url(), short_default);
  ASSERT_TRUE(shm && http && shm_short && http_short);
  ASSERT_TRUE(shm->ping());
  stall_workers();
  for (Client* c : {shm.get(), http.get()}) {
    SCOPED_TRACE(c->url());
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c->call("read_text_file", {{"path", "hello.txt"}}, CallOptions{milliseconds(200)});
    const auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::timeout) << r.error().describe();
    EXPECT_GE(took, milliseconds(200));
    EXPECT_LT(took, milliseconds(5'000));
    auto typed = c->read_text_file("hello.txt", CallOptions{milliseconds(200)});
    ASSERT_FALSE(typed);
    EXPECT_EQ(typed.error().code, Errc::timeout) << typed.error().describe();
    auto p = c->ping(CallOptions{milliseconds(200)});
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, Errc::timeout) << p.error().describe();
  }
  // ClientOptions::timeout is the default deadline.
  for (Client* c : {shm_short.get(), http_short.get()}) {
    SCOPED_TRACE(c->url());
    auto r = c->call("read_text_file", {{"path", "hello.txt"}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::timeout) << r.error().describe();
  }
  resume_workers();
  // After the stall every client works again, and stale responses are not mistaken for new ones.
  for (Client* c : {shm.get(), http.get(), shm_short.get(), http_short.get()}) {
    SCOPED_TRACE(c->url());
    ASSERT_TRUE(write_file(ws_ / "hello.txt", "hello again\n"));
    auto r = c->read_text_file("hello.txt", CallOptions{milliseconds(20'000)});
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(*r, "hello again\n");
    auto l = c->call("list_directory", {{"path", "dir"}}, CallOptions{milliseconds(20'000)});
    ASSERT_TRUE(l) << l.error().describe();
    EXPECT_EQ(l->text(), "[FILE] a.txt\n[FILE] b.md");
  }
}

TEST_F(ClientTest, EightThreadsShareOneClientAndEveryResponseMatches) {
  ASSERT_NO_FATAL_FAILURE(start({"--workers", "2"}));
  auto c = connect(ex_->shm_url());
  ASSERT_TRUE(c);
  constexpr int kThreads = 8, kCalls = 200;
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::string> first_error(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string path = "t" + std::to_string(t) + ".txt";
      for (int i = 0; i < kCalls; i += 2) {
        const std::string content = "thread " + std::to_string(t) + " call " + std::to_string(i) + "\n";
        auto w = c->call("write_file", {{"path", path}, {"content", content}});
        if (!w || w->is_error) {
          if (failures++ == 0 || first_error[t].empty()) first_error[t] = w ? w->text() : w.error().describe();
          continue;
        }
        if (w->text() != "Successfully wrote to " + path) ++mismatches;
        auto r = c->call("read_text_file", {{"path", path}});
        if (!r || r->is_error) {
          if (first_error[t].empty()) first_error[t] = r ? r->text() : r.error().describe();
          ++failures;
          continue;
        }
        if (r->text() != content) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0) << ::testing::PrintToString(first_error);
  EXPECT_EQ(mismatches.load(), 0);
  for (int t = 0; t < kThreads; ++t)
    // Built with append: GCC 12 -O3 reports a false -Wrestrict for "literal" + std::string&&.
    EXPECT_EQ(read_file(ws_ / std::string("t").append(std::to_string(t)).append(".txt")),
              std::string("thread ").append(std::to_string(t)).append(" call ").append(std::to_string(kCalls - 2)).append("\n"));
}

TEST_F(ClientTest, EightThreadsShareOneHttpClient) {
  ASSERT_NO_FATAL_FAILURE(start({"--workers", "2"}));
  auto c = connect(ex_->http_url());
  ASSERT_TRUE(c);
  constexpr int kThreads = 8, kCalls = 50;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string path = "h" + std::to_string(t) + ".txt";
      for (int i = 0; i < kCalls; ++i) {
        const std::string content = std::to_string(t) + ":" + std::to_string(i);
        if (!c->write_file(path, content)) ++bad;
        auto r = c->read_text_file(path);
        if (!r || *r != content) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(ClientTest, ReconnectsAfterTheExecutorRestartsOnTheSameChannel) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto c = connect(ex_->shm_url());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->read_text_file("hello.txt"));

  // Crash: the first call fails with a transport error, not a hang or a garbage result.
  ex_->kill9();
  auto after_kill = c->read_text_file("hello.txt");
  ASSERT_FALSE(after_kill);
  EXPECT_EQ(after_kill.error().code, Errc::peer_dead) << after_kill.error().describe();
  ex_.reset();  // removes the stale segment too

  ASSERT_NO_FATAL_FAILURE(start());
  auto r = c->read_text_file("hello.txt");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, "hello\n");
  auto j = c->call("list_directory", {{"path", "dir"}});
  ASSERT_TRUE(j) << j.error().describe();
  EXPECT_FALSE(j->is_error);

  // Graceful restart: calls fail with a transport error while it is down, then work again.
  EXPECT_EQ(ex_->stop(), 0);
  auto down = c->ping();
  ASSERT_FALSE(down);
  EXPECT_TRUE(down.error().code == Errc::not_found || down.error().code == Errc::closed ||
              down.error().code == Errc::peer_dead)
      << down.error().describe();
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_TRUE(c->ping());
  auto again = c->read_text_file("hello.txt");
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(*again, "hello\n");
}

TEST_F(ClientTest, HttpTransportFailuresAreNotToolErrors) {
  // Nothing listens on this port (we bind it, then close it).
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(fd);
  auto c = connect("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
  ASSERT_TRUE(c);
  auto r = c->call("read_text_file", {{"path", "hello.txt"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::peer_dead) << r.error().describe();
  auto typed = c->read_text_file("hello.txt");
  ASSERT_FALSE(typed);
  EXPECT_NE(typed.error().code, Errc::tool_error);
}

TEST_F(ClientTest, HttpClientSendsTheBearerToken) {
  TempDir tok;
  ASSERT_TRUE(write_file(tok / "t", "tok123\n"));
  ASSERT_NO_FATAL_FAILURE(start({"--token-file", tok / "t"}));
  auto anon = connect(ex_->http_url());
  ASSERT_TRUE(anon);
  auto denied = anon->call("read_text_file", {{"path", "hello.txt"}});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Errc::access_denied);
  ClientOptions o;
  o.token = "tok123";
  auto authed = connect(ex_->http_url(), o);
  ASSERT_TRUE(authed);
  auto r = authed->read_text_file("hello.txt");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, "hello\n");
}

}  // namespace
