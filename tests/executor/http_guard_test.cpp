// The Origin, Host and Content-Type rules every HTTP endpoint shares (executor/http_guard.hpp).
#include <gtest/gtest.h>

#include "executor/http_guard.hpp"

using namespace shmcp::executor;

namespace {

TEST(OriginAllowed, LoopbackOriginsAndListedOnesOnly) {
  for (const char* o : {"http://localhost", "http://localhost:3000", "https://127.0.0.1:8443", "http://[::1]:8080",
                        " http://LOCALHOST:1 "})
    EXPECT_TRUE(origin_allowed(o, {})) << o;
  for (const char* o : {"https://evil.example", "null", "", "localhost", "http://localhost.evil.example",
                        "http://localhost@evil.example", "http://127.0.0.1.evil.example", "http://[::1].evil.example",
                        "http://localhost:80/path", "http://localhost:x"})
    EXPECT_FALSE(origin_allowed(o, {})) << o;
  EXPECT_TRUE(origin_allowed("https://app.example", {"https://app.example"}));
  EXPECT_FALSE(origin_allowed("https://app.example:1", {"https://app.example"}));
}

TEST(HostAllowed, IpLiteralsLocalhostTheBoundHostAndListedNames) {
  const std::vector<std::string> allowed = {"executor.internal"};
  for (const char* h : {"localhost", "localhost:8002", "127.0.0.1:8002", "[::1]:8002", "[::1]", "10.0.0.7:8002",
                        "[fe80::1]:8002", "executor.internal", "EXECUTOR.internal.:8002", "sidecar", "sidecar:8002"})
    EXPECT_TRUE(host_allowed(h, "sidecar", allowed)) << h;
  for (const char* h : {"evil.example", "evil.example:8002", "localhost.evil.example", "127.0.0.1.nip.io", "",
                        "[::1", "localhost:80x", "executor.internal.evil.example", "10.0.0.7.evil.example"})
    EXPECT_FALSE(host_allowed(h, "sidecar", allowed)) << h;
}

TEST(JsonContentType, MediaTypeWithOptionalParameters) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("Application/JSON; charset=utf-8"));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_FALSE(is_json_content_type(""));
  EXPECT_FALSE(is_json_content_type("application/json-patch+json"));
  EXPECT_FALSE(is_json_content_type("application/jsonx"));
}

}  // namespace
