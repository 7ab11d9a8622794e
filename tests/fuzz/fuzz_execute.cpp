// libFuzzer target: POST /execute's handler (handle_execute, exactly what the route runs) on
// arbitrary bodies, with a fake tool caller that serialises the arguments the way the channel
// client does (recursively) and echoes them back. The handler must never throw or crash (deep
// nesting included: the body is the untrusted input that once overflowed the stack), and every
// reply is one JSON object with a status the endpoint documents.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "executor/http.hpp"
#include "orchestrator/convert.hpp"

using namespace shmcp;
using namespace shmcp::executor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const ExecuteCall call = [](const std::string& tool, const nlohmann::json& args) -> Result<ToolResult> {
    if (tool == "move_file") return make_error(Errc::timeout, "fake transport failure");
    ToolResult r;
    const std::string text = tool + " " + to_json_text(args, nlohmann::json::error_handler_t::replace);
    r.json = {{"content", nlohmann::json::array({{{"type", "text"}, {"text", text}}})}};
    r.is_error = tool == "get_file_info";
    if (r.is_error) r.json["isError"] = true;
    return r;
  };
  const ExecutePing ping = [] { return Status{}; };
  // A small limit as well as the default, so the 413 path is reached by short inputs too.
  for (const std::size_t limit : {std::size_t{1} << 20, std::size_t{64}}) {
    const ExecuteReply r = handle_execute(body, limit, call, ping);
    if (r.status != 200 && r.status != 400 && r.status != 413 && r.status != 500 && r.status != 504) __builtin_trap();
    if (size > limit && r.status != 413) __builtin_trap();
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_object()) __builtin_trap();
    if (r.status == 200 && !j.contains("content")) __builtin_trap();
    if (r.status != 200 && !j.contains("error")) __builtin_trap();
  }
  return 0;
}
