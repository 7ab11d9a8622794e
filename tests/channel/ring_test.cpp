// Ring logic on a plain in-process buffer: no segment, no second process. The ring is built over
// memory we own so that tests can play a dead or hostile peer by writing slot headers directly.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "channel/ring.hpp"

namespace shmcp::channel {
namespace {

constexpr std::uint32_t kSlotSize = 128;                       // smallest legal slot
constexpr std::uint32_t kPer = kSlotSize - sizeof(SlotHeader);  // 96 payload bytes per slot

// RingControl + slot memory, zero-initialised exactly like a fresh segment (posix_fallocate zeroes).
class RingMemory {
 public:
  RingMemory(std::uint32_t nslots, std::uint32_t max_message)
      : nslots_(nslots), max_message_(max_message), bytes_(sizeof(RingControl) + std::size_t{nslots} * kSlotSize) {
    mem_ = static_cast<std::byte*>(std::aligned_alloc(kCacheLine, bytes_));
    std::memset(mem_, 0, bytes_);
    control_ = new (mem_) RingControl();  // atomics value-initialise to 0
  }
  ~RingMemory() { std::free(mem_); }
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;

  // A fresh Ring object over the same memory: a new producer or consumer taking over.
  Ring ring() const { return Ring(control_, slots(), nslots_, kSlotSize, max_message_); }
  RingControl& control() const { return *control_; }
  std::byte* slots() const { return mem_ + sizeof(RingControl); }
  SlotHeader& header_at(std::uint64_t pos) const {
    return *reinterpret_cast<SlotHeader*>(slots() + (pos % nslots_) * kSlotSize);
  }

  // Plays a producer by hand: writes one fragment at `pos` following the ring protocol.
  void raw_publish(std::uint64_t pos, std::uint64_t id, std::uint32_t total, std::uint32_t offset,
                   std::uint32_t frag_len, std::byte fill, bool advance_tail = true) const {
    SlotHeader& h = header_at(pos);
    h.msg_id = id;
    h.total_len = total;
    h.offset = offset;
    h.frag_len = frag_len;
    std::memset(slots() + (pos % nslots_) * kSlotSize + sizeof(SlotHeader), static_cast<int>(fill),
                std::min(frag_len, kPer));
    h.seq.store(pos + 1, std::memory_order_release);
    if (advance_tail) control_->tail.store(pos + 1, std::memory_order_relaxed);
  }

 private:
  std::uint32_t nslots_, max_message_;
  std::size_t bytes_;
  std::byte* mem_ = nullptr;
  RingControl* control_ = nullptr;
};

std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<std::byte>(x >> 24);
  }
  return v;
}

const WaitPolicy kSpin{WaitMode::spin, 0};

// Short deadline for receives that are expected to find data immediately (a bug shows as timeout).
std::uint64_t soon() { return monotonic_ns() + 2'000'000'000ull; }

TEST(Ring, FreshRingIsEmptyAndNotReadable) {
  RingMemory mem(4, 1024);
  Ring r = mem.ring();
  EXPECT_FALSE(r.readable());
  std::vector<std::byte> out;
  const std::uint64_t deadline = monotonic_ns() + 5'000'000;
  auto got = r.receive(out, kSpin, deadline, {});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::timeout);
}

TEST(Ring, WrapsAroundAcrossManyRoundsDeliveringEveryMessageInOrder) {
  RingMemory mem(4, 4 * kPer);
  Ring producer = mem.ring();
  Ring consumer = mem.ring();
  std::vector<std::byte> out;
  std::uint64_t sent = 0, received = 0;
  // Sizes from 0 to 3 slots plus a bit, so messages straddle the wrap point in every phase.
  for (std::uint32_t round = 0; round < 2000; ++round) {
    // Fill until full, then drain: exercises both the full and the wrap-around paths.
    for (;;) {
      const std::size_t n = (sent * 37) % (3 * kPer + 5);
      auto msg = pattern(n, static_cast<std::uint32_t>(sent));
      auto s = producer.try_send(sent + 100, msg);
      if (!s.ok()) {
        ASSERT_EQ(s.error().code, Errc::ring_full) << s.error().describe();
        break;
      }
      ++sent;
    }
    while (consumer.readable()) {
      auto id = consumer.receive(out, kSpin, soon(), {});
      ASSERT_TRUE(id.ok()) << id.error().describe();
      EXPECT_EQ(*id, received + 100);
      const std::size_t n = (received * 37) % (3 * kPer + 5);
      ASSERT_EQ(out, pattern(n, static_cast<std::uint32_t>(received))) << "message " << received;
      ++received;
    }
    ASSERT_EQ(sent, received);
  }
  // 2000 rounds of >= 1 message over a 4-slot ring: many times around.
  EXPECT_GT(mem.control().tail.load(), 4000u);
  EXPECT_EQ(mem.control().head.load(), mem.control().tail.load());
  EXPECT_EQ(consumer.dropped_fragments(), 0u);
}

TEST(Ring, TrySendOnFullRingReturnsRingFullAndWritesNothing) {
  RingMemory mem(4, 8 * kPer);
  Ring r = mem.ring();
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(r.try_send(i, pattern(10, 1)).ok());
  const std::uint64_t tail = mem.control().tail.load();
  auto s = r.try_send(99, pattern(10, 2));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::ring_full);
  EXPECT_EQ(mem.control().tail.load(), tail);

  // Free one slot: a one-slot message fits, a two-fragment one still does not (all or nothing).
  std::vector<std::byte> out;
  ASSERT_TRUE(r.receive(out, kSpin, soon(), {}).ok());
  auto two = r.try_send(98, pattern(kPer + 1, 3));
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().code, Errc::ring_full);
  EXPECT_EQ(mem.control().tail.load(), tail);
  EXPECT_TRUE(r.try_send(97, pattern(kPer, 4)).ok());
}

TEST(Ring, BlockingSendOnFullRingTimesOutAtItsDeadline) {
  RingMemory mem(2, 8 * kPer);
  Ring r = mem.ring();
  ASSERT_TRUE(r.try_send(1, pattern(1, 1)).ok());
  ASSERT_TRUE(r.try_send(2, pattern(1, 1)).ok());
  auto s = r.send(3, pattern(1, 1), WaitPolicy{WaitMode::adaptive, 1000}, monotonic_ns() + 20'000'000, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::timeout);
}

TEST(Deadline, ABudgetIsFixedAtItsFirstResolutionAndAnAbsoluteDeadlineNever) {
  Deadline budget = Deadline::within(50);
  EXPECT_EQ(budget.resolve(1000), 1050u);
  EXPECT_EQ(budget.resolve(5000), 1050u) << "a second wait must share the first one's budget";
  Deadline absolute(777);
  EXPECT_EQ(absolute.resolve(1000), 777u);
  EXPECT_EQ(Deadline().resolve(1000), 0u) << "0 means no deadline";
  EXPECT_NE(Deadline::within(0).resolve(1000), 0u) << "a zero budget must not turn into no deadline";
}

TEST(Ring, ReceiveWithABudgetTimesOutNoEarlierThanTheBudget) {
  RingMemory mem(4, 8 * kPer);
  Ring consumer = mem.ring();
  std::vector<std::byte> out;
  for (WaitMode mode : {WaitMode::spin, WaitMode::adaptive, WaitMode::block}) {
    Deadline d = Deadline::within(30'000'000);
    const std::uint64_t start = monotonic_ns();
    auto id = consumer.receive(out, WaitPolicy{mode, 1000}, d, {});
    ASSERT_FALSE(id.ok()) << wait_mode_name(mode);
    EXPECT_EQ(id.error().code, Errc::timeout) << wait_mode_name(mode);
    EXPECT_GE(monotonic_ns() - start, 30'000'000u) << wait_mode_name(mode);
  }
}

// The budget is the whole call's, not each wait's: a second wait given the same Deadline after
// the first used it up gives up at its first check instead of waiting another budget.
TEST(Ring, WaitsSharingABudgetDoNotGetOneEach) {
  RingMemory mem(4, 8 * kPer);
  Ring consumer = mem.ring();
  std::vector<std::byte> out;
  Deadline d = Deadline::within(300'000'000);
  auto first = consumer.receive(out, WaitPolicy{WaitMode::block, 0}, d, {});
  ASSERT_FALSE(first.ok());
  ASSERT_EQ(first.error().code, Errc::timeout);
  const std::uint64_t start = monotonic_ns();
  auto second = consumer.receive(out, WaitPolicy{WaitMode::block, 0}, d, {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::timeout);
  EXPECT_LT(monotonic_ns() - start, 300'000'000u) << "the second wait started a budget of its own";
  // Positive control: a fresh budget does wait.
  Deadline fresh = Deadline::within(300'000'000);
  const std::uint64_t t = monotonic_ns();
  (void)consumer.receive(out, WaitPolicy{WaitMode::block, 0}, fresh, {});
  EXPECT_GE(monotonic_ns() - t, 300'000'000u);
}

TEST(Ring, MessageExactlyOneSlotPayloadUsesOneSlot) {
  RingMemory mem(4, 8 * kPer);
  Ring r = mem.ring();
  auto msg = pattern(kPer, 7);
  ASSERT_TRUE(r.try_send(5, msg).ok());
  EXPECT_EQ(mem.control().tail.load(), 1u);
  std::vector<std::byte> out;
  auto id = r.receive(out, kSpin, soon(), {});
  ASSERT_TRUE(id.ok()) << id.error().describe();
  EXPECT_EQ(*id, 5u);
  EXPECT_EQ(out, msg);
}

TEST(Ring, OneByteOverSlotPayloadIsSentAsTwoFragments) {
  RingMemory mem(4, 8 * kPer);
  Ring r = mem.ring();
  auto msg = pattern(kPer + 1, 8);
  ASSERT_TRUE(r.try_send(6, msg).ok());
  EXPECT_EQ(mem.control().tail.load(), 2u);
  EXPECT_EQ(mem.header_at(0).frag_len, kPer);
  EXPECT_EQ(mem.header_at(1).frag_len, 1u);
  EXPECT_EQ(mem.header_at(1).offset, kPer);
  std::vector<std::byte> out;
  auto id = r.receive(out, kSpin, soon(), {});
  ASSERT_TRUE(id.ok()) << id.error().describe();
  EXPECT_EQ(*id, 6u);
  EXPECT_EQ(out, msg);
}

TEST(Ring, ZeroLengthMessageRoundTripsInOneSlot) {
  RingMemory mem(4, 8 * kPer);
  Ring r = mem.ring();
  ASSERT_TRUE(r.try_send(42, {}).ok());
  EXPECT_EQ(mem.control().tail.load(), 1u);
  std::vector<std::byte> out(17, std::byte{1});  // must be resized to 0, not left stale
  auto id = r.receive(out, kSpin, soon(), {});
  ASSERT_TRUE(id.ok()) << id.error().describe();
  EXPECT_EQ(*id, 42u);
  EXPECT_TRUE(out.empty());
}

TEST(Ring, MessageLargerThanTheRingStreamsThroughWhileTheConsumerReads) {
  RingMemory mem(4, 64 * kPer);
  Ring producer = mem.ring();
  Ring consumer = mem.ring();
  auto msg = pattern(40 * kPer + 3, 9);  // 41 fragments through 4 slots
  std::thread t([&] {
    auto s = producer.send(77, msg, WaitPolicy{WaitMode::adaptive, 10'000}, soon(), {});
    EXPECT_TRUE(s.ok()) << s.error().describe();
  });
  std::vector<std::byte> out;
  auto id = consumer.receive(out, WaitPolicy{WaitMode::adaptive, 10'000}, soon(), {});
  t.join();
  ASSERT_TRUE(id.ok()) << id.error().describe();
  EXPECT_EQ(*id, 77u);
  EXPECT_EQ(out, msg);
}

// A sleeping peer is woken once per half ring, not once per slot: the producer (ring full) only
// when half the ring is free again, the consumer (ring empty) for a message's first and last
// fragment and per half ring published. Block mode makes both sides sleep at every stall.
TEST(Ring, ManySlotMessageThroughASlowSleepingReaderArrivesIntactWithOneWakeUpPerHalfRing) {
  constexpr std::uint32_t kSlots = 16, kFrags = 128;
  RingMemory mem(kSlots, kFrags * kPer);
  const WaitPolicy block{WaitMode::block, 0};
  const std::uint64_t deadline = monotonic_ns() + 60'000'000'000ull;
  Ring producer = mem.ring();
  Ring consumer = mem.ring();
  constexpr int kMessages = 3;
  std::thread t([&] {
    for (int m = 0; m < kMessages; ++m) {
      auto s = producer.send(100 + static_cast<std::uint64_t>(m), pattern(kFrags * kPer - 5, static_cast<std::uint32_t>(m)),
                             block, deadline, {});
      EXPECT_TRUE(s.ok()) << s.error().describe();
    }
  });
  // The slow reader: it starts only once the producer has filled the ring and must be asleep.
  while (mem.control().tail.load() < kSlots || mem.control().producer_waiting.load() == 0) std::this_thread::yield();
  std::vector<std::byte> out;
  for (int m = 0; m < kMessages; ++m) {
    auto id = consumer.receive(out, block, deadline, {});
    ASSERT_TRUE(id.ok()) << id.error().describe();
    EXPECT_EQ(*id, 100u + static_cast<std::uint64_t>(m));
    EXPECT_EQ(out, pattern(kFrags * kPer - 5, static_cast<std::uint32_t>(m)));
  }
  t.join();
  // Per message: the consumer wakes the sleeping producer at most once per half ring it frees,
  // the producer the sleeping consumer at most for the first fragment, per half ring and the last.
  EXPECT_GE(consumer.wakes(), 1u);
  EXPECT_LE(consumer.wakes(), kMessages * (kFrags / (kSlots / 2) + 1));
  EXPECT_LE(producer.wakes(), kMessages * (kFrags / (kSlots / 2) + 2));
}

// Each side's test before waking agrees with what the sleeping peer waits for, so nothing is lost
// when both sides sleep at every chance and messages are mixed sizes around the half-ring mark.
TEST(Ring, HalfRingWakeUpsLoseNothingWithMessagesAroundTheHalfRingSize) {
  constexpr std::uint32_t kSlots = 8;
  RingMemory mem(kSlots, 3 * kSlots * kPer);
  const WaitPolicy block{WaitMode::block, 0};
  const std::uint64_t deadline = monotonic_ns() + 60'000'000'000ull;
  constexpr std::uint64_t kCount = 3'000;
  auto size_of = [](std::uint64_t i) { return static_cast<std::size_t>((i * 37) % (3 * kSlots * kPer + 1)); };
  std::thread t([&] {
    Ring r = mem.ring();
    for (std::uint64_t i = 0; i < kCount; ++i) {
      auto s = r.send(i, pattern(size_of(i), static_cast<std::uint32_t>(i)), block, deadline, {});
      ASSERT_TRUE(s.ok()) << i << ": " << s.error().describe();
    }
  });
  Ring r = mem.ring();
  std::vector<std::byte> out;
  for (std::uint64_t i = 0; i < kCount; ++i) {
    auto id = r.receive(out, block, deadline, {});
    ASSERT_TRUE(id.ok()) << i << ": " << id.error().describe();
    ASSERT_EQ(*id, i);
    ASSERT_EQ(out, pattern(size_of(i), static_cast<std::uint32_t>(i)));
  }
  t.join();
}

TEST(Ring, MessageOverMaxMessageIsTooLargeAndWritesNothing) {
  RingMemory mem(8, 2 * kPer);
  Ring r = mem.ring();
  auto s = r.send(1, pattern(2 * kPer + 1, 1), kSpin, 0, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::too_large);
  auto t = r.try_send(1, pattern(2 * kPer + 1, 1));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, Errc::too_large);
  EXPECT_EQ(mem.control().tail.load(), 0u);
  // Exactly max_message is fine.
  EXPECT_TRUE(r.try_send(2, pattern(2 * kPer, 1)).ok());
}

TEST(Ring, PartialMessageOfADeadProducerIsDroppedAndTheNextMessageDelivered) {
  RingMemory mem(8, 8 * kPer);
  // The dead producer published 2 of the 3 fragments of message 1, then died.
  mem.raw_publish(0, 1, 3 * kPer, 0, kPer, std::byte{0xAA});
  mem.raw_publish(1, 1, 3 * kPer, kPer, kPer, std::byte{0xAA});
  // Its successor continues from the shared tail.
  Ring successor = mem.ring();
  successor.recover_producer();
  auto msg = pattern(kPer + 10, 3);
  ASSERT_TRUE(successor.try_send(2, msg).ok());

  Ring consumer = mem.ring();
  std::vector<std::byte> out;
  auto id = consumer.receive(out, kSpin, soon(), {});
  ASSERT_TRUE(id.ok()) << id.error().describe();
  EXPECT_EQ(*id, 2u);
  EXPECT_EQ(out, msg);
  EXPECT_GE(consumer.dropped_fragments(), 1u);
  EXPECT_FALSE(consumer.readable());
}

TEST(Ring, RecoverProducerSkipsASlotPublishedWithoutAdvancingTail) {
  RingMemory mem(8, 8 * kPer);
  // The dead producer stored seq (the slot is visible to the consumer) but died before `tail`.
  mem.raw_publish(0, 1, 2 * kPer, 0, kPer, std::byte{0xBB}, /*advance_tail=*/false);
  ASSERT_EQ(mem.control().tail.load(), 0u);
  Ring successor = mem.ring();
  successor.recover_producer();
  EXPECT_EQ(mem.control().tail.load(), 1u);
  auto msg = pattern(5, 4);
  ASSERT_TRUE(successor.try_send(2, msg).ok());

  Ring consumer = mem.ring();
  std::vector<std::byte> out;
  auto id = consumer.receive(out, kSpin, soon(), {});
  ASSERT_TRUE(id.ok()) << id.error().describe();
  EXPECT_EQ(*id, 2u);
  EXPECT_EQ(out, msg);
}

TEST(Ring, ContinuationFragmentWithoutAStartIsDropped) {
  RingMemory mem(8, 8 * kPer);
  mem.raw_publish(0, 1, 3 * kPer, kPer, kPer, std::byte{0xCC});  // offset != 0: no start seen
  Ring producer = mem.ring();
  auto msg = pattern(3, 5);
  ASSERT_TRUE(producer.try_send(2, msg).ok());
  Ring consumer = mem.ring();
  std::vector<std::byte> out;
  auto id = consumer.receive(out, kSpin, soon(), {});
  ASSERT_TRUE(id.ok()) << id.error().describe();
  EXPECT_EQ(*id, 2u);
  EXPECT_EQ(out, msg);
  EXPECT_EQ(consumer.dropped_fragments(), 1u);
}

TEST(Ring, CorruptSequenceNumberIsReportedNotWaitedOn) {
  for (std::uint64_t bad : {7ull, 12345ull, ~0ull, 3ull /* a future round */}) {
    RingMemory mem(4, 8 * kPer);
    mem.header_at(0).seq.store(bad);
    Ring consumer = mem.ring();
    EXPECT_TRUE(consumer.readable()) << "a corrupt slot must wake the consumer so it can report";
    std::vector<std::byte> out;
    auto id = consumer.receive(out, kSpin, soon(), {});
    ASSERT_FALSE(id.ok()) << "seq " << bad;
    EXPECT_EQ(id.error().code, Errc::corrupt) << id.error().describe();
  }
}

TEST(Ring, OutOfBoundsFragmentHeadersAreCorruptWithoutReadingPastTheSlot) {
  struct Case {
    const char* what;
    std::uint32_t total, offset, frag_len;
  };
  const std::uint32_t max = 8 * kPer;
  const Case cases[] = {
      {"frag_len beyond the slot", 10 * kSlotSize, 0, 10 * kSlotSize},
      {"frag_len 4 GiB", 100, 0, 0xFFFFFFFFu},
      {"total beyond max_message", max + 1, 0, kPer},
      {"offset beyond total", 50, 60, 0},
      {"frag beyond total", 50, 0, 60},
      {"offset+len overflows", 100, 0xFFFFFFF0u, 0x20},
      {"short middle fragment", 3 * kPer, 0, kPer - 1},
  };
  for (const Case& c : cases) {
    RingMemory mem(4, max);
    mem.raw_publish(0, 1, c.total, c.offset, c.frag_len, std::byte{0xDD});
    Ring consumer = mem.ring();
    std::vector<std::byte> out;
    auto id = consumer.receive(out, kSpin, soon(), {});
    ASSERT_FALSE(id.ok()) << c.what;
    EXPECT_EQ(id.error().code, Errc::corrupt) << c.what << ": " << id.error().describe();
    // The bad slot was consumed: the ring is usable again afterwards.
    EXPECT_EQ(mem.control().head.load(), 1u) << c.what;
    Ring producer = mem.ring();
    ASSERT_TRUE(producer.try_send(2, pattern(4, 1)).ok()) << c.what;
    auto next = consumer.receive(out, kSpin, soon(), {});
    ASSERT_TRUE(next.ok()) << c.what << ": " << next.error().describe();
    EXPECT_EQ(*next, 2u);
  }
}

TEST(Ring, ConsumerHeadAheadOfTailIsCorruptForTheProducer) {
  RingMemory mem(4, 8 * kPer);
  mem.control().head.store(1000);  // the consumer claims to have read what was never written
  Ring producer = mem.ring();
  auto t = producer.try_send(1, pattern(1, 1));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, Errc::corrupt);
  // send() reads the consumer's head only when its cached copy says the ring is full (it keeps
  // that cache line off the fast path), so it reports the impossible head at the latest on the
  // send that would otherwise wait: within one ring's worth of messages, never a hang.
  Status s;
  int sends = 0;
  for (; sends <= 4 && s.ok(); ++sends) s = producer.send(1, pattern(1, 1), kSpin, soon(), {});
  ASSERT_FALSE(s.ok()) << "never noticed the impossible head";
  EXPECT_EQ(s.error().code, Errc::corrupt);
  EXPECT_LE(sends, 5);
}

TEST(Ring, PeerCheckErrorAbortsAWait) {
  RingMemory mem(4, 8 * kPer);
  Ring consumer = mem.ring();
  std::vector<std::byte> out;
  const std::uint64_t start = monotonic_ns();
  auto id = consumer.receive(out, WaitPolicy{WaitMode::block, 0}, start + 5'000'000'000ull,
                             [] { return Status(make_error(Errc::peer_dead, "gone")); });
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().code, Errc::peer_dead);
  // The check runs about every kPeerCheckIntervalNs; far below the 5 s deadline.
  EXPECT_LT(monotonic_ns() - start, 1'000'000'000ull);
}

// Producer and consumer threads that both sleep on the futexes: a lost wake-up shows as a timeout.
class RingWaitModes : public ::testing::TestWithParam<WaitMode> {};

TEST_P(RingWaitModes, ProducerAndConsumerThreadsExchangeManyMessagesWithoutLostWakeups) {
  RingMemory mem(4, 16 * kPer);
  const WaitPolicy policy{GetParam(), 2'000};
  constexpr std::uint64_t kCount = 20'000;
  const std::uint64_t deadline = monotonic_ns() + 60'000'000'000ull;
  std::thread producer([&] {
    Ring r = mem.ring();
    for (std::uint64_t i = 0; i < kCount; ++i) {
      auto s = r.send(i, pattern(i % (3 * kPer), static_cast<std::uint32_t>(i)), policy, deadline, {});
      ASSERT_TRUE(s.ok()) << i << ": " << s.error().describe();
    }
  });
  Ring r = mem.ring();
  std::vector<std::byte> out;
  for (std::uint64_t i = 0; i < kCount; ++i) {
    auto id = r.receive(out, policy, deadline, {});
    ASSERT_TRUE(id.ok()) << i << ": " << id.error().describe();
    ASSERT_EQ(*id, i);
    ASSERT_EQ(out, pattern(i % (3 * kPer), static_cast<std::uint32_t>(i)));
  }
  producer.join();
}

INSTANTIATE_TEST_SUITE_P(AllModes, RingWaitModes,
                         ::testing::Values(WaitMode::spin, WaitMode::adaptive, WaitMode::block),
                         [](const ::testing::TestParamInfo<WaitMode>& p) { return std::string(wait_mode_name(p.param)); });

TEST(Ring, ParseWaitModeAcceptsTheThreeNamesOnly) {
  EXPECT_EQ(*parse_wait_mode("spin"), WaitMode::spin);
  EXPECT_EQ(*parse_wait_mode("adaptive"), WaitMode::adaptive);
  EXPECT_EQ(*parse_wait_mode("block"), WaitMode::block);
  auto bad = parse_wait_mode("fast");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
}

}  // namespace
}  // namespace shmcp::channel
