// McpSession: JSON-RPC framing, MCP lifecycle, version negotiation, error codes, with a fake
// ToolCaller (the tools themselves are tested elsewhere).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "executor/mcp.hpp"
#include "executor/tools/tools.hpp"

using nlohmann::json;
using shmcp::executor::McpSession;
using shmcp::executor::ToolCaller;

namespace {

struct FakeCalls {
  std::mutex mu;
  std::vector<std::pair<std::string, json>> calls;
};

// Echoes the call back as the result text; tool "move_file" simulates a transport failure.
ToolCaller fake_caller(FakeCalls& log) {
  return [&log](std::string_view tool, const json& args) -> shmcp::Result<json> {
    {
      std::lock_guard lock(log.mu);
      log.calls.emplace_back(std::string(tool), args);
    }
    if (tool == "move_file") return shmcp::make_error(shmcp::Errc::timeout, "call exceeded its deadline");
    const std::string text = std::string(tool) + " " + args.dump();
    return json{{"content", json::array({json{{"type", "text"}, {"text", text}}})},
                {"structuredContent", json{{"content", text}}}};
  };
}

json parse(const std::optional<std::string>& line) {
  EXPECT_TRUE(line.has_value());
  if (!line) return nullptr;
  EXPECT_EQ(line->find('\n'), std::string::npos) << "a response must be a single line";
  return json::parse(*line);
}

std::string init_line(std::string_view version, int id = 1) {
  return json{{"jsonrpc", "2.0"},
              {"id", id},
              {"method", "initialize"},
              {"params",
               {{"protocolVersion", version},
                {"capabilities", json::object()},
                {"clientInfo", {{"name", "test"}, {"version", "1"}}}}}}
      .dump();
}

std::string request(int id, std::string_view method, json params = nullptr) {
  json r{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) r["params"] = std::move(params);
  return r.dump();
}

int error_code(const json& r) { return r.at("error").at("code").get<int>(); }

class Session : public ::testing::Test {
 protected:
  FakeCalls log;
  McpSession s{fake_caller(log), "shmcp-test", "9.9.9"};

  void init(std::string_view version = "2025-11-25") {
    json r = parse(s.handle(init_line(version)));
    ASSERT_TRUE(r.contains("result")) << r.dump();
    EXPECT_FALSE(s.handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").has_value());
  }
};

}  // namespace

TEST_F(Session, InitializeAnswersLatestRevisionCapabilitiesAndServerInfo) {
  json r = parse(s.handle(init_line("2025-11-25", 7)));
  EXPECT_EQ(r["jsonrpc"], "2.0");
  EXPECT_EQ(r["id"], 7);
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-11-25");
  EXPECT_EQ(r["result"]["capabilities"], json::parse(R"({"tools":{"listChanged":true}})"));
  EXPECT_EQ(r["result"]["serverInfo"], json::parse(R"({"name":"shmcp-test","version":"9.9.9"})"));
  EXPECT_TRUE(s.initialized());
  EXPECT_EQ(s.protocol_version(), "2025-11-25");
}

TEST(SessionVersions, EchoesSupportedOlderRevisions) {
  for (const char* v : {"2025-06-18", "2025-03-26", "2024-11-05"}) {
    FakeCalls log;
    McpSession s(fake_caller(log), "x", "1");
    json r = parse(s.handle(init_line(v)));
    EXPECT_EQ(r["result"]["protocolVersion"], v);
    EXPECT_EQ(s.protocol_version(), v);
  }
}

TEST(SessionVersions, UnknownRevisionGetsLatest) {
  for (const char* v : {"1999-01-01", "2026-01-01", ""}) {
    FakeCalls log;
    McpSession s(fake_caller(log), "x", "1");
    json r = parse(s.handle(init_line(v)));
    EXPECT_EQ(r["result"]["protocolVersion"], "2025-11-25") << v;
  }
}

TEST(SessionVersions, NegotiationHelpers) {
  namespace mcp = shmcp::executor::mcp;
  EXPECT_TRUE(mcp::protocol_version_supported("2025-11-25"));
  EXPECT_TRUE(mcp::protocol_version_supported("2024-11-05"));
  EXPECT_FALSE(mcp::protocol_version_supported("2024-10-07"));
  EXPECT_EQ(mcp::negotiate_protocol_version("2025-03-26"), "2025-03-26");
  EXPECT_EQ(mcp::negotiate_protocol_version("nope"), "2025-11-25");
}

TEST_F(Session, InitializeWithoutProtocolVersionIsInvalidParams) {
  json r = parse(s.handle(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})"));
  EXPECT_EQ(error_code(r), -32602);
  EXPECT_EQ(r["id"], 1);
  EXPECT_FALSE(s.initialized());
  r = parse(s.handle(R"({"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":5}})"));
  EXPECT_EQ(error_code(r), -32602);
  r = parse(s.handle(R"({"jsonrpc":"2.0","id":3,"method":"initialize"})"));
  EXPECT_EQ(error_code(r), -32602);
  EXPECT_FALSE(s.initialized());
}

TEST_F(Session, SecondInitializeIsRejectedAndKeepsTheRevision) {
  init("2025-06-18");
  json r = parse(s.handle(init_line("2025-11-25", 2)));
  EXPECT_EQ(error_code(r), -32600);
  EXPECT_EQ(r["id"], 2);
  EXPECT_EQ(s.protocol_version(), "2025-06-18");
}

TEST_F(Session, PingWorksBeforeAndAfterInitialize) {
  json r = parse(s.handle(request(1, "ping")));
  EXPECT_EQ(r["result"], json::object());
  init();
  r = parse(s.handle(R"({"jsonrpc":"2.0","id":"abc","method":"ping","params":{}})"));
  EXPECT_EQ(r["id"], "abc");
  EXPECT_EQ(r["result"], json::object());
}

TEST_F(Session, RequestsOtherThanPingNeedInitialize) {
  json r = parse(s.handle(request(1, "tools/list")));
  EXPECT_EQ(error_code(r), -32600);
  EXPECT_EQ(r["id"], 1);
  r = parse(s.handle(request(2, "tools/call", {{"name", "read_text_file"}, {"arguments", {{"path", "a"}}}})));
  EXPECT_EQ(error_code(r), -32600);
  EXPECT_TRUE(log.calls.empty()) << "no tool may run before initialize";
}

TEST_F(Session, ToolsListHasTheFourteenToolsWithReferenceInputSchemas) {
  init();
  json r = parse(s.handle(request(3, "tools/list")));
  ASSERT_TRUE(r.contains("result")) << r.dump();
  const json& tools = r["result"]["tools"];
  ASSERT_TRUE(tools.is_array());
  EXPECT_EQ(tools.size(), 14u);

  std::ifstream f(std::string(SHMCP_SOURCE_DIR) + "/tests/interop/reference/tools-list.json");
  ASSERT_TRUE(f) << "reference tools-list.json missing";
  const json ref = json::parse(f);
  ASSERT_EQ(ref["tools"].size(), 14u);
  for (const json& want : ref["tools"]) {
    const std::string name = want["name"];
    auto it = std::find_if(tools.begin(), tools.end(), [&](const json& t) { return t["name"] == name; });
    ASSERT_NE(it, tools.end()) << name;
    EXPECT_EQ((*it)["inputSchema"], want["inputSchema"]) << name;
    EXPECT_EQ((*it)["annotations"], want["annotations"]) << name;
    EXPECT_EQ((*it)["outputSchema"], want["outputSchema"]) << name;
    EXPECT_EQ((*it)["execution"], want["execution"]) << name;
    ASSERT_TRUE(it->contains("description")) << name;
    EXPECT_FALSE((*it)["description"].get<std::string>().empty()) << name;
  }
}

TEST_F(Session, ToolsCallPassesNameAndArgumentsAndReturnsTheResult) {
  init();
  json r = parse(s.handle(request(
      4, "tools/call", {{"name", "read_text_file"}, {"arguments", {{"path", "a.txt"}, {"head", 2}}}})));
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_EQ(r["id"], 4);
  ASSERT_EQ(log.calls.size(), 1u);
  EXPECT_EQ(log.calls[0].first, "read_text_file");
  EXPECT_EQ(log.calls[0].second, json::parse(R"({"path":"a.txt","head":2})"));
  EXPECT_EQ(r["result"]["content"][0]["text"], R"(read_text_file {"head":2,"path":"a.txt"})");
  EXPECT_FALSE(r["result"].contains("isError"));
}

TEST_F(Session, ToolsCallWithoutArgumentsPassesAnEmptyObject) {
  init();
  json r = parse(s.handle(request(5, "tools/call", {{"name", "list_allowed_directories"}})));
  ASSERT_TRUE(r.contains("result")) << r.dump();
  ASSERT_EQ(log.calls.size(), 1u);
  EXPECT_EQ(log.calls[0].second, json::object());
}

TEST_F(Session, UnknownToolIsInvalidParams) {
  init();
  json r = parse(s.handle(request(6, "tools/call", {{"name", "rm_rf"}, {"arguments", json::object()}})));
  EXPECT_EQ(error_code(r), -32602);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("rm_rf"), std::string::npos);
  EXPECT_TRUE(log.calls.empty());
}

TEST_F(Session, MalformedToolsCallParamsAreInvalidParams) {
  init();
  EXPECT_EQ(error_code(parse(s.handle(request(7, "tools/call", json::object())))), -32602);
  EXPECT_EQ(error_code(parse(s.handle(request(8, "tools/call", {{"name", 3}})))), -32602);
  EXPECT_EQ(error_code(parse(s.handle(
                request(9, "tools/call", {{"name", "read_text_file"}, {"arguments", "path=a"}})))),
            -32602);
  EXPECT_TRUE(log.calls.empty());
}

TEST_F(Session, TransportFailureBecomesAnIsErrorResult) {
  init();
  json r = parse(s.handle(request(
      10, "tools/call", {{"name", "move_file"}, {"arguments", {{"source", "a"}, {"destination", "b"}}}})));
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_EQ(r["result"]["isError"], true);
  const std::string text = r["result"]["content"][0]["text"];
  EXPECT_NE(text.find("deadline"), std::string::npos) << text;
  EXPECT_FALSE(r["result"].contains("structuredContent"));
}

TEST_F(Session, UnknownMethodIsMethodNotFound) {
  init();
  json r = parse(s.handle(request(11, "resources/list")));
  EXPECT_EQ(error_code(r), -32601);
  EXPECT_EQ(r["id"], 11);
}

TEST_F(Session, UnparseableLineIsParseErrorWithNullId) {
  for (const char* bad : {"garbage", "{\"jsonrpc\":\"2.0\",\"id\":1,", "{'a':1}"}) {
    json r = parse(s.handle(bad));
    EXPECT_EQ(error_code(r), -32700) << bad;
    EXPECT_TRUE(r.contains("id"));
    EXPECT_TRUE(r["id"].is_null());
  }
}

TEST_F(Session, BlankLinesAreIgnored) {
  EXPECT_FALSE(s.handle("").has_value());
  EXPECT_FALSE(s.handle("  \r").has_value());
}

TEST_F(Session, BatchesAreInvalidRequests) {
  init();
  json r = parse(s.handle(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])"));
  EXPECT_EQ(error_code(r), -32600);
  EXPECT_TRUE(r["id"].is_null());
  r = parse(s.handle("[]"));
  EXPECT_EQ(error_code(r), -32600);
}

TEST_F(Session, InvalidRequestsAreInvalidRequest) {
  init();
  // Wrong or missing jsonrpc version: the id is kept when it is usable.
  json r = parse(s.handle(R"({"jsonrpc":"1.0","id":1,"method":"ping"})"));
  EXPECT_EQ(error_code(r), -32600);
  EXPECT_EQ(r["id"], 1);
  r = parse(s.handle(R"({"id":2,"method":"ping"})"));
  EXPECT_EQ(error_code(r), -32600);
  // Method not a string, no method at all, params not an object.
  EXPECT_EQ(error_code(parse(s.handle(R"({"jsonrpc":"2.0","id":3,"method":5})"))), -32600);
  EXPECT_EQ(error_code(parse(s.handle(R"({"jsonrpc":"2.0","id":4})"))), -32600);
  EXPECT_EQ(error_code(parse(s.handle(R"({"jsonrpc":"2.0","id":5,"method":"ping","params":[1]})"))),
            -32600);
  // Ids must be strings or integers.
  for (const char* line : {R"({"jsonrpc":"2.0","id":null,"method":"ping"})",
                           R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})",
                           R"({"jsonrpc":"2.0","id":{},"method":"ping"})"}) {
    r = parse(s.handle(line));
    EXPECT_EQ(error_code(r), -32600) << line;
    EXPECT_TRUE(r["id"].is_null()) << line;
  }
  // Scalars are not messages.
  EXPECT_EQ(error_code(parse(s.handle("42"))), -32600);
  EXPECT_EQ(error_code(parse(s.handle("\"ping\""))), -32600);
}

TEST_F(Session, DeeplyNestedInputIsRejectedWithoutRecursing) {
  init();
  std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"a","content":)";
  deep += std::string(100000, '[') + std::string(100000, ']') + "}}}";
  json r = parse(s.handle(deep));
  EXPECT_EQ(error_code(r), -32600);
  EXPECT_TRUE(log.calls.empty());
  // Brackets inside strings don't count.
  r = parse(s.handle(request(2, "tools/call",
                             {{"name", "write_file"}, {"arguments", {{"path", "a"}, {"content", std::string(1000, '[')}}}})));
  EXPECT_TRUE(r.contains("result")) << r.dump().substr(0, 200);
}

TEST_F(Session, NotificationsAndResponsesGetNoAnswer) {
  EXPECT_FALSE(s.handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").has_value());
  init();
  EXPECT_FALSE(s.handle(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"x"}})").has_value());
  EXPECT_FALSE(s.handle(R"({"jsonrpc":"2.0","method":"notifications/whatever"})").has_value());
  EXPECT_FALSE(s.handle(R"({"jsonrpc":"2.0","method":"tools/call","params":{"name":"write_file"}})").has_value());
  EXPECT_TRUE(log.calls.empty()) << "a notification must not run a tool";
  // A response from the client (e.g. to a request we never sent) is not answered either.
  EXPECT_FALSE(s.handle(R"({"jsonrpc":"2.0","id":9,"result":{}})").has_value());
  EXPECT_FALSE(s.handle(R"({"jsonrpc":"2.0","id":9,"error":{"code":1,"message":"x"}})").has_value());
}

TEST_F(Session, InvalidUtf8InResultsIsReplacedNotThrown) {
  McpSession bad([](std::string_view, const json&) -> shmcp::Result<json> {
    return json{{"content", json::array({json{{"type", "text"}, {"text", std::string("a\xff" "b")}}})}};
  }, "x", "1");
  ASSERT_TRUE(bad.handle(init_line("2025-11-25")).has_value());
  auto line = bad.handle(request(2, "tools/call", {{"name", "read_text_file"}, {"arguments", {{"path", "a"}}}}));
  json r = parse(line);
  EXPECT_EQ(r["result"]["content"][0]["text"], "a\xEF\xBF\xBD" "b");
}

TEST_F(Session, ConcurrentCallsRunInParallel) {
  // Two calls that each wait for the other: they can only finish if the session does not
  // serialise tool calls.
  std::atomic<int> inside{0};
  McpSession par([&](std::string_view, const json&) -> shmcp::Result<json> {
    inside.fetch_add(1);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (inside.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    if (inside.load() < 2) return shmcp::make_error(shmcp::Errc::timeout, "calls were serialised");
    return json{{"content", json::array()}};
  }, "x", "1");
  ASSERT_TRUE(par.handle(init_line("2025-11-25")).has_value());
  json r1, r2;
  std::thread t([&] { r1 = parse(par.handle(request(1, "tools/call", {{"name", "list_allowed_directories"}}))); });
  r2 = parse(par.handle(request(2, "tools/call", {{"name", "list_allowed_directories"}})));
  t.join();
  EXPECT_FALSE(r1["result"].contains("isError")) << r1.dump();
  EXPECT_FALSE(r2["result"].contains("isError")) << r2.dump();
}

TEST(Stdio, AnswersEachLineAndStopsAtEof) {
  FakeCalls log;
  McpSession s(fake_caller(log), "x", "1");
  std::istringstream in(init_line("2025-11-25") + "\n" +
                        R"({"jsonrpc":"2.0","method":"notifications/initialized"})" "\n" +
                        "\n" + request(2, "ping") + "\r\n" + "nonsense\n" + request(3, "tools/list"));
  std::ostringstream out;
  EXPECT_EQ(shmcp::executor::run_stdio(s, in, out), 0);
  std::istringstream lines(out.str());
  std::vector<json> got;
  for (std::string l; std::getline(lines, l);) got.push_back(json::parse(l));
  ASSERT_EQ(got.size(), 4u) << out.str();
  EXPECT_EQ(got[0]["id"], 1);
  EXPECT_EQ(got[1]["id"], 2);
  EXPECT_EQ(got[1]["result"], json::object());
  EXPECT_EQ(error_code(got[2]), -32700);
  EXPECT_EQ(got[3]["result"]["tools"].size(), 14u);
  EXPECT_EQ(out.str().back(), '\n');
}

// The `mcp` command's loop over fds: the same replies as the istream loop for the same input,
// whether the input arrives at once or a few bytes at a time (lines split across reads, a final
// line without a newline), with and without the spin before blocking.
TEST(StdioFd, SameRepliesAsTheStreamLoopHoweverTheInputIsSplit) {
  const std::string input = init_line("2025-11-25") + "\n" +
                            R"({"jsonrpc":"2.0","method":"notifications/initialized"})" "\n" + "\n" +
                            request(2, "ping") + "\r\n" + "nonsense\n" + request(3, "tools/list");
  std::string expected;
  {
    FakeCalls log;
    McpSession s(fake_caller(log), "x", "1");
    std::istringstream in(input);
    std::ostringstream out;
    ASSERT_EQ(shmcp::executor::run_stdio(s, in, out), 0);
    expected = out.str();
  }
  for (const std::size_t piece : {input.size(), std::size_t{7}, std::size_t{1}}) {
    for (const std::uint64_t spin : {std::uint64_t{0}, std::uint64_t{50'000}}) {
      SCOPED_TRACE("piece " + std::to_string(piece) + ", spin " + std::to_string(spin));
      int to_loop[2], from_loop[2];
      ASSERT_EQ(::pipe(to_loop), 0);
      ASSERT_EQ(::pipe(from_loop), 0);
      std::thread writer([&] {
        for (std::size_t at = 0; at < input.size(); at += piece) {
          const std::size_t n = std::min(piece, input.size() - at);
          if (::write(to_loop[1], input.data() + at, n) != static_cast<ssize_t>(n)) break;
          // Stimulus: pieces arrive apart (the output must not depend on how far apart).
          if (piece < input.size()) std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
        ::close(to_loop[1]);
      });
      std::string got;
      std::thread reader([&] {
        char buf[4096];
        for (ssize_t n; (n = ::read(from_loop[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
      });
      FakeCalls log;
      McpSession s(fake_caller(log), "x", "1");
      EXPECT_EQ(shmcp::executor::run_stdio_fd(s, to_loop[0], from_loop[1], spin), 0);
      ::close(from_loop[1]);
      writer.join();
      reader.join();
      ::close(to_loop[0]);
      ::close(from_loop[0]);
      EXPECT_EQ(got, expected);
    }
  }
}

// A parent may hand over a non-blocking stdin: "no data yet" (EAGAIN) must wait, not end input.
TEST(StdioFd, NonBlockingInputWaitsForDataInsteadOfEndingAtEagain) {
  int to_loop[2], from_loop[2];
  ASSERT_EQ(::pipe(to_loop), 0);
  ASSERT_EQ(::pipe(from_loop), 0);
  ASSERT_EQ(::fcntl(to_loop[0], F_SETFL, ::fcntl(to_loop[0], F_GETFL) | O_NONBLOCK), 0);
  std::thread writer([&] {
    // Stimulus: nothing to read at first (EAGAIN); the answer must not depend on for how long.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const std::string line = request(1, "ping") + "\n";
    (void)::write(to_loop[1], line.data(), line.size());
    ::close(to_loop[1]);
  });
  FakeCalls log;
  McpSession s(fake_caller(log), "x", "1");
  EXPECT_EQ(shmcp::executor::run_stdio_fd(s, to_loop[0], from_loop[1], 0), 0);
  writer.join();
  ::close(from_loop[1]);
  char buf[256] = {};
  const ssize_t n = ::read(from_loop[0], buf, sizeof buf - 1);
  ASSERT_GT(n, 0) << "no reply: the loop ended at EAGAIN";
  EXPECT_EQ(json::parse(std::string(buf, static_cast<std::size_t>(n)))["id"], 1);
  ::close(to_loop[0]);
  ::close(from_loop[0]);
}

TEST(StdioFd, GrowsAPipeOutputBeyondTheDefaultAndLeavesOtherFilesAlone) {
  int probe[2];
  ASSERT_EQ(::pipe(probe), 0);
  const bool can_grow = ::fcntl(probe[1], F_SETPIPE_SZ, 128 * 1024) >= 0;
  ::close(probe[0]);
  ::close(probe[1]);
  if (!can_grow) GTEST_SKIP() << "this user may not grow pipes (pipe-user-pages-soft)";
  int to_loop[2], from_loop[2];
  ASSERT_EQ(::pipe(to_loop), 0);
  ASSERT_EQ(::pipe(from_loop), 0);
  const int before = ::fcntl(from_loop[1], F_GETPIPE_SZ);
  ::close(to_loop[1]);  // no requests: the loop only sets up its output and ends
  FakeCalls log;
  McpSession s(fake_caller(log), "x", "1");
  EXPECT_EQ(shmcp::executor::run_stdio_fd(s, to_loop[0], from_loop[1], 0), 0);
  EXPECT_GT(::fcntl(from_loop[1], F_GETPIPE_SZ), before);
  EXPECT_LE(::fcntl(from_loop[1], F_GETPIPE_SZ), shmcp::executor::kStdioPipeBytes);
  // A socket is not a pipe: untouched (and no error).
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  shmcp::executor::grow_output_pipe(sv[1]);
  EXPECT_EQ(::fcntl(sv[1], F_GETPIPE_SZ), -1);
  for (int fd : {to_loop[0], from_loop[0], from_loop[1], sv[0], sv[1]}) ::close(fd);
}

TEST(StdioFd, ReturnsOneWhenTheClientStopsReading) {
  ::signal(SIGPIPE, SIG_IGN);  // as the `mcp` command does: EPIPE, not death
  int to_loop[2], from_loop[2];
  ASSERT_EQ(::pipe(to_loop), 0);
  ASSERT_EQ(::pipe(from_loop), 0);
  ::close(from_loop[0]);  // nobody will read the replies
  const std::string line = request(1, "ping") + "\n";
  ASSERT_EQ(::write(to_loop[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  ::close(to_loop[1]);
  FakeCalls log;
  McpSession s(fake_caller(log), "x", "1");
  EXPECT_EQ(shmcp::executor::run_stdio_fd(s, to_loop[0], from_loop[1], 0), 1);
  ::close(to_loop[0]);
  ::close(from_loop[1]);
}

TEST(Stdio, ReturnsOneWhenOutputFails) {
  FakeCalls log;
  McpSession s(fake_caller(log), "x", "1");
  std::istringstream in(request(1, "ping") + "\n");
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  EXPECT_EQ(shmcp::executor::run_stdio(s, in, out), 1);
}

// The frontends' text callers hand a result's JSON text on without a DOM; every reply must be the
// same bytes a DOM caller with the same result gets, successes, tool errors, transport failures,
// string and integer ids, and every non-tools/call message alike.
TEST(SessionWithTextCaller, RepliesAreByteIdenticalToTheDomCallers) {
  auto result_of = [](std::string_view tool, const json& args) -> shmcp::Result<json> {
    if (tool == "move_file") return shmcp::make_error(shmcp::Errc::timeout, "call exceeded its deadline");
    const std::string text = std::string(tool) + " \"q\" \\ \n\t é " + args.dump();
    json r{{"content", json::array({json{{"type", "text"}, {"text", text}}})}};
    if (tool == "get_file_info") r["isError"] = true;
    else r["structuredContent"] = json{{"content", text}};
    return r;
  };
  McpSession dom(ToolCaller(result_of), "x", "1");
  McpSession text(shmcp::executor::ToolTextCaller([&](std::string_view tool, const json& args) -> shmcp::Result<std::string> {
    auto r = result_of(tool, args);
    if (!r) return r.error();
    return shmcp::executor::mcp::dump(*r);
  }), "x", "1");
  const std::vector<std::string> lines = {
      init_line("2025-11-25"),
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
      request(2, "tools/call", {{"name", "read_text_file"}, {"arguments", {{"path", "a.txt"}}}}),
      R"({"jsonrpc":"2.0","id":"s-1","method":"tools/call","params":{"name":"list_directory","arguments":{"path":"."}}})",
      request(4, "tools/call", {{"name", "get_file_info"}, {"arguments", {{"path", "x"}}}}),
      request(5, "tools/call", {{"name", "move_file"}, {"arguments", {{"source", "a"}, {"destination", "b"}}}}),
      request(6, "tools/call", {{"name", "no_such_tool"}}),
      request(7, "tools/call", {{"name", "read_text_file"}, {"arguments", "not an object"}}),
      request(8, "tools/list"),
      request(9, "ping"),
      R"({"jsonrpc":"2.0","id":null,"method":"ping"})",
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"read_text_file"}})",
      "[1,2]",
      "not json",
  };
  for (const auto& line : lines) {
    SCOPED_TRACE(line);
    const auto a = dom.handle(line);
    const auto b = text.handle(line);
    ASSERT_EQ(a.has_value(), b.has_value());
    if (a) {
      EXPECT_EQ(*a, *b);
    }
    // The DOM interface of a text-caller session parses what the text path spliced in (tool calls
    // only: a second initialize would be refused).
    if (a) {
      const json parsed = json::parse(line, nullptr, false);
      if (parsed.is_object() && parsed.contains("method") && parsed["method"] == "tools/call") {
        auto via_dom = text.handle_message(parsed);
        ASSERT_TRUE(via_dom.has_value());
        EXPECT_EQ(shmcp::executor::mcp::dump(*via_dom), *a);
      }
    }
  }
}
