// No JSON input crashes or hangs the executor, against real processes: bodies and lines nested far
// deeper than any stack allows (once a SIGSEGV of the whole executor), bodies over --max-body-bytes,
// and deeply nested tool arguments written straight into the channel. Each case asserts the exact
// refusal, that the executor (and its workers) are still the same processes, and that a normal
// call succeeds afterwards (positive control).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "channel/channel.hpp"
#include "channel/messages.hpp"
#include "orchestrator/convert.hpp"
#include "tests/support/executor_process.hpp"
#include "tests/support/raw_http.hpp"

using nlohmann::json;
using namespace shmcp::testing;

namespace {

const std::string kJson = "Content-Type: application/json\r\n";
const std::string kMcpHeaders = kJson + "Accept: application/json, text/event-stream\r\n";

std::string nested(std::size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

// {"a":{"a":...}} nested `depth` times (unclosed: the parser stops at the limit anyway).
std::string objects(std::size_t depth) {
  std::string s;
  for (std::size_t i = 0; i < depth; ++i) s += "{\"a\":";
  return s;
}

bool running(pid_t pid) {
  int st = 0;
  return pid > 0 && ::waitpid(pid, &st, WNOHANG) == 0 && ::kill(pid, 0) == 0;
}

class HostileJson : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    ASSERT_FALSE(ws_.path().empty());
    ASSERT_TRUE(write_file(ws_ / "hello.txt", "hello\n"));
    ex_.emplace(ws_.path(), unique_channel(std::string("hostile-") + test_name()), std::move(extra));
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
    workers_ = ex_->wait_workers(1);
    ASSERT_EQ(workers_.size(), 1u);
  }
  // A normal call still works and nothing was restarted.
  void expect_still_serving() {
    EXPECT_TRUE(running(ex_->pid()));
    const RawReply r = raw_request(ex_->port(), "POST", "/execute", kJson,
                                   R"({"tool":"read_text_file","arguments":{"path":"hello.txt"}})");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("hello\\n"), std::string::npos) << r.body;
    EXPECT_EQ(ex_->worker_pids(), workers_);
  }

  TempDir ws_;
  std::optional<ExecutorProcess> ex_;
  std::vector<pid_t> workers_;
};

TEST_F(HostileJson, DeeplyNestedExecuteBodyIs400AndTheExecutorSurvives) {
  ASSERT_NO_FATAL_FAILURE(start());
  // ~200 KB of brackets: unclosed, closed, and inside otherwise valid arguments.
  for (const std::string& body :
       {std::string(200'000, '['), nested(100'000), objects(50'000),
        R"({"tool":"write_file","arguments":{"path":"deep.txt","content":)" + nested(100'000) + "}}",
        R"({"tool":"write_file","arguments":{"path":"deep.txt","content":"x","extra":)" + nested(129) + "}}"}) {
    const RawReply r = raw_request(ex_->port(), "POST", "/execute", kJson, body);
    EXPECT_EQ(r.status, 400) << body.substr(0, 80);
    EXPECT_NE(r.body.find("nested too deeply"), std::string::npos) << r.body;
    ASSERT_TRUE(running(ex_->pid())) << ex_->stderr_text();
  }
  EXPECT_FALSE(path_exists(ws_ / "deep.txt"));
  // Nesting up to the limit is still accepted.
  const RawReply ok = raw_request(ex_->port(), "POST", "/execute", kJson,
                                  R"({"tool":"write_file","arguments":{"path":"deep.txt","content":"x","extra":)" + nested(100) + "}}");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_TRUE(path_exists(ws_ / "deep.txt"));
  expect_still_serving();
}

TEST_F(HostileJson, DeeplyNestedMcpBodyIs400AndTheExecutorSurvives) {
  ASSERT_NO_FATAL_FAILURE(start());
  for (const std::string& body : {std::string(200'000, '['), objects(50'000)}) {
    const RawReply r = raw_request(ex_->port(), "POST", "/mcp", kMcpHeaders, body);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(json::parse(r.body, nullptr, false)["error"]["code"], -32600) << r.body;
  }
  expect_still_serving();
}

TEST_F(HostileJson, BodiesOverMaxBodyBytesAre413) {
  ASSERT_NO_FATAL_FAILURE(start({"--max-body-bytes", "4096"}));
  const std::string big = json{{"tool", "write_file"}, {"arguments", {{"path", "big.txt"}, {"content", std::string(5000, 'a')}}}}.dump();
  EXPECT_EQ(raw_request(ex_->port(), "POST", "/execute", kJson, big).status, 413);
  EXPECT_EQ(raw_request(ex_->port(), "POST", "/mcp", kMcpHeaders, big).status, 413);
  EXPECT_FALSE(path_exists(ws_ / "big.txt"));
  // Positive control: the same call under the limit.
  const std::string small = json{{"tool", "write_file"}, {"arguments", {{"path", "big.txt"}, {"content", std::string(3000, 'a')}}}}.dump();
  EXPECT_EQ(raw_request(ex_->port(), "POST", "/execute", kJson, small).status, 200);
  EXPECT_TRUE(path_exists(ws_ / "big.txt"));
  expect_still_serving();
}

// Tool arguments written into the channel by a client other than the frontends: the worker parses
// them, so they must be bounded there too.
TEST_F(HostileJson, DeeplyNestedToolArgumentsInTheChannelAreAnErrorResult) {
  ASSERT_NO_FATAL_FAILURE(start());
  namespace ch = shmcp::channel;
  auto seg = ch::Segment::attach(ex_->channel(), 5'000'000'000ull);
  ASSERT_TRUE(seg) << seg.error().describe();
  auto lane = ch::ClientLane::claim(*seg);
  ASSERT_TRUE(lane) << lane.error().describe();
  auto call = [&](const std::string& args) -> shmcp::Result<shmcp::ToolResult> {
    flatbuffers::FlatBufferBuilder fbb;
    const std::uint64_t id = lane->next_id();
    ch::build_json_request(fbb, id, 0, "write_file", args);
    auto r = lane->call(id, ch::bytes_of(fbb), ch::monotonic_ns() + 20'000'000'000ull, ch::WaitPolicy{});
    if (!r) return r.error();
    std::vector<std::byte> copy(r->begin(), r->end());
    auto resp = ch::verify_response(copy);
    if (!resp) return resp.error();
    return shmcp::response_to_result(**resp);
  };
  for (const std::string& args : {R"({"path":"deep.txt","content":"x","extra":)" + nested(500'000) + "}",
                                  R"({"path":"deep.txt","content":"x","extra":)" + objects(100'000)}) {
    auto r = call(args);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_TRUE(r->is_error);
    EXPECT_NE(r->text().find("nested too deeply"), std::string::npos) << r->text();
  }
  EXPECT_FALSE(path_exists(ws_ / "deep.txt"));
  EXPECT_EQ(ex_->worker_pids(), workers_);
  auto ok = call(R"({"path":"deep.txt","content":"x","extra":)" + nested(3) + "}");
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_FALSE(ok->is_error) << ok->text();
  EXPECT_TRUE(path_exists(ws_ / "deep.txt"));
  expect_still_serving();
}

// `shmcp-executor mcp` over real pipes: a deeply nested line and an endless line are answered
// with errors and the next line is served.
TEST(HostileJsonStdio, DeepAndOverlongLinesAreRefusedAndTheSessionGoesOn) {
  TempDir ws;
  ASSERT_TRUE(write_file(ws / "hello.txt", "hello\n"));
  int in[2], out[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    const std::string exe = executor_binary();
    ::execl(exe.c_str(), exe.c_str(), "mcp", ws.path().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  // The writer runs on its own thread: the executor answers while we are still sending.
  std::string input =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})"
      "\n" + std::string(300'000, '[') + "\n" + objects(50'000) + "\n" +
      std::string(65 << 20, ' ') + "[1]\n" +  // longer than any message may be
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":"hello.txt"}}})" "\n";
  std::thread writer([&] {
    std::string_view rest(input);
    while (!rest.empty()) {
      const ssize_t n = ::write(in[1], rest.data(), rest.size());
      if (n <= 0) break;
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    ::close(in[1]);
  });
  std::string got;
  char buf[65536];
  for (;;) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 60'000) <= 0) break;
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  writer.join();
  ::close(out[0]);
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  std::vector<json> replies;
  std::istringstream lines(got);
  for (std::string line; std::getline(lines, line);) replies.push_back(json::parse(line, nullptr, false));
  ASSERT_EQ(replies.size(), 5u) << got.substr(0, 2000);
  EXPECT_EQ(replies[0]["id"], 1);
  for (int i : {1, 2, 3}) {
    EXPECT_EQ(replies[i]["error"]["code"], -32600) << replies[i];
  }
  EXPECT_NE(replies[1]["error"]["message"].get<std::string>().find("nested too deeply"), std::string::npos);
  EXPECT_NE(replies[3]["error"]["message"].get<std::string>().find("too large"), std::string::npos);
  EXPECT_EQ(replies[4]["id"], 2);
  EXPECT_EQ(replies[4]["result"]["content"][0]["text"], "hello\n") << replies[4];
}

}  // namespace
