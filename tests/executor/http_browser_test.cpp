// A browser must not be able to drive the executor over HTTP, against a real `shmcp-executor serve`:
// a foreign Origin, a Host that only DNS rebinding produces, or a non-JSON POST (a "simple"
// cross-origin request needs no preflight) are refused on every endpoint that acts or reveals,
// before anything runs; GET /health stays reachable (probes) but reveals only the status to
// callers that may not see more. Requests are written byte by byte over raw sockets.
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/executor_process.hpp"
#include "tests/support/raw_http.hpp"

using nlohmann::json;
using namespace shmcp::testing;

namespace {

const std::string kJson = "Content-Type: application/json\r\n";

std::string write_call(const std::string& path) {
  return json{{"tool", "write_file"}, {"arguments", {{"path", path}, {"content", "x"}}}}.dump();
}

class HttpBrowser : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    ASSERT_FALSE(ws_.path().empty());
    ASSERT_TRUE(write_file(ws_ / "hello.txt", "hello\n"));
    ex_.emplace(ws_.path(), unique_channel(std::string("browser-") + test_name()), std::move(extra));
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
  }
  int port() const { return ex_->port(); }
  RawReply post_with_host(const std::string& path, const std::string& host, const std::string& body) {
    return raw_request(port(), "POST", path, kJson, body, &host);
  }

  TempDir ws_;
  std::optional<ExecutorProcess> ex_;
};

TEST_F(HttpBrowser, ForeignOriginIsForbiddenOnEveryEndpointAndRunsNothing) {
  ASSERT_NO_FATAL_FAILURE(start());
  for (const char* origin : {"https://evil.example", "null", "http://localhost.evil.example", "http://127.0.0.1.evil.example:80"}) {
    const std::string h = std::string("Origin: ") + origin + "\r\n";
    EXPECT_EQ(raw_request(port(), "POST", "/execute", h + kJson, write_call("o.txt")).status, 403) << origin;
    EXPECT_EQ(raw_request(port(), "POST", "/mcp", h + kJson + "Accept: application/json, text/event-stream\r\n",
                          R"({"jsonrpc":"2.0","id":1,"method":"ping"})").status, 403) << origin;
    EXPECT_EQ(raw_request(port(), "GET", "/tools", h).status, 403) << origin;
    EXPECT_EQ(raw_request(port(), "GET", "/metrics", h).status, 403) << origin;
  }
  EXPECT_FALSE(path_exists(ws_ / "o.txt"));
  // Positive controls: no Origin (non-browser clients) and loopback origins act.
  EXPECT_EQ(raw_request(port(), "POST", "/execute", kJson, write_call("none.txt")).status, 200);
  EXPECT_TRUE(path_exists(ws_ / "none.txt"));
  const std::string local = "Origin: http://localhost:" + std::to_string(port()) + "\r\n";
  EXPECT_EQ(raw_request(port(), "POST", "/execute", local + kJson, write_call("local.txt")).status, 200);
  EXPECT_TRUE(path_exists(ws_ / "local.txt"));
  EXPECT_EQ(raw_request(port(), "GET", "/tools", "Origin: http://[::1]:8080\r\n").status, 200);
}

TEST_F(HttpBrowser, PostBodiesMustBeJson) {
  ASSERT_NO_FATAL_FAILURE(start());
  // What a cross-origin form or fetch() without preflight can send.
  for (const char* ct : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""}) {
    const std::string h = *ct ? std::string("Content-Type: ") + ct + "\r\n" : std::string();
    EXPECT_EQ(raw_request(port(), "POST", "/execute", h, write_call("t.txt")).status, 415) << ct;
    EXPECT_EQ(raw_request(port(), "POST", "/mcp", h + "Accept: application/json, text/event-stream\r\n",
                          R"({"jsonrpc":"2.0","id":1,"method":"ping"})").status, 415) << ct;
  }
  // The same from a foreign origin is refused even earlier.
  EXPECT_EQ(raw_request(port(), "POST", "/execute", "Origin: https://evil.example\r\nContent-Type: text/plain\r\n",
                        write_call("t.txt")).status, 403);
  EXPECT_FALSE(path_exists(ws_ / "t.txt"));
  // Positive control: parameters after the media type are fine.
  EXPECT_EQ(raw_request(port(), "POST", "/execute", "Content-Type: Application/JSON; charset=utf-8\r\n",
                        write_call("t.txt")).status, 200);
  EXPECT_TRUE(path_exists(ws_ / "t.txt"));
}

TEST_F(HttpBrowser, HostMustNameThisServer) {
  ASSERT_NO_FATAL_FAILURE(start({"--allowed-host", "executor.internal"}));
  // Built with append: GCC 12 at -O3 reports a false -Wrestrict for const char* + std::string&&.
  std::string p = ":";
  p.append(std::to_string(port()));
  for (const std::string& host : std::vector<std::string>{"evil.example", "evil.example" + p, "localhost.evil.example" + p, "127.0.0.1.nip.io" + p,
                                 "executor.internal.evil.example", "[::1" + p}) {
    EXPECT_EQ(post_with_host("/execute", host, write_call("h.txt")).status, 403) << host;
    EXPECT_EQ(raw_request(port(), "GET", "/tools", "", "", &host).status, 403) << host;
    EXPECT_EQ(raw_request(port(), "GET", "/metrics", "", "", &host).status, 403) << host;
    EXPECT_EQ(raw_request(port(), "POST", "/mcp", kJson + "Accept: application/json, text/event-stream\r\n",
                          R"({"jsonrpc":"2.0","id":1,"method":"ping"})", &host).status, 403) << host;
  }
  EXPECT_FALSE(path_exists(ws_ / "h.txt"));
  // Loopback names and IP literals in any port form, the bound host, and --allowed-host names.
  for (const std::string& host : std::vector<std::string>{"localhost" + p, "localhost", "LOCALHOST" + p, "127.0.0.1" + p, "[::1]" + p, "[::1]",
                                 "10.1.2.3" + p, "executor.internal", "Executor.Internal." + p, ""}) {
    EXPECT_EQ(post_with_host("/execute", host, write_call("h.txt")).status, 200) << host;
  }
  EXPECT_TRUE(path_exists(ws_ / "h.txt"));
}

TEST_F(HttpBrowser, HealthAnswersEveryoneButRevealsOnlyStatusToForeignRequests) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string evil = "evil.example";
  for (const RawReply& r : {raw_request(port(), "GET", "/health", "", "", &evil),
                            raw_request(port(), "GET", "/health", "Origin: https://evil.example\r\n")}) {
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(json::parse(r.body, nullptr, false), json({{"status", "ok"}})) << r.body;
  }
  // Positive control: a local request without a token configured sees everything.
  const RawReply full = raw_request(port(), "GET", "/health", "");
  EXPECT_EQ(full.status, 200);
  EXPECT_NE(full.body.find(ex_->channel()), std::string::npos) << full.body;
}

class HttpBrowserWithToken : public HttpBrowser {
 protected:
  void SetUp() override {
    ASSERT_TRUE(write_file(tok_ / "token", "s3cret-token\n"));
    ASSERT_NO_FATAL_FAILURE(start({"--token-file", tok_ / "token"}));
  }
  TempDir tok_;
};

TEST_F(HttpBrowserWithToken, HealthWithoutTheTokenRevealsNoPathOrChannel) {
  for (const std::string& auth : std::vector<std::string>{"", "Authorization: Bearer wrong\r\n"}) {
    const RawReply r = raw_request(port(), "GET", "/health", auth);
    EXPECT_EQ(r.status, 200);  // probes carry no token and must still see the executor healthy
    EXPECT_EQ(json::parse(r.body, nullptr, false), json({{"status", "ok"}})) << r.body;
    EXPECT_EQ(r.body.find(ws_.path()), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(ex_->channel()), std::string::npos) << r.body;
  }
  // With the token: the full report, as before.
  const RawReply full = raw_request(port(), "GET", "/health", "Authorization: Bearer s3cret-token\r\n");
  EXPECT_EQ(full.status, 200);
  const json j = json::parse(full.body, nullptr, false);
  EXPECT_EQ(j.value("workspace", ""), ws_.path()) << full.body;
  EXPECT_EQ(j["channel"].value("name", ""), ex_->channel()) << full.body;
}

}  // namespace
