// Shared by every shmcp-bench subcommand: latency summaries, the printed table and the JSON file.
// A new benchmark (e.g. `shmcp-bench tools`) adds its own *_bench.cpp that produces Summary rows
// and reuses this module, so all benchmarks report the same keys in the same units.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace shmcp::bench {

// Options common to all subcommands (parsed by main.cpp).
struct Options {
  std::uint64_t iterations = 200'000;  // measured round trips per closed-loop transport
  std::uint64_t warmup = 20'000;       // unmeasured round trips before them
  std::string json_path;               // --json FILE; empty = no file
  std::string shm_dir;                 // channel: --shm-dir DIR, also measure a segment there
  std::uint64_t dir_seconds = 0;       // channel: --dir-seconds N for the paced rows; 0 = automatic
};

// One row: a transport and operation with its round-trip distribution in nanoseconds.
struct Summary {
  std::string transport;  // "floor", "shm-spin", "shm-adaptive", "shm-adaptive-idle", "http", "shm-pipelined", "floor-wake"
                          // (with --shm-dir: "shm-dir-spin", "shm-dir-adaptive", "shm-paced", "shm-dir-paced")
  std::string op;         // "empty"
  std::uint64_t samples = 0;
  std::uint64_t min_ns = 0, p50_ns = 0, p90_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
  double calls_per_s = 0;
  // Set by `shmcp-bench tools` (written to JSON only when mode is set): "closed", "open" or
  // "scaling"; concurrent clients; CPU seconds used during the measurement by the client process
  // and by the executor (its process and worker children); < 0 = not measured. offered_per_s is
  // the open loop's fixed request rate.
  std::string mode;
  unsigned clients = 1;
  double client_cpu_s = -1, executor_cpu_s = -1;
  double offered_per_s = 0;
};

std::uint64_t now_ns() noexcept;  // CLOCK_MONOTONIC

// Sorts `ns` and fills the percentiles (nearest-rank). calls_per_s is left to the caller: for a
// closed loop it is 1e9 / mean, for a pipelined run it is calls / wall time.
Summary summarize(std::string transport, std::string op, std::vector<std::uint64_t>& ns);

// One line of text, for handing a Summary from a measuring child process to the parent.
std::string serialize(const Summary& s);
bool deserialize(const std::string& line, Summary& out);

void print_table(const std::vector<Summary>& rows, std::FILE* out);
// Writes a JSON array of objects with keys transport, op, samples, min_ns, p50_ns, p90_ns, p99_ns,
// p999_ns, max_ns, calls_per_s (and mode, clients, client_cpu_s, executor_cpu_s, offered_per_s for
// rows that have a mode; unmeasured CPU is null). Returns false (and says why on stderr) if the file can't be written.
bool write_json(const std::vector<Summary>& rows, const std::string& path);

}  // namespace shmcp::bench
