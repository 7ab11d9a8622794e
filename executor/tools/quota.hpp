// Storage quota of a served workspace (bytes and files), shared by the supervisor and its workers.
//
// The supervisor creates one QuotaBlock in a sealed memfd (create_quota_block), counts what the
// workspace already holds (scan_workspace_usage) and hands the fd to every worker, which maps it
// before its sandbox is applied (map_quota_block). The write tools then reserve what a change adds
// (WorkspaceQuota::reserve) before they touch the workspace, and a change that would take usage
// past a limit is refused with nothing changed.
//
// What is counted: bytes = the sizes of the regular files (one per name: hard links count once per
// name, like the tools see them), files = every entry below the root (files, directories,
// symlinks, others). Only changes made through the tools are seen: files created, grown or removed
// by anyone else (another process, a shell in the container) make the usage drift until the
// supervisor rescans (Supervisor::rescan_quota).
// Two writes racing to create or replace the same name both reserve against the size they saw before
// either landed, so the count can end up too high by the loser's reservation (refusing more, never
// less) until a rescan.
//
// Trust: the limits are enforced against model-written tool arguments, not against a compromised
// worker, which can write the block like any other memory it maps. Kernel project quotas are the
// enforcement for that case.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "channel/base/result.hpp"
#include "channel/base/unique_fd.hpp"
#include "channel/layout.hpp"

namespace shmcp::executor {

inline constexpr std::uint64_t kQuotaMagic = 0x31544f5551434d53ull;  // "SMCQUOT1", little-endian
inline constexpr std::uint32_t kQuotaVersion = 1;

// A reservation a worker holds while one write is in flight. The worker records what it reserved
// here (after reserving), and clears it once the change is in place or undone; when a worker dies,
// the supervisor gives back whatever its slot still holds (the write it died in never happened).
struct QuotaSlot {
  std::atomic<std::uint64_t> bytes;
  std::atomic<std::uint64_t> files;
};

// Wire format (shared memory between processes of possibly different builds of this binary):
// fixed size, no pointers, no owner pids, lock-free atomics only. Limits 0 mean unlimited; usage
// is kept either way (for the metrics).
struct QuotaBlock {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t size;  // sizeof(QuotaBlock)
  std::atomic<std::uint64_t> limit_bytes;
  std::atomic<std::uint64_t> limit_files;
  alignas(64) std::atomic<std::uint64_t> used_bytes;  // own cache line: every write reserves here
  std::atomic<std::uint64_t> used_files;
  alignas(64) QuotaSlot slots[channel::kMaxWorkers];  // indexed by worker slot
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<QuotaBlock>);
static_assert(sizeof(QuotaSlot) == 16);
static_assert(offsetof(QuotaBlock, limit_bytes) == 16);
static_assert(offsetof(QuotaBlock, used_bytes) == 64);
static_assert(offsetof(QuotaBlock, slots) == 128);
static_assert(sizeof(QuotaBlock) == 128 + 16 * channel::kMaxWorkers);

struct QuotaUsage {
  std::uint64_t used_bytes = 0;
  std::uint64_t used_files = 0;
  std::uint64_t limit_bytes = 0;  // 0: unlimited
  std::uint64_t limit_files = 0;
};

// ---- the block -------------------------------------------------------------------------------

// Initialises a block (magic, version, size, limits; usage and slots zero).
void init_quota_block(QuotaBlock& b, std::uint64_t limit_bytes, std::uint64_t limit_files) noexcept;

QuotaUsage quota_usage(const QuotaBlock& b) noexcept;

// What try_reserve could not fit.
struct QuotaRefusal {
  enum class What : std::uint8_t { none, bytes, files } what = What::none;
  std::uint64_t would_use = 0;  // usage had it been granted
  std::uint64_t limit = 0;
};

// Adds `bytes` and `files` to the usage if each stays within its limit (compare-and-swap against
// the limit, so racing reservations never overshoot together: exactly those that fit are granted).
// All or nothing. Thread- and process-safe.
QuotaRefusal try_reserve(QuotaBlock& b, std::uint64_t bytes, std::uint64_t files) noexcept;

// Takes `bytes` and `files` off the usage (saturating at zero: usage that drifted below what a
// tool frees does not wrap). Thread- and process-safe.
void release(QuotaBlock& b, std::uint64_t bytes, std::uint64_t files) noexcept;

// Supervisor side, after worker `slot` died: gives back what its slot still held.
void reclaim_slot(QuotaBlock& b, std::uint32_t slot) noexcept;

// ---- the shared mapping ----------------------------------------------------------------------

// A mapped QuotaBlock; unmapped (and its fd, if any, closed) on destruction. Move-only.
class QuotaMapping {
 public:
  QuotaMapping() = default;
  QuotaMapping(QuotaMapping&& o) noexcept;
  QuotaMapping& operator=(QuotaMapping&& o) noexcept;
  QuotaMapping(const QuotaMapping&) = delete;
  QuotaMapping& operator=(const QuotaMapping&) = delete;
  ~QuotaMapping();

  explicit operator bool() const noexcept { return block_ != nullptr; }
  QuotaBlock& block() const noexcept { return *block_; }
  int fd() const noexcept { return fd_.get(); }  // -1 once the fd is not kept

 private:
  friend Result<QuotaMapping> create_quota_block(std::uint64_t, std::uint64_t);
  friend Result<QuotaMapping> map_quota_block(int);
  QuotaBlock* block_ = nullptr;
  UniqueFd fd_;
};

// Supervisor: a new block in a memfd (close-on-exec; its size sealed, so no holder can shrink it
// under the others' feet), initialised with the limits. The fd stays open for passing to workers.
Result<QuotaMapping> create_quota_block(std::uint64_t limit_bytes, std::uint64_t limit_files);

// Worker: maps the block behind an inherited fd after checking its size, magic and version. The fd
// is not kept (the caller closes it).
Result<QuotaMapping> map_quota_block(int fd);

// ---- the workspace's current usage -----------------------------------------------------------

struct ScanLimits {
  std::uint32_t max_depth = 128;
  std::uint64_t max_entries = 10'000'000;
};

struct ScanResult {
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
  bool truncated = false;  // a bound was hit, or a directory could not be read: usage undercounted
};

// Counts what lies beneath the directory `root_fd` (see the header comment for what counts). Never
// follows a symlink or crosses a mount (openat2 beneath, no symlinks, no xdev), opens directories
// one component at a time. Unreadable directories are counted as entries but not walked.
ScanResult scan_workspace_usage(int root_fd, ScanLimits limits = {});

// ---- the tools' view -------------------------------------------------------------------------

// A worker's handle on the block: the block plus the slot its reservations are recorded in. One
// reservation at a time (a worker runs one call at a time); not thread-safe.
class WorkspaceQuota {
 public:
  WorkspaceQuota(QuotaBlock& b, std::uint32_t slot) noexcept : b_(b), slot_(slot) {}

  QuotaBlock& block() const noexcept { return b_; }

  // Reserves and records the reservation in the slot. On refusal nothing is reserved.
  QuotaRefusal reserve(std::uint64_t bytes, std::uint64_t files) noexcept;
  // The change failed: gives the reservation back.
  void cancel() noexcept;
  // The change is in place: the reservation becomes usage; `freed_*` (what the change removed,
  // e.g. the old content it replaced) is released.
  void commit(std::uint64_t freed_bytes = 0, std::uint64_t freed_files = 0) noexcept;

 private:
  QuotaBlock& b_;
  std::uint32_t slot_;
  std::uint64_t held_bytes_ = 0, held_files_ = 0;
};

// "quota exceeded: <verb> <display> would use N bytes of the workspace's M-byte quota" (or files).
std::string quota_refusal_message(const QuotaRefusal& r, std::string_view verb, std::string_view display);

}  // namespace shmcp::executor
