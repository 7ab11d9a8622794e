#include "channel/server_endpoint.hpp"

#include <algorithm>

#include "channel/base/cpu_relax.hpp"

namespace shmcp::channel {

ServerEndpoint::ServerEndpoint(std::shared_ptr<Segment> segment, std::uint32_t worker_index)
    : seg_(std::move(segment)),
      me_(worker_index + 1),
      slot_(&seg_->worker(worker_index)),
      stats_(&seg_->stats()) {
  epoch_ = seg_->epoch();
  make_response_rings();
}

void ServerEndpoint::make_response_rings() {
  response_rings_.clear();
  response_rings_.reserve(seg_->lane_count());
  for (std::uint32_t i = 0; i < seg_->lane_count(); ++i) response_rings_.push_back(seg_->response_ring(i));
}

void ServerEndpoint::follow_epoch() {
  const std::uint64_t now = seg_->current_epoch();
  if (now == epoch_) return;
  // The segment was shrunk and put back (Segment::restore_size): the lanes past the cut lost
  // their rings and owner words, and every client of the old epoch reconnects and resets the lane
  // it claims. Nothing of ours is valid any more: drop the lane (only if it is still ours: a
  // zeroed owner word may since have been taken by another worker) and the cached heads.
  epoch_ = now;
  release_current();
  make_response_rings();
}

ServerEndpoint::~ServerEndpoint() {
  release_current();
  if (spinner_) {
    std::uint32_t mine = me_;
    seg_->header().spinner.compare_exchange_strong(mine, 0, std::memory_order_seq_cst);
  }
}

bool ServerEndpoint::try_take(std::uint32_t lane) noexcept {
  LaneControl& lc = seg_->lane(lane);
  if (lc.server_owner.load(std::memory_order_relaxed) != 0 || lc.poisoned.load(std::memory_order_acquire) != 0)
    return false;  // acquire: a client's reset of the rings happens-before it cleared the mark
  if (!seg_->request_ring(lane).readable()) return false;
  // Claim first (private), then take (shared): the supervisor frees a lane whose owner token no
  // claim matches (repair_lane_owners), so the claim must be visible before the token is.
  const std::uint32_t token = me_ | (++takes_ << 8);  // me_ <= kOwnerWorkerMask
  const std::uint64_t claim = (static_cast<std::uint64_t>(lane) + 1) << 32 | token;
  slot_->claim.store(claim, std::memory_order_relaxed);  // published by the CAS's release
  std::uint32_t expected = 0;
  if (!lc.server_owner.compare_exchange_strong(expected, token, std::memory_order_seq_cst)) {
    slot_->claim.store(0, std::memory_order_relaxed);
    return false;
  }
  // The other half of ClientLane::claim's handshake (token in, then look at the mark): a client
  // resetting the rings raised it and may not have seen our token. Give the lane back untouched.
  if (lc.poisoned.load(std::memory_order_seq_cst) != 0) {
    std::uint32_t mine = token;
    lc.server_owner.compare_exchange_strong(mine, 0, std::memory_order_seq_cst);
    slot_->claim.store(0, std::memory_order_release);
    return false;
  }
  token_ = token;
  current_ = lane;
  batch_ = 0;
  return true;
}

void ServerEndpoint::release_current() noexcept {
  if (!current_) return;
  const std::uint32_t lane = *current_;
  current_.reset();
  slot_->lane_plus1.store(0, std::memory_order_relaxed);
  // Only our own token is given back: after a truncation zeroed the word another worker may own
  // the lane now, and clearing its token would let a third one in beside it.
  std::uint32_t mine = token_;
  seg_->lane(lane).server_owner.compare_exchange_strong(mine, 0, std::memory_order_seq_cst);
  slot_->claim.store(0, std::memory_order_release);  // after the give-back (see repair_lane_owners)
  // A client may have published after our last look but seen us as owner and woken nobody useful:
  // looking again after the release closes that window (seq_cst store, then load).
  if (seg_->request_ring(lane).readable()) {
    SegmentHeader& h = seg_->header();
    if (h.sleepers.load(std::memory_order_seq_cst) != 0) {
      h.doorbell.fetch_add(1, std::memory_order_seq_cst);
      futex_wake(&h.doorbell, 1);
    }
  }
}

Result<ServerEndpoint::Incoming> ServerEndpoint::next(const WaitPolicy& policy, const std::atomic<bool>* stop) {
  if (Status s = wait_for_lane(policy, stop); !s) return Error(std::move(s).error());
  return receive_current();
}

Status ServerEndpoint::wait_for_lane(const WaitPolicy& policy, const std::atomic<bool>* stop) {
  SegmentHeader& h = seg_->header();
  follow_epoch();
  // Keep serving the current lane (pipelined requests) for a bounded batch, for fairness, while
  // it is still ours (a truncation may have zeroed the owner word under us).
  if (current_ && !(batch_ < 64 && seg_->request_ring(*current_).readable() &&
                    seg_->lane(*current_).server_owner.load(std::memory_order_relaxed) == token_))
    release_current();

  // Read the clock only once we actually have to wait (adaptive mode's spin budget): the common
  // pipelined case, where the current lane already has the next request, never needs it.
  std::uint64_t start = 0;
  std::uint64_t last_now = 0;    // the spin loop's latest clock read
  std::uint64_t idle_since = 0;  // when this wait began, once known (before the first sleep)
  bool slept = false;
  // False after a sleep that ended without the doorbell moving (the periodic wake-up): such a
  // worker scans and sleeps again instead of taking the spinner token and spinning a whole budget,
  // which an idle worker would otherwise do every kPeerCheckIntervalNs.
  bool may_spin = true;
  std::uint32_t spins = 0;
  bool sleeping_registered = false;
  auto unregister = [&] {
    if (sleeping_registered) {
      h.sleepers.fetch_sub(1, std::memory_order_seq_cst);
      sleeping_registered = false;
    }
  };
  // Only the holder of the spinner token spins; the others sleep on the doorbell at once. The
  // holder gives the token up when it finds work (so an idle worker can take over spinning) or
  // when its adaptive budget runs out. Pairing with ClientLane::send: a worker releases the token
  // (seq_cst store, then a seq_cst fence) before its final scan; a client publishes (fence) before
  // reading `spinner`. Either the client sees 0 and wakes a sleeper, or the scan sees the request.
  // The token is kept across calls (spinner_) while no other worker sleeps, so a lone worker's
  // steady state writes nothing to the header line that every client reads after each send.
  bool& spinner = spinner_;
  while (!current_) {
    if (stop && stop->load(std::memory_order_relaxed)) {
      release_spinner();
      unregister();
      return make_error(Errc::closed, "stopping");
    }
    if (!spinner && policy.mode != WaitMode::block && start == 0 && may_spin) {
      std::uint32_t none = 0;
      spinner = h.spinner.compare_exchange_strong(none, me_, std::memory_order_seq_cst);
      if (spinner && sleeping_registered) unregister();
    }
    std::uint32_t seen = 0;
    if (sleeping_registered) seen = h.doorbell.load(std::memory_order_seq_cst);
    follow_epoch();  // every pass that scans: a sleeping worker too, at its periodic wake-up
    // lanes_high_water is client-writable: a hostile client could lower it to hide every other
    // lane from the workers. Only ever raise our own copy of it.
    hw_seen_ = std::max(hw_seen_, std::min(h.lanes_high_water.load(std::memory_order_acquire), seg_->lane_count()));
    const std::uint32_t hw = hw_seen_;
    for (std::uint32_t k = 0; k < hw && !current_; ++k) {
      const std::uint32_t lane = (scan_from_ + k) % hw;
      if (try_take(lane)) scan_from_ = (lane + 1) % hw;
    }
    if (current_) break;
    if (spinner) {
      ++spins;
      bool budget_over = false;
      if (policy.mode == WaitMode::adaptive && (spins & 63u) == 0) {
        const std::uint64_t now = monotonic_ns();
        if (start == 0) start = now;
        last_now = now;
        budget_over = now - start >= spin_budget(policy);
      }
      if (!budget_over) {
        cpu_relax();
        continue;
      }
      // Going to sleep: announce it first, then hand the token back, then scan once more.
      h.sleepers.fetch_add(1, std::memory_order_seq_cst);
      sleeping_registered = true;
      release_spinner();
      continue;
    }
    if (!sleeping_registered) {
      // Announce, then scan once more before sleeping (see ClientLane::send for the pairing).
      h.sleepers.fetch_add(1, std::memory_order_seq_cst);
      sleeping_registered = true;
      continue;
    }
    if (idle_since == 0) idle_since = start != 0 ? start : monotonic_ns();
    slept = true;
    futex_wait(&h.doorbell, seen, kPeerCheckIntervalNs);
    start = 0;
    // Rung (a client published, a worker handed a lane back): a burst may follow, so compete for
    // the spinner token again. Timed out: nothing happened, keep sleeping between scans.
    may_spin = h.doorbell.load(std::memory_order_seq_cst) != seen;
    if (!may_spin && idle_exit_ns_ != 0 && monotonic_ns() - idle_since >= idle_exit_ns_) {
      // A request published after the last scan stays queued: the supervisor sees it and starts
      // a worker for it (lazy pools).
      unregister();
      release_spinner();
      return make_error(Errc::timeout, "idle");
    }
  }
  if (policy.mode == WaitMode::adaptive) {
    // How long this worker waited for the call, when it waited at all (the clock was read while
    // spinning, or it slept): the next spin budget covers a gap this long (see spin_budget()).
    if (slept) last_gap_ns_ = monotonic_ns() - idle_since;
    else if (start != 0) last_gap_ns_ = last_now - start;
    else last_gap_ns_ = 0;
  }
  unregister();
  if (!defer_handoff_) hand_off_spinner();
  return {};
}

Result<ServerEndpoint::Incoming> ServerEndpoint::receive_current() {
  const std::uint32_t lane = *current_;
  ++batch_;
  Ring ring = seg_->request_ring(lane);
  // A whole message is normally there already, so no clock read up front: the 1 s limit on a
  // client that stalls mid-message starts at the first periodic check (~10 ms into a wait).
  // The lambda captures one pointer so std::function stores it inline (no allocation per call).
  struct StallCheck {
    const Segment* seg;
    std::uint32_t lane;
    std::uint64_t limit_ns;
    std::uint64_t epoch;
  } stall{seg_.get(), lane, 0, epoch_};
  const std::uint64_t faults = truncation_faults();
  auto id = ring.receive(buf_, WaitPolicy{WaitMode::spin, 0}, 0, [st = &stall]() -> Status {
    if (!st->seg->client_alive(st->lane)) return make_error(Errc::peer_dead, "client died mid-request");
    if (st->seg->current_epoch() != st->epoch) return make_error(Errc::peer_dead, "the segment was reset mid-request");
    const std::uint64_t now = monotonic_ns();
    if (st->limit_ns == 0) st->limit_ns = now + 1'000'000'000ull;
    else if (now >= st->limit_ns) return make_error(Errc::timeout, "client stalled mid-request for 1 s");
    return {};
  });
  if (!id) {
    if (id.error().code == Errc::corrupt) {
      // The client scribbled on its lane. Stop serving it; the others are unaffected.
      seg_->lane(lane).poisoned.store(1, std::memory_order_release);  // before release_current()
      ++corrupt_count_;
      stats_->corrupt_messages.fetch_add(1, std::memory_order_relaxed);
    }
    release_current();
    return Error(std::move(id).error());
  }
  // Copied while a truncation zeroed pages of the lane (our guard waited out a fault, or the
  // epoch moved): the bytes may be zeros where the client's were, and a write must never store
  // them. Drop the request; its client reconnects and learns the call's outcome is unknown.
  if (truncation_faults() != faults || seg_->current_epoch() != epoch_) {
    stats_->corrupt_messages.fetch_add(1, std::memory_order_relaxed);
    follow_epoch();
    release_current();
    return make_error(Errc::peer_dead, "request dropped: the segment was resized while it was read");
  }
  slot_->call_id.store(*id, std::memory_order_relaxed);
  slot_->lane_plus1.store(lane + 1, std::memory_order_release);
  return Incoming{lane, *id, std::span<const std::byte>(buf_.data(), buf_.size())};
}

std::uint64_t ServerEndpoint::spin_budget(const WaitPolicy& policy) const noexcept {
  const std::uint64_t cap = kSteadySpinFactor * policy.spin_ns;
  if (last_gap_ns_ == 0 || last_gap_ns_ > cap) return policy.spin_ns;
  return std::clamp(2 * last_gap_ns_, policy.spin_ns, cap);
}

void ServerEndpoint::release_spinner() noexcept {
  if (!spinner_) return;
  seg_->header().spinner.store(0, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // before the caller's final scan (see wait_for_lane())
  spinner_ = false;
}

void ServerEndpoint::hand_off_spinner() noexcept {
  if (!spinner_ || !current_) return;
  SegmentHeader& h = seg_->header();
  if (h.sleepers.load(std::memory_order_seq_cst) == 0) return;
  // Other workers sleep: give the token up so clients wake one of them while we are busy, and
  // hand them any request published while clients still saw us spinning. (A worker that goes to
  // sleep just after this check finds such requests at its next periodic wake-up.)
  release_spinner();
  for (std::uint32_t l = 0; l < hw_seen_; ++l) {
    if (l != *current_ && seg_->lane(l).server_owner.load(std::memory_order_relaxed) == 0 &&
        seg_->request_ring(l).readable()) {
      h.doorbell.fetch_add(1, std::memory_order_seq_cst);
      futex_wake(&h.doorbell, 1);
      break;
    }
  }
}

Status ServerEndpoint::reply(std::uint32_t lane, std::uint64_t id, std::span<const std::byte> response,
                             Deadline deadline, const WaitPolicy& policy) {
  if (lane >= seg_->lane_count()) return make_error(Errc::invalid_argument, "lane out of range");
  Ring& ring = response_rings_[lane];  // persistent: keeps its cached head between calls
  auto s = ring.send(id, response, policy, deadline, [this, lane]() -> Status {
    if (!seg_->client_alive(lane)) return make_error(Errc::peer_dead, "client died before reading its response");
    // The segment was truncated and put back since: this ring lost its state (a wait for space
    // on it may never end) and the client reconnects anyway.
    if (seg_->current_epoch() != epoch_) return make_error(Errc::peer_dead, "the segment was reset; response dropped");
    return {};
  });
  WorkerSlot& ws = *slot_;
  ws.calls.store(ws.calls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // sole writer
  // Once the response is fully published the call is no longer in flight: were this worker to die
  // now, answer_for_dead_worker must not send the client a second response for the same id.
  if (s) ws.lane_plus1.store(0, std::memory_order_release);
  return s;
}

// ---------------------------------------------------------------------------------------------

void answer_for_dead_worker(Segment& seg, std::uint32_t worker_index, wire::Status status, std::string_view why) {
  if (worker_index >= kMaxWorkers) return;
  WorkerSlot& ws = seg.worker(worker_index);
  const std::uint32_t lane_plus1 = ws.lane_plus1.exchange(0, std::memory_order_acq_rel);
  const std::uint64_t id = ws.call_id.load(std::memory_order_relaxed);
  if (lane_plus1 == 0 || lane_plus1 > seg.lane_count()) {
    // Idle, or a value we can't trust: still free any lane it owned.
  } else {
    const std::uint32_t lane = lane_plus1 - 1;
    Ring ring = seg.response_ring(lane);
    ring.recover_producer();
    flatbuffers::FlatBufferBuilder fbb(256);
    build_status_response(fbb, id, status, why);
    // Best effort and bounded: if the client stopped reading, drop it.
    (void)ring.send(id, bytes_of(fbb), WaitPolicy{WaitMode::block, 0}, monotonic_ns() + 100'000'000ull,
                    [&seg, lane]() -> Status {
                      if (!seg.client_alive(lane)) return make_error(Errc::peer_dead, "client gone");
                      return {};
                    });
  }
  const std::uint32_t me = worker_index + 1;
  std::uint32_t holder = me;
  seg.header().spinner.compare_exchange_strong(holder, 0, std::memory_order_seq_cst);  // dead spinner
  for (std::uint32_t i = 0; i < seg.lane_count(); ++i) {
    std::uint32_t owner = seg.lane(i).server_owner.load(std::memory_order_acquire);
    if (owner != 0 && (owner & kOwnerWorkerMask) == me) seg.lane(i).server_owner.compare_exchange_strong(owner, 0, std::memory_order_acq_rel);
  }
  ws.claim.store(0, std::memory_order_relaxed);
  // Requests that arrived for those lanes while the worker was dying: wake a sleeper.
  SegmentHeader& h = seg.header();
  h.doorbell.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&h.doorbell, 1);
}

std::uint32_t reclaim_dead_clients(Segment& seg) {
  std::uint32_t n = 0;
  // Every lane, not just those below lanes_high_water: a hostile client may have lowered that
  // word, and lanes never claimed cost only one load here.
  for (std::uint32_t i = 0; i < seg.lane_count(); ++i) {
    LaneControl& lc = seg.lane(i);
    if (lc.claimed.load(std::memory_order_acquire) == 0) continue;
    if (seg.client_alive(i)) continue;
    std::uint32_t one = 1;
    if (lc.claimed.compare_exchange_strong(one, 0, std::memory_order_acq_rel)) {
      lc.reclaimed.fetch_add(1, std::memory_order_relaxed);
      seg.stats().lanes_reclaimed.fetch_add(1, std::memory_order_relaxed);
      ++n;
    }
  }
  return n;
}


std::uint32_t repair_lane_owners(Segment& seg, std::uint32_t below) {
  std::uint32_t n = 0;
  const std::uint32_t lanes = std::min(below, seg.lane_count());
  for (std::uint32_t i = 0; i < lanes; ++i) {
    LaneControl& lc = seg.lane(i);
    std::uint32_t owner = lc.server_owner.load(std::memory_order_acquire);
    if (owner == 0) continue;
    const std::uint32_t w = owner & kOwnerWorkerMask;
    // A worker takes a lane by storing its claim, then CASing the token in (release); it gives it
    // back by storing 0, then clearing the claim (release). Reading the token (acquire) makes its
    // claim visible; reading a cleared claim (acquire) makes the give-back visible, so the CAS
    // below fails. Tokens are unique per take, so a live take is never freed.
    if (w != 0 && w <= seg.worker_count()) {
      const std::uint64_t want = (static_cast<std::uint64_t>(i) + 1) << 32 | owner;
      if (seg.worker(w - 1).claim.load(std::memory_order_acquire) == want) continue;
    }
    if (lc.server_owner.compare_exchange_strong(owner, 0, std::memory_order_acq_rel)) ++n;
  }
  if (n > 0) {
    SegmentHeader& h = seg.header();  // requests may wait on the freed lanes: wake a sleeper
    h.doorbell.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(&h.doorbell, 1);
  }
  return n;
}

}  // namespace shmcp::channel
