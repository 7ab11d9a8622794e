// Raw-socket HTTP for tests that must control every byte a client sends (Host, Origin,
// Content-Type, half-sent requests, idle connections): cpp-httplib's client fills some of these in.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace shmcp::testing {

struct RawReply {
  int status = 0;  // 0: no (parseable) response
  std::string headers;
  std::string body;
};

// A TCP connection to 127.0.0.1:port with a receive timeout (so a test never hangs); -1 on failure.
inline int raw_connect(int port, int recv_timeout_s = 10) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{recv_timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool raw_send(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads until the peer closes (or the receive timeout): the whole of a Connection: close reply.
inline std::string raw_read_all(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

inline RawReply parse_raw_reply(const std::string& resp) {
  RawReply r;
  if (std::sscanf(resp.c_str(), "HTTP/1.%*d %d", &r.status) != 1) r.status = 0;
  const auto p = resp.find("\r\n\r\n");
  r.headers = resp.substr(0, p);
  if (p != std::string::npos) r.body = resp.substr(p + 4);
  return r;
}

// One request; `headers` are extra header lines, each ending in \r\n. Host defaults to
// 127.0.0.1:port unless `headers` has one (pass host = "" to send none).
inline RawReply raw_request(int port, const std::string& method, const std::string& path, const std::string& headers,
                            const std::string& body = {}, const std::string* host = nullptr) {
  const int fd = raw_connect(port);
  if (fd < 0) return {};
  std::string req = method + " " + path + " HTTP/1.1\r\n";
  if (host == nullptr) req += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  else if (!host->empty()) req += "Host: " + *host + "\r\n";
  req += "Connection: close\r\n" + headers;
  if (!body.empty() || method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  RawReply r;
  if (raw_send(fd, req)) r = parse_raw_reply(raw_read_all(fd));
  ::close(fd);
  return r;
}

}  // namespace shmcp::testing
