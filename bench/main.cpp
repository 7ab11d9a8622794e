// shmcp-bench: benchmarks of the shmcp channel (and, later, of the tools).
//   shmcp-bench channel [--iterations N] [--warmup N] [--json FILE] [--shm-dir DIR [--dir-seconds N]]
//   shmcp-bench tools   [options]   (see tools_bench.cpp or `shmcp-bench tools --help`)
// Results go to stdout as a table; progress goes to stderr.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/benches.hpp"
#include "bench/report.hpp"
#include "channel/base/cli.hpp"

namespace {

namespace cli = shmcp::cli;

constexpr const char* kUsage =
    "usage: shmcp-bench channel [--iterations N] [--warmup N] [--json FILE] [--shm-dir DIR [--dir-seconds N]]\n"
    "       shmcp-bench tools [--quick] [--out DIR] [--reference-server PATH] [...]\n"
    "       shmcp-bench tenants [--tenants N] [...]\n"
    "\n"
    "channel  round trips of an empty call between two processes: the raw cache-line floor,\n"
    "         the shm channel (spin, adaptive, adaptive after idling, pipelined) and HTTP.\n"
    "tools    tool calls against a real executor over shm, HTTP, MCP stdio and the reference\n"
    "         MCP server (`shmcp-bench tools --help` for its options)\n"
    "tenants  many tenants on one executor: memory and /dev/shm per tenant, idle CPU, cold first\n"
    "         calls, and one tenant's latency next to a saturating neighbour\n"
    "\n"
    "  --iterations N  measured round trips per closed-loop transport (default 200000)\n"
    "  --warmup N      unmeasured round trips first (default 20000)\n"
    "  --json FILE     also write the results as a JSON array to FILE\n"
    "  --shm-dir DIR   also put the segment in the absolute directory DIR (as the executor's\n"
    "                  --shm-dir does) and compare it with /dev/shm in this run: shm-dir-spin,\n"
    "                  shm-dir-adaptive, and a paced run in each (shm-paced, shm-dir-paced) with\n"
    "                  its page faults and the system's writeback\n"
    "  --dir-seconds N length of each paced run (default: long enough for the kernel's\n"
    "                  periodic writeback, vm.dirty_expire + 2 x vm.dirty_writeback, ~41 s)\n"
    "  --help          this text\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  // tools parses its own options (tools_bench.cpp), argv[1] "tools" standing for the program.
  if (cmd == "tools") return shmcp::bench::tools_bench(argc - 1, argv + 1);
  if (cmd == "tenants") return shmcp::bench::tenants_bench(argc - 1, argv + 1);
  CLI::App app("shmcp-bench", "shmcp-bench");
  cli::configure(app, kUsage);
  CLI::App* channel = app.add_subcommand("channel");
  cli::configure(*channel, kUsage);
  app.add_subcommand("tools");  // listed for `unknown command`; dispatched above
  app.add_subcommand("tenants");
  shmcp::bench::Options opt;
  channel->add_option_function<std::string>("--iterations", [&opt](const std::string& v) {
    opt.iterations = cli::parse_u64("--iterations", v);
    if (opt.iterations == 0) throw cli::UsageError("--iterations needs a positive integer");
  });
  cli::number(*channel, "--warmup", opt.warmup);
  channel->add_option("--json", opt.json_path);
  channel->add_option_function<std::string>("--shm-dir", [&opt](const std::string& v) {
    if (v.empty() || v.front() != '/') throw cli::UsageError("--shm-dir needs an absolute directory");
    opt.shm_dir = v;
  });
  cli::number(*channel, "--dir-seconds", opt.dir_seconds, 1, 3600);
  const CLI::App& sub = cli::parse_or_exit("shmcp-bench", app, argc, argv);
  if (&sub == channel) return shmcp::bench::channel_bench(opt);
  std::fputs(kUsage, stderr);
  return 2;
}
