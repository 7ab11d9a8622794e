// libFuzzer target: the MCP JSON-RPC parser. Each '\n'-separated line goes to one McpSession
// (so lifecycle states are explored: initialize, then requests), with a fake tool caller. The
// session must never throw or crash, and every response is a single line of valid JSON-RPC.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "executor/mcp.hpp"

using namespace shmcp;
using namespace shmcp::executor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  McpSession session([](std::string_view tool, const nlohmann::json& args) -> Result<nlohmann::json> {
    if (tool == "move_file") return make_error(Errc::timeout, "fake transport failure");
    const std::string text = std::string(tool) + " " + mcp::dump(args);
    return nlohmann::json{{"content", nlohmann::json::array({{{"type", "text"}, {"text", text}}})}};
  });
  std::string_view in(reinterpret_cast<const char*>(data), size);
  int lines = 0;
  while (!in.empty() && lines++ < 64) {
    const auto nl = in.find('\n');
    const std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    auto out = session.handle(line);
    if (!out) continue;
    if (out->find('\n') != std::string::npos) __builtin_trap();
    auto j = nlohmann::json::parse(*out, nullptr, false);
    if (j.is_discarded()) __builtin_trap();
    if (!j.is_object() || j.value("jsonrpc", "") != "2.0") __builtin_trap();
  }
  return 0;
}
