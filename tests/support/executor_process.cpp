#include "tests/support/executor_process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace shmcp::testing {

ExecutorProcess::ExecutorProcess(std::string workspace, std::string channel, std::vector<std::string> extra, bool http)
    : workspace_(std::move(workspace)), channel_(std::move(channel)), extra_(std::move(extra)), http_(http) {
  // An executor told --shm-dir DIR has its segment (and its clients' URL) there.
  for (std::size_t i = 0; i + 1 < extra_.size(); ++i) {
    if (extra_[i] == "--shm-dir") shm_dir_ = extra_[i + 1];
    if (extra_[i] == "--tenants") tenants_ = true;
  }
  char t[] = "/tmp/shmcp-it-log-XXXXXX";
  const int fd = ::mkstemp(t);
  if (fd >= 0) ::close(fd);
  log_path_ = t;
}

ExecutorProcess::~ExecutorProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  // A killed executor leaves its segment behind; never leak it into /dev/shm.
  ::unlink(segment().c_str());
  if (tenants_) {  // and its tenants' segments, shmcp.CHANNEL.TENANT
    const std::string dir = shm_dir_.empty() ? "/dev/shm" : shm_dir_;
    const std::string prefix = "shmcp." + channel_ + ".";
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d))
        if (std::string_view(e->d_name).starts_with(prefix)) ::unlinkat(::dirfd(d), e->d_name, 0);
      ::closedir(d);
    }
  }
  if (!log_path_.empty()) {
    keep_sanitizer_report(log_path_);
    ::unlink(log_path_.c_str());
  }
}

bool ExecutorProcess::start(std::string* why, int timeout_ms) {
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
  static constexpr char kListening[] = "HTTP on http://127.0.0.1:";
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < give_up) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = st;
      return fail(why, "executor exited during startup (status " + std::to_string(st) + ")");
    }
    if (tenants_ || path_exists(segment())) {  // tenant mode serves no shmcp.CHANNEL
      const std::string log = stderr_text();
      if (http_) {
        if (port_ == 0) {
          const auto p = log.find(kListening);
          if (p != std::string::npos) port_ = std::atoi(log.c_str() + p + std::strlen(kListening));
        }
        if (port_ > 0 && http_get(port_, "/health") == 200) return true;
      } else if (log.find("serving ") != std::string::npos) {
        return true;
      }
    }
    sleep_ms(10);  // poll pacing
  }
  kill9();
  return fail(why, "executor did not become ready within " + std::to_string(timeout_ms) + " ms");
}

int ExecutorProcess::stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const int st = reap(timeout_ms);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void ExecutorProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  reap(20'000);
}

std::string ExecutorProcess::shm_url() const {
  std::string url = "shm://";
  if (!shm_dir_.empty()) url.append(shm_dir_).append("/");
  return url.append(channel_);
}

std::string ExecutorProcess::segment() const {
  if (shm_dir_.empty()) return segment_file(channel_);
  std::string path = shm_dir_;
  return path.append("/shmcp.").append(channel_);
}

std::string ExecutorProcess::http_url() const {
  std::string url = "http://127.0.0.1:";
  return url.append(std::to_string(port_));
}

std::vector<pid_t> ExecutorProcess::worker_pids() const {
  std::vector<pid_t> out;
  if (pid_ <= 0) return out;
  for (pid_t c : child_pids(pid_)) {
    std::string cmd = read_file("/proc/" + std::to_string(c) + "/cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(" worker ") != std::string::npos) out.push_back(c);
  }
  return out;
}

std::vector<pid_t> ExecutorProcess::wait_workers(std::size_t n, const std::vector<pid_t>& exclude, int timeout_ms) const {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto w = worker_pids();
    const bool fresh = std::none_of(w.begin(), w.end(), [&](pid_t p) {
      return std::find(exclude.begin(), exclude.end(), p) != exclude.end();
    });
    if (w.size() == n && fresh) return w;
    if (std::chrono::steady_clock::now() > give_up) return w;
    sleep_ms(5);  // poll pacing
  }
}

bool ExecutorProcess::fail(std::string* why, const std::string& msg) {
  if (why) {
    *why = msg;
    why->append("\n--- executor log ---\n").append(stderr_text());
  }
  return false;
}

int ExecutorProcess::reap(int timeout_ms) {
  int st = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (::waitpid(pid_, &st, WNOHANG) == pid_) break;
    if (std::chrono::steady_clock::now() > give_up) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
      break;
    }
    sleep_ms(2);  // poll pacing
  }
  pid_ = -1;
  exit_status_ = st;
  return st;
}

}  // namespace shmcp::testing
