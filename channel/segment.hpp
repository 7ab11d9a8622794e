// shmcp channel: a named shared-memory segment (DIR/shmcp.NAME, DIR = /dev/shm unless both sides
// mount another directory) holding many lanes, each a request ring and a response ring, between
// one executor and many clients.
//
// Ownership without pids: the executor holds an OFD write lock on byte 0 of the segment file (its
// lease) and each client holds an OFD write lock on byte 1 + lane. OFD locks belong to an open file
// description, not a process, so they work across PID namespaces (both sides may be pid 1) and the
// kernel drops them when the holder dies. "Is my peer alive?" is an F_OFD_GETLK away.
//
// Threading: a Segment may be shared by many threads. A ClientLane is used by one thread at a
// time. A ServerEndpoint belongs to one (single-threaded) worker process.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "channel/base/result.hpp"
#include "channel/control.hpp"
#include "channel/layout.hpp"
#include "channel/ring.hpp"

namespace shmcp::channel {

// Where segments live unless told otherwise. Any directory both sides mount works the same (the
// segment is a file both map MAP_SHARED); on a disk-backed one the kernel also writes the dirty
// pages back to disk periodically, which costs I/O and page faults but not correctness.
inline constexpr std::string_view kDefaultShmDir = "/dev/shm";

struct ChannelConfig {
  std::uint32_t lanes = 64;
  std::uint32_t slots_per_ring = 16;
  std::uint32_t slot_size = 8192;               // bytes per slot, header included
  std::uint32_t max_message = 64u << 20;        // largest request or response
  std::uint32_t workers = 1;                    // worker slots to reserve (<= kMaxWorkers)
  WaitMode wait_mode = WaitMode::adaptive;      // the executor's default (informational to clients)
  mode_t mode = 0600;                           // 0660 when the peers run as different uids
  std::optional<gid_t> group;                   // group owner for 0660
  std::string dir = std::string(kDefaultShmDir);  // absolute directory holding the segment file
};

// Validates a channel name: 1-200 of [A-Za-z0-9._-], not starting with '.'.
Status validate_name(std::string_view name);
// An absolute directory path (it need not exist yet; create() says so if it does not).
Status validate_shm_dir(std::string_view dir);
// "DIR/shmcp.NAME": the segment file.
std::string segment_path(std::string_view name, std::string_view dir = kDefaultShmDir);
// Bytes the segment will occupy for `cfg`.
std::uint64_t segment_size(const ChannelConfig& cfg);

class Segment {
 public:
  // Executor side, in cfg.dir. Removes a stale segment of the same name (one whose lease is free),
  // refuses if a live executor holds it (Errc::busy), creates (O_EXCL, never through a symlink),
  // sizes with posix_fallocate (Errc::too_large with a clear message if the directory's
  // filesystem is too small — never SIGBUS later), applies mode/group, takes the lease,
  // initialises the layout and marks it ready. The segment is unlinked when destroyed.
  static Result<std::shared_ptr<Segment>> create(const std::string& name, const ChannelConfig& cfg);
  // Client side, in `dir`. Validates magic, ABI version, layout hash and geometry
  // (Errc::version_mismatch, Errc::corrupt), waits up to wait_ready_ns for an initialising
  // segment, and checks the lease (Errc::peer_dead for a segment nobody serves). Geometry is
  // copied out: never re-read.
  static Result<std::shared_ptr<Segment>> attach(const std::string& name, std::uint64_t wait_ready_ns = 0,
                                                 const std::string& dir = std::string(kDefaultShmDir));

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  const std::string& name() const noexcept { return name_; }
  const std::string& path() const noexcept { return path_; }  // the segment file
  bool is_owner() const noexcept { return owner_; }
  // The owner's changes when restore_size re-epochs (monitor thread); hence atomic.
  std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_relaxed); }
  // The epoch word in the header now (client-writable: a forged value is put back by the owner's
  // repair_header within milliseconds). Differs from epoch() once the owner re-epoched.
  std::uint64_t current_epoch() const noexcept;
  std::uint32_t lane_count() const noexcept { return lanes_; }
  std::uint32_t worker_count() const noexcept { return workers_; }
  std::uint32_t max_message() const noexcept { return max_message_; }
  std::uint32_t slots_per_ring() const noexcept { return slots_; }
  std::uint32_t slot_size() const noexcept { return slot_size_; }
  std::uint64_t size() const noexcept { return size_; }
  WaitMode default_wait_mode() const noexcept { return wait_mode_; }
  // CLOCK_REALTIME at creation, as read at create/attach (the header's copy is client-writable).
  std::uint64_t created_realtime_ns() const noexcept { return created_realtime_ns_; }

  SegmentHeader& header() const noexcept { return *reinterpret_cast<SegmentHeader*>(base_); }
  LaneControl& lane(std::uint32_t i) const noexcept;      // i < lane_count() (checked by callers)
  // The executor's control plane (channel/control.hpp), not part of the segment: the owner
  // creates it with the segment, a worker adopts it (adopt_control). Any other handle that asks
  // (a ServerEndpoint without a supervisor: tests, benches) gets a process-private block.
  WorkerSlot& worker(std::uint32_t i) const noexcept;     // i < kMaxWorkers
  StatsBlock& stats() const noexcept;
  WorkerLog& worker_log(std::uint32_t i) const noexcept;  // i < kMaxWorkers
  ControlBlock& control() const noexcept;
  // Owner: the control region's fd, for a worker to inherit (close-on-exec: dup2 it in the child).
  int control_fd() const noexcept { return control_ ? control_->fd() : -1; }
  // Worker: use `region` (from ControlRegion::adopt) as this handle's control plane. Before any
  // ServerEndpoint is made on this handle.
  void adopt_control(std::shared_ptr<ControlRegion> region) noexcept { control_ = std::move(region); }
  Ring request_ring(std::uint32_t i) const noexcept;
  Ring response_ring(std::uint32_t i) const noexcept;

  // Liveness via the OFD lease locks (one fcntl each).
  bool executor_alive() const noexcept;
  bool client_alive(std::uint32_t lane) const noexcept;
  // The fd lease queries go through (client_alive). A worker keeps only this one, and after
  // drop_write_access it is read-only: the worker cannot resize the segment.
  int fd() const noexcept { return fd_; }
  // Worker (before lock_down): closes the read-write descriptor the mapping came from and keeps a
  // read-only one to the same file for lease queries (F_OFD_GETLK needs no write access).
  Status drop_write_access();
  // Executor (the supervisor's monitor thread, periodically): a client may ftruncate the segment
  // file. Puts the size back (and the pages' reservation) and, if the segment had shrunk (pages
  // past the new end came back zeroed, in-flight calls on them are lost), gives the header a new
  // epoch so clients fail their waits with Errc::peer_dead and reconnect. Returns true if it
  // repaired something. (Accesses that fault before this runs: see install_truncation_guard.)
  bool restore_size() noexcept;
  // Executor: marks the segment closing (clients fail new calls with Errc::closed).
  void mark_closing() noexcept;
  // Executor (the supervisor's monitor thread, periodically): puts back what a client may have
  // overwritten in the header, which every client can write: the fixed fields (magic, geometry,
  // offsets: new attaches would refuse the channel), the state (ready, or closing once
  // mark_closing), a lowered lanes_high_water (a respawned worker would not see lanes in use)
  // and a spinner token naming no worker (clients would never wake a sleeping worker). Returns
  // how many of those four it had to repair.
  std::uint32_t repair_header() noexcept;
  // Executor: bumps the heartbeat (informational; liveness uses the lease).
  void heartbeat() noexcept;

  // Client: claims the lowest free lane (takes its lease lock on a fresh open file description).
  // Errc::busy when every lane is taken.
  struct LaneLease {
    std::shared_ptr<void> holder;  // keeps the lease's open file description alive
    int fd = -1;
    std::uint32_t index = 0;
  };
  Result<LaneLease> claim_lane();
  void release_lane(LaneLease& lease) noexcept;

 private:
  Segment() = default;
  void register_guard() noexcept;
  void unregister_guard() noexcept;
  struct Mapping;  // the segment file's fd and mapping
  std::unique_ptr<Mapping> map_;

  std::string name_;
  std::string path_;
  bool owner_ = false;
  int fd_ = -1;        // mapping fd (and the executor's lease fd for the owner is lease_fd_)
  std::shared_ptr<void> lease_;  // owner only: the open description holding the byte-0 lock
  std::byte* base_ = nullptr;
  std::uint64_t size_ = 0;
  std::atomic<std::uint64_t> epoch_{0};
  std::uint32_t lanes_ = 0, slots_ = 0, slot_size_ = 0, max_message_ = 0, workers_ = 0;
  std::uint64_t lanes_off_ = 0, lane_stride_ = 0;
  mutable std::shared_ptr<ControlRegion> control_;
  mutable std::once_flag local_control_;
  int ro_fd_ = -1;              // worker after drop_write_access: the read-only lease-query fd
  int guard_slot_ = -1;         // this mapping's entry in the truncation guard's table
  WaitMode wait_mode_ = WaitMode::adaptive;
  // Owner only (repair_header): the fixed header fields as created, whether mark_closing ran
  // (guarded by state_mu_, so a repair never reverts a concurrent mark_closing), the lowest value
  // lanes_high_water may have (the highest seen, or past the last lane in use).
  std::uint64_t created_realtime_ns_ = 0;
  std::vector<std::uint64_t> header_copy_;  // monitor thread only once created (restore_size re-epochs)  // the header's first offsetof(state) bytes, as words
  std::mutex state_mu_;
  bool closing_ = false;
  std::uint32_t high_water_ = 0;
};
// Installs a process-wide SIGBUS handler for accesses to channel segments mapped in this process
// (create/attach register them). A client that ftruncates the segment file makes such accesses
// fault. In the segment's owner the handler puts the file's size back and the access is retried;
// elsewhere it waits (1 ms per fault) for the owner to do so, and gives up (the default action,
// the process dies of SIGBUS) when faults keep coming for 2 s. Faults elsewhere keep their
// default action. For the executor's processes; a client program may call it too. Idempotent.
void install_truncation_guard();
// How many faults on a guarded mapping this process has waited out or repaired so far. A copy
// out of the segment during which this moved may hold zeros where the message was: compare it
// before and after (with the segment's epoch) and drop such a copy.
std::uint64_t truncation_faults() noexcept;

}  // namespace shmcp::channel
