// shmcp-bench: benchmarks of the shmcp channel (and, later, of the tools).
//   shmcp-bench channel [--iterations N] [--warmup N] [--json FILE] [--shm-dir DIR [--dir-seconds N]]
//   shmcp-bench tools   [options]   (see tools_bench.cpp or `shmcp-bench tools --help`)
// Results go to stdout as a table; progress goes to stderr.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/benches.hpp"
#include "bench/report.hpp"

namespace {

void usage(std::FILE* out) {
  std::fputs(
      "usage: shmcp-bench channel [--iterations N] [--warmup N] [--json FILE] [--shm-dir DIR [--dir-seconds N]]\n"
      "       shmcp-bench tools [--quick] [--out DIR] [--reference-server PATH] [...]\n"
      "\n"
      "channel  round trips of an empty call between two processes: the raw cache-line floor,\n"
      "         the shm channel (spin, adaptive, adaptive after idling, pipelined) and HTTP.\n"
      "tools    tool calls against a real executor over shm, HTTP, MCP stdio and the reference\n"
      "         MCP server (`shmcp-bench tools --help` for its options)\n"
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
      "  --help          this text\n",
      out);
}

bool parse_u64(const char* s, std::uint64_t& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0') return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  if (cmd == "tools") return shmcp::bench::tools_bench(argc - 1, argv + 1);
  shmcp::bench::Options opt;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "shmcp-bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--iterations") {
      if (!parse_u64(value(), opt.iterations) || opt.iterations == 0) {
        std::fprintf(stderr, "shmcp-bench: --iterations needs a positive integer\n");
        return 2;
      }
    } else if (a == "--warmup") {
      if (!parse_u64(value(), opt.warmup)) {
        std::fprintf(stderr, "shmcp-bench: --warmup needs an integer\n");
        return 2;
      }
    } else if (a == "--json") {
      opt.json_path = value();
    } else if (a == "--shm-dir") {
      opt.shm_dir = value();
      if (opt.shm_dir.empty() || opt.shm_dir.front() != '/') {
        std::fprintf(stderr, "shmcp-bench: --shm-dir needs an absolute directory\n");
        return 2;
      }
    } else if (a == "--dir-seconds") {
      if (!parse_u64(value(), opt.dir_seconds) || opt.dir_seconds == 0 || opt.dir_seconds > 3600) {
        std::fprintf(stderr, "shmcp-bench: --dir-seconds needs an integer in 1..3600\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "shmcp-bench: unknown option %s\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (cmd == "channel") return shmcp::bench::channel_bench(opt);
  std::fprintf(stderr, "shmcp-bench: unknown subcommand '%s'\n", cmd.c_str());
  usage(stderr);
  return 2;
}
