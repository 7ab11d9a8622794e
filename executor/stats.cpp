#include "executor/stats.hpp"

#include <bit>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "executor/tools/tools.hpp"

namespace shmcp::executor {

ToolIndex::ToolIndex() {
  for (const auto& t : Tools::list())
    if (names_.size() < channel::kMaxTools) names_.push_back(t.at("name").get<std::string>());
}

int ToolIndex::find(std::string_view tool) const noexcept {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == tool) return static_cast<int>(i);
  return -1;
}

const ToolIndex& tool_index() {
  static const ToolIndex idx;
  return idx;
}

void record_call(channel::StatsBlock& s, int tix, bool ok, bool tool_error, std::uint64_t elapsed_ns) noexcept {
  if (tix < 0 || tix >= static_cast<int>(channel::kMaxTools)) return;
  const auto t = static_cast<std::size_t>(tix);
  if (!ok) s.calls_failed[t].fetch_add(1, std::memory_order_relaxed);
  else if (tool_error) s.calls_tool_error[t].fetch_add(1, std::memory_order_relaxed);
  else s.calls_ok[t].fetch_add(1, std::memory_order_relaxed);
  // Bucket b holds calls that took < 2^b microseconds; the last bucket is the overflow.
  const std::uint64_t us = elapsed_ns / 1000;
  std::size_t b = us == 0 ? 0 : static_cast<std::size_t>(std::bit_width(us));
  if (b >= channel::kLatencyBuckets) b = channel::kLatencyBuckets - 1;
  s.latency_us_bucket[t][b].fetch_add(1, std::memory_order_relaxed);
  s.latency_sum_ns[t].fetch_add(elapsed_ns, std::memory_order_relaxed);
}

void append_latency_histogram(std::string& out, const char* metric, const std::string& tool, const char* transport,
                              const channel::AtomicU64* buckets, std::uint64_t sum_ns) {
  char buf[256];
  std::uint64_t cum = 0;
  for (std::size_t b = 0; b < channel::kLatencyBuckets; ++b) {
    cum += buckets[b].load(std::memory_order_relaxed);
    if (b + 1 < channel::kLatencyBuckets)
      std::snprintf(buf, sizeof buf, "%s_bucket{tool=\"%s\",transport=\"%s\",le=\"%g\"} %llu\n", metric, tool.c_str(),
                    transport, static_cast<double>(1ull << b) / 1e6, static_cast<unsigned long long>(cum));
    else
      std::snprintf(buf, sizeof buf, "%s_bucket{tool=\"%s\",transport=\"%s\",le=\"+Inf\"} %llu\n", metric, tool.c_str(),
                    transport, static_cast<unsigned long long>(cum));
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "%s_sum{tool=\"%s\",transport=\"%s\"} %.9f\n", metric, tool.c_str(), transport,
                static_cast<double>(sum_ns) / 1e9);
  out += buf;
  std::snprintf(buf, sizeof buf, "%s_count{tool=\"%s\",transport=\"%s\"} %llu\n", metric, tool.c_str(), transport,
                static_cast<unsigned long long>(cum));
  out += buf;
}

std::string prometheus_text(const channel::StatsBlock& s, std::uint64_t worker_restarts, std::uint32_t workers_alive,
                            std::uint32_t lanes_in_use) {
  std::string out;
  char buf[256];
  const auto& names = tool_index().names();
  out += "# HELP shmcp_calls_total Tool calls served by the workers, by tool and outcome.\n";
  out += "# TYPE shmcp_calls_total counter\n";
  for (std::size_t t = 0; t < names.size(); ++t) {
    const std::pair<const char*, std::uint64_t> outcomes[] = {
        {"ok", s.calls_ok[t].load()}, {"tool_error", s.calls_tool_error[t].load()}, {"failed", s.calls_failed[t].load()}};
    for (auto [o, v] : outcomes) {
      std::snprintf(buf, sizeof buf, "shmcp_calls_total{tool=\"%s\",outcome=\"%s\"} %llu\n", names[t].c_str(), o,
                    static_cast<unsigned long long>(v));
      out += buf;
    }
  }
  out += "# HELP shmcp_call_duration_seconds Executor-side service time of tool calls (all transports arrive over the channel).\n";
  out += "# TYPE shmcp_call_duration_seconds histogram\n";
  for (std::size_t t = 0; t < names.size(); ++t)
    append_latency_histogram(out, "shmcp_call_duration_seconds", names[t], "channel", s.latency_us_bucket[t],
                             s.latency_sum_ns[t].load());
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    std::snprintf(buf, sizeof buf, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                  static_cast<unsigned long long>(v));
    out += buf;
  };
  auto gauge = [&](const char* name, const char* help, std::uint64_t v) {
    std::snprintf(buf, sizeof buf, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
                  static_cast<unsigned long long>(v));
    out += buf;
  };
  counter("shmcp_worker_restarts_total", "Workers respawned after dying.", worker_restarts);
  counter("shmcp_sandbox_violations_total", "Workers killed by the seccomp filter (SIGSYS).", s.sandbox_violations.load());
  counter("shmcp_call_timeouts_total", "Calls that exceeded their deadline (worker killed).", s.timeouts.load());
  counter("shmcp_corrupt_messages_total", "Messages that failed verification (hostile or corrupt peers).", s.corrupt_messages.load());
  counter("shmcp_lanes_reclaimed_total", "Lanes reclaimed from clients that died.", s.lanes_reclaimed.load());
  counter("shmcp_header_repairs_total", "Channel header fields a client overwrote and the executor put back.",
          s.header_repairs.load());
  counter("shmcp_lane_owner_repairs_total", "Lanes freed whose server owner no worker held (overwritten by a client).",
          s.lane_owner_repairs.load());
  counter("shmcp_segment_resizes_total", "Times a resized channel segment was put back to its size.", s.segment_resizes.load());
  gauge("shmcp_workers_alive", "Worker processes serving calls.", workers_alive);
  gauge("shmcp_lanes_in_use", "Lanes currently claimed by clients.", lanes_in_use);
  return out;
}

std::string quota_prometheus_text(const QuotaUsage& u) {
  std::string out;
  char buf[256];
  auto gauge = [&](const char* name, const char* help, std::uint64_t v) {
    std::snprintf(buf, sizeof buf, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
                  static_cast<unsigned long long>(v));
    out += buf;
  };
  gauge("shmcp_quota_used_bytes", "Bytes of regular files in the workspace, as the quota counts them.", u.used_bytes);
  gauge("shmcp_quota_limit_bytes", "The workspace's byte quota (0: unlimited).", u.limit_bytes);
  gauge("shmcp_quota_used_files", "Entries (files, directories, links) in the workspace, as the quota counts them.",
        u.used_files);
  gauge("shmcp_quota_limit_files", "The workspace's file quota (0: unlimited).", u.limit_files);
  return out;
}

}  // namespace shmcp::executor
