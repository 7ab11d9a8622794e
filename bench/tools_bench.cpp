// shmcp-bench tools: real tool calls against a real executor, side by side over every transport.
//
//   floor          one cache line bounced between two processes (channel_bench's floor); for
//                  read_text_file_4k the read's syscalls in-process, and (row floor-sandboxed) the
//                  same syscalls in a child locked down like a worker
//   shm-spin       shmcp::Client over shm://, spin wait; executor `serve --wait spin --workers 1`
//   shm-adaptive   the same with adaptive waits on both sides; executor `--wait adaptive`
//   http           shmcp::Client over http:// (POST /execute, keep-alive, TCP_NODELAY)
//   mcp-stdio      `shmcp-executor mcp DIR` driven over pipes (newline-delimited JSON-RPC)
//   mcp-http       POST /mcp of an executor `serve` (MCP Streamable HTTP, one session per client)
//   reference-mcp  `node <server-filesystem>/dist/index.js DIR`, the same JSON-RPC driver
//
// Operations: empty (Client::ping / "$ping"; JSON-RPC ping), read_text_file_4k, read_text_file_1m,
// write_file_4k, list_directory_1000, search_files_10000. For each transport and operation: a
// closed loop, an open loop at a fixed rate (half the closed loop's throughput; latency counted
// from the intended send time, so a stall delays every call queued behind it, as it would a real
// caller), and for the scaling ops a run with 1..N concurrent clients. Every case runs for a fixed
// time (--duration-per-case) with at least kMinSamples calls, so slow transports and operations
// get fewer iterations and the default run takes a few minutes.
//
// CPU: the client's is CLOCK_PROCESS_CPUTIME_ID of this process (the MCP drivers and HTTP client
// live here too); the executor's is utime+stime from /proc of the server process and all its
// descendants (the sandboxed workers), read before and after each case.
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "bench/benches.hpp"
#include "channel/base/cli.hpp"
#include "orchestrator/client.hpp"
#include "orchestrator/http_conn.hpp"
#include "sandbox/lockdown.hpp"
#include "sandbox/open_how.hpp"
#include "sandbox/workspace.hpp"

namespace shmcp::bench {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;
constexpr std::uint64_t kMinSamples = 20;
constexpr std::uint64_t kMaxSamples = 2'000'000;

// ---- options --------------------------------------------------------------------------------------

const std::vector<std::string> kAllTransports = {"floor", "shm-spin", "shm-adaptive", "http", "mcp-stdio", "mcp-http",
                                                 "reference-mcp"};
const std::vector<std::string> kAllOps = {"empty", "read_text_file_4k", "read_text_file_1m", "write_file_4k",
                                          "list_directory_1000", "search_files_10000"};

struct ToolsOptions {
  std::uint64_t iterations = 0;  // 0: run each case for duration_s instead
  double duration_s = 1.0;
  bool quick = false;
  std::vector<std::string> transports = kAllTransports;
  std::vector<std::string> ops = kAllOps;
  std::vector<std::string> scaling_ops = {"empty", "read_text_file_4k"};
  unsigned max_clients = 0;  // 0: 2 x CPUs, at most 8
  unsigned workers = 0;      // executor workers for shm-adaptive and http; 0: one per CPU
  double open_fraction = 0.5;
  std::string out_dir, reference_server, connect, executor, node = "node";
  bool allow_unsandboxed = false, no_open = false, no_scaling = false, pin = true;
};

constexpr const char* kHelp = R"(Usage: shmcp-bench tools [options]

Tool-call latency and throughput of shmcp over shared memory (spin and adaptive waits), HTTP
/execute, MCP stdio and MCP Streamable HTTP (/mcp), next to the raw floor and the reference MCP filesystem server, in one run.
Starts its own executor on a temporary workspace with fixtures (4 KiB and 1 MiB files, a directory
of 1,000 entries, a tree of 10,000 files) unless --connect is given.

Options:
  --transports LIST       comma-separated, of: floor, shm-spin, shm-adaptive, http, mcp-stdio,
                          mcp-http, reference-mcp                               [default: all]
  --ops LIST              of: empty, read_text_file_4k, read_text_file_1m, write_file_4k,
                          list_directory_1000, search_files_10000               [default: all]
  --duration-per-case S   seconds each case runs (at least 20 calls)             [default: 1]
  --iterations N          exactly N measured calls per case instead of a duration
  --quick                 0.2 s per case, scaling to 2 clients: a smoke run
  --clients N             scaling run with 1..N concurrent clients      [default: 2 x CPUs, <= 8]
  --scaling-ops LIST      operations of the scaling run       [default: empty,read_text_file_4k]
  --workers N             workers of the executors started for shm-adaptive and http (shm-spin
                          always gets 1)                              [default: one per CPU]
  --open-fraction F       open-loop rate as a fraction of the closed loop's calls/s [default: 0.5]
  --no-open, --no-scaling skip the open-loop or scaling runs
  --no-pin                do not pin (by default, against an executor this bench started,
                          single-client runs put the client on the last CPU and the workers on
                          the first, like `channel`; scaling runs spread both; reference-mcp and
                          --connect are never pinned)
  --reference-server PATH the reference server's dist/index.js (run with node; without it
                          reference-mcp is skipped). bench/run-tools-bench.sh installs it.
  --node PATH             node binary for the reference server                [default: node]
  --executor PATH         shmcp-executor to start        [default: next to shmcp-bench, or ../executor]
  --allow-unsandboxed     pass --allow-unsandboxed to the executor (where Landlock/seccomp fail)
  --connect URL           measure a running executor instead (shm://NAME or http://HOST:PORT);
                          fixtures are created through its tools under shmcp-bench-fixtures/
  --out DIR               write DIR/results.json and DIR/latency.svg
  -h, --help              this text

Progress goes to stderr; the summary tables (with http/shm and reference/shm ratios and the
targets) go to stdout.
)";

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// ---- clocks, CPU, processes -------------------------------------------------------------------------

double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// utime + stime (seconds) of `roots` and all their descendants, from /proc/<pid>/stat.
double tree_cpu_s(const std::vector<pid_t>& roots) {
  if (roots.empty()) return -1;
  static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  struct Proc {
    pid_t ppid;
    double cpu;
  };
  std::map<pid_t, Proc> procs;
  DIR* d = opendir("/proc");
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    const auto rp = line.rfind(')');  // comm may contain spaces and parentheses
    if (rp == std::string::npos) continue;
    std::istringstream in(line.substr(rp + 2));
    std::string field;
    std::vector<std::string> fields;  // fields[0] is field 3 (state)
    while (in >> field && fields.size() < 14) fields.push_back(field);
    if (fields.size() < 14) continue;
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    procs[pid] = {static_cast<pid_t>(std::atoi(fields[1].c_str())),
                  (std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr)) / tick};
  }
  closedir(d);
  double sum = 0;
  for (const auto& [pid, p] : procs) {
    for (pid_t q = pid; q > 1;) {
      if (std::find(roots.begin(), roots.end(), q) != roots.end()) {
        sum += p.cpu;
        break;
      }
      auto it = procs.find(q);
      if (it == procs.end()) break;
      q = it->second.ppid;
    }
  }
  return sum;
}

std::string self_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<std::size_t>(n));
  return p.substr(0, p.rfind('/'));
}

std::string find_executor(const std::string& given) {
  if (!given.empty()) return given;
  const std::string dir = self_dir();
  for (const std::string& c : {dir + "/shmcp-executor", dir + "/../executor/shmcp-executor"})
    if (access(c.c_str(), X_OK) == 0) return c;
  return {};
}

// fork/exec argv with stdin/stdout as given (-1: /dev/null), stderr to `log`, in `cwd`.
pid_t spawn_process(const std::vector<std::string>& argv, int in_fd, int out_fd, const std::string& log,
                    const std::string& cwd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_RDWR);
    const int err_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(in_fd >= 0 ? in_fd : null_fd, 0);
    dup2(out_fd >= 0 ? out_fd : null_fd, 1);
    dup2(err_fd >= 0 ? err_fd : null_fd, 2);
    // Everything else (pipes of other servers) must not leak into the child.
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    setpgid(0, 0);  // a Ctrl-C of the bench reaches the servers through our own cleanup only
    execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  return pid;
}

void stop_process(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 500; ++i) {  // up to 5 s to drain and remove its segment
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return;
    usleep(10'000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

bool process_alive(pid_t pid) {
  int status = 0;
  return pid > 0 && waitpid(pid, &status, WNOHANG) == 0;
}

std::string tail_of_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

int free_tcp_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(s);
  return port;
}

// ---- CPU placement -----------------------------------------------------------------------------------
// As in `shmcp-bench channel`: the measuring client on one CPU, the executor's workers (the
// processes that serve the calls) on another, so neither waits for the other to be scheduled on a
// shared core. Everything else (HTTP frontend, MCP stdio front process, node) stays unpinned. The
// scaling runs unpin everything.

std::vector<int> allowed_cpus() {
  std::vector<int> ids;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) ids.push_back(i);
  return ids;
}

void set_affinity(pid_t tid, const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  (void)sched_setaffinity(tid, sizeof set, &set);
}

// Every thread of every process below `root` (not root itself).
std::vector<pid_t> descendant_tids(pid_t root) {
  std::map<pid_t, pid_t> parent;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
      std::string line;
      if (!std::getline(f, line)) continue;
      const auto rp = line.rfind(')');
      if (rp == std::string::npos) continue;
      std::istringstream in(line.substr(rp + 2));
      std::string state;
      pid_t ppid = 0;
      in >> state >> ppid;
      parent[static_cast<pid_t>(std::atoi(e->d_name))] = ppid;
    }
    closedir(d);
  }
  std::vector<pid_t> tids;
  for (const auto& [pid, pp] : parent) {
    bool below = false;
    for (pid_t q = pp; q > 1 && !below;) {
      if (q == root) below = true;
      auto it = parent.find(q);
      if (it == parent.end()) break;
      q = it->second;
    }
    if (!below) continue;
    if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/task").c_str())) {
      while (dirent* e = readdir(d))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9') tids.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
      closedir(d);
    }
  }
  return tids;
}

void sleep_until(std::uint64_t t) {
  for (;;) {
    const std::uint64_t now = now_ns();
    if (now >= t) return;
    if (t - now > 200'000) {  // sleep most of a long gap, spin the rest: nanosleep overshoots by tens of us
      const std::uint64_t ns = t - now - 100'000;
      timespec ts{static_cast<time_t>(ns / kSecond), static_cast<long>(ns % kSecond)};
      nanosleep(&ts, nullptr);
    }
  }
}

// ---- fixtures ---------------------------------------------------------------------------------------

constexpr const char* kSearchPattern = "**/f0000*.txt";  // 10 of the 10,000 files (f00000-f00009)
constexpr std::size_t kSearchMatches = 10;

std::string text_of_size(std::size_t n) {
  std::string s;
  s.reserve(n);
  for (std::size_t line = 0; s.size() < n; ++line) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "line %06zu: the quick brown fox jumps over the lazy dog 0123456789\n", line);
    s.append(buf);
  }
  s.resize(n);
  s.back() = '\n';
  return s;
}

struct Fixtures {
  std::string root;  // workspace directory (local runs); paths below are relative to it
  std::string prefix;  // "" locally, "shmcp-bench-fixtures/" with --connect
  std::string p(const char* rel) const { return prefix + rel; }
};

// The kernel's share of read_text_file_4k, measured in this process without any sandbox: the
// fewest syscalls a safe read can make (openat2 beneath the workspace, fstat for the type and
// size, one read, close). No executor can answer faster than this plus the empty round trip, so
// it bounds the ratios any implementation could reach against the reference on this machine.
// `dir` is an O_PATH handle on the workspace; it stays open.
std::optional<Summary> measure_read_syscalls_at(int dir, const std::string& rel, std::uint64_t iterations,
                                                std::uint64_t warmup, const char* transport) {
  std::vector<char> buf(64 * 1024);
  std::vector<std::uint64_t> ns;
  ns.reserve(iterations);
  // The worker's own open_how: the sealed table's entry (a locked-down process may pass no other).
  open_how local{};
  local.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  local.resolve = sandbox::kResolveBeneath;
  const open_how* entry = sandbox::sealed_open_how(local.flags, local.resolve);
  const open_how& how = entry ? *entry : local;
  bool ok = true;
  for (std::uint64_t i = 0; i < warmup + iterations && ok; ++i) {
    const std::uint64_t t0 = now_ns();
    const long fd = ::syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how);
    struct stat st {};
    if (fd < 0 || ::fstat(static_cast<int>(fd), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::size_t>(st.st_size) >= buf.size() ||
        ::read(static_cast<int>(fd), buf.data(), static_cast<std::size_t>(st.st_size) + 1) != st.st_size)
      ok = false;
    if (fd >= 0) ::close(static_cast<int>(fd));
    const std::uint64_t t1 = now_ns();
    if (i >= warmup) ns.push_back(t1 - t0);
  }
  if (!ok || ns.empty()) return std::nullopt;
  Summary s = summarize(transport, "read_text_file_4k", ns);
  std::uint64_t total = 0;
  for (auto v : ns) total += v;
  s.calls_per_s = total ? 1e9 * static_cast<double>(ns.size()) / static_cast<double>(total) : 0;
  return s;
}

std::optional<Summary> measure_read_syscalls(const std::string& root, const std::string& rel, std::uint64_t iterations,
                                             std::uint64_t warmup) {
  const int dir = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return std::nullopt;
  auto s = measure_read_syscalls_at(dir, rel, iterations, warmup, "floor");
  ::close(dir);
  return s;
}

// The same syscalls in a forked child that first locks itself down exactly as a worker does
// (sandbox::lock_down on the workspace: rlimits, no_new_privs, capabilities, the same Landlock
// ruleset and seccomp filter), so that what remains of a worker's read beyond the kernel's own
// work, the sandbox's share included, shows as a ratio. The child reports through a pipe (write
// is in the worker's allowlist). `err` says why there is no row (no sandbox on this kernel, ...).
std::optional<Summary> measure_read_syscalls_sandboxed(const std::string& root, const std::string& rel,
                                                       std::uint64_t iterations, std::uint64_t warmup, std::string& err) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    err = std::string("pipe: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    err = std::string("fork: ") + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    close(fds[0]);
    // This process has exactly one thread (fork copies only the caller), as lock_down requires.
    auto ws = sandbox::Workspace::open(root);
    if (!ws) {
      const std::string m = "!workspace: " + ws.error().describe() + "\n";
      (void)!write(fds[1], m.data(), m.size());
      _exit(1);
    }
    sandbox::LockdownOptions lo;  // a worker's defaults: read-write Landlock, the full filter
    lo.keep_fds = {2, fds[1]};
#ifdef SHMCP_SANITIZER
    lo.sanitizer_runtime = true;
#endif
    auto rep = sandbox::lock_down(*ws, lo);
    if (!rep || !rep->seccomp || rep->landlock_abi <= 0) {
      const std::string m = "!" + (rep ? std::string("Landlock or seccomp not applied") : rep.error().describe()) + "\n";
      (void)!write(fds[1], m.data(), m.size());
      _exit(1);
    }
    auto s = measure_read_syscalls_at(ws->fd(), rel, iterations, warmup, "floor-sandboxed");
    const std::string line = s ? serialize(*s) + "\n" : std::string("!measurement failed\n");
    const bool wrote = write(fds[1], line.data(), line.size()) == static_cast<ssize_t>(line.size());
    _exit(s && wrote ? 0 : 1);
  }
  close(fds[1]);
  std::string line;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR);)
    if (n > 0) line.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!line.empty() && line.back() == '\n') line.pop_back();
  Summary s;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && deserialize(line, s)) return s;
  err = !line.empty() && line[0] == '!' ? line.substr(1)
        : WIFSIGNALED(status)            ? std::string("sandboxed child killed by signal ") + std::to_string(WTERMSIG(status))
                                         : std::string("sandboxed child failed");
  return std::nullopt;
}

bool write_local(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
  return static_cast<bool>(f);
}

bool make_local_fixtures(const std::string& root) {
  if (!write_local(root + "/r4k.txt", text_of_size(4096)) || !write_local(root + "/r1m.txt", text_of_size(1 << 20)) ||
      !write_local(root + "/w4k-0.txt", "x\n"))
    return false;
  if (mkdir((root + "/dir1000").c_str(), 0755) != 0) return false;
  char name[64];
  for (int i = 0; i < 1000; ++i) {
    std::snprintf(name, sizeof name, "/dir1000/entry-%04d.txt", i);
    if (!write_local(root + name, "")) return false;
  }
  if (mkdir((root + "/tree").c_str(), 0755) != 0) return false;
  for (int d = 0; d < 100; ++d) {
    std::snprintf(name, sizeof name, "/tree/d%02d", d);
    if (mkdir((root + name).c_str(), 0755) != 0) return false;
    for (int f = 0; f < 100; ++f) {
      char file[96];
      std::snprintf(file, sizeof file, "%s/f%05d.txt", name, d * 100 + f);
      if (!write_local(root + file, "x\n")) return false;
    }
  }
  return true;
}

// The same fixtures through a running executor's tools (for --connect).
bool make_remote_fixtures(Client& c, const std::string& prefix) {
  if (c.read_text_file(prefix + ".complete")) return true;
  auto dir = [&](const std::string& p) {
    auto r = c.call("create_directory", {{"path", p}});
    return r && !r->is_error;
  };
  auto put = [&](const std::string& p, const std::string& data) { return static_cast<bool>(c.write_file(p, data)); };
  std::fprintf(stderr, "creating fixtures under %s in the connected executor's workspace...\n", prefix.c_str());
  if (!dir(prefix) || !dir(prefix + "dir1000") || !dir(prefix + "tree")) return false;
  if (!put(prefix + "r4k.txt", text_of_size(4096)) || !put(prefix + "r1m.txt", text_of_size(1 << 20))) return false;
  char name[64];
  for (int i = 0; i < 1000; ++i) {
    std::snprintf(name, sizeof name, "dir1000/entry-%04d.txt", i);
    if (!put(prefix + name, "")) return false;
  }
  for (int d = 0; d < 100; ++d) {
    std::snprintf(name, sizeof name, "tree/d%02d", d);
    if (!dir(prefix + name)) return false;
    for (int f = 0; f < 100; ++f) {
      char file[96];
      std::snprintf(file, sizeof file, "%s/f%05d.txt", name, d * 100 + f);
      if (!put(prefix + file, "x\n")) return false;
    }
  }
  return put(prefix + ".complete", "ok\n");
}

int rm_entry(const char* path, const struct stat*, int, struct FTW*) { return remove(path); }
void remove_tree(const std::string& root) {
  if (!root.empty()) nftw(root.c_str(), rm_entry, 64, FTW_DEPTH | FTW_PHYS);
}

// ---- drivers: one per client thread -----------------------------------------------------------------

const std::string kContent4k = text_of_size(4096);

class Driver {
 public:
  virtual ~Driver() = default;
  // One call; on failure returns false with `err` set. `check` asks for a full check of the
  // result (done on the first call of every case; the others only check for errors).
  virtual bool call(const std::string& op, bool check, std::string& err) = 0;
};

bool check_text(const std::string& op, const std::string& text, std::string& err) {
  auto count_lines = [](const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); };
  bool ok = true;
  if (op == "read_text_file_4k") ok = text.size() == 4096;
  else if (op == "read_text_file_1m") ok = text.size() == (1u << 20);
  else if (op == "list_directory_1000") ok = count_lines(text) + 1 >= 1000 && text.find("entry-0999.txt") != std::string::npos;
  else if (op == "search_files_10000") ok = count_lines(text) + 1 == kSearchMatches && text.find("f00009.txt") != std::string::npos;
  if (!ok) err = op + ": unexpected result (" + std::to_string(text.size()) + " bytes): " + text.substr(0, 200);
  return ok;
}

// shm:// and http:// through shmcp::Client (shared by the threads: it pools lanes / connections).
class ClientDriver final : public Driver {
 public:
  ClientDriver(Client& c, const Fixtures& fx, unsigned thread) : c_(c), fx_(fx) {
    write_path_ = fx.prefix + "w4k-" + std::to_string(thread) + ".txt";
  }
  bool call(const std::string& op, bool check, std::string& err) override {
    if (op == "empty") {
      auto s = c_.ping();
      if (!s) err = s.error().describe();
      return static_cast<bool>(s);
    }
    if (op == "read_text_file_4k" || op == "read_text_file_1m") {
      auto r = c_.read_text_file(fx_.p(op == "read_text_file_4k" ? "r4k.txt" : "r1m.txt"));
      if (!r) {
        err = r.error().describe();
        return false;
      }
      return !check || check_text(op, *r, err);
    }
    if (op == "write_file_4k") {
      auto s = c_.write_file(write_path_, kContent4k);
      if (!s) err = s.error().describe();
      return static_cast<bool>(s);
    }
    Result<ToolResult> r = op == "list_directory_1000"
                               ? c_.call("list_directory", {{"path", fx_.p("dir1000")}})
                               : c_.call("search_files", {{"path", fx_.p("tree")}, {"pattern", kSearchPattern}});
    if (!r) {
      err = r.error().describe();
      return false;
    }
    if (r->is_error) {
      err = r->text();
      return false;
    }
    return !check || check_text(op, r->text(), err);
  }

 private:
  Client& c_;
  const Fixtures& fx_;
  std::string write_path_;
};

// The JSON-RPC request of one operation (ping, or tools/call with the op's tool and arguments),
// as both MCP drivers (stdio and Streamable HTTP) send it.
std::string jsonrpc_request(const std::string& op, std::uint64_t id, const std::string& write_path,
                            const std::string& content_json) {
  std::string msg = R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + ",";
  if (op == "empty") return msg + R"("method":"ping"})";
  msg += R"("method":"tools/call","params":{"name":)";
  if (op == "read_text_file_4k") msg += R"("read_text_file","arguments":{"path":"r4k.txt"}}})";
  else if (op == "read_text_file_1m") msg += R"("read_text_file","arguments":{"path":"r1m.txt"}}})";
  else if (op == "write_file_4k")
    msg += R"("write_file","arguments":{"path":")" + write_path + R"(","content":)" + content_json + "}}}";
  else if (op == "list_directory_1000") msg += R"("list_directory","arguments":{"path":"dir1000"}}})";
  else msg += std::string(R"("search_files","arguments":{"path":"tree","pattern":")") + kSearchPattern + "\"}}}";
  return msg;
}

enum class Reply { ok, failed, other };

// Checks one JSON-RPC message received after jsonrpc_request(op, id, ...): `other` for a message
// that is not its response (a notification or request, another id), else `ok` or `failed` (with
// `err`): a JSON-RPC error, an isError result, or with `check` an unexpected text (check_text).
// Parsed with simdjson, as a client handling megabyte results would: the whole message is
// validated, then only the content's text is copied out. data[len..len + SIMDJSON_PADDING) must be
// readable (simdjson's padding; its contents do not matter).
Reply check_jsonrpc_reply(const std::string& op, const char* data, std::size_t len, std::uint64_t id, bool check,
                          std::string& err) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object reply;
  if (parser.parse(reinterpret_cast<const std::uint8_t*>(data), len, false).get(doc) || doc.get_object().get(reply)) {
    err = "malformed JSON from server";
    return Reply::failed;
  }
  std::uint64_t got = 0;
  if (!reply["method"].error() || reply["id"].get_uint64().get(got) || got != id) return Reply::other;
  if (auto e = reply["error"]; !e.error()) {
    err = "JSON-RPC error: " + simdjson::minify(e.value());
    return Reply::failed;
  }
  if (op == "empty") return Reply::ok;
  simdjson::dom::object result;
  if (reply["result"].get_object().get(result)) {
    err = "response without a result object";
    return Reply::failed;
  }
  std::string text;
  simdjson::dom::array content;
  if (!result["content"].get_array().get(content))
    for (simdjson::dom::element b : content) {
      std::string_view t;
      if (!b["text"].get_string().get(t)) text.append(t);
    }
  bool is_error = false;
  if (auto e = result["isError"]; !e.error() && e.get_bool().get(is_error)) is_error = false;
  if (is_error) {
    err = "tool error: " + text;
    return Reply::failed;
  }
  return !check || op == "write_file_4k" || check_text(op, text, err) ? Reply::ok : Reply::failed;
}

// MCP over stdio: a server process per driver, newline-delimited JSON-RPC on its stdin/stdout.
class StdioDriver final : public Driver {
 public:
  static std::unique_ptr<StdioDriver> start(const std::vector<std::string>& argv, const std::string& cwd,
                                            const std::string& log, unsigned thread, std::string& err) {
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) {
      err = std::string("pipe: ") + std::strerror(errno);
      return nullptr;
    }
    const pid_t pid = spawn_process(argv, to_child[0], from_child[1], log, cwd);
    close(to_child[0]);
    close(from_child[1]);
    std::unique_ptr<StdioDriver> d(new StdioDriver(pid, to_child[1], from_child[0], thread));
    if (pid < 0) {
      err = "fork failed";
      return nullptr;
    }
    const std::string init =
        R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},)"
        R"("clientInfo":{"name":"shmcp-bench","version":"1"}}})";
    if (!d->request(init + "\n", 0, err, 30'000, [&](const char* data, std::size_t len) {
          return check_jsonrpc_reply("empty", data, len, 0, false, err);
        })) {
      err = "initialize: " + err + "\n" + tail_of_file(log);
      return nullptr;
    }
    if (!d->send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})" "\n", err)) return nullptr;
    return d;
  }
  ~StdioDriver() override {
    close(in_);
    close(out_);  // end of input: both servers exit
    for (int i = 0; i < 300 && process_alive(pid_); ++i) usleep(10'000);
    if (process_alive(pid_)) stop_process(pid_);
  }
  pid_t pid() const { return pid_; }

  bool call(const std::string& op, bool check, std::string& err) override {
    const std::uint64_t id = ++next_id_;
    const std::string msg = jsonrpc_request(op, id, write_path_, content_json_) + "\n";
    return request(msg, id, err, 120'000, [&](const char* data, std::size_t len) {
      return check_jsonrpc_reply(op, data, len, id, check, err);
    });
  }

 private:
  StdioDriver(pid_t pid, int in, int out, unsigned thread) : pid_(pid), in_(in), out_(out) {
    write_path_ = "w4k-" + std::to_string(thread) + ".txt";
    content_json_ = nlohmann::json(kContent4k).dump();
  }

  bool send(const std::string& msg, std::string& err) {
    for (std::size_t off = 0; off < msg.size();) {
      const ssize_t n = write(in_, msg.data() + off, msg.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        err = std::string("write to server: ") + std::strerror(errno);
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Sends msg and reads lines until `handle(line, length)` (check_jsonrpc_reply) says one was the
  // response (skipping notifications and requests); true if that was `ok`.
  template <class Handle>
  bool request(const std::string& msg, std::uint64_t id, std::string& err, int timeout_ms, Handle&& handle) {
    (void)id;
    if (!send(msg, err)) return false;
    for (;;) {
      std::size_t nl;
      while ((nl = buf_.find('\n', scanned_)) == std::string::npos) {
        scanned_ = buf_.size();
        pollfd p{out_, POLLIN, 0};
        const int pr = poll(&p, 1, timeout_ms);
        if (pr == 0) {
          err = "no response within " + std::to_string(timeout_ms) + " ms";
          return false;
        }
        if (pr < 0 && errno == EINTR) continue;
        char chunk[65536];
        const ssize_t n = read(out_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          err = "server closed its stdout";
          return false;
        }
        buf_.append(chunk, static_cast<std::size_t>(n));
      }
      buf_.reserve(buf_.size() + simdjson::SIMDJSON_PADDING);  // what follows the line is its padding
      const Reply r = handle(buf_.data(), nl);
      buf_.erase(0, nl + 1);
      scanned_ = 0;
      if (r != Reply::other) return r == Reply::ok;
    }
  }

  pid_t pid_;
  int in_, out_;
  std::uint64_t next_id_ = 0;
  std::string buf_;
  std::size_t scanned_ = 0;
  std::string write_path_, content_json_;
};

// ---- transports ---------------------------------------------------------------------------------------

class Transport {
 public:
  explicit Transport(std::string n) : name(std::move(n)) {}
  virtual ~Transport() = default;
  virtual bool start(std::string& err) = 0;
  // Driver for client thread `i` (0 stays alive for the transport's lifetime).
  virtual Driver* driver(unsigned i, std::string& err) = 0;
  // Drops the drivers of threads >= n (the extra stdio servers of a scaling run).
  virtual void trim(unsigned n) { (void)n; }
  virtual std::vector<pid_t> server_pids() const = 0;
  // Processes whose descendants are the executor's workers (pinned for single-client runs).
  virtual std::vector<pid_t> worker_parents() const { return {}; }
  virtual void stop() {}
  std::string name;
};

// An executor `serve` process (or a --connect URL) and one shmcp::Client.
class ClientTransport final : public Transport {
 public:
  ClientTransport(std::string n, std::vector<std::string> argv, std::string url, ClientOptions co, const Fixtures& fx,
                  std::string log)
      : Transport(std::move(n)), argv_(std::move(argv)), url_(std::move(url)), co_(std::move(co)), fx_(fx),
        log_(std::move(log)) {}
  ~ClientTransport() override { stop(); }

  bool start(std::string& err) override {
    if (!argv_.empty()) pid_ = spawn_process(argv_, -1, -1, log_, "");
    const std::uint64_t give_up = now_ns() + 30 * kSecond;
    for (;;) {  // until the executor's channel (or HTTP port) is up and a worker answers
      if (!argv_.empty() && !process_alive(pid_)) {
        err = "executor exited during startup:\n" + tail_of_file(log_);
        pid_ = -1;
        return false;
      }
      auto c = Client::connect(url_, co_);
      if (c) {
        if (auto s = (*c)->ping(CallOptions{std::chrono::milliseconds(2000)}); s) {
          client_ = std::move(*c);
          return true;
        } else if (now_ns() > give_up) {
          err = "ping: " + s.error().describe();
          return false;
        }
      } else if (now_ns() > give_up) {
        err = "connect " + url_ + ": " + c.error().describe();
        return false;
      }
      usleep(20'000);
    }
  }
  Client& client() { return *client_; }
  Driver* driver(unsigned i, std::string&) override {
    while (drivers_.size() <= i) drivers_.push_back(std::make_unique<ClientDriver>(*client_, fx_, static_cast<unsigned>(drivers_.size())));
    return drivers_[i].get();
  }
  std::vector<pid_t> server_pids() const override { return pid_ > 0 ? std::vector<pid_t>{pid_} : std::vector<pid_t>{}; }
  std::vector<pid_t> worker_parents() const override { return server_pids(); }
  void stop() override {
    drivers_.clear();
    client_.reset();
    stop_process(pid_);
    pid_ = -1;
  }

 private:
  std::vector<std::string> argv_;
  std::string url_;
  ClientOptions co_;
  const Fixtures& fx_;
  std::string log_;
  pid_t pid_ = -1;
  std::unique_ptr<Client> client_;
  std::vector<std::unique_ptr<ClientDriver>> drivers_;
};

// A stdio MCP server per client thread.
class StdioTransport final : public Transport {
 public:
  StdioTransport(std::string n, std::vector<std::string> argv, std::string cwd, std::string log)
      : Transport(std::move(n)), argv_(std::move(argv)), cwd_(std::move(cwd)), log_(std::move(log)) {}
  bool start(std::string& err) override { return driver(0, err) != nullptr; }
  Driver* driver(unsigned i, std::string& err) override {
    while (drivers_.size() <= i) {
      auto d = StdioDriver::start(argv_, cwd_, log_, static_cast<unsigned>(drivers_.size()), err);
      if (!d) return nullptr;
      drivers_.push_back(std::move(d));
    }
    return drivers_[i].get();
  }
  void trim(unsigned n) override {
    while (drivers_.size() > std::max(1u, n)) drivers_.pop_back();
  }
  std::vector<pid_t> server_pids() const override {
    std::vector<pid_t> p;
    for (const auto& d : drivers_) p.push_back(d->pid());
    return p;
  }
  std::vector<pid_t> worker_parents() const override { return has_workers_ ? server_pids() : std::vector<pid_t>{}; }
  void stop() override { drivers_.clear(); }
  bool has_workers_ = false;  // our `mcp` (sandboxed workers below it); not the reference server

 private:
  std::vector<std::string> argv_;
  std::string cwd_, log_;
  std::vector<std::unique_ptr<StdioDriver>> drivers_;
};

// MCP Streamable HTTP: POST /mcp on an executor `serve`, one keep-alive connection and one MCP
// session (initialize, Mcp-Session-Id on every later request) per driver, as an MCP client keeps.
class McpHttpDriver final : public Driver {
 public:
  static std::unique_ptr<McpHttpDriver> start(int port, unsigned thread, std::string& err) {
    std::unique_ptr<McpHttpDriver> d(new McpHttpDriver(port, thread));
    const std::string init =
        R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},)"
        R"("clientInfo":{"name":"shmcp-bench","version":"1"}}})";
    int status = 0;
    std::string body;
    std::string sid;
    if (!d->post(init, status, body, err, &sid)) return nullptr;
    if (status != 200 || sid.empty()) {
      err = "initialize: HTTP " + std::to_string(status) + " without a session: " + body.substr(0, 200);
      return nullptr;
    }
    d->session_ = sid;
    if (!d->post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", status, body, err)) return nullptr;
    if (status != 202) {
      err = "notifications/initialized: HTTP " + std::to_string(status);
      return nullptr;
    }
    return d;
  }

  bool call(const std::string& op, bool check, std::string& err) override {
    const std::uint64_t id = ++next_id_;
    int status = 0;
    std::string body;
    if (!post(jsonrpc_request(op, id, write_path_, content_json_), status, body, err)) return false;
    if (status != 200) {
      err = "HTTP " + std::to_string(status) + ": " + body.substr(0, 200);
      return false;
    }
    const Reply r = check_jsonrpc_reply(op, body.data(), body.size(), id, check, err);
    if (r == Reply::other) err = "no response to request " + std::to_string(id);
    return r == Reply::ok;
  }

 private:
  McpHttpDriver(int port, unsigned thread) : conn_("127.0.0.1", port) {
    write_path_ = "w4k-" + std::to_string(thread) + ".txt";
    content_json_ = nlohmann::json(kContent4k).dump();
  }

  // One keep-alive connection (shmcp's HttpConnection, as shmcp::Client over http:// uses): the
  // body goes into one buffer reserved from Content-Length, with simdjson's padding after it.
  bool post(const std::string& msg, int& status, std::string& body, std::string& err, std::string* session_id = nullptr) {
    std::vector<std::pair<std::string, std::string>> h{{"Content-Type", "application/json"},
                                                       {"Accept", "application/json, text/event-stream"}};
    if (!session_.empty()) {
      h.emplace_back("Mcp-Session-Id", session_);
      h.emplace_back("MCP-Protocol-Version", "2025-06-18");
    }
    auto res = conn_.post("/mcp", h, msg, 120'000, simdjson::SIMDJSON_PADDING);
    if (!res) {
      err = "POST /mcp: " + res.error().describe();
      return false;
    }
    status = res->status;
    body = std::move(res->body);
    if (session_id) *session_id = res->header("mcp-session-id");
    return true;
  }

  shmcp::HttpConnection conn_;
  std::string session_;
  std::uint64_t next_id_ = 0;
  std::string write_path_, content_json_;
};

// An executor `serve` with HTTP, driven through /mcp; a session per client thread.
class McpHttpTransport final : public Transport {
 public:
  McpHttpTransport(std::string n, std::vector<std::string> argv, int port, std::string log)
      : Transport(std::move(n)), argv_(std::move(argv)), port_(port), log_(std::move(log)) {}
  ~McpHttpTransport() override { stop(); }
  bool start(std::string& err) override {
    pid_ = spawn_process(argv_, -1, -1, log_, "");
    const std::uint64_t give_up = now_ns() + 30 * kSecond;
    for (;;) {  // until the executor's HTTP port is up and a session initializes
      if (!process_alive(pid_)) {
        err = "executor exited during startup:\n" + tail_of_file(log_);
        pid_ = -1;
        return false;
      }
      if (auto d = McpHttpDriver::start(port_, 0, err)) {
        drivers_.push_back(std::move(d));
        return true;
      }
      if (now_ns() > give_up) return false;
      usleep(20'000);
    }
  }
  Driver* driver(unsigned i, std::string& err) override {
    while (drivers_.size() <= i) {
      auto d = McpHttpDriver::start(port_, static_cast<unsigned>(drivers_.size()), err);
      if (!d) return nullptr;
      drivers_.push_back(std::move(d));
    }
    return drivers_[i].get();
  }
  void trim(unsigned n) override {
    while (drivers_.size() > std::max(1u, n)) drivers_.pop_back();
  }
  std::vector<pid_t> server_pids() const override { return pid_ > 0 ? std::vector<pid_t>{pid_} : std::vector<pid_t>{}; }
  std::vector<pid_t> worker_parents() const override { return server_pids(); }
  void stop() override {
    drivers_.clear();
    stop_process(pid_);
    pid_ = -1;
  }

 private:
  std::vector<std::string> argv_;
  int port_;
  std::string log_;
  pid_t pid_ = -1;
  std::vector<std::unique_ptr<McpHttpDriver>> drivers_;
};

// ---- measurement --------------------------------------------------------------------------------------

struct Plan {
  std::uint64_t iterations = 0;  // fixed count, or 0 for duration
  std::uint64_t duration_ns = kSecond;
};

struct CpuMark {
  double client, executor;
};

CpuMark cpu_mark(const Transport& t) { return {process_cpu_s(), tree_cpu_s(t.server_pids())}; }
// One case's summary: percentiles of `ns`, its mode, calls/s over `wall_ns`, CPU used from a to b.
Summary case_summary(const Transport& t, const std::string& op, std::vector<std::uint64_t>& ns, const char* mode,
                     std::uint64_t wall_ns, const CpuMark& a, const CpuMark& b) {
  Summary s = summarize(t.name, op, ns);
  s.mode = mode;
  s.calls_per_s = static_cast<double>(s.samples) * 1e9 / static_cast<double>(std::max<std::uint64_t>(1, wall_ns));
  s.client_cpu_s = b.client - a.client;
  s.executor_cpu_s = a.executor < 0 || b.executor < 0 ? -1 : b.executor - a.executor;
  return s;
}

// Warm-up: a tenth of the case's time (at least 3 calls, at most 2000), the first one checked.
// (up to 3 calls if they fit in the case's time).
bool warm_up(Driver& d, const std::string& op, const Plan& plan, std::string& err) {
  const std::uint64_t start = now_ns();
  for (std::uint64_t i = 0; i < 2000; ++i) {
    const std::uint64_t el = now_ns() - start;
    if (i > 0 && el >= plan.duration_ns / 10 && (i >= 3 || el >= plan.duration_ns)) break;
    if (!d.call(op, i == 0, err)) return false;
  }
  return true;
}

// A case runs for its duration, but for at least kMinSamples calls unless that would take more
// than 10 durations (an operation slower than duration / 20: then at least 5 calls).
bool keep_going(const Plan& plan, std::uint64_t n, std::uint64_t start, std::uint64_t now) {
  if (plan.iterations) return n < plan.iterations;
  const std::uint64_t el = now - start;
  if (n < 5) return true;
  if (n < kMinSamples && el < 10 * plan.duration_ns) return true;
  return el < plan.duration_ns && n < kMaxSamples;
}

std::optional<Summary> run_closed(Transport& t, const std::string& op, const Plan& plan, std::string& err) {
  Driver* d = t.driver(0, err);
  if (!d || !warm_up(*d, op, plan, err)) return std::nullopt;
  std::vector<std::uint64_t> ns;
  ns.reserve(plan.iterations ? plan.iterations : 4096);
  const CpuMark c0 = cpu_mark(t);
  const std::uint64_t start = now_ns();
  std::uint64_t t1 = start;
  while (keep_going(plan, ns.size(), start, t1)) {
    const std::uint64_t t0 = now_ns();
    if (!d->call(op, false, err)) return std::nullopt;
    t1 = now_ns();
    ns.push_back(t1 - t0);
  }
  const CpuMark c1 = cpu_mark(t);
  return case_summary(t, op, ns, "closed", t1 - start, c0, c1);
}

// Fixed rate; each call's latency runs from its intended send time (start + i / rate), so when a
// call is late because an earlier one stalled, the wait counts (no coordinated omission).
std::optional<Summary> run_open(Transport& t, const std::string& op, const Plan& plan, double rate, std::string& err) {
  Driver* d = t.driver(0, err);
  if (!d || !warm_up(*d, op, plan, err)) return std::nullopt;
  const double period = 1e9 / rate;
  // The duration's worth of calls, with the closed loop's minimum (kMinSamples within 10 durations,
  // else 5).
  const double per_duration = static_cast<double>(plan.duration_ns) / period;
  std::uint64_t calls = plan.iterations ? plan.iterations
                                        : static_cast<std::uint64_t>(std::max(
                                              per_duration, std::min<double>(kMinSamples, std::max(5.0, 10 * per_duration))));
  calls = std::clamp<std::uint64_t>(calls, 1, kMaxSamples);
  std::vector<std::uint64_t> ns;
  ns.reserve(calls);
  const CpuMark c0 = cpu_mark(t);
  const std::uint64_t start = now_ns() + 1000;
  std::uint64_t end = start;
  for (std::uint64_t i = 0; i < calls; ++i) {
    const std::uint64_t intended = start + static_cast<std::uint64_t>(static_cast<double>(i) * period);
    sleep_until(intended);
    if (!d->call(op, false, err)) return std::nullopt;
    end = now_ns();
    ns.push_back(end - intended);
  }
  const CpuMark c1 = cpu_mark(t);
  Summary s = case_summary(t, op, ns, "open", end - start, c0, c1);
  s.offered_per_s = rate;
  return s;
}

// N client threads in closed loops for the case's duration (or iterations each); calls/s is the
// total over the wall time, percentiles over all calls.
// With `cpus`, client thread i is pinned to cpus[size - 1 - i % size].
std::optional<Summary> run_scaling(Transport& t, const std::string& op, const Plan& plan, unsigned n,
                                   const std::vector<int>& cpus, std::string& err) {
  std::vector<Driver*> drivers;
  for (unsigned i = 0; i < n; ++i) {
    Driver* d = t.driver(i, err);
    if (!d) return std::nullopt;
    drivers.push_back(d);
  }
  std::vector<std::vector<std::uint64_t>> ns(n);
  std::vector<std::string> errs(n);
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false}, failed{false};
  std::uint64_t start = 0;
  std::vector<std::uint64_t> ends(n, 0);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      if (!cpus.empty()) set_affinity(static_cast<pid_t>(gettid()), {cpus[cpus.size() - 1 - i % cpus.size()]});
      if (!warm_up(*drivers[i], op, Plan{0, plan.duration_ns / 2}, errs[i])) failed = true;
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      if (failed) return;
      auto& v = ns[i];
      v.reserve(4096);
      std::uint64_t t1 = now_ns();
      while (!failed.load(std::memory_order_relaxed) && keep_going(plan, v.size(), start, t1)) {
        const std::uint64_t t0 = now_ns();
        if (!drivers[i]->call(op, false, errs[i])) {
          failed = true;
          break;
        }
        t1 = now_ns();
        v.push_back(t1 - t0);
      }
      ends[i] = t1;
    });
  }
  while (ready.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const CpuMark c0 = cpu_mark(t);
  start = now_ns();
  go = true;
  for (auto& th : threads) th.join();
  const CpuMark c1 = cpu_mark(t);
  if (failed) {
    for (auto& e : errs)
      if (!e.empty()) err = e;
    return std::nullopt;
  }
  std::vector<std::uint64_t> all;
  for (auto& v : ns) all.insert(all.end(), v.begin(), v.end());
  const std::uint64_t end = *std::max_element(ends.begin(), ends.end());
  Summary s = case_summary(t, op, all, "scaling", end - start, c0, c1);
  s.clients = n;
  return s;
}

// ---- reporting ------------------------------------------------------------------------------------------

std::string us(std::uint64_t ns) {
  char b[32];
  const double u = static_cast<double>(ns) / 1000.0;
  std::snprintf(b, sizeof b, u < 10 ? "%.2f" : u < 1000 ? "%.1f" : "%.0f", u);
  return b;
}

std::string cpu_str(double s) {
  if (s < 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", s);
  return b;
}

void print_rows(const std::vector<Summary>& rows, const std::string& mode, std::FILE* out) {
  std::fprintf(out, "%-14s %-20s %3s %8s %9s %9s %9s %9s %9s %9s %11s %8s %8s\n", "transport", "op", "N", "samples",
               "min_us", "p50_us", "p90_us", "p99_us", "p99.9_us", "max_us", "calls/s", "cli_cpu", "exe_cpu");
  for (const auto& r : rows) {
    if (r.mode != mode) continue;
    std::fprintf(out, "%-14s %-20s %3u %8llu %9s %9s %9s %9s %9s %9s %11.0f %8s %8s\n", r.transport.c_str(),
                 r.op.c_str(), r.clients, static_cast<unsigned long long>(r.samples), us(r.min_ns).c_str(),
                 us(r.p50_ns).c_str(), us(r.p90_ns).c_str(), us(r.p99_ns).c_str(), us(r.p999_ns).c_str(),
                 us(r.max_ns).c_str(), r.calls_per_s, cpu_str(r.client_cpu_s).c_str(),
                 cpu_str(r.executor_cpu_s).c_str());
  }
}

const Summary* find_row(const std::vector<Summary>& rows, const std::string& transport, const std::string& op,
                        const std::string& mode = "closed") {
  for (const auto& r : rows)
    if (r.transport == transport && r.op == op && r.mode == mode) return &r;
  return nullptr;
}

double ratio(const Summary* a, const Summary* b) {
  return a && b && b->p50_ns ? static_cast<double>(a->p50_ns) / static_cast<double>(b->p50_ns) : 0;
}

std::string ratio_str(double r) {
  if (r <= 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, r < 10 ? "%.2fx" : "%.0fx", r);
  return b;
}

void print_ratios(const std::vector<Summary>& rows, const std::vector<std::string>& ops, std::FILE* out) {
  std::fprintf(out, "\np50 per transport (us) and ratios from this run (closed loop, 1 client):\n");
  std::fprintf(out, "%-20s %9s %9s %9s %9s %9s %9s %10s %10s %10s %10s %10s %10s\n", "op", "shm-spin", "shm-adapt", "http",
               "mcp-stdio", "mcp-http", "reference", "http/spin", "http/adapt", "ref/spin", "ref/adapt", "mcp/spin",
               "ref/mcp");
  for (const auto& op : ops) {
    const Summary* spin = find_row(rows, "shm-spin", op);
    const Summary* adapt = find_row(rows, "shm-adaptive", op);
    const Summary* http = find_row(rows, "http", op);
    const Summary* mcp = find_row(rows, "mcp-stdio", op);
    const Summary* mcph = find_row(rows, "mcp-http", op);
    const Summary* ref = find_row(rows, "reference-mcp", op);
    auto p = [](const Summary* s) { return s ? us(s->p50_ns) : std::string("-"); };
    std::fprintf(out, "%-20s %9s %9s %9s %9s %9s %9s %10s %10s %10s %10s %10s %10s\n", op.c_str(), p(spin).c_str(),
                 p(adapt).c_str(), p(http).c_str(), p(mcp).c_str(), p(mcph).c_str(), p(ref).c_str(),
                 ratio_str(ratio(http, spin)).c_str(), ratio_str(ratio(http, adapt)).c_str(),
                 ratio_str(ratio(ref, spin)).c_str(), ratio_str(ratio(ref, adapt)).c_str(),
                 ratio_str(ratio(mcp, spin)).c_str(), ratio_str(ratio(ref, mcp)).c_str());
  }
}

// The frontends' targets: a frontend adds to a tool call little beyond its own empty call, and
// large results cost a small multiple of the shm call.
void print_frontend_targets(const std::vector<Summary>& rows, std::FILE* out) {
  std::fprintf(out, "\nfrontend targets:\n");
  auto p50 = [](const Summary* s) { return static_cast<double>(s->p50_ns); };
  const Summary* spin4k = find_row(rows, "shm-spin", "read_text_file_4k");
  const Summary* spin1m = find_row(rows, "shm-spin", "read_text_file_1m");
  for (const char* t : {"mcp-stdio", "http", "mcp-http"}) {
    const Summary* e = find_row(rows, t, "empty");
    const Summary* r = find_row(rows, t, "read_text_file_4k");
    if (e && r && spin4k) {
      const double bound = p50(e) + 3 * p50(spin4k);
      std::fprintf(out, "  %-10s read_4k p50 <= %s empty + 3x shm-spin read_4k   %8s us <= %s us   %s\n", t, t,
                   us(r->p50_ns).c_str(), us(static_cast<std::uint64_t>(bound)).c_str(),
                   p50(r) <= bound ? "met" : "MISSED");
    }
    const Summary* m = find_row(rows, t, "read_text_file_1m");
    if (m && spin1m)
      std::fprintf(out, "  %-10s read_1m p50 <= 8x shm-spin read_1m              %8s us = %s   %s\n", t,
                   us(m->p50_ns).c_str(), ratio_str(ratio(m, spin1m)).c_str(), ratio(m, spin1m) <= 8 ? "met" : "MISSED");
  }
  const Summary* mcp4k = find_row(rows, "mcp-stdio", "read_text_file_4k");
  const Summary* ref4k = find_row(rows, "reference-mcp", "read_text_file_4k");
  if (mcp4k && ref4k)
    std::fprintf(out, "  mcp-stdio  read_4k >= 8x faster than reference-mcp         %8s   %s\n",
                 ratio_str(ratio(ref4k, mcp4k)).c_str(), ratio(ref4k, mcp4k) >= 8 ? "met" : "MISSED");
  const Summary* floor = find_row(rows, "floor", "empty");
  const Summary* se = find_row(rows, "shm-spin", "empty");
  if (floor && se)
    std::fprintf(out, "  shm-spin   empty p50 <= 2x floor                           %8s = %s   %s\n", us(se->p50_ns).c_str(),
                 ratio_str(ratio(se, floor)).c_str(), se->p50_ns <= 2 * floor->p50_ns ? "met" : "MISSED");
  const Summary* kread = find_row(rows, "floor", "read_text_file_4k");
  const Summary* sread = find_row(rows, "floor-sandboxed", "read_text_file_4k");
  if (kread && sread)
    std::fprintf(out, "  (the read's syscalls sandboxed like a worker: %s us vs %s us unsandboxed = %s)\n",
                 us(sread->p50_ns).c_str(), us(kread->p50_ns).c_str(), ratio_str(ratio(sread, kread)).c_str());
  if (floor && sread && spin4k) {
    const double bound = p50(floor) + p50(sread);
    std::fprintf(out, "  shm-spin   read_4k p50 <= 1.3x (sandboxed floor + floor)   %8s us / %s us = %.2fx   %s\n",
                 us(spin4k->p50_ns).c_str(), us(static_cast<std::uint64_t>(bound)).c_str(), p50(spin4k) / bound,
                 p50(spin4k) <= 1.3 * bound ? "met" : "MISSED");
  }
  std::fprintf(out, "  (shm-adaptive-idle vs the bare futex wake-up: `shmcp-bench channel`)\n");
}

void print_targets(const std::vector<Summary>& rows, std::FILE* out) {
  std::fprintf(out, "\ntargets:\n");
  const Summary* floor = find_row(rows, "floor", "empty");
  const Summary* http = find_row(rows, "http", "read_text_file_4k");
  const Summary* ref = find_row(rows, "reference-mcp", "read_text_file_4k");
  for (const char* shm : {"shm-spin", "shm-adaptive"}) {
    const Summary* r = find_row(rows, shm, "read_text_file_4k");
    if (r) {
      std::fprintf(out, "  %-12s read_text_file_4k p50 <= 5 us        %8s us          %s\n", shm, us(r->p50_ns).c_str(),
                   r->p50_ns <= 5000 ? "met" : "MISSED");
      if (http)
        std::fprintf(out, "  %-12s http/shm read_text_file_4k >= 30x   %8s             %s\n", shm,
                     ratio_str(ratio(http, r)).c_str(), ratio(http, r) >= 30 ? "met" : "MISSED");
      if (ref)
        std::fprintf(out, "  %-12s reference/shm read_4k >= 200x       %8s             %s\n", shm,
                     ratio_str(ratio(ref, r)).c_str(), ratio(ref, r) >= 200 ? "met" : "MISSED");
    }
    const Summary* e = find_row(rows, shm, "empty");
    if (e && floor)
      std::fprintf(out, "  %-12s empty p50 <= 2x floor p50          %8s us <= %s us  %s\n", shm, us(e->p50_ns).c_str(),
                   us(2 * floor->p50_ns).c_str(), e->p50_ns <= 2 * floor->p50_ns ? "met" : "MISSED");
  }
  if (!ref) std::fprintf(out, "  (reference-mcp not measured: it needs --reference-server PATH)\n");
  // What no implementation can beat here: the empty round trip plus the read's own syscalls.
  const Summary* kread = find_row(rows, "floor", "read_text_file_4k");
  if (floor && kread) {
    const std::uint64_t bound = floor->p50_ns + kread->p50_ns;
    std::fprintf(out, "  bound: floor round trip + the read's syscalls (no sandbox) = %s + %s = %s us p50\n",
                 us(floor->p50_ns).c_str(), us(kread->p50_ns).c_str(), us(bound).c_str());
    if (ref)
      std::fprintf(out, "         so reference/shm read_4k cannot exceed %s here (200x needs a reference p50 >= %s us)\n",
                   ratio_str(static_cast<double>(ref->p50_ns) / static_cast<double>(bound)).c_str(), us(200 * bound).c_str());
  }
}

// Hand-written SVG: per operation a group, per transport a column with a line from p50 to p99.9,
// a dot at p50, a diamond at p99 and a bar end at p99.9; log-scale y axis.
std::string svg_chart(const std::vector<Summary>& rows, const std::vector<std::string>& ops,
                      const std::vector<std::string>& transports) {
  std::vector<const Summary*> pts;
  for (const auto& r : rows)
    if (r.mode == "closed" && r.p50_ns > 0) pts.push_back(&r);
  std::uint64_t lo = UINT64_MAX, hi = 1;
  for (const auto* r : pts) {
    lo = std::min(lo, r->p50_ns);
    hi = std::max(hi, r->p999_ns);
  }
  if (pts.empty()) lo = 100;
  const int dlo = static_cast<int>(std::floor(std::log10(static_cast<double>(lo))));
  const int dhi = std::max(dlo + 1, static_cast<int>(std::ceil(std::log10(static_cast<double>(hi)))));
  const std::map<std::string, const char*> colors = {{"floor", "#7f7f7f"},        {"shm-spin", "#1f77b4"},
                                                     {"shm-adaptive", "#17becf"}, {"http", "#ff7f0e"},
                                                     {"mcp-stdio", "#2ca02c"},    {"mcp-http", "#9467bd"},
                                                     {"reference-mcp", "#d62728"}};
  const double left = 80, top = 50, plot_h = 420, group_w = 170, col_w = group_w / 7.0;
  const double width = left + group_w * static_cast<double>(ops.size()) + 20, height = top + plot_h + 110;
  auto y_of = [&](double ns) {
    return top + plot_h * (1.0 - (std::log10(ns) - dlo) / static_cast<double>(dhi - dlo));
  };
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(1);
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << left << "\" y=\"22\" font-size=\"15\">shmcp-bench tools: round-trip latency per "
       "operation (closed loop, 1 client; log scale)</text>\n"
    << "<text x=\"" << left << "\" y=\"40\" fill=\"#555\">dot = p50, diamond = p99, bar top = p99.9</text>\n";
  const char* units[] = {"1 ns", "10 ns", "100 ns", "1 us", "10 us", "100 us", "1 ms", "10 ms", "100 ms", "1 s", "10 s", "100 s"};
  for (int d = dlo; d <= dhi; ++d) {
    const double y = y_of(std::pow(10.0, d));
    o << "<line x1=\"" << left << "\" x2=\"" << width - 20 << "\" y1=\"" << y << "\" y2=\"" << y
      << "\" stroke=\"#ddd\"/>\n<text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
      << (d >= 0 && d < 12 ? units[d] : "?") << "</text>\n";
  }
  o << "<line x1=\"" << left << "\" x2=\"" << left << "\" y1=\"" << top << "\" y2=\"" << top + plot_h
    << "\" stroke=\"#333\"/>\n";
  for (std::size_t g = 0; g < ops.size(); ++g) {
    const double gx = left + group_w * static_cast<double>(g);
    o << "<text x=\"" << gx + group_w / 2 << "\" y=\"" << top + plot_h + 18 << "\" text-anchor=\"middle\">" << ops[g]
      << "</text>\n";
    if (g > 0)
      o << "<line x1=\"" << gx << "\" x2=\"" << gx << "\" y1=\"" << top << "\" y2=\"" << top + plot_h
        << "\" stroke=\"#eee\"/>\n";
    for (std::size_t k = 0; k < transports.size(); ++k) {
      const Summary* r = find_row(rows, transports[k], ops[g]);
      if (!r || r->p50_ns == 0) continue;
      const char* c = colors.count(transports[k]) ? colors.at(transports[k]) : "#000";
      const double x = gx + col_w * (static_cast<double>(k) + 0.75);
      const double y50 = y_of(static_cast<double>(r->p50_ns)), y99 = y_of(static_cast<double>(r->p99_ns)),
                   y999 = y_of(static_cast<double>(std::max<std::uint64_t>(1, r->p999_ns)));
      o << "<g><title>" << transports[k] << " " << ops[g] << ": p50 " << us(r->p50_ns) << " us, p99 " << us(r->p99_ns)
        << " us, p99.9 " << us(r->p999_ns) << " us</title>\n"
        << "<rect x=\"" << x - 4 << "\" y=\"" << y999 << "\" width=\"8\" height=\"" << std::max(1.0, y50 - y999)
        << "\" fill=\"" << c << "\" fill-opacity=\"0.3\"/>\n"
        << "<line x1=\"" << x - 6 << "\" x2=\"" << x + 6 << "\" y1=\"" << y999 << "\" y2=\"" << y999 << "\" stroke=\"" << c
        << "\" stroke-width=\"2\"/>\n"
        << "<path d=\"M" << x << " " << y99 - 5 << " l5 5 l-5 5 l-5 -5 z\" fill=\"white\" stroke=\"" << c
        << "\" stroke-width=\"1.5\"/>\n"
        << "<circle cx=\"" << x << "\" cy=\"" << y50 << "\" r=\"4.5\" fill=\"" << c << "\"/></g>\n";
    }
  }
  double lx = left;
  const double ly = top + plot_h + 50;
  for (const auto& t : transports) {
    const char* c = colors.count(t) ? colors.at(t) : "#000";
    o << "<circle cx=\"" << lx + 5 << "\" cy=\"" << ly - 4 << "\" r=\"5\" fill=\"" << c << "\"/><text x=\"" << lx + 14
      << "\" y=\"" << ly << "\">" << t << "</text>\n";
    lx += 40 + 8.0 * static_cast<double>(t.size());
  }
  o << "</svg>\n";
  return o.str();
}

// ---- main ------------------------------------------------------------------------------------------------

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

// Exits on --help (0) and on usage errors (2); returns -1 to run, or an exit code.
int parse_args(int argc, char** argv, ToolsOptions& o) {
  bool duration_set = false, clients_set = false;
  CLI::App app("shmcp-bench tools", "tools");  // argv[0] is "tools"
  cli::configure(app, kHelp);
  // A decimal number >= lo stored by store.
  auto number = [&app](const std::string& name, double lo, std::function<void(double)> store) {
    app.add_option_function<std::string>(name, [name, lo, store = std::move(store)](const std::string& v) {
      char* end = nullptr;
      const double x = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(x >= lo)) throw cli::UsageError(name + ": bad value '" + v + "'");
      store(x);
    });
  };
  auto list_option = [&app](const std::string& name, std::vector<std::string>& target) {
    app.add_option_function<std::string>(name, [&target](const std::string& v) { target = split_list(v); });
  };
  number("--iterations", 1, [&o](double x) { o.iterations = static_cast<std::uint64_t>(x); });
  number("--duration-per-case", 0.001, [&](double x) {
    o.duration_s = x;
    duration_set = true;
  });
  app.add_flag("--quick", o.quick);
  list_option("--transports", o.transports);
  list_option("--ops", o.ops);
  list_option("--scaling-ops", o.scaling_ops);
  number("--clients", 1, [&](double x) {
    o.max_clients = static_cast<unsigned>(x);
    clients_set = true;
  });
  number("--workers", 1, [&o](double x) { o.workers = static_cast<unsigned>(x); });
  number("--open-fraction", 0.001, [&o](double x) { o.open_fraction = x; });
  app.add_flag("--no-open", o.no_open);
  app.add_flag("--no-scaling", o.no_scaling);
  app.add_flag_callback("--no-pin", [&o] { o.pin = false; });
  app.add_option("--reference-server", o.reference_server);
  app.add_option("--node", o.node);
  app.add_option("--executor", o.executor);
  app.add_flag("--allow-unsandboxed", o.allow_unsandboxed);
  app.add_option("--connect", o.connect);
  app.add_option("--out", o.out_dir);
  (void)cli::parse_or_exit("shmcp-bench tools", app, argc, argv);
  for (const auto& t : o.transports)
    if (!contains(kAllTransports, t)) {
      std::fprintf(stderr, "shmcp-bench tools: unknown transport '%s'\n", t.c_str());
      return 2;
    }
  for (const auto* list : {&o.ops, &o.scaling_ops})
    for (const auto& op : *list)
      if (!contains(kAllOps, op)) {
        std::fprintf(stderr, "shmcp-bench tools: unknown op '%s'\n", op.c_str());
        return 2;
      }
  if (o.quick && !duration_set) o.duration_s = 0.2;
  if (!o.reference_server.empty()) {  // the server runs in the workspace: make the path absolute
    char buf[PATH_MAX];
    if (!realpath(o.reference_server.c_str(), buf)) {
      std::fprintf(stderr, "shmcp-bench tools: --reference-server %s: %s\n", o.reference_server.c_str(), std::strerror(errno));
      return 2;
    }
    o.reference_server = buf;
  }
  if (o.node.find('/') != std::string::npos) {  // a relative --node too (PATH lookups stay as given)
    char buf[PATH_MAX];
    if (realpath(o.node.c_str(), buf)) o.node = buf;
  }
  if (!clients_set) {
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    o.max_clients = o.quick ? 2 : std::min(8u, 2 * cpus);
  }
  return -1;
}

}  // namespace

int tools_bench(int argc, char** argv) {
  ToolsOptions o;
  if (const int rc = parse_args(argc, argv, o); rc >= 0) return rc;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  // Which transports, and how they are reached.
  std::vector<std::string> transports;
  for (const auto& t : kAllTransports) {  // canonical order
    if (!contains(o.transports, t)) continue;
    if (t == "reference-mcp" && o.reference_server.empty()) {
      std::fprintf(stderr, "note: reference-mcp skipped: no --reference-server PATH (bench/run-tools-bench.sh installs it)\n");
      continue;
    }
    if (!o.connect.empty() && t != "floor") {
      const bool is_shm = o.connect.rfind("shm://", 0) == 0;
      if (!((is_shm && t == "shm-adaptive") || (!is_shm && t == "http"))) continue;
    }
    transports.push_back(t);
  }
  std::string exe;
  if (o.connect.empty()) {
    exe = find_executor(o.executor);
    if (exe.empty()) {
      std::fprintf(stderr, "shmcp-bench tools: shmcp-executor not found next to shmcp-bench; use --executor PATH\n");
      return 2;
    }
  }

  // Fixtures.
  Fixtures fx;
  char tmpl[] = "/tmp/shmcp-bench-XXXXXX";
  std::string tmp;
  if (o.connect.empty()) {
    if (!mkdtemp(tmpl)) {
      std::perror("shmcp-bench tools: mkdtemp");
      return 1;
    }
    tmp = tmpl;
    fx.root = tmp + "/workspace";
    std::fprintf(stderr, "creating fixtures in %s (4 KiB, 1 MiB, 1,000 entries, 10,000 files)...\n", fx.root.c_str());
    if (mkdir(fx.root.c_str(), 0755) != 0 || !make_local_fixtures(fx.root)) {
      std::fprintf(stderr, "shmcp-bench tools: cannot create fixtures: %s\n", std::strerror(errno));
      remove_tree(tmp);
      return 1;
    }
  } else {
    fx.prefix = "shmcp-bench-fixtures/";
  }
  const Plan plan{o.iterations, static_cast<std::uint64_t>(o.duration_s * 1e9)};
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  const unsigned shared_workers = o.workers != 0 ? o.workers : cpus;
  const std::string tag = std::to_string(getpid());

  auto serve_argv = [&](const std::string& wait, unsigned workers, const std::string& channel, int http_port) {
    std::vector<std::string> a = {exe, "serve", "--workspace", fx.root, "--channel", channel, "--wait", wait,
                                  "--workers", std::to_string(workers), "--log-level", "warn"};
    if (http_port > 0) a.insert(a.end(), {"--http", "127.0.0.1:" + std::to_string(http_port)});
    else a.push_back("--no-http");
    if (o.allow_unsandboxed) a.push_back("--allow-unsandboxed");
    return a;
  };
  auto make_transport = [&](const std::string& name) -> std::unique_ptr<Transport> {
    const std::string log = (tmp.empty() ? std::string("/tmp") : tmp) + "/" + name + ".log";
    ClientOptions co;
    co.timeout = std::chrono::milliseconds(120'000);
    if (!o.connect.empty()) return std::make_unique<ClientTransport>(name, std::vector<std::string>{}, o.connect, co, fx, log);
    if (name == "shm-spin") {
      co.wait = WaitMode::spin;
      const std::string ch = "bench-" + tag + "-spin";
      return std::make_unique<ClientTransport>(name, serve_argv("spin", 1, ch, 0), "shm://" + ch, co, fx, log);
    }
    if (name == "shm-adaptive") {
      const std::string ch = "bench-" + tag + "-adaptive";
      return std::make_unique<ClientTransport>(name, serve_argv("adaptive", shared_workers, ch, 0), "shm://" + ch, co, fx, log);
    }
    if (name == "http") {
      const int port = free_tcp_port();
      return std::make_unique<ClientTransport>(name, serve_argv("adaptive", shared_workers, "bench-" + tag + "-http", port),
                                               "http://127.0.0.1:" + std::to_string(port), co, fx, log);
    }
    if (name == "mcp-http") {
      const int port = free_tcp_port();
      return std::make_unique<McpHttpTransport>(name, serve_argv("adaptive", shared_workers, "bench-" + tag + "-mcp-http", port),
                                                port, log);
    }
    if (name == "mcp-stdio") {
      std::vector<std::string> a = {exe, "mcp", fx.root};
      if (o.allow_unsandboxed) a.push_back("--allow-unsandboxed");
      auto t = std::make_unique<StdioTransport>(name, a, fx.root, log);
      t->has_workers_ = true;
      return t;
    }
    return std::make_unique<StdioTransport>(name, std::vector<std::string>{o.node, o.reference_server, fx.root}, fx.root, log);
  };

  std::vector<Summary> rows;
  bool failed = false;
  std::size_t cases = 0, done = 0;
  for (const auto& t : transports) {
    if (t == "floor") {
      ++cases;
      if (o.connect.empty() && contains(o.ops, std::string("read_text_file_4k"))) cases += 2;  // its syscalls, twice
      continue;
    }
    cases += o.ops.size() * (o.no_open ? 1 : 2);
    if (!o.no_scaling)
      for (const auto& op : o.scaling_ops)
        if (contains(o.ops, op)) cases += o.max_clients;
  }
  auto report = [&](const std::string& what, const std::optional<Summary>& s, const std::string& err) {
    ++done;
    if (s) {
      rows.push_back(*s);
      std::fprintf(stderr, "[%3zu/%zu] %-58s p50 %9s us  p99 %9s us  %10.0f calls/s\n", done, cases, what.c_str(),
                   us(s->p50_ns).c_str(), us(s->p99_ns).c_str(), s->calls_per_s);
    } else {
      failed = true;
      std::fprintf(stderr, "[%3zu/%zu] %-58s FAILED: %s\n", done, cases, what.c_str(), err.c_str());
    }
  };

  for (const auto& name : transports) {
    if (g_interrupted) break;
    if (name == "floor") {
      auto s = measure_floor(o.quick ? 50'000 : 200'000, o.quick ? 5'000 : 20'000);
      if (s) {
        s->mode = "closed";
        // both sides spin for the whole run; their CPU is not the comparison here
      }
      report("floor empty (cache line between two processes)", s, "measurement failed");
      if (o.connect.empty() && contains(o.ops, std::string("read_text_file_4k"))) {
        const std::vector<int> cpus_here = allowed_cpus();
        if (o.pin && !cpus_here.empty()) set_affinity(static_cast<pid_t>(gettid()), {cpus_here.back()});
        auto k = measure_read_syscalls(fx.root, fx.p("r4k.txt"), o.quick ? 20'000 : 100'000, o.quick ? 2'000 : 10'000);
        if (k) k->mode = "closed";
        report("floor read_text_file_4k (its syscalls in this process, no sandbox)", k, "measurement failed");
        std::string why;
        auto sk = measure_read_syscalls_sandboxed(fx.root, fx.p("r4k.txt"), o.quick ? 20'000 : 100'000,
                                                  o.quick ? 2'000 : 10'000, why);
        if (sk) sk->mode = "closed";
        if (sk || !o.allow_unsandboxed)
          report("floor-sandboxed read_text_file_4k (the same, locked down like a worker)", sk, why);
        else
          std::fprintf(stderr, "note: floor-sandboxed skipped (--allow-unsandboxed): %s\n", why.c_str());
        if (o.pin && !cpus_here.empty()) set_affinity(static_cast<pid_t>(gettid()), cpus_here);
      }
      continue;
    }
    auto t = make_transport(name);
    std::string err;
    std::fprintf(stderr, "starting %s...\n", name.c_str());
    if (!t->start(err)) {
      std::fprintf(stderr, "shmcp-bench tools: %s: cannot start: %s\n", name.c_str(), err.c_str());
      failed = true;
      continue;
    }
    if (!o.connect.empty() && name != "floor") {
      auto* ct = static_cast<ClientTransport*>(t.get());
      if (!make_remote_fixtures(ct->client(), fx.prefix)) {
        std::fprintf(stderr, "shmcp-bench tools: cannot create fixtures through %s\n", o.connect.c_str());
        failed = true;
        break;
      }
    }
    const std::vector<int> all_cpus = allowed_cpus();
    // Only with workers to pin: a pinned client next to an unpinned worker (--connect, the
    // reference server) can end up sharing its CPU, where a spinning client starves the worker.
    const bool pin = o.pin && all_cpus.size() >= 2 && !t->worker_parents().empty();
    // Single client: every worker on the first CPU, the client on the last. Scaling: workers
    // (single-threaded processes) spread round-robin from the first CPU, client thread i on the
    // i-th CPU from the last (run_scaling), so one client with one worker is placed as above.
    auto place = [&](bool single) {
      std::size_t k = 0;
      for (pid_t parent : t->worker_parents())
        for (pid_t tid : descendant_tids(parent))
          set_affinity(tid, {all_cpus[single ? 0 : k++ % all_cpus.size()]});
      set_affinity(static_cast<pid_t>(gettid()), single ? std::vector<int>{all_cpus.back()} : all_cpus);
    };
    if (pin) place(true);
    for (const auto& op : o.ops) {
      if (g_interrupted) break;
      err.clear();
      auto closed = run_closed(*t, op, plan, err);
      report(name + " " + op + " closed", closed, err);
      if (o.no_open) continue;
      if (!closed) {
        report(name + " " + op + " open", std::nullopt, "skipped: closed loop failed");
        continue;
      }
      const double rate = std::max(1.0, closed->calls_per_s * o.open_fraction);
      err.clear();
      char what[160];
      std::snprintf(what, sizeof what, "%s %s open @ %.0f/s", name.c_str(), op.c_str(), rate);
      report(what, run_open(*t, op, plan, rate, err), err);
    }
    if (pin) place(false);
    const std::vector<int> client_cpus = pin ? all_cpus : std::vector<int>{};
    if (!o.no_scaling)
      for (const auto& op : o.scaling_ops) {
        if (!contains(o.ops, op)) continue;
        for (unsigned n = 1; n <= o.max_clients && !g_interrupted; ++n) {
          err.clear();
          report(name + " " + op + " scaling x" + std::to_string(n), run_scaling(*t, op, plan, n, client_cpus, err), err);
        }
        t->trim(1);
      }
    t->stop();
  }
  if (!tmp.empty()) remove_tree(tmp);

  // Summary.
  std::printf("shmcp-bench tools: tool-call round trips (us), %s per case%s\n",
              o.iterations ? (std::to_string(o.iterations) + " calls").c_str()
                           : (std::to_string(o.duration_s) + " s").c_str(),
              o.connect.empty() ? "" : (", connected to " + o.connect).c_str());
  std::printf("CPU columns: seconds used during the case by this client process / by the executor and its workers\n\n");
  std::printf("closed loop (1 client):\n");
  print_rows(rows, "closed", stdout);
  if (!o.no_open) {
    std::printf("\nopen loop (fixed rate = %.0f%% of the closed loop's calls/s; latency from the intended send time):\n",
                o.open_fraction * 100);
    print_rows(rows, "open", stdout);
  }
  if (!o.no_scaling) {
    std::printf("\nscaling (N concurrent clients, closed loops; calls/s in total):\n");
    print_rows(rows, "scaling", stdout);
  }
  print_ratios(rows, o.ops, stdout);
  print_targets(rows, stdout);
  print_frontend_targets(rows, stdout);
  std::fflush(stdout);

  if (!o.out_dir.empty()) {
    mkdir(o.out_dir.c_str(), 0755);
    if (!write_json(rows, o.out_dir + "/results.json")) return 1;
    std::ofstream svg(o.out_dir + "/latency.svg");
    svg << svg_chart(rows, o.ops, transports);
    if (!svg) {
      std::fprintf(stderr, "shmcp-bench tools: cannot write %s/latency.svg\n", o.out_dir.c_str());
      return 1;
    }
    std::fprintf(stderr, "wrote %s/results.json and %s/latency.svg\n", o.out_dir.c_str(), o.out_dir.c_str());
  }
  return failed || g_interrupted ? 1 : 0;
}

}  // namespace shmcp::bench
