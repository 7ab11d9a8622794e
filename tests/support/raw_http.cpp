#include "tests/support/raw_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

namespace shmcp::testing {

int raw_connect(int port, int recv_timeout_s) {
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

bool raw_send(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::string raw_read_all(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

RawReply parse_raw_reply(const std::string& resp) {
  RawReply r;
  if (std::sscanf(resp.c_str(), "HTTP/1.%*d %d", &r.status) != 1) r.status = 0;
  const auto p = resp.find("\r\n\r\n");
  r.headers = resp.substr(0, p);
  if (p != std::string::npos) r.body = resp.substr(p + 4);
  return r;
}

RawReply raw_request(int port, const std::string& method, const std::string& path, const std::string& headers,
                     const std::string& body, const std::string* host) {
  const int fd = raw_connect(port);
  if (fd < 0) return {};
  std::string req = method;
  req.append(" ").append(path).append(" HTTP/1.1\r\n");
  if (host == nullptr) req.append("Host: 127.0.0.1:").append(std::to_string(port)).append("\r\n");
  else if (!host->empty()) req.append("Host: ").append(*host).append("\r\n");
  req.append("Connection: close\r\n").append(headers);
  if (!body.empty() || method == "POST") req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  req.append("\r\n").append(body);
  RawReply r;
  if (raw_send(fd, req)) r = parse_raw_reply(raw_read_all(fd));
  ::close(fd);
  return r;
}

}  // namespace shmcp::testing
