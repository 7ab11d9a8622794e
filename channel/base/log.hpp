// One spdlog logger per component ("channel", "sandbox", "executor", "client"), all to stderr.
// Synchronous sinks only: workers sandbox themselves single-threaded, so no logger may start a
// thread (no async logger, no periodic flusher).
#pragma once

#include <string>

#include <spdlog/spdlog.h>

namespace shmcp {
std::shared_ptr<spdlog::logger> component_logger(const std::string& component);
// Applies a level ("trace".."off") to every shmcp logger; unknown names are an error.
bool set_log_level(const std::string& level);
}  // namespace shmcp
