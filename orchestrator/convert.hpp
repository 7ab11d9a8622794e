// Turning a verified wire::Response into what the client API returns. Shared by the client
// library and the executor's HTTP/MCP frontends (which are channel clients themselves), so the
// CallToolResult JSON is produced in exactly one place.
#pragma once

#include <nlohmann/json.hpp>

#include "channel/messages.hpp"
#include "orchestrator/client.hpp"

namespace shmcp {

// Transport status -> Error (Ok -> success).
Status status_error(const wire::Response& r);
// CallToolResult JSON like the reference server: content blocks, isError, structuredContent.
Result<ToolResult> response_to_result(const wire::Response& r);
// Text of a successful text result; a tool failure becomes Errc::tool_error.
Result<std::string> response_text(const wire::Response& r);

// The CallToolResult JSON text of `r`, byte for byte to_json_text(response_to_result(r)->json,
// handler), appended to `out`; with `state_is_error`, "isError": false is written on success too
// (POST /execute always states it). Written straight from the FlatBuffer, without a DOM: each
// text is checked and escaped once, and where the result repeats it (structuredContent) the
// escaped bytes are copied. A transport status (not Ok) is returned as its error with `out`
// unchanged; so is a strict handler's json::type_error (invalid UTF-8), which propagates as from
// to_json_text.
Status append_result_json(std::string& out, const wire::Response& r, bool state_is_error = false,
                          nlohmann::json::error_handler_t handler = nlohmann::json::error_handler_t::strict);

// Exactly j.dump(-1, ' ', false, handler), several times faster on long strings: nlohmann escapes
// byte by byte (a read_text_file result carries its text twice); here runs of bytes that need no escaping are appended whole. A string
// that is not valid UTF-8 is handed to nlohmann's own escaping, so its handler decides (strict:
// throws json::type_error, as dump() would). Every frontend that writes results as JSON uses it.
std::string to_json_text(const nlohmann::json& j,
                         nlohmann::json::error_handler_t handler = nlohmann::json::error_handler_t::strict);

}  // namespace shmcp
