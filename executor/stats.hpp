// Per-tool call counters kept in the control region's StatsBlock (out of the clients' reach) (written by workers with relaxed atomics,
// read by the supervisor for /metrics). Tool indices follow the order of Tools::list().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "channel/control.hpp"

namespace shmcp::executor {

class ToolIndex {
 public:
  ToolIndex();
  int find(std::string_view tool) const noexcept;  // -1 when unknown
  const std::vector<std::string>& names() const noexcept { return names_; }

 private:
  std::vector<std::string> names_;
};

const ToolIndex& tool_index();

// tix < 0 (pings, unknown tools) is not recorded per tool.
void record_call(channel::StatsBlock& stats, int tix, bool ok, bool tool_error, std::uint64_t elapsed_ns) noexcept;

// Prometheus text for the StatsBlock plus supervisor-side counters.
std::string prometheus_text(const channel::StatsBlock& stats, std::uint64_t worker_restarts, std::uint32_t workers_alive,
                            std::uint32_t lanes_in_use);

}  // namespace shmcp::executor
