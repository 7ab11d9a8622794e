#include "orchestrator/http_conn.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "channel/ring.hpp"  // monotonic_ns

namespace shmcp {

namespace {

constexpr std::size_t kHeaderChunk = 64 * 1024;
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

int remaining_ms(std::uint64_t deadline_ns) {
  const std::uint64_t now = channel::monotonic_ns();
  if (now >= deadline_ns) return 0;
  return static_cast<int>(std::min<std::uint64_t>((deadline_ns - now + 999'999) / 1'000'000, 1'000'000'000));
}

Error timed_out(const char* what) { return make_error(Errc::timeout, std::string("HTTP ") + what + ": deadline passed"); }

}  // namespace

std::string HttpResponse::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

HttpConnection::~HttpConnection() { close_fd(); }

void HttpConnection::close_fd() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  pending_.clear();
}

Status HttpConnection::connect_to(std::uint64_t deadline_ns) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(port_);
  if (int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res); rc != 0 || res == nullptr)
    return make_error(Errc::peer_dead, "HTTP " + host_ + ":" + port + ": cannot resolve (" + gai_strerror(rc) + ")");
  int last_errno = 0;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    int ok = ::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
    if (ok == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int pr = ::poll(&p, 1, remaining_ms(deadline_ns));
      socklen_t len = sizeof ok;
      if (pr <= 0) {
        ok = pr == 0 ? ETIMEDOUT : errno;
      } else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &ok, &len) != 0) {
        ok = errno;
      }
    }
    if (ok != 0) {
      last_errno = ok;
      ::close(fd);
      continue;
    }
    const int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd_ = fd;
    ++connects_;
    ::freeaddrinfo(res);
    return {};
  }
  ::freeaddrinfo(res);
  if (last_errno == ETIMEDOUT && remaining_ms(deadline_ns) == 0) return timed_out("connect");
  return make_error(Errc::peer_dead, "HTTP " + host_ + ":" + port + ": cannot connect: " + std::strerror(last_errno),
                    last_errno);
}

Result<std::size_t> HttpConnection::read_some(char* buf, std::size_t max, std::uint64_t deadline_ns) {
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, max, 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return make_error(Errc::peer_dead, std::string("HTTP receive: ") + std::strerror(errno), errno);
    pollfd p{fd_, POLLIN, 0};
    const int ms = remaining_ms(deadline_ns);
    if (ms == 0) return timed_out("receive");
    if (::poll(&p, 1, ms) == 0) return timed_out("receive");
  }
}

Result<HttpResponse> HttpConnection::post(std::string_view path,
                                          const std::vector<std::pair<std::string, std::string>>& headers,
                                          std::string_view body, std::uint64_t timeout_ms, std::size_t pad,
                                          std::size_t max_body) {
  const std::uint64_t deadline_ns = channel::monotonic_ns() + timeout_ms * 1'000'000;
  std::string req;
  req.reserve(256 + body.size());
  req.append("POST ").append(path).append(" HTTP/1.1\r\nHost: ").append(host_).append(":").append(std::to_string(port_));
  req.append("\r\nConnection: keep-alive\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n");
  for (const auto& [k, v] : headers) req.append(k).append(": ").append(v).append("\r\n");
  req.append("\r\n").append(body);
  for (int attempt = 0;; ++attempt) {
    const bool reused = fd_ >= 0;
    if (!reused) {
      if (auto s = connect_to(deadline_ns); !s) return Error(std::move(s).error());
    }
    bool nothing_received = false;
    auto r = exchange(req, deadline_ns, pad, max_body, nothing_received);
    if (r) return r;
    close_fd();
    // A kept-alive connection the server had already closed: the request never reached it.
    if (!(reused && nothing_received && attempt == 0 && r.error().code == Errc::peer_dead)) return r;
  }
}

Result<HttpResponse> HttpConnection::exchange(const std::string& request, std::uint64_t deadline_ns, std::size_t pad,
                                              std::size_t max_body, bool& nothing_received) {
  nothing_received = true;
  for (std::size_t off = 0; off < request.size();) {
    const ssize_t n = ::send(fd_, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n >= 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return make_error(Errc::peer_dead, std::string("HTTP send: ") + std::strerror(errno), errno);
    pollfd p{fd_, POLLOUT, 0};
    const int ms = remaining_ms(deadline_ns);
    if (ms == 0 || ::poll(&p, 1, ms) == 0) return timed_out("send");
  }

  // Status line and headers.
  std::string head = std::move(pending_);
  pending_.clear();
  std::size_t end = head.find("\r\n\r\n");
  while (end == std::string::npos) {
    if (head.size() > kMaxHeaderBytes) return make_error(Errc::corrupt, "HTTP response headers too large");
    const std::size_t old = head.size();
    head.resize(old + kHeaderChunk);
    auto n = read_some(head.data() + old, kHeaderChunk, deadline_ns);
    if (!n) return Error(std::move(n).error());
    head.resize(old + *n);
    if (*n == 0) return make_error(Errc::peer_dead, "HTTP connection closed before a response");
    nothing_received = false;
    end = head.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
  }
  nothing_received = false;

  HttpResponse res;
  std::string_view lines(head.data(), end);
  const std::size_t eol = lines.find("\r\n");
  std::string_view status_line = lines.substr(0, eol);
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12)
    return make_error(Errc::corrupt, "HTTP response without a status line");
  if (std::from_chars(status_line.data() + 9, status_line.data() + 12, res.status).ec != std::errc{})
    return make_error(Errc::corrupt, "HTTP response with a malformed status");
  bool close_after = status_line.starts_with("HTTP/1.0");
  std::size_t content_length = 0;
  bool has_length = false, chunked = false;
  for (std::size_t at = eol == std::string_view::npos ? lines.size() : eol + 2; at < lines.size();) {
    std::size_t next = lines.find("\r\n", at);
    if (next == std::string_view::npos) next = lines.size();
    std::string_view line = lines.substr(at, next - at);
    at = next + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return make_error(Errc::corrupt, "HTTP response with a malformed header");
    std::string name = lower(trim(line.substr(0, colon)));
    std::string value(trim(line.substr(colon + 1)));
    if (name == "content-length") {
      if (std::from_chars(value.data(), value.data() + value.size(), content_length).ec != std::errc{})
        return make_error(Errc::corrupt, "HTTP response with a malformed Content-Length");
      has_length = true;
    } else if (name == "transfer-encoding") {
      chunked = lower(value).find("chunked") != std::string::npos;
    } else if (name == "connection") {
      const std::string v = lower(value);
      if (v.find("close") != std::string::npos) close_after = true;
      if (v.find("keep-alive") != std::string::npos) close_after = false;
    }
    res.headers.emplace_back(std::move(name), std::move(value));
  }
  std::string_view rest(head.data() + end + 4, head.size() - end - 4);

  if (res.status / 100 == 1 || res.status == 204 || res.status == 304) {
    pending_.assign(rest);  // no body, whatever the headers say
  } else if (chunked) {
    // Rare here (our server sends Content-Length): decode from an accumulating buffer.
    std::string raw(rest);
    std::size_t at = 0;
    auto need = [&](std::size_t bytes) -> Status {
      while (raw.size() - at < bytes) {
        const std::size_t old = raw.size();
        raw.resize(old + kHeaderChunk);
        auto n = read_some(raw.data() + old, kHeaderChunk, deadline_ns);
        if (!n) return Error(std::move(n).error());
        raw.resize(old + *n);
        if (*n == 0) return make_error(Errc::peer_dead, "HTTP connection closed inside a chunked body");
      }
      return {};
    };
    auto line_end = [&]() -> Result<std::size_t> {
      for (;;) {
        if (auto p = raw.find("\r\n", at); p != std::string::npos) return p;
        if (raw.size() - at > 4096) return make_error(Errc::corrupt, "HTTP chunk header too long");
        if (auto s = need(raw.size() - at + 1); !s) return Error(std::move(s).error());
      }
    };
    for (;;) {
      auto le = line_end();
      if (!le) return Error(std::move(le).error());
      std::size_t size = 0;
      const char* first = raw.data() + at;
      if (std::from_chars(first, raw.data() + *le, size, 16).ec != std::errc{})
        return make_error(Errc::corrupt, "HTTP chunk with a malformed size");
      at = *le + 2;
      if (size == 0) {  // trailers (ignored) up to an empty line
        for (;;) {
          auto te = line_end();
          if (!te) return Error(std::move(te).error());
          const bool empty = *te == at;
          at = *te + 2;
          if (empty) break;
        }
        break;
      }
      if (res.body.size() + size > max_body) return make_error(Errc::too_large, "HTTP response body too large");
      if (auto s = need(size + 2); !s) return Error(std::move(s).error());
      res.body.append(raw, at, size);
      at += size + 2;
    }
    pending_.assign(raw, at);
    res.body.reserve(res.body.size() + pad);
  } else if (has_length) {
    if (content_length > max_body) return make_error(Errc::too_large, "HTTP response body too large");
    res.body.reserve(content_length + pad);
    const std::size_t first = std::min(rest.size(), content_length);
    res.body.assign(rest.data(), first);
    if (rest.size() > first) pending_.assign(rest.substr(first));
    res.body.resize(content_length);
    for (std::size_t have = first; have < content_length;) {
      auto n = read_some(res.body.data() + have, content_length - have, deadline_ns);
      if (!n) return Error(std::move(n).error());
      if (*n == 0) return make_error(Errc::peer_dead, "HTTP connection closed inside the body");
      have += *n;
    }
  } else {  // no length: the body ends when the server closes
    res.body.assign(rest);
    for (;;) {
      if (res.body.size() > max_body) return make_error(Errc::too_large, "HTTP response body too large");
      const std::size_t old = res.body.size();
      res.body.resize(old + kHeaderChunk);
      auto n = read_some(res.body.data() + old, kHeaderChunk, deadline_ns);
      if (!n) return Error(std::move(n).error());
      res.body.resize(old + *n);
      if (*n == 0) break;
    }
    close_after = true;
    res.body.reserve(res.body.size() + pad);
  }
  if (close_after) close_fd();
  return res;
}

}  // namespace shmcp
