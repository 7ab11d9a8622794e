// The one parser for JSON text that arrives from outside a process: HTTP bodies (POST /execute,
// /mcp), MCP stdio lines, tool arguments read from the channel, and arguments handed to the client
// library and CLI. nlohmann's own parser is iterative, but copying, dumping and validating a value
// recurse over its structure, so a value nested deeper than the stack allows must never be built:
// this parser stops at the first container that exceeds max_depth (without reading further) and
// refuses text longer than max_bytes before looking at it. Everything downstream may then recurse
// over a parsed value without its own guard. Never throws; thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

namespace shmcp {

// Deep enough for every tool's arguments (edit_file's are three levels) and any MCP message; a
// few KiB of stack per level for the recursive consumers stays far below a thread's stack.
inline constexpr std::size_t kMaxJsonDepth = 128;
// The channel's default largest message: no JSON text bigger than that can be served anyway.
inline constexpr std::size_t kDefaultMaxJsonBytes = std::size_t{64} << 20;

struct JsonLimits {
  std::size_t max_depth = kMaxJsonDepth;      // containers ([ or {) nested inside each other
  std::size_t max_bytes = kDefaultMaxJsonBytes;
};

enum class JsonFault : std::uint8_t {
  none,
  malformed,  // not exactly one JSON value (syntax error, trailing data, empty text)
  too_deep,   // containers nested deeper than max_depth
  too_large,  // text longer than max_bytes (or memory ran out building the value)
};

// Parses `text` as exactly one JSON value into `out`. On any fault `out` is null.
JsonFault parse_json_bounded(std::string_view text, nlohmann::json& out, const JsonLimits& limits = {}) noexcept;

// A short human-readable reason ("malformed JSON", "JSON nested too deeply", ...).
std::string_view describe(JsonFault f) noexcept;

}  // namespace shmcp
