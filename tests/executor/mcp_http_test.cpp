// McpHttp: the Streamable HTTP transport as pure functions (no sockets), with a fake ToolCaller.
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "executor/mcp.hpp"

using nlohmann::json;
using shmcp::executor::HttpHeaders;
using shmcp::executor::HttpReply;
using shmcp::executor::McpHttp;
using shmcp::executor::McpHttpOptions;
using shmcp::executor::ToolCaller;

namespace {

ToolCaller echo_caller() {
  return [](std::string_view tool, const json& args) -> shmcp::Result<json> {
    const std::string text = std::string(tool) + " " + args.dump();
    return json{{"content", json::array({json{{"type", "text"}, {"text", text}}})}};
  };
}

const char* kInit =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";
const char* kInitialized = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";

HttpHeaders base_headers() {
  return HttpHeaders{{"Accept", "application/json, text/event-stream"},
                     {"Content-Type", "application/json"}};
}

HttpHeaders with_session(const std::string& sid) {
  auto h = base_headers();
  h.emplace("Mcp-Session-Id", sid);
  h.emplace("MCP-Protocol-Version", "2025-11-25");
  return h;
}

std::string header_of(const HttpReply& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (shmcp::executor::HeaderNameLess{}(k, std::string(name)) == false &&
        shmcp::executor::HeaderNameLess{}(std::string(name), k) == false)
      return v;
  }
  return "";
}

json body_of(const HttpReply& r) {
  EXPECT_EQ(r.content_type, "application/json");
  return json::parse(r.body);
}

class Http : public ::testing::Test {
 protected:
  McpHttp http{echo_caller(), "shmcp-test", "1.2.3"};

  std::string open_session() {
    HttpReply r = http.post(base_headers(), kInit);
    EXPECT_EQ(r.status, 200) << r.body;
    std::string sid = header_of(r, "Mcp-Session-Id");
    EXPECT_FALSE(sid.empty());
    HttpReply n = http.post(with_session(sid), kInitialized);
    EXPECT_EQ(n.status, 202) << n.body;
    return sid;
  }
};

}  // namespace

TEST_F(Http, InitializeCreatesASessionWithAnUnguessableVisibleAsciiId) {
  HttpReply r = http.post(base_headers(), kInit);
  ASSERT_EQ(r.status, 200) << r.body;
  json b = body_of(r);
  EXPECT_EQ(b["id"], 1);
  EXPECT_EQ(b["result"]["protocolVersion"], "2025-11-25");
  EXPECT_EQ(b["result"]["serverInfo"]["name"], "shmcp-test");
  const std::string sid = header_of(r, "Mcp-Session-Id");
  ASSERT_GE(sid.size(), 32u) << "at least 128 bits of randomness, hex-encoded";
  for (char c : sid) EXPECT_TRUE(c >= 0x21 && c <= 0x7E) << "session ids must be visible ASCII";
  EXPECT_EQ(http.session_count(), 1u);

  std::set<std::string> ids{sid};
  for (int i = 0; i < 50; ++i) ids.insert(header_of(http.post(base_headers(), kInit), "Mcp-Session-Id"));
  EXPECT_EQ(ids.size(), 51u) << "session ids repeat";
}

TEST_F(Http, RequestsInASessionAreAnsweredWithJson) {
  const std::string sid = open_session();
  HttpReply r = http.post(with_session(sid), R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r)["result"], json::object());

  r = http.post(with_session(sid), R"({"jsonrpc":"2.0","id":3,"method":"tools/list"})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r)["result"]["tools"].size(), 14u);

  r = http.post(with_session(sid),
                R"({"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"read_text_file","arguments":{"path":"x"}}})");
  ASSERT_EQ(r.status, 200);
  json b = body_of(r);
  EXPECT_EQ(b["id"], "c");
  EXPECT_EQ(b["result"]["content"][0]["text"], R"(read_text_file {"path":"x"})");

  // JSON-RPC errors to well-formed requests travel with 200.
  r = http.post(with_session(sid), R"({"jsonrpc":"2.0","id":4,"method":"nope"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r)["error"]["code"], -32601);
}

TEST_F(Http, NotificationsAndResponsesGet202WithoutBody) {
  const std::string sid = open_session();
  HttpReply r = http.post(with_session(sid),
                          R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})");
  EXPECT_EQ(r.status, 202);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.content_type.empty());
  r = http.post(with_session(sid), R"({"jsonrpc":"2.0","id":5,"result":{}})");
  EXPECT_EQ(r.status, 202);
  EXPECT_TRUE(r.body.empty());
}

TEST_F(Http, AcceptMustListJsonAndEventStream) {
  for (const char* accept : {"application/json", "text/event-stream", "text/html", "",
                             "application/json, text/event-stream;q=0", "*/*",
                             "application/*, text/*", "application/json, text/*"}) {
    HttpHeaders h{{"Accept", accept}, {"Content-Type", "application/json"}};
    HttpReply r = http.post(h, kInit);
    EXPECT_EQ(r.status, 406) << "Accept: " << accept;
  }
  HttpHeaders none{{"Content-Type", "application/json"}};
  EXPECT_EQ(http.post(none, kInit).status, 406);
  EXPECT_EQ(http.session_count(), 0u);
  // Parameters, case, spacing, other types and repeated headers are all valid ways to list both.
  for (HttpHeaders h : {HttpHeaders{{"accept", "Application/JSON;q=0.9 ,  text/event-stream"}},
                        HttpHeaders{{"Accept", "application/json"}, {"Accept", "text/event-stream"}},
                        HttpHeaders{{"Accept", "text/html, text/event-stream; charset=utf-8, application/json, */*"}}}) {
    h.emplace("Content-Type", "application/json; charset=utf-8");
    EXPECT_EQ(http.post(h, kInit).status, 200);
  }
}

TEST_F(Http, ContentTypeMustBeJson) {
  HttpHeaders h{{"Accept", "application/json, text/event-stream"}, {"Content-Type", "text/plain"}};
  EXPECT_EQ(http.post(h, kInit).status, 415);
  HttpHeaders missing{{"Accept", "application/json, text/event-stream"}};
  EXPECT_EQ(http.post(missing, kInit).status, 415);
}

TEST_F(Http, MissingSessionIdIs400UnknownIs404) {
  open_session();
  HttpReply r = http.post(base_headers(), R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body_of(r)["error"]["code"], -32600);
  r = http.post(with_session("0123456789abcdef0123456789abcdef"), R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  EXPECT_EQ(r.status, 404);
  // Notifications need a session too.
  EXPECT_EQ(http.post(base_headers(), kInitialized).status, 400);
}

TEST_F(Http, InitializeCarryingASessionIdIsRejected) {
  const std::string sid = open_session();
  EXPECT_EQ(http.post(with_session(sid), kInit).status, 400);
  EXPECT_EQ(http.session_count(), 1u);
}

TEST_F(Http, FailedInitializeCreatesNoSession) {
  HttpReply r = http.post(base_headers(), R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})");
  EXPECT_EQ(body_of(r)["error"]["code"], -32602);
  EXPECT_TRUE(header_of(r, "Mcp-Session-Id").empty());
  EXPECT_EQ(http.session_count(), 0u);
}

TEST_F(Http, ProtocolVersionHeaderIsValidated) {
  const std::string sid = open_session();
  auto h = base_headers();
  h.emplace("Mcp-Session-Id", sid);
  // Absent: allowed (the server assumes 2025-03-26, per the specification).
  EXPECT_EQ(http.post(h, R"({"jsonrpc":"2.0","id":2,"method":"ping"})").status, 200);
  for (const char* v : {"2025-06-18", "2024-11-05"}) {
    auto ok = h;
    ok.emplace("mcp-protocol-version", v);
    EXPECT_EQ(http.post(ok, R"({"jsonrpc":"2.0","id":2,"method":"ping"})").status, 200) << v;
  }
  auto bad = h;
  bad.emplace("MCP-Protocol-Version", "2099-01-01");
  HttpReply r = http.post(bad, R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("2099-01-01"), std::string::npos);
  // DELETE is a request of the session as well; a bad revision does not end the session.
  EXPECT_EQ(http.del(bad).status, 400);
  EXPECT_EQ(http.post(h, R"({"jsonrpc":"2.0","id":3,"method":"ping"})").status, 200);
}

TEST_F(Http, ParseErrorsAndBatchesAre400WithJsonRpcErrors) {
  const std::string sid = open_session();
  HttpReply r = http.post(with_session(sid), "{not json");
  EXPECT_EQ(r.status, 400);
  json b = body_of(r);
  EXPECT_EQ(b["error"]["code"], -32700);
  EXPECT_TRUE(b["id"].is_null());
  r = http.post(with_session(sid), R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body_of(r)["error"]["code"], -32600);
  r = http.post(with_session(sid), R"({"jsonrpc":"2.0"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body_of(r)["error"]["code"], -32600);
  // Parse errors before any session are 400 as well, not a new session.
  EXPECT_EQ(http.post(base_headers(), "").status, 400);
  EXPECT_EQ(http.session_count(), 1u);
}

TEST_F(Http, GetIs405) {
  const std::string sid = open_session();
  HttpReply r = http.get(with_session(sid));
  EXPECT_EQ(r.status, 405);
  EXPECT_FALSE(header_of(r, "Allow").empty());
  EXPECT_EQ(http.get(base_headers()).status, 405);
}

TEST_F(Http, DeleteEndsTheSession) {
  const std::string sid = open_session();
  const std::string other = open_session();
  EXPECT_EQ(http.del(base_headers()).status, 400);
  EXPECT_EQ(http.del(with_session("nope")).status, 404);
  EXPECT_EQ(http.del(with_session(sid)).status, 200);
  EXPECT_EQ(http.post(with_session(sid), R"({"jsonrpc":"2.0","id":2,"method":"ping"})").status, 404);
  EXPECT_EQ(http.del(with_session(sid)).status, 404);
  EXPECT_EQ(http.post(with_session(other), R"({"jsonrpc":"2.0","id":2,"method":"ping"})").status, 200);
  EXPECT_EQ(http.session_count(), 1u);
}

TEST_F(Http, SessionsAreIndependent) {
  // Initializing one session does not initialize another: each has its own lifecycle.
  const std::string a = open_session();
  HttpReply r = http.post(base_headers(), R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  EXPECT_EQ(body_of(r)["result"]["protocolVersion"], "2024-11-05");
  const std::string b = header_of(r, "Mcp-Session-Id");
  EXPECT_NE(a, b);
}

TEST_F(Http, ForeignOriginsAreForbidden) {
  auto h = base_headers();
  h.emplace("Origin", "https://evil.example");
  EXPECT_EQ(http.post(h, kInit).status, 403);
  EXPECT_EQ(http.session_count(), 0u);
  for (const char* o : {"http://localhost:3000", "http://127.0.0.1", "http://[::1]:8080"}) {
    auto ok = base_headers();
    ok.emplace("Origin", o);
    EXPECT_EQ(http.post(ok, kInit).status, 200) << o;
  }
  auto sneaky = base_headers();
  sneaky.emplace("Origin", "http://localhost.evil.example");
  EXPECT_EQ(http.post(sneaky, kInit).status, 403);

  McpHttpOptions opts;
  opts.allowed_origins = {"https://app.example"};
  McpHttp allow(echo_caller(), "x", "1", opts);
  auto app = base_headers();
  app.emplace("Origin", "https://app.example");
  EXPECT_EQ(allow.post(app, kInit).status, 200);
}

TEST(HttpLimits, OldestSessionIsEvictedAtCapacity) {
  McpHttpOptions opts;
  opts.max_sessions = 3;
  McpHttp http(echo_caller(), "x", "1", opts);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(header_of(http.post(base_headers(), kInit), "Mcp-Session-Id"));
  // Touch the first so the second becomes the least recently used.
  EXPECT_EQ(http.post(with_session(ids[0]), R"({"jsonrpc":"2.0","id":2,"method":"ping"})").status, 200);
  ids.push_back(header_of(http.post(base_headers(), kInit), "Mcp-Session-Id"));
  EXPECT_EQ(http.session_count(), 3u);
  EXPECT_EQ(http.post(with_session(ids[1]), R"({"jsonrpc":"2.0","id":2,"method":"ping"})").status, 404);
  for (int i : {0, 2, 3})
    EXPECT_EQ(http.post(with_session(ids[i]), R"({"jsonrpc":"2.0","id":2,"method":"ping"})").status, 200) << i;
}

TEST(HttpLimits, IdleSessionsExpire) {
  McpHttpOptions opts;
  opts.idle_timeout = std::chrono::seconds(0);
  McpHttp http(echo_caller(), "x", "1", opts);
  const std::string sid = header_of(http.post(base_headers(), kInit), "Mcp-Session-Id");
  // Stimulus: the session idles past its zero timeout (any positive length will do).
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(http.post(with_session(sid), R"({"jsonrpc":"2.0","id":2,"method":"ping"})").status, 404);
}

TEST(HttpHandler, DispatchesOnMethodWithLowercasedHeaders) {
  // The shape HttpFrontend uses: header names lowercased into a std::map.
  McpHttp http(echo_caller());
  std::map<std::string, std::string> h{{"accept", "application/json, text/event-stream"},
                                       {"content-type", "application/json"}};
  auto r = http.handle("POST", h, kInit);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["result"]["serverInfo"]["name"], "shmcp-executor");
  ASSERT_EQ(r.headers.count("Mcp-Session-Id"), 1u);
  h["mcp-session-id"] = r.headers["Mcp-Session-Id"];
  EXPECT_EQ(http.handle("POST", h, kInitialized).status, 202);
  EXPECT_EQ(http.handle("GET", h, "").status, 405);
  EXPECT_EQ(http.handle("PUT", h, "").status, 405);
  EXPECT_EQ(http.handle("DELETE", h, "").status, 200);
  EXPECT_EQ(http.handle("DELETE", h, "").status, 404);
}

TEST(HttpConcurrency, ManyThreadsManySessions) {
  McpHttp http(echo_caller(), "x", "1");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        HttpReply r = http.post(base_headers(), kInit);
        const std::string sid = header_of(r, "Mcp-Session-Id");
        if (r.status != 200 || sid.empty()) ++failures;
        const std::string call = json{{"jsonrpc", "2.0"}, {"id", i}, {"method", "tools/call"},
                                      {"params", {{"name", "read_text_file"}, {"arguments", {{"path", std::to_string(t)}}}}}}.dump();
        r = http.post(with_session(sid), call);
        if (r.status != 200 || json::parse(r.body)["id"] != i) ++failures;
        if (i % 2 == 0 && http.del(with_session(sid)).status != 200) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(http.session_count(), 8u * 25u);
}

namespace {

// McpHttp with roots (McpHttpOptions::roots): a fake resolver (each root's uri is taken as the
// workspace-relative directory) and a rooted caller that echoes the roots it was given.
struct FakeRoots {
  std::mutex mu;
  std::vector<std::vector<std::string>> calls;
};

McpHttpOptions roots_options(FakeRoots& log, std::chrono::milliseconds park = std::chrono::milliseconds(2000)) {
  McpHttpOptions o;
  shmcp::executor::McpRootsSupport r;
  r.resolve = [](const json& roots) {
    std::vector<std::string> out;
    for (const auto& x : roots) out.push_back(x.value("uri", ""));
    return out;
  };
  r.call = [&log](std::string_view tool, const json&, const std::vector<std::string>& roots) -> shmcp::Result<std::string> {
    {
      std::lock_guard lock(log.mu);
      log.calls.push_back(roots);
    }
    return json{{"content", json::array({json{{"type", "text"}, {"text", std::string(tool) + " " + json(roots).dump()}}})}}
        .dump();
  };
  r.answer_timeout = std::chrono::seconds(30);
  o.roots = std::move(r);
  o.get_park = park;
  return o;
}

const char* kInitRoots =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"t","version":"1"}}})";

std::string open_roots_session(McpHttp& http, const char* init) {
  HttpReply r = http.post(base_headers(), init);
  EXPECT_EQ(r.status, 200) << r.body;
  const std::string sid = header_of(r, "Mcp-Session-Id");
  EXPECT_EQ(http.post(with_session(sid), kInitialized).status, 202);
  return sid;
}

HttpHeaders sse_headers(const std::string& sid) {
  HttpHeaders h{{"Accept", "text/event-stream"}};
  h.emplace("Mcp-Session-Id", sid);
  h.emplace("MCP-Protocol-Version", "2025-11-25");
  return h;
}

// The JSON-RPC messages of an SSE body ("data:" lines).
std::vector<json> sse_messages(const std::string& body) {
  std::vector<json> out;
  std::size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const std::size_t end = body.find('\n', pos);
    out.push_back(json::parse(body.substr(pos + 6, end - pos - 6)));
    pos = end;
  }
  return out;
}

std::string tools_call(int id) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"},
              {"params", {{"name", "read_text_file"}, {"arguments", {{"path", "x"}}}}}}
      .dump();
}

}  // namespace

TEST(HttpRoots, AClientWithRootsGetsRootsListOnTheGetStreamAndCallsRunOnTheAnswer) {
  FakeRoots log;
  McpHttp http(echo_caller(), "x", "1", roots_options(log));
  const std::string sid = open_roots_session(http, kInitRoots);
  HttpReply g = http.get(sse_headers(sid));
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(g.content_type, "text/event-stream");
  EXPECT_NE(g.body.find("retry: "), std::string::npos) << g.body;
  auto msgs = sse_messages(g.body);
  ASSERT_EQ(msgs.size(), 1u) << g.body;
  EXPECT_EQ(msgs[0].value("method", ""), "roots/list");
  const json id = msgs[0]["id"];

  // A call now blocks until the answer is POSTed (on another thread, as on another connection).
  HttpReply call_reply;
  std::thread caller([&] { call_reply = http.post(with_session(sid), tools_call(2)); });
  HttpReply a = http.post(with_session(sid), json{{"jsonrpc", "2.0"}, {"id", id},
                                                  {"result", {{"roots", json::array({json{{"uri", "a"}}})}}}}
                                                 .dump());
  EXPECT_EQ(a.status, 202) << a.body;
  caller.join();
  ASSERT_EQ(call_reply.status, 200) << call_reply.body;
  EXPECT_EQ(body_of(call_reply)["result"]["content"][0]["text"], R"(read_text_file ["a"])");

  // list_changed: a new roots/list on the stream; the next answer replaces the roots.
  EXPECT_EQ(http.post(with_session(sid), R"({"jsonrpc":"2.0","method":"notifications/roots/list_changed"})").status, 202);
  msgs = sse_messages(http.get(sse_headers(sid)).body);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_NE(msgs[0]["id"], id);
  EXPECT_EQ(http.post(with_session(sid), json{{"jsonrpc", "2.0"}, {"id", msgs[0]["id"]},
                                              {"result", {{"roots", json::array({json{{"uri", "b"}}, json{{"uri", "c"}}})}}}}
                                             .dump())
                .status,
            202);
  EXPECT_EQ(body_of(http.post(with_session(sid), tools_call(3)))["result"]["content"][0]["text"],
            R"(read_text_file ["b","c"])");
}

TEST(HttpRoots, WithoutTheCapabilityGetStays405AndCallsAreNotNarrowed) {
  FakeRoots log;
  McpHttp http(echo_caller(), "x", "1", roots_options(log));
  const std::string sid = open_roots_session(http, kInit);
  EXPECT_EQ(http.get(sse_headers(sid)).status, 405);
  const json r = body_of(http.post(with_session(sid), tools_call(2)));
  EXPECT_EQ(r["result"]["content"][0]["text"], R"(read_text_file {"path":"x"})");  // the plain caller
  std::lock_guard lock(log.mu);
  EXPECT_TRUE(log.calls.empty());
}

TEST(HttpRoots, AnIdleGetEndsAfterItsParkAndCloseEndsItAtOnce) {
  FakeRoots log;
  McpHttp http(echo_caller(), "x", "1", roots_options(log, std::chrono::milliseconds(50)));
  const std::string sid = open_roots_session(http, kInitRoots);
  EXPECT_EQ(sse_messages(http.get(sse_headers(sid)).body).size(), 1u);  // the roots/list
  HttpReply idle = http.get(sse_headers(sid));  // nothing pending: ends after the park, empty
  EXPECT_EQ(idle.status, 200);
  EXPECT_TRUE(sse_messages(idle.body).empty()) << idle.body;
  // Unknown session: 404; no text/event-stream in Accept: 406.
  EXPECT_EQ(http.get(sse_headers("nope")).status, 404);
  HttpHeaders json_only{{"Accept", "application/json"}, {"Mcp-Session-Id", sid}};
  EXPECT_EQ(http.get(json_only).status, 406);

  McpHttp parked(echo_caller(), "x", "1", roots_options(log, std::chrono::hours(1)));
  const std::string psid = open_roots_session(parked, kInitRoots);
  (void)parked.get(sse_headers(psid));
  std::atomic<bool> returned{false};
  std::thread getter([&] {
    (void)parked.get(sse_headers(psid));
    returned = true;
  });
  parked.close();
  getter.join();  // would hang for an hour without close()
  EXPECT_TRUE(returned);
}
