// A well-behaved HTTP client for tests (cpp-httplib's): readiness probes, status checks, and the
// executor's Prometheus metrics. Tests that must control every byte use raw_http.hpp instead.
#pragma once

#include <string>

namespace shmcp::testing {

// GET http://127.0.0.1:port<path> on a fresh connection (connect, read and write timeouts of
// timeout_ms each). Returns the status code, 0 when no response came (refused, timed out), and
// fills *body.
int http_get(int port, const std::string& path, std::string* body = nullptr, int timeout_ms = 5000);

// The value of one Prometheus series (exact name and labels) from GET /metrics; -1 if absent.
double metric(int port, const std::string& series);

// Polls (bounded) until a metric reaches `want`; returns its last value. Workers record a call's
// counters just after replying, so a scrape right after a response may lag by a moment.
double await_metric(int port, const std::string& series, double want, int timeout_ms = 10'000);

}  // namespace shmcp::testing
