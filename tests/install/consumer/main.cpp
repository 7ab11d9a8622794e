// Uses only the installed headers and libshmcp: connects to a channel that does not exist and
// expects the library's clear not_found error (exit 0), or calls a tool if a URL is given.
#include <orchestrator/client.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  const char* url = argc > 1 ? argv[1] : "shm://shmcp-install-check-no-such-channel";
  auto c = shmcp::Client::connect(url);
  if (argc == 1) {
    if (!c && c.error().code == shmcp::Errc::not_found) {
      std::printf("ok: %s\n", c.error().describe().c_str());
      return 0;
    }
    std::printf("unexpected: %s\n", c ? "connected" : c.error().describe().c_str());
    return 1;
  }
  if (!c) {
    std::printf("connect failed: %s\n", c.error().describe().c_str());
    return 1;
  }
  auto r = c.value()->call("list_allowed_directories", nlohmann::json::object());
  if (!r || r->is_error) return 1;
  std::printf("%s\n", r->text().c_str());
  return 0;
}
