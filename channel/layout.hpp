// The shared-memory segment layout: a wire format shared by two programs that may be built at
// different times and run in different containers (separate PID namespaces: both may be pid 1).
//
// Rules: plain-old-data only; every cross-region reference is an offset from the segment base;
// fixed-size fields; std::atomic of lock-free integral types only (their layout equals the
// integer's, checked below). No pointers, no pids, no process-owned locks. Anything read from here
// may have been scribbled on by a hostile peer: readers bounds-check every index and length.
//
// Segment:  [SegmentHeader 4 KiB][Lane 0]...[Lane n-1]
// The executor's control plane (worker state, deadlines, counters, log rings) is not here: it lives
// in a region only the supervisor and its workers map (channel/control.hpp), because every client
// can write every byte of this segment.
// Lane:     [LaneControl 512 B][request ring slots][response ring slots]
// Slot:     [SlotHeader 32 B][payload: slot_size - 32 B]
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace shmcp::channel {

inline constexpr std::uint64_t kMagic = 0x31484348504D4853ull;  // "SHMPCHH1" little-endian
inline constexpr std::uint32_t kAbiVersion = 2;  // 2: control plane moved out of the segment
inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::uint32_t kMaxWorkers = 64;
inline constexpr std::uint32_t kMaxLanes = 4096;
inline constexpr std::uint32_t kOwnerWorkerMask = 0xFF;  // LaneControl::server_owner's worker bits
static_assert(kMaxWorkers <= kOwnerWorkerMask);

using AtomicU32 = std::atomic<std::uint32_t>;
using AtomicU64 = std::atomic<std::uint64_t>;
static_assert(AtomicU32::is_always_lock_free && AtomicU64::is_always_lock_free);
static_assert(sizeof(AtomicU32) == 4 && sizeof(AtomicU64) == 8);
static_assert(std::is_standard_layout_v<AtomicU64>);

enum class SegmentState : std::uint32_t { initializing = 0, ready = 1, closing = 2 };

// One ring's shared control words. The producer owns `tail`, the consumer owns `head`; the futex
// words let either side sleep. Producer and consumer words live on separate cache lines.
struct alignas(kCacheLine) RingControl {
  alignas(kCacheLine) AtomicU64 head;        // consumer: slots consumed (monotonic)
  AtomicU32 producer_waiting;                // producer sleeps on space_futex while set
  AtomicU32 space_futex;                     // bumped by the consumer when it frees space
  alignas(kCacheLine) AtomicU64 tail;        // producer: slots published (monotonic)
  AtomicU32 consumer_waiting;                // consumer sleeps on data_futex while set
  AtomicU32 data_futex;                      // bumped by the producer when it publishes
};
static_assert(sizeof(RingControl) == 2 * kCacheLine);

// Fragment header at the start of each slot. `seq` is written last (release) by the producer:
// slot i of round r holds seq == r * nslots + i + 1 once published. A consumer expecting position p
// reads the slot only when seq == p + 1.
struct SlotHeader {
  AtomicU64 seq;
  std::uint64_t msg_id;     // request id (responses carry the id they answer)
  std::uint32_t total_len;  // whole message length
  std::uint32_t offset;     // this fragment's offset within the message
  std::uint32_t frag_len;   // bytes of payload in this slot
  std::uint32_t reserved;
};
static_assert(sizeof(SlotHeader) == 32);
static_assert(offsetof(SlotHeader, seq) == 0 && offsetof(SlotHeader, total_len) == 16);

struct alignas(kCacheLine) LaneControl {
  // Client side. `client_gen` is bumped each time a client claims the lane; request ids carry it so
  // a new owner can tell its responses from a dead predecessor's.
  alignas(kCacheLine) AtomicU32 claimed;     // 1 while a client holds the lane's lease lock
  AtomicU32 client_gen;
  AtomicU64 calls;                           // requests sent on this lane (client-written)
  // Executor side: the token of the worker that currently consumes this lane, 0 = none. Workers CAS
  // it from 0; a token is the worker's index + 1 in the low 8 bits and that worker's take count
  // above (see ControlBlock's WorkerSlot::claim), so the supervisor can tell a live worker's claim
  // from a value a client wrote, and free the lane.
  alignas(kCacheLine) AtomicU32 server_owner;  // & kOwnerWorkerMask: that worker's index + 1
  // 1 once a worker found the request ring corrupt (a hostile or broken client): every worker
  // skips the lane until the next client to claim it resets both rings and clears this. (Was
  // reserved and always 0: older peers simply never set or clear it.)
  AtomicU32 poisoned;
  AtomicU64 reclaimed;                       // times the supervisor reclaimed a dead client's lane
  RingControl request;
  RingControl response;
};
static_assert(sizeof(LaneControl) == 6 * kCacheLine);

struct alignas(4096) SegmentHeader {
  std::uint64_t magic;
  std::uint32_t abi_version;
  std::uint32_t header_size;
  std::uint64_t layout_hash;   // layout_hash() of the creator
  std::uint64_t epoch;         // random per creation: a restarted executor has a new epoch
  std::uint64_t total_size;
  std::uint32_t lane_count;
  std::uint32_t slots_per_ring;
  std::uint32_t slot_size;
  std::uint32_t max_message;
  std::uint32_t worker_count;
  std::uint32_t wait_mode;     // the executor's default WaitMode (informational)
  std::uint64_t reserved0;     // 0 (was the worker slots' offset before the control plane moved)
  std::uint64_t reserved1;     // 0
  std::uint64_t lanes_offset;
  std::uint64_t lane_stride;
  std::uint64_t created_realtime_ns;
  alignas(kCacheLine) AtomicU32 state;          // SegmentState; ready is stored last (release)
  AtomicU32 lanes_high_water;                   // lanes ever claimed: workers scan [0, hw)
  AtomicU64 heartbeat_ns;                       // supervisor's CLOCK_MONOTONIC, every ~10 ms
  // Server doorbell: workers sleep here when every lane is idle.
  alignas(kCacheLine) AtomicU32 doorbell;
  AtomicU32 sleepers;
  // The one worker (index + 1) allowed to spin while idle; 0 = none. Other idle workers sleep, so
  // N workers never burn N cores, and clients skip the wake-up syscall while someone spins.
  AtomicU32 spinner;
};
static_assert(sizeof(SegmentHeader) == 4096);
static_assert(offsetof(SegmentHeader, state) == 128);

// A hash of every size and offset above plus the ABI version: attaching to a segment made by a
// build with a different layout is refused even if someone forgot to bump kAbiVersion.
constexpr std::uint64_t layout_hash() {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  mix(kAbiVersion);
  mix(sizeof(SegmentHeader));
  mix(offsetof(SegmentHeader, state));
  mix(offsetof(SegmentHeader, doorbell));
  mix(offsetof(SegmentHeader, spinner));
  mix(sizeof(LaneControl));
  mix(offsetof(LaneControl, request));
  mix(offsetof(LaneControl, response));
  mix(sizeof(RingControl));
  mix(sizeof(SlotHeader));
  mix(kMaxWorkers);
  return h;
}

}  // namespace shmcp::channel
