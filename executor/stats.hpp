// Per-tool call counters kept in the control region's StatsBlock (out of the clients' reach) (written by workers with relaxed atomics,
// read by the supervisor for /metrics). Tool indices follow the order of Tools::list().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "channel/control.hpp"
#include "executor/tools/tools.hpp"

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

// Appends one Prometheus histogram series (cumulative _bucket lines for the power-of-two
// microsecond buckets, then +Inf, _sum in seconds, _count) for one tool and transport. The HELP
// and TYPE lines are the caller's. `buckets` has channel::kLatencyBuckets entries, the last
// being the overflow bucket. Any thread; the counters are read with relaxed loads.
void append_latency_histogram(std::string& out, const char* metric, const std::string& tool, const char* transport,
                              const channel::AtomicU64* buckets, std::uint64_t sum_ns);

// Prometheus text for the StatsBlock plus supervisor-side counters.
std::string prometheus_text(const channel::StatsBlock& stats, std::uint64_t worker_restarts, std::uint32_t workers_alive,
                            std::uint32_t lanes_in_use);

// The quota gauges (shmcp_quota_{used,limit}_{bytes,files}); a limit of 0 means unlimited.
std::string quota_prometheus_text(const QuotaUsage& usage);

}  // namespace shmcp::executor
