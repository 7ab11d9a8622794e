// One entry point per shmcp-bench subcommand; each lives in its own <name>_bench.cpp.
#pragma once

#include "bench/report.hpp"

namespace shmcp::bench {
int channel_bench(const Options& opt);  // channel_bench.cpp
}  // namespace shmcp::bench
