// Worker log lines travel through the channel (a WorkerLog ring per worker in the segment) to the
// supervisor, which writes them to stderr with its own logger. A sandboxed worker therefore never
// needs an output stream of its own, and one log format covers the whole executor.
#pragma once

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <cstdint>

#include "channel/layout.hpp"

namespace shmcp::executor {

// Worker side (single-threaded): formats a record into the ring; drops it (counted) when full.
class ChannelLogSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit ChannelLogSink(channel::WorkerLog& ring) : ring_(ring) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  channel::WorkerLog& ring_;
};

// Supervisor side: logs every pending line of worker `index` (bounds-checked: the worker is
// sandboxed but still untrusted). Returns the number of lines drained.
std::uint32_t drain_worker_log(channel::WorkerLog& ring, std::uint32_t index, spdlog::logger& out);

}  // namespace shmcp::executor
