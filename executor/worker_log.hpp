// Worker log lines travel through the control region (a WorkerLog ring per worker) to the
// supervisor, which writes them to stderr with its own logger. A sandboxed worker therefore never
// needs an output stream of its own, and one log format covers the whole executor.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "channel/control.hpp"

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

// Control characters (C0, DEL and UTF-8-encoded C1) as \xNN / \u00NN: a line from a worker stays
// one line in the supervisor's log and carries no terminal escape sequences.
std::string escape_log_text(std::string_view text);

// Supervisor side: logs every pending line of worker `index` (bounds-checked: the worker is
// sandboxed but still untrusted; its text is escaped with escape_log_text). Returns the number of
// lines drained.
std::uint32_t drain_worker_log(channel::WorkerLog& ring, std::uint32_t index, spdlog::logger& out);

}  // namespace shmcp::executor
