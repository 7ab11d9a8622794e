#include "tests/support/stdio_mcp.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "tests/support/files.hpp"

namespace shmcp::testing {

StdioMcp::StdioMcp(const std::vector<std::string>& argv) {
  char tmpl[] = "/tmp/shmcp-stdio-mcp-XXXXXX";
  const int err_fd = ::mkstemp(tmpl);
  if (err_fd < 0) return;
  err_path_ = tmpl;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return;
  }
  std::vector<std::string> args = argv;
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err_fd, 2);
    ::execv(cargs[0], cargs.data());
    _exit(127);
  }
  ::close(err_fd);
  ::close(in[0]);
  ::close(out[1]);
  in_ = in[1];
  out_ = out[0];
  if (pid_ < 0) {
    ::close(in_);
    ::close(out_);
    in_ = out_ = -1;
  }
}

StdioMcp::~StdioMcp() {
  finish();
  if (!err_path_.empty()) ::unlink(err_path_.c_str());
}

bool StdioMcp::read_line(std::string* line) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      *line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[65536];
    const ssize_t n = ::read(out_, buf, sizeof buf);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

nlohmann::json StdioMcp::request(const std::string& method, const nlohmann::json& params) {
  if (in_ < 0) return nullptr;
  const long id = next_id_++;
  const std::string msg = nlohmann::json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump() + "\n";
  std::string_view rest(msg);
  while (!rest.empty()) {
    const ssize_t n = ::write(in_, rest.data(), rest.size());
    if (n <= 0) return nullptr;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  std::string line;
  while (read_line(&line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("id") && j["id"] == id) return j;
  }
  return nullptr;
}

bool StdioMcp::initialize() {
  const nlohmann::json r = request("initialize", {{"protocolVersion", "2025-06-18"},
                                                  {"capabilities", nlohmann::json::object()},
                                                  {"clientInfo", {{"name", "shmcp-tests"}, {"version", "1"}}}});
  if (!r.is_object() || !r.contains("result")) return false;
  const std::string note = R"({"jsonrpc":"2.0","method":"notifications/initialized"})" "\n";
  return ::write(in_, note.data(), note.size()) == static_cast<ssize_t>(note.size());
}

nlohmann::json StdioMcp::call_tool(const std::string& tool, const nlohmann::json& args) {
  const nlohmann::json r = request("tools/call", {{"name", tool}, {"arguments", args}});
  return r.is_object() && r.contains("result") ? r["result"] : nlohmann::json();
}

int StdioMcp::finish() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
  int st = 0;
  if (pid_ > 0) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::waitpid(pid_, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > give_up) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        break;
      }
      ::usleep(1000);  // polling a child's exit; the bound is only for a hung server
    }
    pid_ = -1;
  }
  if (out_ >= 0) ::close(out_);
  out_ = -1;
  return st;
}

std::string StdioMcp::stderr_text() const { return err_path_.empty() ? "" : read_file(err_path_); }

}  // namespace shmcp::testing
