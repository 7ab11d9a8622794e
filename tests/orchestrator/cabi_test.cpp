// The C ABI (orchestrator/shmcp.h), used from C++ only through the header, against a real executor.
#include <signal.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "channel/base/result.hpp"
#include "orchestrator/shmcp.h"
#include "tests/support/executor_process.hpp"

using nlohmann::json;
using namespace shmcp::testing;

namespace {

// Owns a malloc'ed string returned by the library.
struct Owned {
  char* p = nullptr;
  ~Owned() { shmcp_free(p); }
};

class CabiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(ws_.path().empty());
    ASSERT_TRUE(write_file(ws_ / "hello.txt", "hello\n"));
    ex_.emplace(ws_.path(), unique_channel("cabi-" + test_name()));
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
  }
  void TearDown() override {
    for (pid_t p : stopped_) ::kill(p, SIGCONT);
  }
  TempDir ws_;
  std::optional<ExecutorProcess> ex_;
  std::vector<pid_t> stopped_;
  char err_[512] = {};
};

TEST(CabiCodes, MirrorErrc) {
  using shmcp::Errc;
  EXPECT_EQ(SHMCP_E_INVALID_ARGUMENT, -static_cast<int>(Errc::invalid_argument));
  EXPECT_EQ(SHMCP_E_NOT_FOUND, -static_cast<int>(Errc::not_found));
  EXPECT_EQ(SHMCP_E_ACCESS_DENIED, -static_cast<int>(Errc::access_denied));
  EXPECT_EQ(SHMCP_E_TIMEOUT, -static_cast<int>(Errc::timeout));
  EXPECT_EQ(SHMCP_E_PEER_DEAD, -static_cast<int>(Errc::peer_dead));
  EXPECT_EQ(SHMCP_E_RING_FULL, -static_cast<int>(Errc::ring_full));
  EXPECT_EQ(SHMCP_E_TOO_LARGE, -static_cast<int>(Errc::too_large));
  EXPECT_EQ(SHMCP_E_CORRUPT, -static_cast<int>(Errc::corrupt));
  EXPECT_EQ(SHMCP_E_VERSION_MISMATCH, -static_cast<int>(Errc::version_mismatch));
  EXPECT_EQ(SHMCP_E_BUSY, -static_cast<int>(Errc::busy));
  EXPECT_EQ(SHMCP_E_CLOSED, -static_cast<int>(Errc::closed));
  EXPECT_EQ(SHMCP_E_IO, -static_cast<int>(Errc::io));
  EXPECT_EQ(SHMCP_E_TOOL_ERROR, -static_cast<int>(Errc::tool_error));
  EXPECT_EQ(SHMCP_E_INTERNAL, -static_cast<int>(Errc::internal));
  EXPECT_STREQ(shmcp_version(), "0.1.0");
}

TEST_F(CabiTest, CallWriteAndReadOverShmAndHttp) {
  for (const std::string& url : {ex_->shm_url(), ex_->http_url()}) {
    SCOPED_TRACE(url);
    shmcp_client* c = shmcp_connect(url.c_str(), 0, err_, sizeof err_);
    ASSERT_NE(c, nullptr) << err_;
    Owned w;
    int is_error = -1;
    ASSERT_EQ(shmcp_call(c, "write_file", R"({"path":"c.txt","content":"from C"})", 0, &w.p, &is_error, err_, sizeof err_),
              SHMCP_OK)
        << err_;
    EXPECT_EQ(is_error, 0);
    EXPECT_EQ(json::parse(w.p)["content"][0]["text"], "Successfully wrote to c.txt");
    EXPECT_EQ(read_file(ws_ / "c.txt"), "from C");
    Owned r;
    ASSERT_EQ(shmcp_call(c, "read_text_file", R"({"path":"hello.txt"})", 5000, &r.p, &is_error, err_, sizeof err_), SHMCP_OK);
    EXPECT_EQ(json::parse(r.p),
              json::parse(R"({"content":[{"type":"text","text":"hello\n"}],"structuredContent":{"content":"hello\n"}})"));
    // A tool failure is SHMCP_OK with is_error = 1.
    Owned e;
    ASSERT_EQ(shmcp_call(c, "read_text_file", R"({"path":"missing.txt"})", 0, &e.p, &is_error, err_, sizeof err_), SHMCP_OK);
    EXPECT_EQ(is_error, 1);
    EXPECT_EQ(json::parse(e.p)["isError"], true);
    // NULL args mean {}; is_error may be NULL.
    Owned l;
    ASSERT_EQ(shmcp_call(c, "list_allowed_directories", nullptr, 0, &l.p, nullptr, err_, sizeof err_), SHMCP_OK);
    EXPECT_NE(std::string(l.p).find("Allowed directories"), std::string::npos);
    EXPECT_EQ(shmcp_ping(c, 0, err_, sizeof err_), SHMCP_OK) << err_;
    Owned h;
    ASSERT_EQ(shmcp_health(c, &h.p, err_, sizeof err_), SHMCP_OK) << err_;
    EXPECT_EQ(json::parse(h.p)["channel"]["name"], ex_->channel());
    Owned t;
    ASSERT_EQ(shmcp_tools(c, 0, &t.p, err_, sizeof err_), SHMCP_OK) << err_;
    const json tools = json::parse(t.p)["tools"];
    ASSERT_EQ(tools.size(), 14u);
    EXPECT_EQ(tools[0]["name"], "read_file");
    EXPECT_TRUE(tools[0]["description"].is_string());
    EXPECT_EQ(tools[0]["inputSchema"]["required"], json::array({"path"}));
    shmcp_close(c);
  }
}

TEST_F(CabiTest, ErrorsAreCodesWithMessages) {
  // Connect failures: NULL plus a message.
  const std::string absent = "shm://" + unique_channel("absent");
  EXPECT_EQ(shmcp_connect(absent.c_str(), 0, err_, sizeof err_), nullptr);
  EXPECT_NE(std::string(err_).find("not_found"), std::string::npos) << err_;
  EXPECT_EQ(shmcp_connect(nullptr, 0, err_, sizeof err_), nullptr);
  EXPECT_EQ(shmcp_connect("gopher://x", 0, nullptr, 0), nullptr);  // err may be NULL

  shmcp_client* c = shmcp_connect(ex_->shm_url().c_str(), 0, err_, sizeof err_);
  ASSERT_NE(c, nullptr) << err_;
  Owned out;
  EXPECT_EQ(shmcp_call(c, "read_text_file", "[1,2]", 0, &out.p, nullptr, err_, sizeof err_), SHMCP_E_INVALID_ARGUMENT);
  EXPECT_EQ(out.p, nullptr);
  EXPECT_EQ(shmcp_call(c, "read_text_file", "{oops", 0, &out.p, nullptr, err_, sizeof err_), SHMCP_E_INVALID_ARGUMENT);
  EXPECT_EQ(shmcp_call(c, "no_such_tool", "{}", 0, &out.p, nullptr, err_, sizeof err_), SHMCP_E_INVALID_ARGUMENT);
  EXPECT_NE(std::string(err_).find("no_such_tool"), std::string::npos) << err_;
  EXPECT_EQ(shmcp_call(nullptr, "read_text_file", "{}", 0, &out.p, nullptr, err_, sizeof err_), SHMCP_E_INVALID_ARGUMENT);
  EXPECT_EQ(shmcp_call(c, nullptr, "{}", 0, &out.p, nullptr, err_, sizeof err_), SHMCP_E_INVALID_ARGUMENT);
  EXPECT_EQ(shmcp_call(c, "read_text_file", "{}", 0, nullptr, nullptr, err_, sizeof err_), SHMCP_E_INVALID_ARGUMENT);
  EXPECT_EQ(shmcp_ping(nullptr, 0, err_, sizeof err_), SHMCP_E_INVALID_ARGUMENT);
  EXPECT_EQ(shmcp_health(c, nullptr, err_, sizeof err_), SHMCP_E_INVALID_ARGUMENT);
  EXPECT_EQ(shmcp_tools(c, 0, nullptr, err_, sizeof err_), SHMCP_E_INVALID_ARGUMENT);
  EXPECT_EQ(shmcp_tools(nullptr, 0, &out.p, err_, sizeof err_), SHMCP_E_INVALID_ARGUMENT);
  // A tiny err buffer is truncated and terminated, never overrun.
  char tiny[4] = {'x', 'x', 'x', 'x'};
  EXPECT_EQ(shmcp_call(c, "no_such_tool", "{}", 0, &out.p, nullptr, tiny, sizeof tiny), SHMCP_E_INVALID_ARGUMENT);
  EXPECT_EQ(tiny[3], '\0');
  EXPECT_EQ(std::strlen(tiny), 3u);

  // Timeout: the worker is stopped, so the call waits exactly its deadline.
  for (pid_t p : ex_->worker_pids()) {
    ASSERT_EQ(::kill(p, SIGSTOP), 0);
    stopped_.push_back(p);
  }
  EXPECT_EQ(shmcp_call(c, "read_text_file", R"({"path":"hello.txt"})", 200, &out.p, nullptr, err_, sizeof err_), SHMCP_E_TIMEOUT);
  EXPECT_EQ(shmcp_ping(c, 200, err_, sizeof err_), SHMCP_E_TIMEOUT);
  // Executor gone: peer dead.
  ex_->kill9();
  stopped_.clear();
  EXPECT_EQ(shmcp_call(c, "read_text_file", R"({"path":"hello.txt"})", 0, &out.p, nullptr, err_, sizeof err_), SHMCP_E_PEER_DEAD)
      << err_;
  EXPECT_EQ(out.p, nullptr);
  EXPECT_EQ(shmcp_tools(c, 0, &out.p, err_, sizeof err_), SHMCP_E_PEER_DEAD) << err_;
  EXPECT_EQ(out.p, nullptr);
  shmcp_close(c);
  shmcp_close(nullptr);  // harmless
}

}  // namespace
