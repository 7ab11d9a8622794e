// The C ABI over shmcp::Client. Every entry point catches everything: no C++ exception may cross
// into a C (or Python, or Node) caller.
#include <cstdlib>
#include <cstring>
#include <memory>

#include "orchestrator/bounded_json.hpp"
#include "orchestrator/client.hpp"
#include "orchestrator/convert.hpp"
#include "orchestrator/shmcp.h"

struct shmcp_client {
  std::unique_ptr<shmcp::Client> impl;
};

namespace {

void put_err(char* err, size_t len, const std::string& msg) {
  if (err == nullptr || len == 0) return;
  const size_t n = std::min(len - 1, msg.size());
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}

// shmcp.h's return codes are the negated Errc values: code_of relies on it, and C callers see
// these numbers, so neither side may be renumbered alone.
constexpr int c_code(shmcp::Errc e) { return -static_cast<int>(e); }
static_assert(SHMCP_OK == c_code(shmcp::Errc::ok));
static_assert(SHMCP_E_INVALID_ARGUMENT == c_code(shmcp::Errc::invalid_argument));
static_assert(SHMCP_E_NOT_FOUND == c_code(shmcp::Errc::not_found));
static_assert(SHMCP_E_ACCESS_DENIED == c_code(shmcp::Errc::access_denied));
static_assert(SHMCP_E_TIMEOUT == c_code(shmcp::Errc::timeout));
static_assert(SHMCP_E_PEER_DEAD == c_code(shmcp::Errc::peer_dead));
static_assert(SHMCP_E_RING_FULL == c_code(shmcp::Errc::ring_full));
static_assert(SHMCP_E_TOO_LARGE == c_code(shmcp::Errc::too_large));
static_assert(SHMCP_E_CORRUPT == c_code(shmcp::Errc::corrupt));
static_assert(SHMCP_E_VERSION_MISMATCH == c_code(shmcp::Errc::version_mismatch));
static_assert(SHMCP_E_BUSY == c_code(shmcp::Errc::busy));
static_assert(SHMCP_E_CLOSED == c_code(shmcp::Errc::closed));
static_assert(SHMCP_E_IO == c_code(shmcp::Errc::io));
static_assert(SHMCP_E_TOOL_ERROR == c_code(shmcp::Errc::tool_error));
static_assert(SHMCP_E_INTERNAL == c_code(shmcp::Errc::internal));

int code_of(const shmcp::Error& e) { return c_code(e.code); }

char* dup_string(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

shmcp::CallOptions opts(int timeout_ms) {
  shmcp::CallOptions o;
  if (timeout_ms > 0) o.timeout = std::chrono::milliseconds(timeout_ms);
  return o;
}

}  // namespace

extern "C" {

shmcp_client* shmcp_connect(const char* url, int timeout_ms, char* err, size_t err_len) {
  try {
    if (url == nullptr) {
      put_err(err, err_len, "url is NULL");
      return nullptr;
    }
    shmcp::ClientOptions o;
    if (timeout_ms > 0) o.timeout = std::chrono::milliseconds(timeout_ms);
    auto c = shmcp::Client::connect(url, o);
    if (!c) {
      put_err(err, err_len, c.error().describe());
      return nullptr;
    }
    return new shmcp_client{std::move(*c)};
  } catch (const std::exception& e) {
    put_err(err, err_len, e.what());
    return nullptr;
  }
}

void shmcp_close(shmcp_client* client) { delete client; }

int shmcp_call(shmcp_client* client, const char* tool, const char* args_json, int timeout_ms, char** result_json,
               int* is_error, char* err, size_t err_len) {
  try {
    if (client == nullptr || tool == nullptr || result_json == nullptr) {
      put_err(err, err_len, "client, tool and result_json must not be NULL");
      return SHMCP_E_INVALID_ARGUMENT;
    }
    *result_json = nullptr;
    nlohmann::json args = nlohmann::json::object();
    if (args_json != nullptr && *args_json != '\0') {
      // Model-written arguments: bounded, since the call serialises them recursively.
      if (shmcp::parse_json_bounded(args_json, args) != shmcp::JsonFault::none || !args.is_object()) {
        put_err(err, err_len, "args_json must be a JSON object");
        return SHMCP_E_INVALID_ARGUMENT;
      }
    }
    auto r = client->impl->call(tool, args, opts(timeout_ms));
    if (!r) {
      put_err(err, err_len, r.error().describe());
      return code_of(r.error());
    }
    if (is_error) *is_error = r->is_error ? 1 : 0;
    *result_json = dup_string(shmcp::to_json_text(r->json));
    if (*result_json == nullptr) {
      put_err(err, err_len, "out of memory");
      return SHMCP_E_INTERNAL;
    }
    return SHMCP_OK;
  } catch (const std::exception& e) {
    put_err(err, err_len, e.what());
    return SHMCP_E_INTERNAL;
  }
}

int shmcp_ping(shmcp_client* client, int timeout_ms, char* err, size_t err_len) {
  try {
    if (client == nullptr) return SHMCP_E_INVALID_ARGUMENT;
    auto s = client->impl->ping(opts(timeout_ms));
    if (!s) {
      put_err(err, err_len, s.error().describe());
      return code_of(s.error());
    }
    return SHMCP_OK;
  } catch (const std::exception& e) {
    put_err(err, err_len, e.what());
    return SHMCP_E_INTERNAL;
  }
}

int shmcp_health(shmcp_client* client, char** status_json, char* err, size_t err_len) {
  try {
    if (client == nullptr || status_json == nullptr) return SHMCP_E_INVALID_ARGUMENT;
    auto r = client->impl->health();
    if (!r) {
      put_err(err, err_len, r.error().describe());
      return code_of(r.error());
    }
    *status_json = dup_string(r->dump());
    return *status_json ? SHMCP_OK : SHMCP_E_INTERNAL;
  } catch (const std::exception& e) {
    put_err(err, err_len, e.what());
    return SHMCP_E_INTERNAL;
  }
}

int shmcp_tools(shmcp_client* client, int timeout_ms, char** tools_json, char* err, size_t err_len) {
  try {
    if (client == nullptr || tools_json == nullptr) {
      put_err(err, err_len, "client and tools_json must not be NULL");
      return SHMCP_E_INVALID_ARGUMENT;
    }
    *tools_json = nullptr;
    auto r = client->impl->tools(opts(timeout_ms));
    if (!r) {
      put_err(err, err_len, r.error().describe());
      return code_of(r.error());
    }
    *tools_json = dup_string(shmcp::to_json_text(*r));
    return *tools_json ? SHMCP_OK : SHMCP_E_INTERNAL;
  } catch (const std::exception& e) {
    put_err(err, err_len, e.what());
    return SHMCP_E_INTERNAL;
  }
}

void shmcp_free(char* p) { std::free(p); }

const char* shmcp_version(void) { return "0.1.0"; }

}  // extern "C"
