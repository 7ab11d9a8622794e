#include "executor/status.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "executor/executor.hpp"

namespace shmcp::executor {

nlohmann::json status_json(const channel::Segment& seg, const std::string& workspace, bool read_only) {
  const auto& h = seg.header();
  std::uint32_t alive = 0, sandboxed = 0, idle = 0;
  for (std::uint32_t i = 0; i < seg.worker_count(); ++i) {
    const auto& w = seg.worker(i);
    const auto state = static_cast<channel::WorkerState>(w.state.load(std::memory_order_acquire));
    if (state == channel::WorkerState::serving) {
      ++alive;
      sandboxed += w.sandboxed.load(std::memory_order_relaxed);
    }
    // A lazy pool's worker not started yet or stopped after its idle period: starts on demand.
    idle += state == channel::WorkerState::empty || state == channel::WorkerState::stopped;
  }
  std::uint32_t in_use = 0;
  const std::uint32_t hw = std::min(h.lanes_high_water.load(), seg.lane_count());
  for (std::uint32_t i = 0; i < hw; ++i) in_use += seg.lane(i).claimed.load(std::memory_order_relaxed) != 0;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  const std::uint64_t now = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
  const std::uint64_t created = seg.created_realtime_ns();
  char epoch[32];
  std::snprintf(epoch, sizeof epoch, "%016llx", static_cast<unsigned long long>(seg.epoch()));
  const bool closing = h.state.load() == static_cast<std::uint32_t>(channel::SegmentState::closing);
  return {
      {"status", closing ? "stopping" : (alive + idle == seg.worker_count() ? "ok" : "degraded")},
      {"version", kVersion},
      {"workspace", workspace},
      {"read_only", read_only},
      {"uptime_s", now > created ? static_cast<double>(now - created) / 1e9 : 0.0},
      {"workers", {{"configured", seg.worker_count()}, {"alive", alive}, {"idle", idle}, {"sandboxed", sandboxed}}},
      {"channel",
       {{"name", seg.name()},
        {"path", seg.path()},
        {"epoch", epoch},
        {"lanes", seg.lane_count()},
        {"lanes_in_use", in_use},
        {"slots_per_ring", seg.slots_per_ring()},
        {"slot_size", seg.slot_size()},
        {"max_message", seg.max_message()},
        {"wait", std::string(channel::wait_mode_name(seg.default_wait_mode()))}}},
  };
}

}  // namespace shmcp::executor
