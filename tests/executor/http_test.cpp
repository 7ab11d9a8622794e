// The executor's HTTP frontend, against a real `shmcp-executor serve` process: POST /execute
// (CallToolResult JSON, isError results, 400s), GET /health, GET /metrics and --token-file auth.
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/support/executor_process.hpp"

using nlohmann::json;
using namespace shmcp::testing;

namespace {

class HttpTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    ASSERT_FALSE(ws_.path().empty());
    ASSERT_TRUE(write_file(ws_ / "hello.txt", "hello\n"));
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    ex_.emplace(ws_.path(), unique_channel(std::string("http-") + info->name()), std::move(extra));
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
    cli_.emplace("127.0.0.1", ex_->port());
    cli_->set_read_timeout(30, 0);
  }

  httplib::Result execute(const std::string& body, const httplib::Headers& h = {}) {
    return cli_->Post("/execute", h, body, "application/json");
  }
  httplib::Result execute(const json& body, const httplib::Headers& h = {}) { return execute(body.dump(), h); }

  // The value of one Prometheus sample line ("name{labels} value"), or -1 if absent.
  static double sample(const std::string& metrics, const std::string& series) {
    std::istringstream in(metrics);
    std::string line;
    while (std::getline(in, line))
      if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
        return std::stod(line.substr(series.size() + 1));
    return -1;
  }

  std::string metrics() {
    auto r = cli_->Get("/metrics");
    if (!r || r->status != 200) return {};
    return r->body;
  }

  // Workers record a call just after replying, so a scrape right after a response may precede the
  // update by microseconds: poll (bounded) until the series reaches `want`, then return its value.
  double await_sample(const std::string& series, double want) {
    double v = -1;
    for (int i = 0; i < 400; ++i) {
      v = sample(metrics(), series);
      if (v == want) return v;
      sleep_ms(5);
    }
    return v;
  }

  TempDir ws_;
  std::optional<ExecutorProcess> ex_;
  std::optional<httplib::Client> cli_;
};

TEST_F(HttpTest, ExecuteReturnsCallToolResultJson) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto r = execute(json{{"tool", "read_text_file"}, {"arguments", {{"path", "hello.txt"}}}});
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  const json want = {{"content", json::array({{{"type", "text"}, {"text", "hello\n"}}})},
                     {"isError", false},  // /execute always states it
                     {"structuredContent", {{"content", "hello\n"}}}};
  EXPECT_EQ(json::parse(r->body), want);
}

TEST_F(HttpTest, ExecuteWritesThroughTheWorkers) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto r = execute(json{{"tool", "write_file"}, {"arguments", {{"path", "new.txt"}, {"content", "via http"}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_EQ(j["isError"], false);
  EXPECT_EQ(j["content"][0]["text"], "Successfully wrote to new.txt");
  EXPECT_EQ(read_file(ws_ / "new.txt"), "via http");
}

TEST_F(HttpTest, ToolFailureIsAnIsErrorResultWith200) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto r = execute(json{{"tool", "read_text_file"}, {"arguments", {{"path", "missing.txt"}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json j = json::parse(r->body);
  EXPECT_EQ(j.value("isError", false), true);
  ASSERT_TRUE(j["content"].is_array());
  ASSERT_EQ(j["content"].size(), 1u);
  EXPECT_EQ(j["content"][0]["type"], "text");
  EXPECT_NE(j["content"][0]["text"].get<std::string>().find("missing.txt"), std::string::npos) << j.dump();
  EXPECT_FALSE(j.contains("structuredContent"));

  // A path outside the workspace is an isError result too, not an HTTP error.
  r = execute(json{{"tool", "read_text_file"}, {"arguments", {{"path", "/etc/passwd"}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body).value("isError", false), true);

  // Invalid arguments (schema violation) are a tool error result naming the field.
  r = execute(json{{"tool", "read_text_file"}, {"arguments", {{"path", 42}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json k = json::parse(r->body);
  EXPECT_EQ(k.value("isError", false), true);
  EXPECT_NE(k["content"][0]["text"].get<std::string>().find("path"), std::string::npos) << k.dump();
}

void expect_json_400(const httplib::Result& r, const std::string& needle) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  const json j = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r->body;
  ASSERT_TRUE(j.contains("error") && j["error"].is_string()) << r->body;
  EXPECT_NE(j["error"].get<std::string>().find(needle), std::string::npos) << r->body;
}

TEST_F(HttpTest, MalformedJsonIs400WithJsonError) {
  ASSERT_NO_FATAL_FAILURE(start());
  expect_json_400(execute(std::string("{\"tool\": \"read_text_file\", ")), "malformed JSON");
  expect_json_400(execute(std::string("")), "malformed JSON");
}

TEST_F(HttpTest, BodyThatIsNotAToolCallIs400) {
  ASSERT_NO_FATAL_FAILURE(start());
  expect_json_400(execute(std::string("[1,2,3]")), "tool");
  expect_json_400(execute(json{{"arguments", json::object()}}), "tool");
  expect_json_400(execute(json{{"tool", 7}}), "tool");
}

TEST_F(HttpTest, UnknownToolIs400WithJsonError) {
  ASSERT_NO_FATAL_FAILURE(start());
  expect_json_400(execute(json{{"tool", "delete_everything"}, {"arguments", json::object()}}), "unknown tool: delete_everything");
}

TEST_F(HttpTest, NonObjectArgumentsAre400) {
  ASSERT_NO_FATAL_FAILURE(start());
  expect_json_400(execute(json{{"tool", "read_text_file"}, {"arguments", json::array({"hello.txt"})}}), "arguments");
  expect_json_400(execute(json{{"tool", "read_text_file"}, {"arguments", "hello.txt"}}), "arguments");
  expect_json_400(execute(json{{"tool", "list_allowed_directories"}, {"arguments", 3}}), "arguments");
  // Missing or null arguments mean {}.
  auto r = execute(json{{"tool", "list_allowed_directories"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = execute(json{{"tool", "list_allowed_directories"}, {"arguments", nullptr}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(HttpTest, HealthReportsWorkersChannelAndUptime) {
  ASSERT_NO_FATAL_FAILURE(start({"--workers", "2"}));
  auto r = cli_->Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json j = json::parse(r->body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["workers"]["configured"], 2);
  EXPECT_EQ(j["workers"]["alive"], 2);
  EXPECT_EQ(j["workers"]["sandboxed"], 2);
  EXPECT_EQ(j["channel"]["name"], ex_->channel());
  EXPECT_EQ(j["channel"]["path"], segment_file(ex_->channel()));
  ASSERT_TRUE(j["uptime_s"].is_number());
  const double up1 = j["uptime_s"].get<double>();
  EXPECT_GE(up1, 0.0);
  EXPECT_LT(up1, 60.0);
  sleep_ms(50);  // stimulus: time passes (uptime must grow, by however much)
  const double up2 = json::parse(cli_->Get("/health")->body)["uptime_s"].get<double>();
  EXPECT_GT(up2, up1);
  EXPECT_EQ(j["worker_restarts"], 0);
}

TEST_F(HttpTest, MetricsCountCallsByToolAndOutcome) {
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string ok = R"(shmcp_calls_total{tool="read_text_file",outcome="ok"})";
  const std::string err = R"(shmcp_calls_total{tool="read_text_file",outcome="tool_error"})";
  const std::string count = R"(shmcp_call_duration_seconds_count{tool="read_text_file",transport="channel"})";
  const std::string inf = R"(shmcp_call_duration_seconds_bucket{tool="read_text_file",transport="channel",le="+Inf"})";
  const std::string lad_ok = R"(shmcp_calls_total{tool="list_allowed_directories",outcome="ok"})";

  auto r = cli_->Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/plain", 0), 0u) << r->get_header_value("Content-Type");
  const std::string m0 = r->body;
  EXPECT_NE(m0.find("# TYPE shmcp_calls_total counter"), std::string::npos);
  EXPECT_NE(m0.find("# TYPE shmcp_call_duration_seconds histogram"), std::string::npos);
  EXPECT_EQ(sample(m0, ok), 0);
  EXPECT_EQ(sample(m0, err), 0);
  EXPECT_EQ(sample(m0, count), 0);
  EXPECT_EQ(sample(m0, "shmcp_worker_restarts_total"), 0);
  EXPECT_EQ(sample(m0, "shmcp_sandbox_violations_total"), 0);
  EXPECT_EQ(sample(m0, "shmcp_workers_alive"), 1);

  for (int i = 0; i < 3; ++i) ASSERT_EQ(execute(json{{"tool", "read_text_file"}, {"arguments", {{"path", "hello.txt"}}}})->status, 200);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(execute(json{{"tool", "read_text_file"}, {"arguments", {{"path", "nope.txt"}}}})->status, 200);
  ASSERT_EQ(execute(json{{"tool", "list_allowed_directories"}})->status, 200);

  EXPECT_EQ(await_sample(ok, 3), 3);
  EXPECT_EQ(await_sample(err, 2), 2);
  EXPECT_EQ(await_sample(count, 5), 5);
  EXPECT_EQ(await_sample(lad_ok, 1), 1);
  const std::string m1 = metrics();
  EXPECT_EQ(sample(m1, inf), 5);
  EXPECT_EQ(sample(m1, R"(shmcp_calls_total{tool="read_text_file",outcome="failed"})"), 0);
  EXPECT_EQ(sample(m1, R"(shmcp_calls_total{tool="write_file",outcome="ok"})"), 0);
  EXPECT_GT(sample(m1, R"(shmcp_call_duration_seconds_sum{tool="read_text_file",transport="channel"})"), 0.0);
  // Histogram buckets are cumulative: non-decreasing in le, ending at the count.
  std::regex bucket_re(R"re(shmcp_call_duration_seconds_bucket\{tool="read_text_file",transport="channel",le="([^"]+)"\} (\d+))re");
  double prev = 0;
  int buckets = 0;
  for (std::sregex_iterator it(m1.begin(), m1.end(), bucket_re), end; it != end; ++it, ++buckets) {
    const double v = std::stod((*it)[2]);
    EXPECT_GE(v, prev) << (*it)[0];
    prev = v;
  }
  EXPECT_GT(buckets, 2);
  EXPECT_EQ(prev, 5);
  EXPECT_EQ(sample(m1, "shmcp_worker_restarts_total"), 0);
  EXPECT_EQ(sample(m1, "shmcp_sandbox_violations_total"), 0);
}

class HttpAuthTest : public HttpTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(write_file(tok_ / "token", "s3cret-token\n"));
    ASSERT_NO_FATAL_FAILURE(start({"--token-file", tok_ / "token"}));
  }
  TempDir tok_;
};

TEST_F(HttpAuthTest, EveryEndpointButHealthNeedsTheBearerToken) {
  const httplib::Headers none;
  const httplib::Headers wrong = {{"Authorization", "Bearer s3cret-tokeN"}};
  const httplib::Headers prefix = {{"Authorization", "Bearer s3cret"}};
  const httplib::Headers longer = {{"Authorization", "Bearer s3cret-token-and-more"}};
  const httplib::Headers basic = {{"Authorization", "Basic czNjcmV0LXRva2Vu"}};
  const httplib::Headers right = {{"Authorization", "Bearer s3cret-token"}};
  const json call = {{"tool", "read_text_file"}, {"arguments", {{"path", "hello.txt"}}}};

  for (const auto* h : {&none, &wrong, &prefix, &longer, &basic}) {
    auto r = execute(call, *h);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << (h->empty() ? "no header" : h->begin()->second);
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
    EXPECT_TRUE(json::parse(r->body, nullptr, false).contains("error")) << r->body;
    for (const char* path : {"/metrics", "/tools"}) {
      auto g = cli_->Get(path, *h);
      ASSERT_TRUE(g);
      EXPECT_EQ(g->status, 401) << path;
    }
    auto m = cli_->Post("/mcp", *h, R"({"jsonrpc":"2.0","id":1,"method":"ping"})", "application/json");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->status, 401) << "/mcp";
  }
  // A 401 must not have run the tool: nothing was read... and nothing written.
  auto w = execute(json{{"tool", "write_file"}, {"arguments", {{"path", "x.txt"}, {"content", "x"}}}}, wrong);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->status, 401);
  EXPECT_FALSE(path_exists(ws_ / "x.txt"));

  auto r = execute(call, right);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["content"][0]["text"], "hello\n");
  for (const char* path : {"/metrics", "/tools"}) {
    auto g = cli_->Get(path, right);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->status, 200) << path;
  }
  auto h = cli_->Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
}

}  // namespace
