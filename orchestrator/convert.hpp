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

}  // namespace shmcp
