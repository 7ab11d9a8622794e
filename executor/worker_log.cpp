#include "executor/worker_log.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace shmcp::executor {

std::string escape_log_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char esc[8];
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0u;
    if (c < 0x20 || c == 0x7f) {
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      out += esc;
    } else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {  // a C1 control (CSI is U+009B), UTF-8 encoded
      std::snprintf(esc, sizeof esc, "\\u%04x", next);
      out += esc;
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void ChannelLogSink::sink_it_(const spdlog::details::log_msg& msg) {
  const std::uint64_t tail = ring_.tail.load(std::memory_order_relaxed);
  const std::uint64_t head = ring_.head.load(std::memory_order_acquire);
  if (tail - head >= channel::kLogEntries) {
    ring_.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  channel::WorkerLogEntry& e = ring_.entries[tail % channel::kLogEntries];
  const std::string_view text(msg.payload.data(), msg.payload.size());
  const std::size_t n = std::min<std::size_t>(text.size(), channel::kLogTextBytes);
  std::memcpy(e.text, text.data(), n);
  e.len = static_cast<std::uint32_t>(n);
  e.level = static_cast<std::uint32_t>(msg.level);
  ring_.tail.store(tail + 1, std::memory_order_release);
}

std::uint32_t drain_worker_log(channel::WorkerLog& ring, std::uint32_t index, spdlog::logger& out) {
  std::uint64_t head = ring.head.load(std::memory_order_relaxed);
  const std::uint64_t tail = ring.tail.load(std::memory_order_acquire);
  if (tail < head || tail - head > channel::kLogEntries) {
    // Impossible for an honest worker: resynchronise rather than read garbage.
    out.warn("worker {}: log ring indices out of range; skipping its pending lines", index);
    ring.head.store(tail, std::memory_order_release);
    return 0;
  }
  std::uint32_t n = 0;
  for (; head < tail; ++head, ++n) {
    const channel::WorkerLogEntry& e = ring.entries[head % channel::kLogEntries];
    const std::uint32_t len = std::min<std::uint32_t>(e.len, channel::kLogTextBytes);
    const std::uint32_t lv = std::min<std::uint32_t>(e.level, static_cast<std::uint32_t>(spdlog::level::critical));
    char text[channel::kLogTextBytes];
    std::memcpy(text, e.text, len);
    out.log(static_cast<spdlog::level::level_enum>(lv), "worker {}: {}", index, escape_log_text(std::string_view(text, len)));
  }
  ring.head.store(head, std::memory_order_release);
  if (const std::uint64_t d = ring.dropped.exchange(0, std::memory_order_relaxed); d != 0)
    out.warn("worker {}: {} log line(s) dropped (log ring full)", index, d);
  return n;
}

}  // namespace shmcp::executor
