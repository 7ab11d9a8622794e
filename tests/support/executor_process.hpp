// Integration-test helper: a real `shmcp-executor serve` process (fork + exec), plus small process
// and filesystem utilities shared by tests/executor and tests/orchestrator.
//
//   TempDir ws;                                           // mkdtemp, removed with rm -rf at scope exit
//   ExecutorProcess ex(ws.path(), unique_channel("http"), {"--workers", "2"});
//   ASSERT_TRUE(ex.start()) << ex.stderr_text();         // waits for /dev/shm/shmcp.NAME + GET /health
//   ... ex.port(), ex.shm_url(), ex.http_url(), ex.worker_pids() ...
//   EXPECT_EQ(ex.stop(), 0);                              // SIGTERM; returns the exit code
//
// The executor's stdout and stderr go to a file (stderr_text() reads it back) so tests can assert
// on its log. HTTP binds 127.0.0.1:0 and the port is read from the "HTTP on http://..." log line.
// The destructor SIGKILLs a still-running executor, reaps it and unlinks its segment, so a failing
// assertion never leaks processes or /dev/shm segments. The child gets PR_SET_PDEATHSIG(SIGKILL)
// so even a crashing test binary takes its executor with it.
//
// Header-only and free of test-library dependencies beyond GoogleTest-agnostic POSIX code: the
// orchestrator tests (which do not link cpp-httplib) use it too; http_get() is a minimal
// raw-socket HTTP/1.1 client for readiness and simple checks.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef SHMCP_BUILD_DIR
#error "SHMCP_BUILD_DIR must be defined (tests/CMakeLists.txt does it)"
#endif

namespace shmcp::testing {

inline std::string executor_binary() { return SHMCP_BUILD_DIR "/executor/shmcp-executor"; }
inline std::string cli_binary() { return SHMCP_BUILD_DIR "/orchestrator/shmcp"; }
inline std::string segment_file(const std::string& channel) { return "/dev/shm/shmcp." + channel; }
inline bool path_exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline bool write_file(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  return static_cast<bool>(f);
}

// Under scripts/sanitize.sh: the executor's, workers' and CLI's stderr goes to a file this helper
// unlinks, so a sanitizer report printed there would vanish with a passing test. Before unlinking,
// a log holding a report is copied into $SHMCP_SANITIZER_REPORT_DIR, which the script checks.
inline void keep_sanitizer_report(const std::string& log_path) {
  const char* dir = std::getenv("SHMCP_SANITIZER_REPORT_DIR");
  if (dir == nullptr || *dir == '\0') return;
  const std::string log = read_file(log_path);
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                             "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer"}) {
    if (log.find(marker) == std::string::npos) continue;
    static std::atomic<int> n{0};
    write_file(std::string(dir) + "/" + std::to_string(::getpid()) + "-" + std::to_string(n.fetch_add(1)) + ".log", log);
    return;
  }
}

// A channel name unique to this process and call: "it-<pid>-<tag>-<n>".
inline std::string unique_channel(const std::string& tag) {
  static std::atomic<int> counter{0};
  std::string t;
  for (char c : tag) t += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return "it-" + std::to_string(::getpid()) + "-" + t + "-" + std::to_string(counter.fetch_add(1));
}

// A fresh directory under /tmp, removed recursively when destroyed.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/shmcp-it-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) {
      const std::string cmd = "rm -rf '" + path_ + "'";
      (void)std::system(cmd.c_str());
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Minimal HTTP/1.1 GET over a raw socket ("Connection: close"). Returns the status code (0 when
// the connection failed) and fills *body.
inline int http_get(int port, const std::string& path, std::string* body = nullptr, const std::string& extra_headers = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return 0;
  }
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers + "\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return 0;
  }
  std::string resp;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  int status = 0;
  if (std::sscanf(resp.c_str(), "HTTP/1.%*d %d", &status) != 1) return 0;
  if (body) {
    const auto p = resp.find("\r\n\r\n");
    *body = p == std::string::npos ? std::string() : resp.substr(p + 4);
  }
  return status;
}

// Result of running a program to completion.
struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal (term_signal says which) or not run
  int term_signal = 0;
  std::string out, err;
};

#ifdef GOOGLETEST_INCLUDE_GTEST_GTEST_H_  // also used by the soak driver, which has no gtest
// The current gtest test's name (for unique channel names and logs).
inline std::string test_name() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }
#endif

// The value of one Prometheus series (exact name and labels) from GET /metrics; -1 if absent.
inline double metric(int port, const std::string& series) {
  std::string body;
  if (http_get(port, "/metrics", &body) != 200) return -1;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return -1;
}

// Polls (bounded) until a metric reaches `want`; returns its last value. Workers record a call's
// counters just after replying, so a scrape right after a response may lag by a moment.
inline double await_metric(int port, const std::string& series, double want, int timeout_ms = 10'000) {
  double v = -1;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < give_up) {
    v = metric(port, series);
    if (v == want) return v;
    sleep_ms(5);
  }
  return v;
}

// Runs argv[0] with argv (no shell), stdin from /dev/null, capturing stdout and stderr through
// temporary files. Kills it after timeout_ms (exit_code -1, term_signal SIGKILL).
inline ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms = 60'000) {
  ProcessResult r;
  char out_t[] = "/tmp/shmcp-it-out-XXXXXX";
  char err_t[] = "/tmp/shmcp-it-err-XXXXXX";
  const int out_fd = ::mkstemp(out_t);
  const int err_fd = ::mkstemp(err_t);
  std::vector<std::string> args = argv;
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execv(cargs[0], cargs.data());
    _exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  if (pid > 0) {
    int st = 0;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const pid_t w = ::waitpid(pid, &st, WNOHANG);
      if (w == pid) break;
      if (std::chrono::steady_clock::now() > give_up) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
        break;
      }
      sleep_ms(5);
    }
    if (WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) r.term_signal = WTERMSIG(st);
  }
  r.out = read_file(out_t);
  r.err = read_file(err_t);
  keep_sanitizer_report(err_t);
  ::unlink(out_t);
  ::unlink(err_t);
  return r;
}

// Children of `pid` (every thread's children: respawned workers are forked by the supervisor's
// monitor thread, so /proc/<pid>/task/<pid>/children alone would miss them).
inline std::vector<pid_t> child_pids(pid_t pid) {
  std::vector<pid_t> out;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(task_dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::istringstream in(read_file(task_dir + "/" + e->d_name + "/children"));
    pid_t c = 0;
    while (in >> c) out.push_back(c);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The value of a "Key:\tvalue" line of /proc/<pid>/status ("" if absent).
inline std::string proc_status_field(pid_t pid, const std::string& key) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 1);
  return {};
}

class ExecutorProcess {
 public:
  // extra: more `serve` flags. http=false passes --no-http instead of --http 127.0.0.1:0.
  ExecutorProcess(std::string workspace, std::string channel, std::vector<std::string> extra = {}, bool http = true)
      : workspace_(std::move(workspace)), channel_(std::move(channel)), extra_(std::move(extra)), http_(http) {
    // An executor told --shm-dir DIR has its segment (and its clients' URL) there.
    for (std::size_t i = 0; i + 1 < extra_.size(); ++i)
      if (extra_[i] == "--shm-dir") shm_dir_ = extra_[i + 1];
    char t[] = "/tmp/shmcp-it-log-XXXXXX";
    const int fd = ::mkstemp(t);
    if (fd >= 0) ::close(fd);
    log_path_ = t;
  }
  ~ExecutorProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      pid_ = -1;
    }
    // A killed executor leaves its segment behind; never leak it into /dev/shm.
    ::unlink(segment().c_str());
    if (!log_path_.empty()) {
      keep_sanitizer_report(log_path_);
      ::unlink(log_path_.c_str());
    }
  }
  ExecutorProcess(const ExecutorProcess&) = delete;
  ExecutorProcess& operator=(const ExecutorProcess&) = delete;

  // Starts the executor and waits until it serves: its segment exists, and GET /health answers
  // 200 (with HTTP) or the "serving ..." log line appeared (without). On failure returns false
  // with the reason (and the executor's log) in *why, and leaves nothing running.
  bool start(std::string* why = nullptr, int timeout_ms = 20'000) {
    std::vector<std::string> args = {executor_binary(), "serve", "--workspace", workspace_, "--channel", channel_};
    if (http_) {
      args.emplace_back("--http");
      args.emplace_back("127.0.0.1:0");
    } else {
      args.emplace_back("--no-http");
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    port_ = 0;
    const pid_t pid = ::fork();
    if (pid < 0) return fail(why, "fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setpgid(0, 0);  // its own process group, as under a shell: killpg(pid(), ...) reaches its workers
      const int devnull = ::open("/dev/null", O_RDONLY);
      ::dup2(devnull, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execv(cargs[0], cargs.data());
      _exit(127);
    }
    ::close(log_fd);
    pid_ = pid;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < give_up) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = st;
        return fail(why, "executor exited during startup (status " + std::to_string(st) + ")");
      }
      if (path_exists(segment())) {
        const std::string log = stderr_text();
        if (http_) {
          if (port_ == 0) {
            const auto p = log.find("HTTP on http://127.0.0.1:");
            if (p != std::string::npos) port_ = std::atoi(log.c_str() + p + std::strlen("HTTP on http://127.0.0.1:"));
          }
          if (port_ > 0 && http_get(port_, "/health") == 200) return true;
        } else if (log.find("serving ") != std::string::npos) {
          return true;
        }
      }
      sleep_ms(10);
    }
    kill9();
    return fail(why, "executor did not become ready within " + std::to_string(timeout_ms) + " ms");
  }

  // SIGTERM and wait (SIGKILL after timeout_ms). Returns the exit code, or 128+signal.
  int stop(int timeout_ms = 20'000) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    const int st = reap(timeout_ms);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

  // SIGKILL and reap (the segment stays behind, as after a crash).
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    reap(20'000);
  }

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& channel() const { return channel_; }
  const std::string& workspace() const { return workspace_; }
  std::string shm_url() const { return shm_dir_.empty() ? "shm://" + channel_ : "shm://" + shm_dir_ + "/" + channel_; }
  // The segment file: /dev/shm/shmcp.CHANNEL, or DIR/shmcp.CHANNEL with --shm-dir DIR.
  std::string segment() const { return shm_dir_.empty() ? segment_file(channel_) : shm_dir_ + "/shmcp." + channel_; }
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string stderr_text() const { return read_file(log_path_); }
  int exit_status() const { return exit_status_; }

  // The worker processes: children of the executor whose command line is "... worker ...".
  std::vector<pid_t> worker_pids() const {
    std::vector<pid_t> out;
    if (pid_ <= 0) return out;
    for (pid_t c : child_pids(pid_)) {
      std::string cmd = read_file("/proc/" + std::to_string(c) + "/cmdline");
      std::replace(cmd.begin(), cmd.end(), '\0', ' ');
      if (cmd.find(" worker ") != std::string::npos) out.push_back(c);
    }
    return out;
  }

  // Waits until `n` workers run and none is in `exclude` (e.g. after a respawn).
  std::vector<pid_t> wait_workers(std::size_t n, const std::vector<pid_t>& exclude = {}, int timeout_ms = 10'000) const {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      auto w = worker_pids();
      const bool fresh = std::none_of(w.begin(), w.end(), [&](pid_t p) {
        return std::find(exclude.begin(), exclude.end(), p) != exclude.end();
      });
      if (w.size() == n && fresh) return w;
      if (std::chrono::steady_clock::now() > give_up) return w;
      sleep_ms(5);
    }
  }

 private:
  bool fail(std::string* why, const std::string& msg) {
    if (why) *why = msg + "\n--- executor log ---\n" + stderr_text();
    return false;
  }
  int reap(int timeout_ms) {
    int st = 0;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) break;
      if (std::chrono::steady_clock::now() > give_up) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        break;
      }
      sleep_ms(2);
    }
    pid_ = -1;
    exit_status_ = st;
    return st;
  }

  std::string workspace_, channel_;
  std::string shm_dir_;  // --shm-dir in extra_, or empty (/dev/shm)
  std::vector<std::string> extra_;
  bool http_;
  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_status_ = 0;
};

}  // namespace shmcp::testing
