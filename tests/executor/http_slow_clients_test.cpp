// Slow and silent HTTP clients cannot starve the executor, against a real `shmcp-executor serve`:
// while 64 connections that send nothing and 16 that stop halfway through their request header
// are held open, GET /health answers within 1 s (and a tool call answers); connections that stay
// silent are closed by the server (idle and I/O timeouts); peers beyond the connection cap are
// not accepted, so the executor's sockets stay bounded.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/eventually.hpp"
#include "tests/support/executor_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/proc_fds.hpp"
#include "tests/support/raw_http.hpp"

using nlohmann::json;
using namespace shmcp::testing;

namespace {

class HttpSlowClients : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    ASSERT_FALSE(ws_.path().empty());
    ASSERT_TRUE(write_file(ws_ / "hello.txt", "hello\n"));
    ex_.emplace(ws_.path(), unique_channel(std::string("slow-") + test_name()), std::move(extra));
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
  }
  ~HttpSlowClients() override {
    for (int fd : held_) ::close(fd);
  }
  // Opens n connections, each sending `prefix` (possibly nothing), and keeps them open.
  void hold(int n, const std::string& prefix) {
    for (int i = 0; i < n; ++i) {
      const int fd = raw_connect(ex_->port());
      ASSERT_GE(fd, 0) << "connection " << i;
      held_.push_back(fd);
      if (!prefix.empty()) {
        ASSERT_TRUE(raw_send(fd, prefix));
      }
    }
  }

  TempDir ws_;
  std::optional<ExecutorProcess> ex_;
  std::vector<int> held_;
};

TEST_F(HttpSlowClients, HealthAnswersWhileManyIdleAndHalfOpenConnectionsAreHeld) {
  // Long timeouts, so the held connections really are held while /health is asked.
  ASSERT_NO_FATAL_FAILURE(start({"--http-idle-timeout-s", "60", "--http-io-timeout-ms", "60000"}));
  ASSERT_NO_FATAL_FAILURE(hold(64, ""));
  ASSERT_NO_FATAL_FAILURE(hold(16, "GET /health HTTP/1.1\r\nHost: 127.0"));
  // The answer must come within 1 s (the issue's bound; cpp-httplib's default pool queued this
  // behind the held connections for their whole 60 s timeout). /health is a few microseconds of
  // work, so even a loaded 2-core machine meets a 1 s bound by orders of magnitude.
  std::string body;
  EXPECT_EQ(http_get(ex_->port(), "/health", &body, 1000), 200);
  EXPECT_EQ(json::parse(body, nullptr, false).value("status", ""), "ok") << body;
  const RawReply call = raw_request(ex_->port(), "POST", "/execute", "Content-Type: application/json\r\n",
                                    R"({"tool":"read_text_file","arguments":{"path":"hello.txt"}})");
  EXPECT_EQ(call.status, 200) << call.body;
  // The held connections were accepted and are still open (the server did not just drop them).
  for (int fd : held_) {
    char c;
    const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
    const int err = errno;
    EXPECT_EQ(n, -1);
    EXPECT_EQ(err, EAGAIN);
  }
}

TEST_F(HttpSlowClients, SilentConnectionsAreClosedByTheServer) {
  ASSERT_NO_FATAL_FAILURE(start({"--http-idle-timeout-s", "1", "--http-io-timeout-ms", "300"}));
  ASSERT_NO_FATAL_FAILURE(hold(4, ""));                                   // idle: the idle timeout
  ASSERT_NO_FATAL_FAILURE(hold(4, "POST /execute HTTP/1.1\r\nHost: 1"));  // stalled header: the I/O timeout
  // raw_connect's 10 s receive timeout bounds the wait; end of stream (0) means the server closed.
  for (int fd : held_) {
    char buf[512];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    }
    EXPECT_EQ(n, 0) << "connection not closed by the server (errno " << errno << ")";
  }
  // Positive control: the server itself still answers.
  EXPECT_EQ(http_get(ex_->port(), "/health"), 200);
}

TEST_F(HttpSlowClients, ConnectionsBeyondTheCapWaitAndAreServedWhenSlotsFree) {
  ASSERT_NO_FATAL_FAILURE(start({"--http-max-connections", "4", "--http-idle-timeout-s", "1"}));
  ASSERT_NO_FATAL_FAILURE(hold(4, ""));
  // Every slot is held by an idle connection; this request waits until the idle timeout frees one.
  EXPECT_EQ(raw_request(ex_->port(), "GET", "/health", "").status, 200);
}

// A TCP connect to 127.0.0.1:port that does not wait for the handshake (-1 on failure): a peer
// the server may never accept.
int connect_nonblocking(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(HttpSlowClients, PeersBeyondTwiceTheCapAreNotAccepted) {
  constexpr int kCap = 4;
  ASSERT_NO_FATAL_FAILURE(start({"--http-max-connections", std::to_string(kCap), "--http-idle-timeout-s", "60",
                                 "--http-io-timeout-ms", "60000"}));
  const pid_t pid = ex_->pid();
  const int before = open_sockets(pid);
  ASSERT_GE(before, 1);  // at least the listening socket
  constexpr int kPeers = 200;
  for (int i = 0; i < kPeers; ++i) {
    const int fd = connect_nonblocking(ex_->port());
    ASSERT_GE(fd, 0) << "peer " << i;
    held_.push_back(fd);
  }
  // kCap served and kCap waiting, plus the one the listen thread holds while it waits for room;
  // one more of slack because `before` may still have counted the readiness probe's connection.
  constexpr int kBound = 2 * kCap + 2;
  ASSERT_TRUE(eventually([&] { return open_sockets(pid) - before >= 2 * kCap; }))
      << "accepted only " << open_sockets(pid) - before;
  // The failure this guards against (an unbounded queue) accepts all 200 within milliseconds, so
  // a second of watching sees it; a correct server never goes past the bound however long we wait.
  const bool exceeded = eventually([&] { return open_sockets(pid) - before > kBound; }, std::chrono::seconds(1));
  EXPECT_FALSE(exceeded) << "the executor holds " << open_sockets(pid) - before << " accepted sockets";
  // Positive control: once the peers go away the executor serves again.
  for (int fd : held_) ::close(fd);
  held_.clear();
  std::string body;
  EXPECT_TRUE(eventually([&] { return http_get(ex_->port(), "/health", &body, 1000) == 200; }, std::chrono::seconds(30)))
      << body;
}

}  // namespace
