// A tool call's deadline as the tool code sees it. Every loop whose work grows with the input
// (matching, diffing, walking, globbing) polls it and gives up with a timeout result, so a hostile
// input costs at most the call's budget and the worker answers instead of being killed for it.
//
// One per call, owned by the thread running the call (not thread-safe; workers are single-threaded).
#pragma once

#include <time.h>

#include <cstdint>

namespace shmcp::executor {

class CallDeadline {
 public:
  static constexpr std::uint64_t kNever = UINT64_MAX;

  CallDeadline() = default;  // never expires
  explicit CallDeadline(std::uint64_t at_monotonic_ns) noexcept : at_ns_(at_monotonic_ns) {}

  // Reads the clock (vDSO, tens of ns): for loops whose iterations cost a syscall or more.
  bool expired() noexcept {
    if (!expired_ && at_ns_ != kNever && now_ns() >= at_ns_) expired_ = true;
    return expired_;
  }
  // For tight loops: adds `work` units (roughly one cheap step each) and reads the clock only once
  // every kStride units, so polling costs nothing measurable.
  bool tick(std::uint64_t work = 1) noexcept {
    if (expired_) return true;
    work_ += work;
    if (work_ < kStride) return false;
    work_ = 0;
    return expired();
  }
  // True once expired() or tick() has seen the deadline pass; reads no clock. Code that stops early
  // on a deadline without saying so in its return value documents that callers must check this.
  bool hit() const noexcept { return expired_; }
  std::uint64_t at_ns() const noexcept { return at_ns_; }

  static std::uint64_t now_ns() noexcept {
    struct timespec ts {};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
  }

 private:
  static constexpr std::uint64_t kStride = 1u << 14;
  std::uint64_t at_ns_ = kNever;
  std::uint64_t work_ = 0;
  bool expired_ = false;
};

}  // namespace shmcp::executor
