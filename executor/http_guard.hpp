// Who may talk to the executor's HTTP endpoints from a browser: the Origin and Host checks every
// endpoint shares (the HTTP frontend's pre-routing handler, and McpHttp for /mcp on its own).
//
// Threat: a web page in a browser on the same host (or in the pod's network namespace) sends
// requests to 127.0.0.1:PORT. A cross-origin page carries its Origin: anything but a loopback
// origin (or one listed explicitly) is refused. With DNS rebinding the page's own name resolves
// to 127.0.0.1, so the request looks same-origin but its Host header is the attacker's name: Host
// must be an IP literal (rebinding needs a name), localhost, the bound host, or a name listed with
// --allowed-host. Requests without Origin/Host come from non-browser clients and pass.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shmcp::executor {

// True for "scheme://localhost[:port]", "scheme://127.0.0.1[:port]", "scheme://[::1][:port]" and
// for any origin in `allowed_origins` (exact "scheme://host[:port]" strings). "null" is foreign.
bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed_origins);

// True if a Host header value ("name", "name:port", "1.2.3.4:port", "[v6]:port") names this
// server: an IP literal, localhost, `bound_host`, or a name in `allowed_hosts` (case-insensitive,
// a trailing dot ignored, any port).
bool host_allowed(std::string_view host, std::string_view bound_host, const std::vector<std::string>& allowed_hosts);

// True if a Content-Type header value is application/json (parameters such as charset allowed).
bool is_json_content_type(std::string_view content_type);

// Bearer token comparison without an early exit, so response timing doesn't reveal how much of a
// guess matched. False when `expected` is empty.
bool token_equal(std::string_view given, std::string_view expected);

}  // namespace shmcp::executor
