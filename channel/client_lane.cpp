#include "channel/client_lane.hpp"

#include <cstddef>

namespace shmcp::channel {

Result<ClientLane> ClientLane::claim(std::shared_ptr<Segment> segment) {
  auto lease = segment->claim_lane();
  if (!lease) return lease.error();
  ClientLane c;
  c.seg_ = std::move(segment);
  c.lease_ = std::move(*lease);
  c.req_ = c.seg_->request_ring(c.lease_.index);
  c.resp_ = c.seg_->response_ring(c.lease_.index);
  LaneControl& lc = c.seg_->lane(c.lease_.index);
  c.gen_ = (lc.client_gen.fetch_add(1, std::memory_order_relaxed) + 1) & 0xFFFFFFu;
  // A lane no worker serves starts afresh: whatever a predecessor left in its rings (requests of
  // a client that died or gave up, garbage a hostile client wrote, positions a truncation of the
  // segment zeroed under a writer that then stored a stale one, which leaves a hole no
  // consistency check can see) could otherwise keep it unservable for good.
  // Handshake with ServerEndpoint::try_take (both seq_cst): we raise the mark, then look at the
  // owner; a worker installs its token, then looks at the mark. At least one of us sees the
  // other, so no worker reads the rings while they are reset.
  const std::uint32_t was_poisoned = lc.poisoned.exchange(1, std::memory_order_seq_cst);
  if (lc.server_owner.load(std::memory_order_seq_cst) == 0) {
    c.req_.reset();
    c.resp_.reset();
    lc.poisoned.store(0, std::memory_order_release);
    return c;
  }
  // A worker still answers a predecessor's call: continue from the shared positions (the
  // predecessor may have died mid-send, leaving a slot published without advancing tail).
  lc.poisoned.store(was_poisoned, std::memory_order_release);
  c.req_.recover_producer();
  return c;
}

ClientLane::ClientLane(ClientLane&&) noexcept = default;
ClientLane& ClientLane::operator=(ClientLane&& o) noexcept {
  if (this != &o) {
    if (seg_) seg_->release_lane(lease_);
    seg_ = std::move(o.seg_);
    lease_ = std::move(o.lease_);
    req_ = o.req_;
    resp_ = o.resp_;
    gen_ = o.gen_;
    counter_ = o.counter_;
    buf_ = std::move(o.buf_);
  }
  return *this;
}

ClientLane::~ClientLane() {
  if (seg_) seg_->release_lane(lease_);
}

namespace {
Error lane_dropped() {
  return make_error(Errc::corrupt, "the executor dropped this lane because its rings were overwritten; "
                                   "release it and claim another");
}
}  // namespace

// Waiting for a response only fails when the executor is gone, or has dropped this lane: during a
// graceful shutdown ("closing") it still finishes the calls it accepted, so their responses must
// be awaited. New requests are refused while closing (see send()). Runs only from a wait's
// periodic check (every kPeerCheckIntervalNs), never on the fast path.
Status ClientLane::check_executor() const {
  if (!seg_->executor_alive())
    return make_error(Errc::peer_dead, "the executor serving channel '" + seg_->name() + "' died");
  // A new epoch in a live executor's segment: it was truncated and restored (Segment::restore_size).
  // (The word is client-writable too; the executor puts a forged value back within milliseconds.)
  if (seg_->current_epoch() != seg_->epoch())
    return make_error(Errc::peer_dead, "the executor reset channel '" + seg_->name() + "' (its segment was resized); reconnect");
  // A lane the workers dropped as corrupt is never served until a new claim resets it: say so at
  // this check rather than at the deadline, so the caller moves to a fresh lane at once.
  if (seg_->lane(lease_.index).poisoned.load(std::memory_order_acquire) != 0) return lane_dropped();
  return {};
}

// Only after a wait timed out (never on the fast path: the flag shares a cache line with
// server_owner, which workers write on every call): a lane the workers dropped as corrupt will
// never be served, so say so (Errc::corrupt) and let the caller release it; the next client to
// claim the lane resets it (see claim()).
Error ClientLane::explain_timeout(Error e) const {
  if (e.code == Errc::timeout && seg_->lane(lease_.index).poisoned.load(std::memory_order_acquire) != 0) return lane_dropped();
  return e;
}

Status ClientLane::send(std::uint64_t id, std::span<const std::byte> request, Deadline& deadline,
                        const WaitPolicy& policy) {
  if (static_cast<SegmentState>(seg_->header().state.load(std::memory_order_acquire)) == SegmentState::closing)
    return make_error(Errc::closed, "the executor is shutting down");
  auto s = req_.send(id, request, policy, deadline, [this] { return check_executor(); });
  if (!s) return explain_timeout(std::move(s).error());
  // This thread is the counter's only writer: a plain load + store, no locked RMW on the hot path.
  AtomicU64& calls = seg_->lane(lease_.index).calls;
  calls.store(calls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // Wake a sleeping worker. Pairs with the worker's seq_cst increment of `sleepers` before its
  // final scan (see ServerEndpoint::next). No fence of our own is needed: Ring::send issued a
  // seq_cst fence after publishing the last fragment, which already orders this load after it.
  // While a worker holds the spinner token it will find the request itself: skip the syscall.
  SegmentHeader& h = seg_->header();
  if (h.spinner.load(std::memory_order_relaxed) == 0 && h.sleepers.load(std::memory_order_relaxed) != 0) {
    h.doorbell.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(&h.doorbell, 1);
    rang_ = true;
  }
  return {};
}

Result<std::span<const std::byte>> ClientLane::receive(Deadline& deadline, const WaitPolicy& policy,
                                                       std::uint64_t* id_out) {
  const std::uint64_t faults = truncation_faults();
  auto id = resp_.receive(buf_, policy, deadline, [this] { return check_executor(); });
  if (!id) return explain_timeout(std::move(id).error());
  // Copied while a truncation zeroed pages of this lane: the response may hold zeros where the
  // worker's bytes were. Never hand it on as a result (see Segment::restore_size).
  if (truncation_faults() != faults || seg_->current_epoch() != seg_->epoch())
    return make_error(Errc::peer_dead, "the executor reset channel '" + seg_->name() + "' (its segment was resized) "
                                       "while the response was read; reconnect (the call's outcome is unknown)");
  if (id_out) *id_out = *id;
  return std::span<const std::byte>(buf_.data(), buf_.size());
}

Result<std::span<const std::byte>> ClientLane::call(std::uint64_t id, std::span<const std::byte> request,
                                                    Deadline deadline, const WaitPolicy& policy) {
  rang_ = false;
  if (auto s = send(id, request, deadline, policy); !s) return s.error();
  // A worker woken from its sleep for this call needs a wake-up's time before it even starts
  // (on small VMs more than the default spin budget): waiting adaptively, keep polling
  // through that instead of going to sleep just before the answer and paying a second wake-up.
  WaitPolicy wait = policy;
  if (rang_ && wait.mode == WaitMode::adaptive) wait.spin_ns += kWakeAllowanceNs;
  for (;;) {
    std::uint64_t got = 0;
    auto r = receive(deadline, wait, &got);
    if (!r) return r;
    if (got == id) return r;
    // A response to an earlier call of ours that timed out, or to a dead predecessor: drop it.
  }
}
}  // namespace shmcp::channel
