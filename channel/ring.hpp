// Single-producer/single-consumer message ring over fixed-size slots in shared memory.
//
// A message larger than one slot's payload is sent as consecutive fragments, so an 8 MiB file
// streams through a 128 KiB ring while the consumer copies it out. Exactly one thread may act as
// producer and one as consumer of a given ring at a time; which process that is can change (lane
// reclaimed, worker respawned), and the new owner continues from the shared head/tail.
//
// The consumer never trusts the producer: it copies each fragment header into locals, checks every
// length against the ring's geometry and max_message, and reassembles into its own buffer.
// Fragments that don't continue the message in progress (a producer died mid-message) are dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "channel/base/result.hpp"
#include "channel/layout.hpp"
#include "channel/wait_mode.hpp"

namespace shmcp::channel {

// How a side waits for its peer. Adaptive spins for spin_ns, then sleeps on a futex shared between
// the processes (non-private FUTEX_WAIT/FUTEX_WAKE).
struct WaitPolicy {
  WaitMode mode = WaitMode::adaptive;
  std::uint64_t spin_ns = 50'000;
};

std::string_view wait_mode_name(WaitMode m) noexcept;
Result<WaitMode> parse_wait_mode(std::string_view s);

// Called roughly every kPeerCheckInterval while a side is blocked; an error aborts the wait (the
// peer died, the lane was lost, shutdown requested). May be empty.
using PeerCheck = std::function<Status()>;
inline constexpr std::uint64_t kPeerCheckIntervalNs = 10'000'000;

std::uint64_t monotonic_ns() noexcept;

// When a wait gives up: at an absolute CLOCK_MONOTONIC time (0 = never), or `within(ns)` of the
// first clock read a wait of the call makes. Waits read the clock only once they have polled for a
// while, so a call whose peer answers promptly never reads it: with a budget instead of an
// absolute time, such a call reads no clock at all (a clock read is a sizeable fraction of an
// empty round trip). A budget is fixed in place when first resolved, so every wait that is
// given the same object (by reference) shares it: a call's send and receive together get `ns`.
class Deadline {
 public:
  constexpr Deadline(std::uint64_t at_ns = 0) noexcept : at_(at_ns) {}  // implicit: absolute
  static constexpr Deadline within(std::uint64_t ns) noexcept {
    Deadline d;
    d.budget_ = ns == 0 ? 1 : ns;
    return d;
  }
  // The absolute deadline (0 = never), fixing a budget against `now` the first time.
  std::uint64_t resolve(std::uint64_t now) noexcept {
    if (budget_ != 0) {
      at_ = now + budget_;
      budget_ = 0;
    }
    return at_;
  }

 private:
  std::uint64_t at_ = 0;
  std::uint64_t budget_ = 0;
};

// Futex helpers on a 32-bit word in shared memory (never FUTEX_PRIVATE_FLAG: the waiter and the
// waker are different processes).
void futex_wake(AtomicU32* word, int count) noexcept;
// Returns when woken, when *word != expected, or after timeout_ns (0 = no timeout).
void futex_wait(AtomicU32* word, std::uint32_t expected, std::uint64_t timeout_ns) noexcept;

class Ring {
 public:
  Ring() = default;
  Ring(RingControl* control, std::byte* slots, std::uint32_t nslots, std::uint32_t slot_size,
       std::uint32_t max_message) noexcept;

  std::uint32_t payload_per_slot() const noexcept { return slot_size_ - static_cast<std::uint32_t>(sizeof(SlotHeader)); }
  std::uint32_t max_message() const noexcept { return max_message_; }

  // ---- producer ----
  // Publishes `msg` (any size up to max_message) under `msg_id`, waiting per `policy` while the
  // ring is full. Errors: too_large, timeout (deadline_ns passed; 0 = none), whatever `check`
  // returns, corrupt (the consumer's head is impossible).
  Status send(std::uint64_t msg_id, std::span<const std::byte> msg, const WaitPolicy& policy,
              Deadline& deadline, const PeerCheck& check);
  Status send(std::uint64_t msg_id, std::span<const std::byte> msg, const WaitPolicy& policy,
              std::uint64_t deadline_ns, const PeerCheck& check) {
    Deadline d(deadline_ns);
    return send(msg_id, msg, policy, d, check);
  }
  // Publishes only if the whole message fits now; otherwise ring_full and nothing is written.
  Status try_send(std::uint64_t msg_id, std::span<const std::byte> msg);

  // ---- consumer ----
  // True if a fragment is published at the consumer's position (cheap: one shared load).
  // Inline, like the slot arithmetic below: it is what every spinning waiter polls.
  bool readable() const noexcept { return state_at(c_->head.load(std::memory_order_relaxed)) != SlotState::empty; }
  // Receives one whole message into `out` (resized), returning its id. Waits per `policy`.
  Result<std::uint64_t> receive(std::vector<std::byte>& out, const WaitPolicy& policy, Deadline& deadline,
                                const PeerCheck& check);
  Result<std::uint64_t> receive(std::vector<std::byte>& out, const WaitPolicy& policy,
                                std::uint64_t deadline_ns, const PeerCheck& check) {
    Deadline d(deadline_ns);
    return receive(out, policy, d, check);
  }

  // ---- recovery ----
  // Empties the ring as if new: head, tail, wait flags and every slot's seq to 0. Only while
  // nobody else uses the ring (a lane's new client, before any worker may serve it again).
  void reset() noexcept;
  // After the producer died: the position just past the last published slot, which a new producer
  // must continue from (the dead one may have published a slot without advancing `tail`).
  void recover_producer() noexcept;
  // False if head and tail cannot both be true (head past tail, or tail more than a ring ahead):
  // someone overwrote them. Such a ring never recovers by itself; its next owner resets it.
  bool consistent() const noexcept {
    const std::uint64_t head = c_->head.load(std::memory_order_relaxed), tail = c_->tail.load(std::memory_order_relaxed);
    return head <= tail && tail - head <= nslots_;
  }

  // Number of fragments dropped because they did not continue a message (dead or hostile peer).
  std::uint64_t dropped_fragments() const noexcept { return dropped_; }
  // Futex wake-ups this side has issued to a sleeping peer (as producer and as consumer).
  std::uint64_t wakes() const noexcept { return wakes_; }

 private:
  // Slot index of a position: a mask for the usual power-of-two slot counts (a 64-bit division
  // costs tens of cycles on every poll), the remainder otherwise.
  std::uint64_t index(std::uint64_t pos) const noexcept { return mask_ != 0 ? (pos & mask_) : (pos % nslots_); }
  SlotHeader* slot(std::uint64_t pos) const noexcept {
    return reinterpret_cast<SlotHeader*>(slots_ + index(pos) * slot_size_);
  }
  std::byte* payload(std::uint64_t pos) const noexcept { return slots_ + index(pos) * slot_size_ + sizeof(SlotHeader); }
  enum class SlotState { empty, ready, corrupt };
  SlotState state_at(std::uint64_t pos) const noexcept {
    const std::uint64_t seq = slot(pos)->seq.load(std::memory_order_acquire);
    if (seq == pos + 1) return SlotState::ready;
    // Before publication the slot holds the previous round's seq (or 0 in the first round).
    if (seq == 0 || seq + nslots_ == pos + 1) return SlotState::empty;
    return SlotState::corrupt;
  }
  Status wait_space(std::uint64_t pos, const WaitPolicy& policy, Deadline& deadline, const PeerCheck& check);
  // frags_left: fragments still missing of the message being received, 0 before one starts.
  Status wait_data(std::uint32_t frags_left, const WaitPolicy& policy, Deadline& deadline, const PeerCheck& check);
  // A sleeping peer is woken per half ring (at least one slot), not per slot.
  std::uint32_t half() const noexcept { return nslots_ / 2 != 0 ? nslots_ / 2 : 1; }
  void publish(std::uint64_t pos, std::uint64_t msg_id, std::uint32_t total, std::uint32_t offset,
               std::span<const std::byte> frag) noexcept;

  RingControl* c_ = nullptr;
  std::byte* slots_ = nullptr;
  std::uint32_t nslots_ = 0;
  std::uint64_t mask_ = 0;  // nslots_ - 1 if nslots_ is a power of two, else 0
  std::uint32_t slot_size_ = 0;
  std::uint32_t max_message_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t wakes_ = 0;
  // Producer only: the consumer's head as last loaded. head only grows, so a stale copy merely
  // under-reports free space; we reload it only when the copy says the ring is full. This keeps
  // the consumer's cache line out of the producer's fast path (one fewer cross-core miss per
  // message). A hostile consumer moving head backwards can only confuse its own lane.
  std::uint64_t head_cache_ = 0;
};

}  // namespace shmcp::channel
