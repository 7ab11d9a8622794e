// HttpConnection against a scripted loopback server: bodies of megabytes arrive intact, the
// connection is kept alive, a kept-alive connection the server closed is replaced transparently,
// chunked bodies decode, and a server that never answers is a timeout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "orchestrator/http_conn.hpp"

namespace shmcp {
namespace {

// Accepts connections one after the other; answers each request with reply(request number, body),
// then closes the connection if close_after(request number) says so.
class ScriptedServer {
 public:
  using Reply = std::function<std::string(int n, const std::string& body)>;
  ScriptedServer(Reply reply, std::function<bool(int)> close_after)
      : reply_(std::move(reply)), close_after_(std::move(close_after)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void serve() {
    int n = 0;
    for (;;) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      ++accepted_;
      std::string buf;
      for (bool open = true; open;) {
        std::size_t end;
        while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
          char tmp[4096];
          const ssize_t r = ::recv(c, tmp, sizeof tmp, 0);
          if (r <= 0) {
            open = false;
            break;
          }
          buf.append(tmp, static_cast<std::size_t>(r));
        }
        if (!open) break;
        const auto cl = buf.find("Content-Length: ");
        const std::size_t len = cl == std::string::npos ? 0 : std::stoul(buf.substr(cl + 16));
        while (buf.size() < end + 4 + len) {
          char tmp[4096];
          const ssize_t r = ::recv(c, tmp, sizeof tmp, 0);
          if (r <= 0) break;
          buf.append(tmp, static_cast<std::size_t>(r));
        }
        const std::string body = buf.substr(end + 4, len);
        buf.erase(0, end + 4 + len);
        const std::string out = reply_(n, body);
        for (std::size_t off = 0; off < out.size();) {
          const ssize_t w = ::send(c, out.data() + off, out.size() - off, MSG_NOSIGNAL);
          if (w <= 0) break;
          off += static_cast<std::size_t>(w);
        }
        if (close_after_(n++)) open = false;
      }
      ::close(c);
    }
  }

  Reply reply_;
  std::function<bool(int)> close_after_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

std::string with_length(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string big(std::size_t n, int seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + static_cast<std::size_t>(seed)) % 26);
  return s;
}

TEST(HttpConnection, MegabyteBodiesArriveIntactOverOneKeptAliveConnectionWithPaddingReserved) {
  ScriptedServer srv([](int n, const std::string& body) { return with_length(200, body + big(3 << 20, n)); },
                     [](int) { return false; });
  HttpConnection c("127.0.0.1", srv.port());
  for (int i = 0; i < 3; ++i) {
    const std::string sent = "{\"n\":" + std::to_string(i) + "}";
    auto r = c.post("/execute", {{"Content-Type", "application/json"}}, sent, 30'000, 64);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("content-type"), "application/json");
    ASSERT_EQ(r->body.size(), sent.size() + (3u << 20));
    EXPECT_EQ(r->body, sent + big(3 << 20, i));
    EXPECT_GE(r->body.capacity(), r->body.size() + 64);
  }
  EXPECT_EQ(c.connects(), 1u);
  EXPECT_EQ(srv.accepted(), 1);
}

TEST(HttpConnection, AKeptAliveConnectionTheServerClosedIsReplacedAndTheRequestSentAgain) {
  // The server closes every connection after one answer, without saying so.
  ScriptedServer srv([](int n, const std::string&) { return with_length(200, "answer " + std::to_string(n)); },
                     [](int) { return true; });
  HttpConnection c("127.0.0.1", srv.port());
  for (int i = 0; i < 3; ++i) {
    auto r = c.post("/x", {}, "{}", 30'000);
    ASSERT_TRUE(r.ok()) << i << ": " << r.error().describe();
    EXPECT_EQ(r->body, "answer " + std::to_string(i));
  }
  EXPECT_EQ(srv.accepted(), 3);
}

TEST(HttpConnection, ConnectionCloseIsHonouredAndTheNextRequestConnectsAgain) {
  ScriptedServer srv(
      [](int, const std::string&) { return std::string("HTTP/1.1 404 X\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"); },
      [](int) { return true; });
  HttpConnection c("127.0.0.1", srv.port());
  auto r = c.post("/x", {}, "", 30'000);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "{}");
  EXPECT_FALSE(c.connected());
  ASSERT_TRUE(c.post("/x", {}, "", 30'000).ok());
  EXPECT_EQ(c.connects(), 2u);
}

TEST(HttpConnection, ChunkedBodiesAreDecoded) {
  const std::string part = big(100'000, 3);
  ScriptedServer srv(
      [&](int, const std::string&) {
        std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", part.size());
        out.append(size).append(part).append("\r\n5\r\nhello\r\n0\r\n\r\n");
        return out;
      },
      [](int) { return false; });
  HttpConnection c("127.0.0.1", srv.port());
  for (int i = 0; i < 2; ++i) {
    auto r = c.post("/x", {}, "", 30'000);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->body, part + "hello");
  }
  EXPECT_EQ(c.connects(), 1u);
}

TEST(HttpConnection, AServerThatNeverAnswersIsATimeout) {
  std::atomic<bool> release{false};
  ScriptedServer srv(
      [&](int, const std::string&) {
        while (!release.load()) std::this_thread::yield();
        return std::string();
      },
      [](int) { return true; });
  HttpConnection c("127.0.0.1", srv.port());
  auto r = c.post("/x", {}, "{}", 200);
  release = true;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::timeout) << r.error().describe();
}

TEST(HttpConnection, NobodyListeningIsPeerDead) {
  int port = 0;
  {
    ScriptedServer srv([](int, const std::string&) { return std::string(); }, [](int) { return true; });
    port = srv.port();
  }
  HttpConnection c("127.0.0.1", port);
  auto r = c.post("/x", {}, "{}", 5'000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::peer_dead) << r.error().describe();
}

TEST(HttpConnection, AMalformedStatusLineIsCorrupt) {
  ScriptedServer srv([](int, const std::string&) { return std::string("HELLO\r\n\r\n"); }, [](int) { return true; });
  HttpConnection c("127.0.0.1", srv.port());
  auto r = c.post("/x", {}, "{}", 5'000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::corrupt) << r.error().describe();
}

}  // namespace
}  // namespace shmcp
