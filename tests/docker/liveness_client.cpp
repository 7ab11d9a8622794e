// A long-lived channel client for tests/docker/ns.sh: one shmcp::Client pinging an executor, so
// the test can kill and restart the executor underneath it. Prints one line per state change:
//   up                   the first successful call
//   down <errc>: <why>   the first failure after being up (a killed executor: peer_dead)
//   up again             the first success after that, through the same Client (reconnected)
// Exits 0 once it has printed all three, 1 if that takes longer than the time limit.
// Usage: liveness_client URL [SECONDS]    (default 120)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "orchestrator/client.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: liveness_client URL [SECONDS]\n");
    return 2;
  }
  const auto limit = std::chrono::seconds(argc > 2 ? std::atoi(argv[2]) : 120);
  const auto give_up = std::chrono::steady_clock::now() + limit;
  shmcp::ClientOptions o;
  o.connect_wait = std::chrono::milliseconds(30'000);
  o.timeout = std::chrono::milliseconds(5'000);
  auto c = shmcp::Client::connect(argv[1], o);
  if (!c) {
    std::printf("connect failed: %s\n", c.error().describe().c_str());
    return 1;
  }
  enum { before, up, down } state = before;
  while (std::chrono::steady_clock::now() < give_up) {
    auto r = (*c)->ping();
    if (r && state == before) {
      std::printf("up\n");
      state = up;
    } else if (!r && state == up) {
      std::printf("down %s\n", r.error().describe().c_str());
      state = down;
    } else if (r && state == down) {
      std::printf("up again\n");
      return 0;
    }
    std::fflush(stdout);
    // Polling, not synchronisation: how soon a change is noticed, nothing waits on it.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("gave up after %lld s in state %d\n", static_cast<long long>(limit.count()), static_cast<int>(state));
  return 1;
}
