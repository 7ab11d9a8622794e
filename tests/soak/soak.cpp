// shmcp-soak: N clients (threads, one shmcp::Client each) doing mixed calls against a real
// `shmcp-executor serve` for a configured time, while the executor's RSS and fd count (supervisor
// plus workers, from /proc) are sampled. Passes (exit 0) when, after warm-up:
//   * RSS stays flat: the mean of the last quarter of samples exceeds the mean of the first
//     quarter by at most max(--rss-tolerance-mib, --rss-tolerance-pct % of it);
//   * the fd count stays flat: the minimum over the last quarter of samples exceeds the minimum
//     over the first quarter by at most --fd-tolerance (calls in flight hold a few fds for
//     microseconds, so single samples jitter by 1-3; a leak raises the floor);
// and over the whole run: zero failed calls, zero lost or mismatched responses (every call's
// answer is checked against the distinct content it must carry), zero worker restarts, and zero
// leaked lanes (/health lanes_in_use is 0 once the clients are gone). Prints a report and writes it
// to --report. scripts/soak.sh builds and runs it.
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "channel/base/cli.hpp"
#include "orchestrator/client.hpp"
#include "tests/support/executor_process.hpp"

using nlohmann::json;
using namespace shmcp;
using namespace shmcp::testing;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  double minutes = 5;
  int clients = 4;
  int workers = 2;
  double warmup_s = -1;  // default: 20% of the run, at most 60 s
  int sample_ms = 1000;
  double rss_tolerance_mib = 8;
  double rss_tolerance_pct = 10;
  long fd_tolerance = 1;
  std::string report = "soak-report.txt";
};

struct Sample {
  double t_s;
  long rss_kib;  // supervisor + workers
  long fds;      // supervisor + workers
  int processes;
};

struct ClientStats {
  std::uint64_t calls = 0, failures = 0, mismatches = 0;
  std::vector<std::uint32_t> latency_us;
  std::string first_problem;
};

long rss_kib(pid_t pid) {
  const std::string v = proc_status_field(pid, "VmRSS");
  return v.empty() ? 0 : std::atol(v.c_str());
}

long fd_count(pid_t pid) {
  long n = 0;
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

int lanes_in_use(int port) {
  std::string body;
  if (http_get(port, "/health", &body) != 200) return -1;
  auto j = json::parse(body, nullptr, false);
  return j.is_discarded() ? -1 : j["channel"].value("lanes_in_use", -1);
}

std::string content_for(int client, std::uint64_t n) {
  std::string s = "soak client " + std::to_string(client) + " call " + std::to_string(n) + "\n";
  const std::size_t len = 64 + (n * 2654435761u + static_cast<std::uint64_t>(client)) % 20'000;
  while (s.size() < len) s += static_cast<char>('a' + (s.size() + n) % 26);
  return s;
}

// One client's loop: a mix of typed and JSON calls whose answers are all checkable.
void run_client(Client& c, int id, const std::atomic<bool>& stop, ClientStats& st) {
  std::vector<std::string> last(8);  // latest content of each of this client's files
  const std::string dir = "c" + std::to_string(id);
  auto problem = [&](const std::string& what) {
    if (st.first_problem.empty()) st.first_problem = what;
  };
  if (auto r = c.call("create_directory", {{"path", dir}}); !r || r->is_error) {
    ++st.failures;
    problem("create_directory failed");
  }
  for (std::uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
    const std::size_t f = n % last.size();
    const std::string path = dir + "/f" + std::to_string(f) + ".txt";
    const auto t0 = Clock::now();
    const int op = static_cast<int>(n % 6);
    bool ok = true, mismatch = false;
    std::string what;
    switch (op) {
      case 0: {  // typed write
        const std::string content = content_for(id, n);
        auto s = c.write_file(path, content);
        if (!s) ok = false, what = "write_file " + path + ": " + s.error().describe();
        else last[f] = content;
        break;
      }
      case 1: {  // JSON write: the answer names the path
        const std::string content = content_for(id, n);
        auto r = c.call("write_file", {{"path", path}, {"content", content}});
        if (!r || r->is_error) ok = false, what = "call write_file " + path + ": " + (r ? r->text() : r.error().describe());
        else if (r->text() != "Successfully wrote to " + path) mismatch = true, what = "write_file answer: " + r->text();
        else last[f] = content;
        break;
      }
      case 2:
      case 3: {  // typed / JSON read: must be exactly what this client last wrote there
        const std::size_t g = (n / 6) % last.size();
        if (last[g].empty()) break;
        const std::string p = dir + "/f" + std::to_string(g) + ".txt";
        std::string got;
        if (op == 2) {
          auto r = c.read_text_file(p);
          if (!r) ok = false, what = "read_text_file " + p + ": " + r.error().describe();
          else got = std::move(*r);
        } else {
          auto r = c.call("read_text_file", {{"path", p}});
          if (!r || r->is_error) ok = false, what = "call read_text_file " + p + ": " + (r ? r->text() : r.error().describe());
          else got = r->text();
        }
        if (ok && got != last[g]) mismatch = true, what = "read " + p + " returned other content (" + got.substr(0, 40) + ")";
        break;
      }
      case 4: {  // get_file_info: the size of what was written
        const std::size_t g = (n / 6) % last.size();
        if (last[g].empty()) break;
        const std::string p = dir + "/f" + std::to_string(g) + ".txt";
        auto r = c.call("get_file_info", {{"path", p}});
        if (!r || r->is_error) ok = false, what = "get_file_info " + p + ": " + (r ? r->text() : r.error().describe());
        else if (r->text().find("size: " + std::to_string(last[g].size()) + "\n") == std::string::npos)
          mismatch = true, what = "get_file_info " + p + ": " + r->text().substr(0, 80);
        break;
      }
      default: {  // list_directory of the client's own directory, or a ping
        if ((n / 6) % 2 == 0) {
          auto s = c.ping();
          if (!s) ok = false, what = "ping: " + s.error().describe();
        } else {
          auto r = c.call("list_directory", {{"path", dir}});
          if (!r || r->is_error) ok = false, what = "list_directory: " + (r ? r->text() : r.error().describe());
          else {
            const std::string t = r->text();
            for (std::size_t g = 0; g < last.size(); ++g)
              if (!last[g].empty() && t.find("[FILE] f" + std::to_string(g) + ".txt") == std::string::npos)
                mismatch = true, what = "list_directory misses f" + std::to_string(g) + ".txt: " + t.substr(0, 80);
          }
        }
        break;
      }
    }
    ++st.calls;
    st.latency_us.push_back(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count()));
    if (!ok) ++st.failures, problem(what);
    if (mismatch) ++st.mismatches, problem(what);
  }
}

double mean(const std::vector<double>& v, std::size_t from, std::size_t to) {
  if (to <= from) return 0;
  return std::accumulate(v.begin() + static_cast<long>(from), v.begin() + static_cast<long>(to), 0.0) /
         static_cast<double>(to - from);
}

constexpr const char* kUsage =
    "Usage: shmcp-soak [--minutes M] [--clients N] [--workers N] [--warmup-s S] [--sample-ms MS]\n"
    "                  [--rss-tolerance-mib X] [--rss-tolerance-pct P] [--fd-tolerance N] [--report FILE]\n";

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("shmcp soak", "shmcp-soak");
  shmcp::cli::configure(app, kUsage);
  shmcp::cli::decimal(app, "--minutes", o.minutes, 0);
  shmcp::cli::number(app, "--clients", o.clients, 1, 1024);
  shmcp::cli::number(app, "--workers", o.workers, 1, 64);
  shmcp::cli::decimal(app, "--warmup-s", o.warmup_s, 0);
  shmcp::cli::number(app, "--sample-ms", o.sample_ms, 1, 3'600'000);
  shmcp::cli::decimal(app, "--rss-tolerance-mib", o.rss_tolerance_mib, 0);
  shmcp::cli::decimal(app, "--rss-tolerance-pct", o.rss_tolerance_pct, 0);
  shmcp::cli::number(app, "--fd-tolerance", o.fd_tolerance, 0, 1'000'000);
  app.add_option("--report", o.report);
  (void)shmcp::cli::parse_or_exit("shmcp-soak", app, argc, argv);
  const double duration_s = o.minutes * 60;
  if (o.warmup_s < 0) o.warmup_s = std::min(60.0, duration_s * 0.2);

  TempDir ws;
  ExecutorProcess ex(ws.path(), unique_channel("soak"), {"--workers", std::to_string(o.workers)});
  std::string why;
  if (!ex.start(&why)) {
    std::fprintf(stderr, "soak: executor did not start: %s\n", why.c_str());
    return 1;
  }

  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < o.clients; ++c) {
    ClientOptions co;
    co.timeout = std::chrono::seconds(30);
    auto cl = Client::connect(ex.shm_url(), co);
    if (!cl) {
      std::fprintf(stderr, "soak: connect: %s\n", cl.error().describe().c_str());
      return 1;
    }
    clients.push_back(std::move(*cl));
  }

  std::atomic<bool> stop{false};
  std::vector<ClientStats> stats(static_cast<std::size_t>(o.clients));
  std::vector<Sample> samples;
  const auto t0 = Clock::now();
  std::thread sampler([&] {
    while (!stop.load()) {
      Sample s{std::chrono::duration<double>(Clock::now() - t0).count(), 0, 0, 0};
      std::vector<pid_t> pids = ex.worker_pids();
      pids.push_back(ex.pid());
      for (pid_t p : pids) s.rss_kib += rss_kib(p), s.fds += fd_count(p), ++s.processes;
      samples.push_back(s);
      for (int waited = 0; waited < o.sample_ms && !stop.load(); waited += 50) sleep_ms(50);
    }
  });
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c)
    threads.emplace_back([&, c] { run_client(*clients[c], c, stop, stats[c]); });
  std::printf("soak: %d clients, %d workers, %.1f min (warm-up %.0f s), executor pid %d\n", o.clients, o.workers,
              o.minutes, o.warmup_s, ex.pid());
  std::fflush(stdout);
  while (std::chrono::duration<double>(Clock::now() - t0).count() < duration_s) sleep_ms(200);
  stop.store(true);
  for (auto& t : threads) t.join();
  sampler.join();

  const double restarts = metric(ex.port(), "shmcp_worker_restarts_total");
  const double violations = metric(ex.port(), "shmcp_sandbox_violations_total");
  clients.clear();  // releases every lane
  int lanes = -1;
  for (int i = 0; i < 100 && lanes != 0; ++i, sleep_ms(50)) lanes = lanes_in_use(ex.port());
  const int stop_code = ex.stop();

  // ---- analysis ----
  std::uint64_t calls = 0, failures = 0, mismatches = 0;
  std::vector<std::uint32_t> lat;
  std::string problems;
  for (int c = 0; c < o.clients; ++c) {
    calls += stats[c].calls, failures += stats[c].failures, mismatches += stats[c].mismatches;
    lat.insert(lat.end(), stats[c].latency_us.begin(), stats[c].latency_us.end());
    if (!stats[c].first_problem.empty()) problems += "  client " + std::to_string(c) + ": " + stats[c].first_problem + "\n";
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat.empty() ? 0u : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * static_cast<double>(lat.size())))]; };

  std::vector<double> rss, fds;
  for (const auto& s : samples)
    if (s.t_s >= o.warmup_s) rss.push_back(static_cast<double>(s.rss_kib)), fds.push_back(static_cast<double>(s.fds));
  const std::size_t q = std::max<std::size_t>(1, rss.size() / 4);
  const double rss_first = mean(rss, 0, std::min(q, rss.size())), rss_last = mean(rss, rss.size() - std::min(q, rss.size()), rss.size());
  const double rss_growth_kib = rss_last - rss_first;
  const double rss_allowed_kib = std::max(o.rss_tolerance_mib * 1024, rss_first * o.rss_tolerance_pct / 100);
  const double fd_min = fds.empty() ? 0 : *std::min_element(fds.begin(), fds.end());
  const double fd_max = fds.empty() ? 0 : *std::max_element(fds.begin(), fds.end());
  const std::size_t fq = std::min(q, fds.size());
  const double fd_floor_first = fds.empty() ? 0 : *std::min_element(fds.begin(), fds.begin() + static_cast<long>(fq));
  const double fd_floor_last = fds.empty() ? 0 : *std::min_element(fds.end() - static_cast<long>(fq), fds.end());

  struct Check {
    std::string name;
    bool pass;
    std::string detail;
  };
  char buf[256];
  std::vector<Check> checks;
  checks.push_back({"enough samples after warm-up", rss.size() >= 8, std::to_string(rss.size()) + " samples (need >= 8)"});
  std::snprintf(buf, sizeof buf, "first quarter %.1f MiB, last quarter %.1f MiB, growth %+.1f MiB (allowed %.1f MiB)",
                rss_first / 1024, rss_last / 1024, rss_growth_kib / 1024, rss_allowed_kib / 1024);
  checks.push_back({"RSS flat after warm-up", !rss.empty() && rss_growth_kib <= rss_allowed_kib, buf});
  std::snprintf(buf, sizeof buf, "floor first quarter %.0f, last quarter %.0f (allowed growth %ld); min %.0f, max %.0f",
                fd_floor_first, fd_floor_last, o.fd_tolerance, fd_min, fd_max);
  checks.push_back({"fd count flat after warm-up", !fds.empty() && fd_floor_last - fd_floor_first <= static_cast<double>(o.fd_tolerance), buf});
  checks.push_back({"no failed calls", failures == 0, std::to_string(failures) + " of " + std::to_string(calls)});
  checks.push_back({"no lost/duplicated/mismatched responses", mismatches == 0, std::to_string(mismatches) + " mismatched"});
  checks.push_back({"calls made", calls > 0, std::to_string(calls)});
  checks.push_back({"no worker restarts", restarts == 0, std::to_string(static_cast<long>(restarts))});
  checks.push_back({"no sandbox violations", violations == 0, std::to_string(static_cast<long>(violations))});
  checks.push_back({"no leaked lanes (lanes_in_use == 0 after the clients exit)", lanes == 0, std::to_string(lanes)});
  checks.push_back({"clean executor shutdown", stop_code == 0, "exit " + std::to_string(stop_code)});

  std::ostringstream rep;
  rep << "shmcp soak report\n";
  std::snprintf(buf, sizeof buf, "duration %.1f min, %d clients, %d workers, warm-up %.0f s, sample every %d ms\n", o.minutes,
                o.clients, o.workers, o.warmup_s, o.sample_ms);
  rep << buf;
  std::snprintf(buf, sizeof buf, "calls %llu (%.0f/s), latency p50 %u us, p99 %u us, max %u us\n",
                static_cast<unsigned long long>(calls), static_cast<double>(calls) / duration_s, pct(0.5), pct(0.99),
                lat.empty() ? 0u : lat.back());
  rep << buf << "\nsamples (t, executor+workers RSS, fds, processes):\n";
  const std::size_t step = std::max<std::size_t>(1, samples.size() / 30);
  for (std::size_t i = 0; i < samples.size(); i += step) {
    std::snprintf(buf, sizeof buf, "  %7.1f s  %8.1f MiB  %4ld fds  %d procs%s\n", samples[i].t_s,
                  static_cast<double>(samples[i].rss_kib) / 1024, samples[i].fds, samples[i].processes,
                  samples[i].t_s < o.warmup_s ? "  (warm-up)" : "");
    rep << buf;
  }
  rep << "\nchecks:\n";
  bool all = true;
  for (const auto& c : checks) {
    rep << (c.pass ? "  PASS  " : "  FAIL  ") << c.name << ": " << c.detail << "\n";
    all = all && c.pass;
  }
  if (!problems.empty()) rep << "\nfirst problem per client:\n" << problems;
  rep << "\nresult: " << (all ? "PASS" : "FAIL") << "\n";
  std::cout << rep.str();
  std::ofstream(o.report) << rep.str();
  std::printf("report written to %s\n", o.report.c_str());
  return all ? 0 : 1;
}
