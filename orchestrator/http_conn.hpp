// One keep-alive HTTP/1.1 connection for POSTs whose responses may be megabytes (shmcp::Client over
// http://, the bench's /mcp driver).
//
// cpp-httplib's client receives a body 4 KiB at a time, each read preceded by a poll(): a 2 MiB
// tool result cost ~500 recv() and ~500 poll() calls per request. This reads the status line and
// headers with 64 KiB reads, then the body straight into its final buffer (reserved from
// Content-Length with `pad` spare bytes after it, e.g. simdjson's padding) with reads as large as
// what is left. Content-Length and chunked bodies are understood; no TLS, no redirects, no 1xx.
//
// Not thread-safe: one thread uses a connection at a time (the client keeps a pool of them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "channel/base/result.hpp"

namespace shmcp {

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in received order
  std::string body;  // capacity >= size() + the `pad` asked for
  // The first header of that (lower-case) name, or empty.
  std::string header(std::string_view lower_name) const;
};

class HttpConnection {
 public:
  HttpConnection(std::string host, int port) : host_(std::move(host)), port_(port) {}
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // POSTs `body` to `path` with `headers` ("Name: value" lines are built from the pairs; Host,
  // Content-Length and Connection are added) and receives the whole response within timeout_ms.
  // Connects on first use and after the server closed the connection; a request that finds its
  // kept-alive connection closed before any byte of the answer is sent again once on a new one.
  // Errors: timeout (the time ran out), peer_dead (cannot connect, connection lost), corrupt
  // (malformed response), too_large (a body over max_body).
  Result<HttpResponse> post(std::string_view path, const std::vector<std::pair<std::string, std::string>>& headers,
                            std::string_view body, std::uint64_t timeout_ms, std::size_t pad = 0,
                            std::size_t max_body = std::size_t{1} << 31);

  bool connected() const noexcept { return fd_ >= 0; }
  // Connections opened so far (a test observes keep-alive with it).
  std::uint64_t connects() const noexcept { return connects_; }

 private:
  Status connect_to(std::uint64_t deadline_ns);
  void close_fd() noexcept;
  Result<HttpResponse> exchange(const std::string& request, std::uint64_t deadline_ns, std::size_t pad,
                                std::size_t max_body, bool& nothing_received);
  // Reads more bytes into `buf` at `at`, up to `max`; 0 = the peer closed.
  Result<std::size_t> read_some(char* buf, std::size_t max, std::uint64_t deadline_ns);

  std::string host_;
  int port_;
  int fd_ = -1;
  std::uint64_t connects_ = 0;
  std::string pending_;  // bytes read past the previous response (none with well-behaved servers)
};

}  // namespace shmcp
