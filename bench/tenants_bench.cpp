// shmcp-bench tenants: what tenants cost and how well they are kept apart, against a real
// `shmcp-executor serve --tenants` (started here, in a temporary workspace):
//   - executor RSS and /dev/shm bytes per idle tenant (N tenants created through the admin API),
//   - the executor's CPU while N tenants sit idle,
//   - first-call latency of a cold tenant (its pool starts: fork, exec, sandbox, then the call),
//   - p50/p99 of one tenant's read_text_file 4 KiB over shm with no neighbour, and while another
//     tenant saturates its own pool (closed loops from several threads), as a ratio.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "bench/benches.hpp"
#include "bench/report.hpp"
#include "channel/base/cli.hpp"
#include "channel/base/sched_slice.hpp"
#include "channel/ring.hpp"
#include "orchestrator/client.hpp"

namespace shmcp::bench {

namespace {

constexpr const char* kHelp = R"(Usage: shmcp-bench tenants [options]

Starts `shmcp-executor serve --tenants` on a temporary workspace, creates N tenants through the
admin API and reports: executor RSS and /dev/shm bytes per idle tenant, the executor's CPU with N
idle tenants, cold first-call latency (pool start, sandbox included), and one tenant's
read_text_file 4 KiB p50/p99 over shm alone and while another tenant saturates its own pool.

  --tenants N        tenants to create                                          [default: 200]
  --cold N           cold tenants to time a first call on                        [default: 20]
  --calls N          measured calls per latency run                            [default: 20000]
  --load-threads N   client threads saturating the neighbour's pool               [default: 4]
  --workers N        workers per tenant (serve --workers)                          [default: 2]
  --idle-seconds N   how long to measure idle CPU                                  [default: 5]
  --worker-slice-us N the executor's --worker-slice-us                             [default: 0]
  --client-slice-us N the same slice for this program's calling threads (0: the kernel's)
                                                                                [default: 0]
  --load-wait MODE   how the neighbour's client threads wait for their responses: adaptive
                     (spin, then sleep: they use CPU of their own besides the pool's) or block
                     (sleep: the load is the neighbour's pool alone)        [default: adaptive]
  --cgroup DIR       a cgroup v1 cpu hierarchy directory (e.g. /sys/fs/cgroup/cpu): the
                     executor runs with --tenant-cgroup (a group per tenant's workers), and
                     the neighbour's client threads and the measured one each get a group of
                     their own, as separate orchestrator containers would      [default: none]
  --executor PATH    shmcp-executor           [default: next to shmcp-bench, or ../executor]
  -h, --help         this text
)";

// Moves the calling thread into a cgroup v1 group (its `tasks` file takes thread ids); "" does
// nothing.
void join_thread_group(const std::string& group) {
  if (group.empty()) return;
  std::ofstream tasks(group + "/tasks");
  tasks << static_cast<long>(::syscall(SYS_gettid)) << std::flush;
  if (!tasks) std::fprintf(stderr, "shmcp-bench tenants: cannot join cgroup %s\n", group.c_str());
}

// This thread's scheduler slice (--client-slice-us); 0 keeps the kernel's.
void set_thread_slice_us(std::uint64_t slice_us) {
  if (slice_us == 0) return;
  if (const int err = set_thread_slice(slice_us * 1000); err != 0)
    std::fprintf(stderr, "shmcp-bench tenants: sched_setattr: %s\n", std::strerror(err));
}

std::string self_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<std::size_t>(n));
  return p.substr(0, p.rfind('/'));
}

std::uint64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  return 0;
}

double cpu_seconds(pid_t pid) {  // utime + stime of the process (threads included)
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream f(s.substr(rp + 2));
  std::string tok;
  double ut = 0, st = 0;
  for (int i = 3; f >> tok; ++i) {
    if (i == 14) ut = std::strtod(tok.c_str(), nullptr);
    if (i == 15) {
      st = std::strtod(tok.c_str(), nullptr);
      break;
    }
  }
  return (ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Bytes the tenants' segments hold in /dev/shm (allocated blocks, not apparent size).
std::uint64_t shm_bytes(const std::string& channel) {
  std::uint64_t total = 0;
  const std::string prefix = "shmcp." + channel + ".";
  if (DIR* d = opendir("/dev/shm")) {
    while (dirent* e = readdir(d)) {
      if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) != 0) continue;
      struct stat st {};
      if (fstatat(dirfd(d), e->d_name, &st, 0) == 0) total += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
    closedir(d);
  }
  return total;
}

struct Exec {
  pid_t pid = -1;
  int port = 0;
  std::string log;
};

}  // namespace

int tenants_bench(int argc, char** argv) {
  std::uint64_t n_tenants = 200, n_cold = 20, calls = 20000, load_threads = 4, workers = 2, idle_s = 5, slice_us = 0,
                client_slice_us = 0;
  std::string exe, cgroup;
  CLI::App app("shmcp-bench tenants", "shmcp-bench tenants");
  cli::configure(app, kHelp);
  cli::number(app, "--tenants", n_tenants, 2, 4096);
  cli::number(app, "--cold", n_cold, 1, 1000);
  cli::number(app, "--calls", calls, 100, 100'000'000);
  cli::number(app, "--load-threads", load_threads, 1, 64);
  cli::number(app, "--workers", workers, 1, 64);
  cli::number(app, "--idle-seconds", idle_s, 1, 600);
  cli::number(app, "--worker-slice-us", slice_us, 0, 100'000);
  cli::number(app, "--client-slice-us", client_slice_us, 0, 100'000);
  app.add_option("--cgroup", cgroup);
  channel::WaitMode load_wait = channel::WaitMode::adaptive;
  app.add_option_function<std::string>("--load-wait", [&load_wait](const std::string& v) {
    auto m = channel::parse_wait_mode(v);
    if (!m) throw cli::UsageError(m.error().message);
    load_wait = *m;
  });
  app.add_option("--executor", exe);
  cli::parse_or_exit("shmcp-bench tenants", app, argc, argv);
  if (exe.empty()) {
    for (const std::string& c : {self_dir() + "/shmcp-executor", self_dir() + "/../executor/shmcp-executor"})
      if (access(c.c_str(), X_OK) == 0) exe = c;
    if (exe.empty()) {
      std::fputs("shmcp-bench tenants: shmcp-executor not found; use --executor PATH\n", stderr);
      return 2;
    }
  }
  n_cold = std::min(n_cold, n_tenants - 2);

  char tmpl[] = "/tmp/shmcp-bench-tenants-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 2;
  }
  const std::string base = tmpl, ws = base + "/ws", channel = "bench-tenants-" + std::to_string(getpid());
  mkdir(ws.c_str(), 0755);
  const std::string admin = "bench-admin-token-0123456789";
  std::ofstream(base + "/admin.token") << admin << "\n";
  std::ofstream(base + "/tenants.json") << R"({"tenants": []})" << "\n";
  Exec ex;
  ex.log = base + "/executor.log";
  std::vector<std::string> args = {exe, "serve", "--workspace", ws, "--channel", channel, "--tenants", base + "/tenants.json",
                                   "--admin-token-file", base + "/admin.token", "--http", "127.0.0.1:0",
                                   "--workers", std::to_string(workers), "--tenant-idle-s", "3600",
                                   "--max-workers", "64", "--worker-slice-us", std::to_string(slice_us), "--log-level", "warn"};
  // --log-level warn would hide the "HTTP on" line: keep info for it.
  args.back() = "info";
  // Groups under --cgroup: executor/ (the tenants' groups), load/ and probe/ (calling threads).
  std::string cg_base, cg_load, cg_probe;
  if (!cgroup.empty()) {
    if (::access((cgroup + "/tasks").c_str(), W_OK) != 0 || ::access((cgroup + "/cpu.shares").c_str(), F_OK) != 0) {
      std::fprintf(stderr, "shmcp-bench tenants: --cgroup %s is not a writable cgroup v1 cpu hierarchy directory\n", cgroup.c_str());
      return 2;
    }
    cg_base = cgroup + "/shmcp-bench-" + std::to_string(::getpid());
    cg_load = cg_base + "/load";
    cg_probe = cg_base + "/probe";
    for (const auto& d : {cg_base, cg_base + "/executor", cg_load, cg_probe})
      if (::mkdir(d.c_str(), 0755) != 0) {
        std::fprintf(stderr, "shmcp-bench tenants: mkdir %s: %s\n", d.c_str(), std::strerror(errno));
        return 2;
      }
    args.insert(args.end() - 2, {"--tenant-cgroup", cg_base + "/executor"});
  }
  ex.pid = fork();
  if (ex.pid == 0) {
    const int fd = open(ex.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  auto cleanup = [&] {
    if (ex.pid > 0) {
      kill(ex.pid, SIGTERM);
      int st = 0;
      waitpid(ex.pid, &st, 0);
    }
    (void)std::system(("rm -rf '" + base + "'").c_str());
    if (!cg_base.empty()) {
      join_thread_group(cgroup);  // the measuring thread leaves probe/
      for (const auto& d : {cg_probe, cg_load, cg_base + "/executor", cg_base}) ::rmdir(d.c_str());
    }
  };
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (ex.port == 0 && std::chrono::steady_clock::now() < give_up) {
    std::ifstream in(ex.log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto p = text.find("HTTP on http://127.0.0.1:");
    if (p != std::string::npos) ex.port = std::atoi(text.c_str() + p + 25);
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));  // startup poll pacing
  }
  if (ex.port == 0) {
    std::fprintf(stderr, "shmcp-bench tenants: the executor did not start (log: %s)\n", ex.log.c_str());
    cleanup();
    return 1;
  }
  httplib::Client http("127.0.0.1", ex.port);
  http.set_read_timeout(60, 0);
  const httplib::Headers auth = {{"Authorization", "Bearer " + admin}};

  const std::uint64_t rss0 = rss_kib(ex.pid);
  std::fprintf(stderr, "creating %llu tenants...\n", static_cast<unsigned long long>(n_tenants));
  const std::uint64_t t_create = now_ns();
  for (std::uint64_t i = 0; i < n_tenants; ++i) {
    const nlohmann::json body = {{"name", "t" + std::to_string(i)}, {"tokens", {"bench-tenant-token-" + std::to_string(i) + "-0123456789"}}};
    auto r = http.Post("/admin/tenants", auth, body.dump(), "application/json");
    if (!r || r->status != 201) {
      std::fprintf(stderr, "shmcp-bench tenants: creating tenant %llu failed: %s\n", static_cast<unsigned long long>(i),
                   r ? r->body.c_str() : httplib::to_string(r.error()).c_str());
      cleanup();
      return 1;
    }
    std::ofstream(ws + "/t" + std::to_string(i) + "/4k.txt") << std::string(4096, 'x');
  }
  const double create_s = static_cast<double>(now_ns() - t_create) / 1e9;
  const std::uint64_t rss1 = rss_kib(ex.pid);
  const std::uint64_t shm = shm_bytes(channel);

  std::fprintf(stderr, "measuring idle CPU for %llu s...\n", static_cast<unsigned long long>(idle_s));
  const double cpu0 = cpu_seconds(ex.pid);
  const std::uint64_t w0 = now_ns();
  std::this_thread::sleep_for(std::chrono::seconds(idle_s));  // the measured idle period itself
  const double idle_cpu = (cpu_seconds(ex.pid) - cpu0) / (static_cast<double>(now_ns() - w0) / 1e9);

  // Cold tenants: t2.. (t0 is the neighbour, t1 the measured tenant).
  std::fprintf(stderr, "first calls of %llu cold tenants...\n", static_cast<unsigned long long>(n_cold));
  std::vector<std::uint64_t> cold;
  for (std::uint64_t i = 0; i < n_cold; ++i) {
    auto c = Client::connect("shm://" + channel + ".t" + std::to_string(2 + i));
    if (!c) continue;
    const std::uint64_t t0 = now_ns();
    auto r = (*c)->call("read_text_file", {{"path", "4k.txt"}});
    if (r && !r->is_error) cold.push_back(now_ns() - t0);
  }

  auto measure = [&](const char* label) {
    set_thread_slice_us(client_slice_us);
    join_thread_group(cg_probe);
    auto c = Client::connect("shm://" + channel + ".t1");
    std::vector<std::uint64_t> ns;
    if (!c) return summarize(label, "read_text_file_4k", ns);
    for (int i = 0; i < 200; ++i) (void)(*c)->call("read_text_file", {{"path", "4k.txt"}});  // pool started, warm
    ns.reserve(calls);
    const std::uint64_t t0 = now_ns();
    for (std::uint64_t i = 0; i < calls; ++i) {
      const std::uint64_t s = now_ns();
      auto r = (*c)->call("read_text_file", {{"path", "4k.txt"}});
      if (r && !r->is_error) ns.push_back(now_ns() - s);
    }
    Summary sm = summarize(label, "read_text_file_4k", ns);
    sm.calls_per_s = static_cast<double>(ns.size()) / (static_cast<double>(now_ns() - t0) / 1e9);
    return sm;
  };
  std::fprintf(stderr, "one tenant alone...\n");
  Summary alone = measure("tenant-alone");
  std::fprintf(stderr, "the same while tenant t0 saturates its pool with %llu threads...\n", static_cast<unsigned long long>(load_threads));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> load_calls{0};
  std::vector<std::thread> load;
  for (std::uint64_t i = 0; i < load_threads; ++i)
    load.emplace_back([&] {
      set_thread_slice_us(client_slice_us);
      join_thread_group(cg_load);
      ClientOptions lo;
      lo.wait = load_wait;
      auto c = Client::connect("shm://" + channel + ".t0", lo);
      if (!c) return;
      while (!stop.load()) {
        auto r = (*c)->call("read_text_file", {{"path", "4k.txt"}});
        if (r) ++load_calls;
      }
    });
  while (load_calls.load() < 1000) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the neighbour is busy
  Summary busy = measure("tenant-with-neighbour");
  stop = true;
  for (auto& t : load) t.join();

  std::vector<std::uint64_t> cold_copy = cold;
  Summary cold_s = summarize("tenant-cold", "first_call", cold_copy);
  std::printf("shmcp-bench tenants: %llu tenants, %llu workers each (lazy), %u CPUs, worker slice %s, client slice %s\n\n",
              static_cast<unsigned long long>(n_tenants), static_cast<unsigned long long>(workers), std::thread::hardware_concurrency(),
              slice_us ? (std::to_string(slice_us) + " us").c_str() : "default",
              client_slice_us ? (std::to_string(client_slice_us) + " us").c_str() : "default");
  std::printf("%-44s %14s\n", "measure", "value");
  std::printf("%-44s %11.1f s\n", "create all tenants (admin API)", create_s);
  std::printf("%-44s %10.1f KiB\n", "executor RSS per idle tenant", static_cast<double>(rss1 - std::min(rss1, rss0)) / static_cast<double>(n_tenants));
  std::printf("%-44s %10.1f KiB\n", "/dev/shm per idle tenant", static_cast<double>(shm) / 1024.0 / static_cast<double>(n_tenants));
  std::printf("%-44s %11.2f %%\n", "executor CPU, all tenants idle", idle_cpu * 100.0);
  std::printf("%-44s %10.2f ms\n", "cold first call p50 (pool start + call)", static_cast<double>(cold_s.p50_ns) / 1e6);
  std::printf("%-44s %10.2f ms\n", "cold first call p99", static_cast<double>(cold_s.p99_ns) / 1e6);
  std::printf("\n");
  print_table({alone, busy}, stdout);
  const double r50 = alone.p50_ns ? static_cast<double>(busy.p50_ns) / static_cast<double>(alone.p50_ns) : 0;
  const double r99 = alone.p99_ns ? static_cast<double>(busy.p99_ns) / static_cast<double>(alone.p99_ns) : 0;
  std::printf("\nwith a saturating neighbour / alone: p50 %.2fx, p99 %.2fx (target <= 1.5x); neighbour served %.0f calls/s\n", r50, r99,
              static_cast<double>(load_calls.load()) / (static_cast<double>(busy.samples) / std::max(busy.calls_per_s, 1.0)));
  cleanup();
  return 0;
}

}  // namespace shmcp::bench
