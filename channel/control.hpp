// The executor's control plane: worker state, in-flight calls and their deadlines, counters and
// the workers' log rings. It lives in a region only the supervisor and its workers map (a sealed
// memfd the supervisor creates before spawning the workers and hands to each as an inherited fd),
// never in the channel segment, which every client can write: a client that could write a
// deadline could make the supervisor kill healthy workers or let a call run forever.
//
// The region is still a wire format between two builds of one program (the supervisor and the
// worker binary it execs, normally the same file): magic, version, fixed sizes, static_asserts,
// no pointers. A worker is sandboxed but not trusted: the supervisor bounds-checks what it reads.
#pragma once

#include <cstdint>
#include <memory>

#include "channel/base/result.hpp"
#include "channel/layout.hpp"

namespace shmcp::channel {

inline constexpr std::uint64_t kControlMagic = 0x31525443504D4853ull;  // "SHMPCTR1" little-endian
inline constexpr std::uint32_t kControlVersion = 1;
inline constexpr std::uint32_t kMaxTools = 32;        // per-tool counters in StatsBlock
inline constexpr std::uint32_t kLatencyBuckets = 24;  // power-of-two microsecond buckets

// WorkerSlot::state, stored as its integer value (the region is a wire format).
// stopped: the worker exited on its own after an idle period (a lazily started pool); the
// supervisor starts it again when a request waits.
enum class WorkerState : std::uint32_t { empty = 0, starting = 1, serving = 2, dead = 3, stopped = 4 };

// Per-worker control, written by the worker, read by the supervisor (deadline enforcement,
// answering the in-flight call of a worker that died, lane-ownership repair, /health).
struct alignas(kCacheLine) WorkerSlot {
  AtomicU32 state;          // WorkerState
  AtomicU32 lane_plus1;     // lane being served (0 = idle)
  AtomicU64 call_id;        // request id in flight on that lane
  AtomicU64 deadline_ns;    // CLOCK_MONOTONIC deadline of that call (0 = none)
  AtomicU64 calls;          // calls completed
  AtomicU32 generation;     // bumped on each respawn
  AtomicU32 sandboxed;      // 1 once lock_down succeeded
  AtomicU64 started_ns;
  // (lane + 1) << 32 | token while this worker holds (or is taking or giving back) that lane's
  // LaneControl::server_owner with `token`; 0 otherwise. Stored before the CAS that takes the
  // lane and cleared after the store that gives it back, so a lane whose server_owner names a
  // token no worker's claim matches was written by someone else (see repair_lane_owners).
  AtomicU64 claim;
};
static_assert(sizeof(WorkerSlot) == kCacheLine);

// Counters the workers bump and the supervisor exports as /metrics. Indices are bounds-checked.
struct alignas(kCacheLine) StatsBlock {
  AtomicU64 calls_ok[kMaxTools];
  AtomicU64 calls_tool_error[kMaxTools];
  AtomicU64 calls_failed[kMaxTools];
  AtomicU64 latency_us_bucket[kMaxTools][kLatencyBuckets];  // executor-side service time
  AtomicU64 latency_sum_ns[kMaxTools];
  AtomicU64 corrupt_messages;
  AtomicU64 worker_restarts;
  AtomicU64 sandbox_violations;
  AtomicU64 timeouts;
  AtomicU64 lanes_reclaimed;
  AtomicU64 header_repairs;      // header fields the supervisor put back (Segment::repair_header)
  AtomicU64 lane_owner_repairs;  // lanes whose server_owner no worker held (repair_lane_owners)
  AtomicU64 segment_resizes;     // times the segment's size was put back (Segment::restore_size)
};
static_assert(sizeof(StatsBlock) % kCacheLine == 0);

// A worker's log lines, carried to the supervisor (which owns stderr and the log format). Single
// producer (the worker), single consumer (the supervisor's monitor thread); when full, new lines
// are counted in `dropped`, never block the worker.
inline constexpr std::uint32_t kLogEntries = 16;
inline constexpr std::uint32_t kLogTextBytes = 248;
struct WorkerLogEntry {
  std::uint32_t level;  // spdlog level (0 trace .. 5 critical)
  std::uint32_t len;    // bytes of text used (<= kLogTextBytes; readers check)
  char text[kLogTextBytes];
};
static_assert(sizeof(WorkerLogEntry) == 256);
struct alignas(kCacheLine) WorkerLog {
  alignas(kCacheLine) AtomicU64 head;     // supervisor: entries consumed
  alignas(kCacheLine) AtomicU64 tail;     // worker: entries published
  AtomicU64 dropped;                      // worker: lines lost to a full ring
  WorkerLogEntry entries[kLogEntries];
};
static_assert(sizeof(WorkerLog) == 2 * kCacheLine + kLogEntries * sizeof(WorkerLogEntry));

struct alignas(kCacheLine) ControlHeader {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t header_size;
  std::uint64_t total_size;  // sizeof(ControlBlock) of the creator
};
static_assert(sizeof(ControlHeader) == kCacheLine);

struct ControlBlock {
  ControlHeader header;
  WorkerSlot workers[kMaxWorkers];
  StatsBlock stats;
  WorkerLog logs[kMaxWorkers];
};
static_assert(offsetof(ControlBlock, workers) == kCacheLine);
static_assert(offsetof(ControlBlock, stats) == kCacheLine + kMaxWorkers * sizeof(WorkerSlot));
static_assert(sizeof(ControlBlock) % kCacheLine == 0);

// A mapping of a ControlBlock. Supervisor: create() (before spawning any worker) and hand fd() to
// each worker (dup2 in the child). Worker: adopt(fd) maps it and closes the fd. local() is a
// process-private block for a ServerEndpoint that serves without a supervisor (tests, benches).
class ControlRegion {
 public:
  // A memfd sized for one ControlBlock and sealed against resizing (F_SEAL_SHRINK | F_SEAL_GROW |
  // F_SEAL_SEAL), so no holder can ever make the supervisor's accesses fault. The fd is
  // close-on-exec: only a child that dup2s it on purpose inherits it.
  static Result<std::shared_ptr<ControlRegion>> create();
  // Maps `fd` (checks its size, seals, magic and version) and closes it, whatever the outcome.
  static Result<std::shared_ptr<ControlRegion>> adopt(int fd);
  static std::shared_ptr<ControlRegion> local();

  ~ControlRegion();
  ControlRegion(const ControlRegion&) = delete;
  ControlRegion& operator=(const ControlRegion&) = delete;

  ControlBlock& block() const noexcept { return *block_; }
  int fd() const noexcept { return fd_; }  // creator only; -1 after adopt

 private:
  ControlRegion() = default;
  ControlBlock* block_ = nullptr;
  int fd_ = -1;
};

}  // namespace shmcp::channel
