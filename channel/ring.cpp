#include "channel/ring.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "channel/base/cpu_relax.hpp"

namespace shmcp::channel {

namespace {

// The shared waiting protocol for both directions. The waiter announces itself in `waiting`
// (seq_cst) after sampling the futex word and before re-checking; the other side publishes
// (seq_cst fence) and then reads `waiting`. In the single total order either the publisher sees
// the flag and bumps the word (so FUTEX_WAIT returns at once), or the waiter's re-check sees the
// publication: no lost wake-up. Sleeps are capped at kPeerCheckIntervalNs so a dead peer is
// noticed even though it will never wake us.
//
// `ready` is what the caller needs (one slot of data or space); `worth_waking` is the stricter
// condition the waiter re-checks before it sleeps, and it must match what the other side tests
// before waking it (see Ring::send/receive): half a ring of space or data, or the rest of the
// message. So a waiter that fell asleep in the middle of a long message is woken once per half
// ring, not once per slot (each wake-up is a syscall and, on a loaded machine, a scheduling
// delay). Once woken, or after a capped sleep, `ready` suffices: the waker's test may be looser
// (a stale head or tail), and a producer that died mid-message must not strand its consumer.
template <class Ready, class WorthWaking>
Status wait_until(Ready&& ready, WorthWaking&& worth_waking, AtomicU32& waiting, AtomicU32& word,
                  const WaitPolicy& policy, Deadline& deadline, const PeerCheck& check) {
  if (ready()) return {};
  // Spinning waits read the clock only every 64 polls: most waits end before the first read, and
  // a clock read is a sizeable fraction of an empty round trip. So the spin budget and the first
  // peer check count from the first read, at most one such interval late.
  std::uint64_t next_check = 0;
  std::uint64_t deadline_ns = 0;
  auto periodic = [&](std::uint64_t now) -> Status {
    deadline_ns = deadline.resolve(now);
    if (deadline_ns != 0 && now >= deadline_ns) return make_error(Errc::timeout, "deadline exceeded");
    if (next_check == 0) {
      next_check = now + kPeerCheckIntervalNs;
    } else if (now >= next_check) {
      next_check = now + kPeerCheckIntervalNs;
      if (check) return check();
    }
    return {};
  };

  if (policy.mode != WaitMode::block) {
    const bool forever = policy.mode == WaitMode::spin;
    std::uint64_t spin_end = 0;
    for (std::uint32_t i = 1;; ++i) {
      if (ready()) return {};
      cpu_relax();
      if ((i & 63u) == 0) {
        const std::uint64_t now = monotonic_ns();
        if (spin_end == 0) spin_end = now + policy.spin_ns;
        if (auto s = periodic(now); !s) return s;
        if (!forever && now >= spin_end) break;
      }
    }
  }
  if (next_check == 0) {
    const std::uint64_t now = monotonic_ns();
    if (auto s = periodic(now); !s) return s;
  }

  for (;;) {
    const std::uint32_t seen = word.load(std::memory_order_seq_cst);
    waiting.store(1, std::memory_order_seq_cst);
    if (worth_waking()) {
      waiting.store(0, std::memory_order_relaxed);
      return {};
    }
    std::uint64_t now = monotonic_ns();
    std::uint64_t sleep = std::min<std::uint64_t>(kPeerCheckIntervalNs, next_check > now ? next_check - now : 1);
    if (deadline_ns != 0) sleep = std::min(sleep, deadline_ns > now ? deadline_ns - now : 1);
    futex_wait(&word, seen, sleep);
    waiting.store(0, std::memory_order_relaxed);
    if (ready()) return {};
    if (auto s = periodic(monotonic_ns()); !s) return s;
  }
}

// Whether the peer announced a sleep (or is about to sleep). Acquire: what the peer stored before
// its flag (its head or tail) is visible to the caller's test that follows. The caller issued a
// seq_cst fence after its own publication.
bool peer_waiting(const AtomicU32& waiting) noexcept { return waiting.load(std::memory_order_acquire) != 0; }

// The waker's side of wait_until, once peer_waiting and the waker's test passed: clear the peer's
// flag so later publications in the same batch don't wake it again, bump the word and wake it.
void wake_peer(AtomicU32& waiting, AtomicU32& word) noexcept {
  waiting.store(0, std::memory_order_relaxed);
  word.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&word, 1);
}

}  // namespace

std::string_view wait_mode_name(WaitMode m) noexcept {
  switch (m) {
    case WaitMode::spin: return "spin";
    case WaitMode::adaptive: return "adaptive";
    case WaitMode::block: return "block";
  }
  return "?";
}

Result<WaitMode> parse_wait_mode(std::string_view s) {
  if (s == "spin") return WaitMode::spin;
  if (s == "adaptive") return WaitMode::adaptive;
  if (s == "block") return WaitMode::block;
  return make_error(Errc::invalid_argument, "unknown wait mode '" + std::string(s) + "' (spin, adaptive, block)");
}

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

void futex_wake(AtomicU32* word, int count) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, count, nullptr, nullptr, 0);
}

void futex_wait(AtomicU32* word, std::uint32_t expected, std::uint64_t timeout_ns) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout_ns != 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000ull);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000ull);
    tsp = &ts;
  }
  // EAGAIN (value changed), EINTR and ETIMEDOUT all mean "re-check"; nothing to report.
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, tsp, nullptr, 0);
}

Ring::Ring(RingControl* control, std::byte* slots, std::uint32_t nslots, std::uint32_t slot_size,
           std::uint32_t max_message) noexcept
    : c_(control),
      slots_(slots),
      nslots_(nslots),
      mask_(nslots != 0 && (nslots & (nslots - 1)) == 0 ? nslots - 1 : 0),
      slot_size_(slot_size),
      max_message_(max_message) {}

void Ring::publish(std::uint64_t pos, std::uint64_t msg_id, std::uint32_t total, std::uint32_t offset,
                   std::span<const std::byte> frag) noexcept {
  SlotHeader* h = slot(pos);
  h->msg_id = msg_id;
  h->total_len = total;
  h->offset = offset;
  h->frag_len = static_cast<std::uint32_t>(frag.size());
  h->reserved = 0;
  if (!frag.empty()) std::memcpy(payload(pos), frag.data(), frag.size());
  h->seq.store(pos + 1, std::memory_order_release);
  c_->tail.store(pos + 1, std::memory_order_relaxed);
}

Status Ring::wait_space(std::uint64_t pos, const WaitPolicy& policy, Deadline& deadline, const PeerCheck& check) {
  // Fast path: the cached head already proves there is room (see head_cache_). The acquire load
  // that produced it still orders the consumer's copy-out before our overwrite.
  if (head_cache_ <= pos && pos - head_cache_ < nslots_) return {};
  bool corrupt = false;
  auto ready = [&] {
    const std::uint64_t head = c_->head.load(std::memory_order_acquire);
    if (head > pos || pos - head > nslots_) {  // read what we never wrote, or a lap behind: overwritten
      corrupt = true;
      return true;
    }
    head_cache_ = head;
    return pos - head < nslots_;
  };
  // Asleep, the producer wants half the ring free: the consumer wakes it only then (see receive).
  auto worth_waking = [&] { return ready() && (corrupt || pos - head_cache_ <= nslots_ - half()); };
  auto s = wait_until(ready, worth_waking, c_->producer_waiting, c_->space_futex, policy, deadline, check);
  if (!s) return s;
  if (corrupt) return make_error(Errc::corrupt, "ring head is ahead of tail (hostile or corrupt peer)");
  return {};
}

Status Ring::send(std::uint64_t msg_id, std::span<const std::byte> msg, const WaitPolicy& policy,
                  Deadline& deadline, const PeerCheck& check) {
  if (msg.size() > max_message_)
    return make_error(Errc::too_large, "message of " + std::to_string(msg.size()) +
                                           " bytes exceeds the channel's maximum of " +
                                           std::to_string(max_message_));
  const auto total = static_cast<std::uint32_t>(msg.size());
  const std::uint32_t per = payload_per_slot();
  std::uint64_t pos = c_->tail.load(std::memory_order_relaxed);
  std::uint32_t offset = 0;
  do {
    if (auto s = wait_space(pos, policy, deadline, check); !s) return s;
    const std::uint32_t n = std::min(per, total - offset);
    publish(pos, msg_id, total, offset, msg.subspan(offset, n));
    const bool first = offset == 0;
    ++pos;
    offset += n;
    // Pairs with the consumer's seq_cst store to consumer_waiting (see wait_until). A sleeping
    // consumer is woken for a message's first fragment, its last, and whenever half a ring is
    // published. A stale head only makes that test pass early, never later than the consumer's
    // own test in wait_data.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (peer_waiting(c_->consumer_waiting) &&
        (first || offset >= total || pos - c_->head.load(std::memory_order_relaxed) >= half())) {
      wake_peer(c_->consumer_waiting, c_->data_futex);
      ++wakes_;
    }
  } while (offset < total);
  return {};
}

Status Ring::try_send(std::uint64_t msg_id, std::span<const std::byte> msg) {
  if (msg.size() > max_message_)
    return make_error(Errc::too_large, "message exceeds the channel's maximum");
  const std::uint32_t per = payload_per_slot();
  const std::uint64_t need = msg.empty() ? 1 : (msg.size() + per - 1) / per;
  const std::uint64_t pos = c_->tail.load(std::memory_order_relaxed);
  const std::uint64_t head = c_->head.load(std::memory_order_acquire);
  if (head > pos) return make_error(Errc::corrupt, "ring head is ahead of tail (hostile or corrupt peer)");
  if (pos - head + need > nslots_) return make_error(Errc::ring_full, "ring full");
  return send(msg_id, msg, WaitPolicy{WaitMode::spin, 0}, 0, {});
}

Status Ring::wait_data(std::uint32_t frags_left, const WaitPolicy& policy, Deadline& deadline,
                       const PeerCheck& check) {
  auto ready = [&] { return readable(); };
  // Asleep in the middle of a message, the consumer wants half a ring of it, or all that is left
  // (the producer wakes it only then: see send). Slots are published in order, so the last of
  // those being ready means all are.
  const std::uint32_t want = frags_left == 0 ? 1 : std::min(frags_left, half());
  auto worth_waking = [&] {
    return state_at(c_->head.load(std::memory_order_relaxed) + want - 1) == SlotState::ready || (want == 1 && readable());
  };
  return wait_until(ready, worth_waking, c_->consumer_waiting, c_->data_futex, policy, deadline,
                    check);
}

Result<std::uint64_t> Ring::receive(std::vector<std::byte>& out, const WaitPolicy& policy, Deadline& deadline,
                                    const PeerCheck& check) {
  const std::uint32_t per = payload_per_slot();
  bool in_message = false;
  std::uint64_t id = 0;
  std::uint32_t total = 0, have = 0;
  for (;;) {
    const std::uint32_t frags_left = in_message ? (total - have + per - 1) / per : 0;
    if (auto s = wait_data(frags_left, policy, deadline, check); !s) return Error(std::move(s).error());
    const std::uint64_t pos = c_->head.load(std::memory_order_relaxed);
    if (state_at(pos) == SlotState::corrupt)
      return make_error(Errc::corrupt, "slot sequence number out of range (hostile or corrupt peer)");
    // Copy the header out once; everything below uses these locals only.
    const SlotHeader* h = slot(pos);
    const std::uint64_t f_id = h->msg_id;
    const std::uint32_t f_total = h->total_len, f_off = h->offset, f_len = h->frag_len;
    const bool valid = f_len <= per && f_total <= max_message_ && f_off <= f_total &&
                       f_len <= f_total - f_off && (f_len == per || f_off + f_len == f_total);
    bool use = false;
    if (valid && f_off == 0) {
      if (in_message) ++dropped_;  // the previous message never finished: its producer died
      in_message = true;
      id = f_id;
      total = f_total;
      have = 0;
      out.resize(total);
      use = true;
    } else if (valid && in_message && f_id == id && f_total == total && f_off == have) {
      use = true;
    } else {
      ++dropped_;
    }
    if (use && f_len != 0) std::memcpy(out.data() + f_off, payload(pos), f_len);
    // The slot may be reused as soon as head moves: the copy above must be complete.
    c_->head.store(pos + 1, std::memory_order_release);
    // Pairs with the producer's seq_cst store to producer_waiting. A sleeping producer is woken
    // once half the ring is free (see wait_space). A stale tail only makes that test pass early
    // (it may even read below our head: nothing is in use then).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (peer_waiting(c_->producer_waiting)) {
      const std::uint64_t tail = c_->tail.load(std::memory_order_relaxed);
      if (tail <= pos + 1 || tail - (pos + 1) <= nslots_ - half()) {
        wake_peer(c_->producer_waiting, c_->space_futex);
        ++wakes_;
      }
    }
    if (!valid) return make_error(Errc::corrupt, "fragment header out of bounds (hostile or corrupt peer)");
    if (use) {
      have += f_len;
      if (have == total) return id;
    }
  }
}

void Ring::reset() noexcept {
  for (std::uint32_t i = 0; i < nslots_; ++i) slot(i)->seq.store(0, std::memory_order_relaxed);
  c_->head.store(0, std::memory_order_relaxed);
  c_->tail.store(0, std::memory_order_relaxed);
  c_->producer_waiting.store(0, std::memory_order_relaxed);
  c_->consumer_waiting.store(0, std::memory_order_relaxed);
  head_cache_ = 0;
}

void Ring::recover_producer() noexcept {
  std::uint64_t pos = c_->tail.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < nslots_ && slot(pos)->seq.load(std::memory_order_acquire) == pos + 1; ++i) ++pos;
  c_->tail.store(pos, std::memory_order_relaxed);
}

}  // namespace shmcp::channel
