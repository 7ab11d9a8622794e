// One entry point per shmcp-bench subcommand; each lives in its own <name>_bench.cpp.
#pragma once

#include <optional>

#include "bench/report.hpp"

namespace shmcp::bench {
int channel_bench(const Options& opt);  // channel_bench.cpp
// The raw floor of channel_bench (one cache line bounced between two pinned processes), for reuse.
std::optional<Summary> measure_floor(std::uint64_t iterations, std::uint64_t warmup);
int tools_bench(int argc, char** argv);  // tools_bench.cpp: `shmcp-bench tools ...` (own flags)
int tenants_bench(int argc, char** argv);  // tenants_bench.cpp: `shmcp-bench tenants ...` (own flags)
}  // namespace shmcp::bench
