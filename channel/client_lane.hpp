// shmcp channel, client side: a lane of a Segment, claimed by one client thread (see segment.hpp
// for the segment and its leases).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "channel/base/result.hpp"
#include "channel/ring.hpp"
#include "channel/segment.hpp"

namespace shmcp::channel {

// A client's lane: one thread's private request/response pair. Request ids carry the lane's
// claim generation so responses left over from a dead predecessor are recognised and dropped.
class ClientLane {
 public:
  // Added to an adaptive wait's spin budget when the call had to wake a sleeping worker.
  static constexpr std::uint64_t kWakeAllowanceNs = 500'000;
  static Result<ClientLane> claim(std::shared_ptr<Segment> segment);
  ClientLane(ClientLane&&) noexcept;
  ClientLane& operator=(ClientLane&&) noexcept;
  ~ClientLane();

  std::uint32_t index() const noexcept { return lease_.index; }
  const std::shared_ptr<Segment>& segment() const noexcept { return seg_; }
  std::uint64_t next_id() noexcept { return (static_cast<std::uint64_t>(gen_) << 40) | (++counter_ & ((1ull << 40) - 1)); }

  // Sends a request and waits for the response with the same id; responses with other ids are
  // dropped. Errors: peer_dead (executor lease free: it died), closed (executor shutting down),
  // timeout, too_large, corrupt (the executor wrote garbage, or dropped this lane because its
  // rings were overwritten: release the lane, a new claim resets it).
  // The returned span points into an internal buffer valid until the next call.
  // The send and all the waits for the response share `deadline` (see Deadline::within).
  Result<std::span<const std::byte>> call(std::uint64_t id, std::span<const std::byte> request,
                                          Deadline deadline, const WaitPolicy& policy);

  // Pipelining: send without waiting, then collect responses in order.
  Status send(std::uint64_t id, std::span<const std::byte> request, std::uint64_t deadline_ns,
              const WaitPolicy& policy) {
    Deadline d(deadline_ns);
    return send(id, request, d, policy);
  }
  Result<std::span<const std::byte>> receive(std::uint64_t deadline_ns, const WaitPolicy& policy,
                                             std::uint64_t* id_out = nullptr) {
    Deadline d(deadline_ns);
    return receive(d, policy, id_out);
  }

 private:
  ClientLane() = default;
  Status send(std::uint64_t id, std::span<const std::byte> request, Deadline& deadline, const WaitPolicy& policy);
  Result<std::span<const std::byte>> receive(Deadline& deadline, const WaitPolicy& policy, std::uint64_t* id_out);
  Status check_executor() const;
  Error explain_timeout(Error e) const;
  std::shared_ptr<Segment> seg_;
  Segment::LaneLease lease_;
  Ring req_, resp_;
  std::uint32_t gen_ = 0;
  std::uint64_t counter_ = 0;
  std::vector<std::byte> buf_;
  bool rang_ = false;  // send() woke a sleeping worker (see call())
};
}  // namespace shmcp::channel
