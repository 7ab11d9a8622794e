// eventually(): wait for something another process or thread does, by polling for it, instead of
// sleeping for a guessed time. The suite runs on loaded 2-core machines, where any fixed sleep is
// sometimes too short; the deadline is only a bound for a test that would otherwise hang.
#pragma once

#include <chrono>
#include <thread>

namespace shmcp::testing {

// Polls `done` every millisecond until it returns true or `timeout` has passed; its last answer.
template <class Pred>
bool eventually(Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= give_up) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace shmcp::testing
