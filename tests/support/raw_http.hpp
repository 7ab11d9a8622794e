// Raw-socket HTTP for tests that must control every byte a client sends (Host, Origin,
// Content-Type, half-sent requests, idle connections): cpp-httplib's client fills some of these in.
#pragma once

#include <string>

namespace shmcp::testing {

struct RawReply {
  int status = 0;  // 0: no (parseable) response
  std::string headers;
  std::string body;
};

// A TCP connection to 127.0.0.1:port with send and receive timeouts (so a test never hangs); -1
// on failure. The caller closes it.
int raw_connect(int port, int recv_timeout_s = 10);

// Sends all of `bytes`; false if the connection failed first.
bool raw_send(int fd, const std::string& bytes);

// Reads until the peer closes (or the receive timeout): the whole of a Connection: close reply.
std::string raw_read_all(int fd);

RawReply parse_raw_reply(const std::string& resp);

// One request; `headers` are extra header lines, each ending in \r\n. Host defaults to
// 127.0.0.1:port unless `headers` has one (pass host = "" to send none).
RawReply raw_request(int port, const std::string& method, const std::string& path, const std::string& headers,
                     const std::string& body = {}, const std::string* host = nullptr);

}  // namespace shmcp::testing
