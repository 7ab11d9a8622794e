// The executor-wide cap on live worker processes, shared by the tenants' lazily started pools:
// a pool takes one unit per worker it spawns and gives it back when the worker is reaped. Any
// thread. A pool that finds the budget spent waits (its calls queue in their lanes, bounded by
// their deadlines) until other pools' workers idle out.
#pragma once

#include <atomic>
#include <cstdint>

namespace shmcp::executor {

class WorkerBudget {
 public:
  explicit WorkerBudget(std::uint32_t max) noexcept : max_(max) {}

  bool try_acquire() noexcept {
    std::uint32_t used = used_.load(std::memory_order_relaxed);
    while (used < max_)
      if (used_.compare_exchange_weak(used, used + 1, std::memory_order_acq_rel)) return true;
    return false;
  }
  void release() noexcept {
    used_.fetch_sub(1, std::memory_order_acq_rel);
  }
  std::uint32_t in_use() const noexcept { return used_.load(std::memory_order_relaxed); }
  std::uint32_t max() const noexcept { return max_; }

 private:
  const std::uint32_t max_;
  std::atomic<std::uint32_t> used_{0};
};

}  // namespace shmcp::executor
