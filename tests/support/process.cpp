#include "tests/support/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "tests/support/files.hpp"

#ifndef SHMCP_BUILD_DIR
#error "SHMCP_BUILD_DIR must be defined (tests/support/CMakeLists.txt does it)"
#endif

namespace shmcp::testing {

std::string executor_binary() { return SHMCP_BUILD_DIR "/executor/shmcp-executor"; }
std::string cli_binary() { return SHMCP_BUILD_DIR "/orchestrator/shmcp"; }
std::string segment_file(const std::string& channel) { return std::string("/dev/shm/shmcp.").append(channel); }

std::string unique_channel(const std::string& tag) {
  static std::atomic<int> counter{0};
  std::string out = "it-";
  out.append(std::to_string(::getpid())).append("-");
  for (char c : tag) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  out.append("-").append(std::to_string(counter.fetch_add(1)));
  return out;
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

void keep_sanitizer_report(const std::string& log_path) {
  const char* dir = std::getenv("SHMCP_SANITIZER_REPORT_DIR");
  if (dir == nullptr || *dir == '\0') return;
  const std::string log = read_file(log_path);
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                             "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer"}) {
    if (log.find(marker) == std::string::npos) continue;
    static std::atomic<int> n{0};
    std::string path = dir;
    path.append("/").append(std::to_string(::getpid())).append("-").append(std::to_string(n.fetch_add(1))).append(".log");
    write_file(path, log);
    return;
  }
}

ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms) {
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

std::vector<pid_t> child_pids(pid_t pid) {
  std::vector<pid_t> out;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(task_dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string children = task_dir;
    children.append("/").append(e->d_name).append("/children");
    std::istringstream in(read_file(children));
    pid_t c = 0;
    while (in >> c) out.push_back(c);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string proc_status_field(pid_t pid, const std::string& key) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 1);
  return {};
}

}  // namespace shmcp::testing
