// An MCP stdio server process (`shmcp-executor mcp ...`) driven over real pipes, one request at
// a time, as an MCP client that launches stdio servers drives it. Single-threaded use.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace shmcp::testing {

class StdioMcp {
 public:
  // Starts argv[0] with argv (no shell); its stderr is kept (stderr_text()).
  explicit StdioMcp(const std::vector<std::string>& argv);
  ~StdioMcp();
  StdioMcp(const StdioMcp&) = delete;
  StdioMcp& operator=(const StdioMcp&) = delete;

  bool started() const { return pid_ > 0; }
  // Sends a JSON-RPC request and returns the response carrying its id; null if the server ended
  // or sent nothing for 30 s.
  nlohmann::json request(const std::string& method, const nlohmann::json& params);
  // initialize + notifications/initialized; false if initialize got no result.
  bool initialize();
  // tools/call: the CallToolResult, or null (no response, or a JSON-RPC error).
  nlohmann::json call_tool(const std::string& tool, const nlohmann::json& args);
  // Closes its stdin and waits for it (SIGKILL after 10 s); the wait status.
  int finish();
  std::string stderr_text() const;

 private:
  bool read_line(std::string* line);

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  std::string err_path_;
  std::string buffer_;
  long next_id_ = 1;
};

}  // namespace shmcp::testing
