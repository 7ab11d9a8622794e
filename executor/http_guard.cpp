#include "executor/http_guard.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace shmcp::executor {

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "host[:port]" or "[v6][:port]" -> the host part, lowercased, brackets kept for IPv6, trailing
// dot removed; "" if the port part is malformed.
std::string host_part(std::string_view authority) {
  std::string_view host;
  std::string_view rest;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return {};
    host = authority.substr(0, close + 1);
    rest = authority.substr(close + 1);
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.find_first_not_of("0123456789", 1) != std::string_view::npos) return {};
  }
  std::string h = lower(host);
  if (h.size() > 1 && h.back() == '.') h.pop_back();
  return h;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    return ::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) == 1;
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1;
}

bool is_loopback_name(const std::string& host) { return host == "localhost" || host == "127.0.0.1" || host == "[::1]"; }

}  // namespace

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed_origins) {
  origin = trim(origin);
  if (std::find(allowed_origins.begin(), allowed_origins.end(), origin) != allowed_origins.end()) return true;
  const auto scheme = origin.find("://");
  if (scheme == std::string_view::npos) return false;
  const std::string_view authority = origin.substr(scheme + 3);
  if (authority.find_first_of("/?#@") != std::string_view::npos) return false;
  return is_loopback_name(host_part(authority));
}

bool host_allowed(std::string_view host, std::string_view bound_host, const std::vector<std::string>& allowed_hosts) {
  const std::string h = host_part(trim(host));
  if (h.empty()) return false;
  if (is_loopback_name(h) || is_ip_literal(h)) return true;
  if (h == host_part(bound_host)) return true;
  return std::any_of(allowed_hosts.begin(), allowed_hosts.end(),
                     [&](const std::string& a) { return h == host_part(a); });
}

bool is_json_content_type(std::string_view content_type) {
  const std::string ct = lower(content_type);
  return trim(std::string_view(ct).substr(0, ct.find(';'))) == "application/json";
}

bool token_equal(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % (expected.empty() ? 1 : expected.size())]);
  return diff == 0 && !expected.empty();
}

}  // namespace shmcp::executor
