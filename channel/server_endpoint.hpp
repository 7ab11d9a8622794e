// shmcp channel, executor side: a worker's ServerEndpoint, and the supervisor's repairs of the
// lanes of workers and clients that died (see segment.hpp for the segment and its leases).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "channel/base/result.hpp"
#include "channel/control.hpp"
#include "channel/messages.hpp"
#include "channel/ring.hpp"
#include "channel/segment.hpp"

namespace shmcp::channel {

// Executor side, one per worker process: finds a lane with a pending request, owns it while
// serving, and writes the response. Only one worker consumes a lane at a time (CAS on
// LaneControl::server_owner), so each ring keeps a single consumer and a single producer.
class ServerEndpoint {
 public:
  // The adaptive spin budget's ceiling as a multiple of WaitPolicy::spin_ns (1 ms by default).
  static constexpr std::uint64_t kSteadySpinFactor = 20;
  ServerEndpoint(std::shared_ptr<Segment> segment, std::uint32_t worker_index);
  ~ServerEndpoint();

  struct Incoming {
    std::uint32_t lane;
    std::uint64_t id;
    std::span<const std::byte> bytes;  // valid until the next next()
  };
  // Waits for the next request on any lane. `stop` is polled while waiting; returns Errc::closed
  // once it is set. A corrupt lane is reported as Errc::corrupt (with the lane released and marked
  // poisoned: every worker skips it until its next client resets it in ClientLane::claim) so the
  // caller can count and log it; call next() again.
  Result<Incoming> next(const WaitPolicy& policy, const std::atomic<bool>* stop);
  // Sends the response for the request last returned on `lane`. Gives up when the client dies or
  // `deadline` passes (the response is dropped).
  Status reply(std::uint32_t lane, std::uint64_t id, std::span<const std::byte> response, Deadline deadline,
               const WaitPolicy& policy);
  // Gives the current lane back (and re-checks it so a request that raced in is not stranded).
  void release_current() noexcept;

  // The spinner hand-off: while this worker serves a request, another (sleeping) worker must be
  // the one clients wake for other lanes, so by default next() gives the spinner token up before
  // returning whenever a worker sleeps. That costs every call a write to the header line that all
  // clients read. A caller that knows some requests finish at once (a ping) may defer it: call
  // defer_spinner_handoff(true) once, then hand_off_spinner() after next() for every request that
  // may take time, before starting it. Same thread as next().
  void defer_spinner_handoff(bool defer) noexcept { defer_handoff_ = defer; }
  void hand_off_spinner() noexcept;

  std::uint64_t corrupt_lanes() const noexcept { return corrupt_count_; }

  // A worker of a lazily started pool: once it has slept this long without a request, next()
  // returns Errc::timeout so that it can exit (0: never). Checked at the periodic wake-ups while
  // sleeping, so it takes effect within kPeerCheckIntervalNs; a spinning worker never idles out.
  void set_idle_exit(std::uint64_t ns) noexcept { idle_exit_ns_ = ns; }

 private:
  bool try_take(std::uint32_t lane) noexcept;
  void make_response_rings();
  // If the owner re-epoched the segment since we last looked: adopt the new epoch, give up the
  // current lane and forget cached ring positions. Same thread as next().
  void follow_epoch();
  // next()'s first half: keeps the current lane while it has a request and the batch allows,
  // else spins or sleeps until a lane with a pending request is taken. On success current_ is
  // set; Errc::closed once `stop` is set.
  Status wait_for_lane(const WaitPolicy& policy, const std::atomic<bool>* stop);
  // next()'s second half: receives the request on current_ (set), releasing the lane on error.
  Result<Incoming> receive_current();
  std::uint32_t takes_ = 0;  // lanes taken so far: the upper 24 bits of this worker's owner tokens
  std::uint32_t token_ = 0;  // the owner token of current_ (valid while current_ is set)
  std::uint64_t epoch_ = 0;  // the segment epoch this endpoint's state belongs to
  // Adaptive mode: how long the spinner polls before it sleeps. --spin-us while calls are sparse;
  // when the last call came within kSteadySpinFactor x spin_ns of the worker going idle (calls
  // arriving steadily, e.g. from an HTTP or MCP frontend whose own work between two calls
  // outlasts --spin-us), twice that gap, up to that cap: the next call then finds the worker
  // still polling instead of paying a futex wake-up (costly on small VMs). Once calls stop it
  // sleeps after at most the cap.
  std::uint64_t spin_budget(const WaitPolicy& policy) const noexcept;
  // Gives the spinner token back if this worker holds it (seq_cst store, then a seq_cst fence).
  void release_spinner() noexcept;
  std::shared_ptr<Segment> seg_;
  std::uint32_t me_;  // worker index + 1
  WorkerSlot* slot_;  // this worker's control slot (private to the executor)
  StatsBlock* stats_;
  std::optional<std::uint32_t> current_;
  std::uint32_t batch_ = 0;
  std::uint32_t scan_from_ = 0;
  std::uint32_t hw_seen_ = 0;  // highest lanes_high_water seen (clamped to lane_count)
  bool spinner_ = false;       // holds SegmentHeader::spinner (see wait_for_lane())
  bool defer_handoff_ = false;  // see defer_spinner_handoff()
  std::uint64_t last_gap_ns_ = 0;  // how long wait_for_lane() last waited for a call (0: not measured)
  std::vector<Ring> response_rings_;  // one per lane, kept so each producer keeps its head cache
  std::vector<std::byte> buf_;
  std::uint64_t corrupt_count_ = 0;
  std::uint64_t idle_exit_ns_ = 0;  // see set_idle_exit()
};

// Executor side, supervisor: answers the in-flight call of a worker that died or was killed, and
// reclaims lanes whose client died. Call only once the worker is known dead (waitpid).
void answer_for_dead_worker(Segment& seg, std::uint32_t worker_index, wire::Status status, std::string_view why);
// Returns the number of lanes reclaimed (client lease free but lane marked claimed).
std::uint32_t reclaim_dead_clients(Segment& seg);
// Supervisor: frees every lane whose server_owner no worker's claim (WorkerSlot::claim) matches:
// a value a client wrote, which would keep every worker away from the lane. Looks at the lanes
// below `below` (all by default). Returns how many.
std::uint32_t repair_lane_owners(Segment& seg, std::uint32_t below = UINT32_MAX);
}  // namespace shmcp::channel
