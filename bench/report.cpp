#include "bench/report.hpp"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace shmcp::bench {

std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

namespace {
// Nearest-rank percentile of sorted data: the smallest value with at least q of the samples <= it.
std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}
}  // namespace

Summary summarize(std::string transport, std::string op, std::vector<std::uint64_t>& ns) {
  Summary s;
  s.transport = std::move(transport);
  s.op = std::move(op);
  std::sort(ns.begin(), ns.end());
  s.samples = ns.size();
  if (ns.empty()) return s;
  s.min_ns = ns.front();
  s.p50_ns = percentile(ns, 0.50);
  s.p90_ns = percentile(ns, 0.90);
  s.p99_ns = percentile(ns, 0.99);
  s.p999_ns = percentile(ns, 0.999);
  s.max_ns = ns.back();
  return s;
}

std::string serialize(const Summary& s) {
  std::ostringstream o;
  o << s.transport << ' ' << s.op << ' ' << s.samples << ' ' << s.min_ns << ' ' << s.p50_ns << ' ' << s.p90_ns << ' '
    << s.p99_ns << ' ' << s.p999_ns << ' ' << s.max_ns << ' ' << s.calls_per_s;
  return o.str();
}

bool deserialize(const std::string& line, Summary& s) {
  std::istringstream in(line);
  return static_cast<bool>(in >> s.transport >> s.op >> s.samples >> s.min_ns >> s.p50_ns >> s.p90_ns >> s.p99_ns >>
                           s.p999_ns >> s.max_ns >> s.calls_per_s);
}

void print_table(const std::vector<Summary>& rows, std::FILE* out) {
  std::fprintf(out, "%-18s %-6s %9s %9s %9s %9s %9s %9s %11s %14s\n", "transport", "op", "samples", "min_ns",
               "p50_ns", "p90_ns", "p99_ns", "p99.9_ns", "max_ns", "calls/s");
  for (const auto& r : rows)
    std::fprintf(out, "%-18s %-6s %9llu %9llu %9llu %9llu %9llu %9llu %11llu %14.0f\n", r.transport.c_str(),
                 r.op.c_str(), static_cast<unsigned long long>(r.samples), static_cast<unsigned long long>(r.min_ns),
                 static_cast<unsigned long long>(r.p50_ns), static_cast<unsigned long long>(r.p90_ns),
                 static_cast<unsigned long long>(r.p99_ns), static_cast<unsigned long long>(r.p999_ns),
                 static_cast<unsigned long long>(r.max_ns), r.calls_per_s);
}

bool write_json(const std::vector<Summary>& rows, const std::string& path) {
  nlohmann::json arr = nlohmann::json::array();
  auto cpu = [](double s) { return s < 0 ? nlohmann::json(nullptr) : nlohmann::json(s); };
  for (const auto& r : rows) {
    nlohmann::json o{{"transport", r.transport},
                     {"op", r.op},
                     {"samples", r.samples},
                     {"min_ns", r.min_ns},
                     {"p50_ns", r.p50_ns},
                     {"p90_ns", r.p90_ns},
                     {"p99_ns", r.p99_ns},
                     {"p999_ns", r.p999_ns},
                     {"max_ns", r.max_ns},
                     {"calls_per_s", r.calls_per_s}};
    if (!r.mode.empty()) {
      o["mode"] = r.mode;
      o["clients"] = r.clients;
      o["client_cpu_s"] = cpu(r.client_cpu_s);
      o["executor_cpu_s"] = cpu(r.executor_cpu_s);
      if (r.mode == "open") o["offered_per_s"] = r.offered_per_s;
    }
    arr.push_back(std::move(o));
  }
  std::ofstream f(path);
  f << arr.dump(2) << '\n';
  f.close();
  if (!f) {
    std::fprintf(stderr, "shmcp-bench: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace shmcp::bench
