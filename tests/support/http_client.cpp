#include "tests/support/http_client.hpp"

#include <chrono>
#include <sstream>

#include <httplib.h>

#include "tests/support/process.hpp"

namespace shmcp::testing {

int http_get(int port, const std::string& path, std::string* body, int timeout_ms) {
  httplib::Client cli("127.0.0.1", port);
  const auto t = std::chrono::milliseconds(timeout_ms);
  cli.set_connection_timeout(t);
  cli.set_read_timeout(t);
  cli.set_write_timeout(t);
  cli.set_keep_alive(false);
  const auto res = cli.Get(path);
  if (!res) return 0;
  if (body) *body = res->body;
  return res->status;
}

double metric(int port, const std::string& series) {
  std::string body;
  if (http_get(port, "/metrics", &body) != 200) return -1;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return -1;
}

double await_metric(int port, const std::string& series, double want, int timeout_ms) {
  double v = -1;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < give_up) {
    v = metric(port, series);
    if (v == want) return v;
    sleep_ms(5);
  }
  return v;
}

}  // namespace shmcp::testing
