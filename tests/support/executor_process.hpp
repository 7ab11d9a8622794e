// Integration-test helper: a real `shmcp-executor serve` process (fork + exec).
//
//   TempDir ws;                                           // mkdtemp, removed with rm -rf at scope exit
//   ExecutorProcess ex(ws.path(), unique_channel("http"), {"--workers", "2"});
//   ASSERT_TRUE(ex.start()) << ex.stderr_text();         // waits for /dev/shm/shmcp.NAME + GET /health
//   ... ex.port(), ex.shm_url(), ex.http_url(), ex.worker_pids() ...
//   EXPECT_EQ(ex.stop(), 0);                              // SIGTERM; returns the exit code
//
// With --tenants in extra, readiness is GET /health alone and the destructor also unlinks the
// tenants' segments.
//
// The executor's stdout and stderr go to a file (stderr_text() reads it back) so tests can assert
// on its log. HTTP binds 127.0.0.1:0 and the port is read from the "HTTP on http://..." log line.
// The destructor SIGKILLs a still-running executor, reaps it and unlinks its segment, so a failing
// assertion never leaks processes or /dev/shm segments. The child gets PR_SET_PDEATHSIG(SIGKILL)
// so even a crashing test binary takes its executor with it.
//
// Includes the other process, file and HTTP helpers most integration tests use with it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/support/files.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

namespace shmcp::testing {

class ExecutorProcess {
 public:
  // extra: more `serve` flags. http=false passes --no-http instead of --http 127.0.0.1:0.
  ExecutorProcess(std::string workspace, std::string channel, std::vector<std::string> extra = {}, bool http = true);
  ~ExecutorProcess();
  ExecutorProcess(const ExecutorProcess&) = delete;
  ExecutorProcess& operator=(const ExecutorProcess&) = delete;

  // Starts the executor and waits until it serves: its segment exists, and GET /health answers
  // 200 (with HTTP) or the "serving ..." log line appeared (without). On failure returns false
  // with the reason (and the executor's log) in *why, and leaves nothing running.
  bool start(std::string* why = nullptr, int timeout_ms = 20'000);

  // SIGTERM and wait (SIGKILL after timeout_ms). Returns the exit code, or 128+signal.
  int stop(int timeout_ms = 20'000);

  // SIGKILL and reap (the segment stays behind, as after a crash).
  void kill9();

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& channel() const { return channel_; }
  const std::string& workspace() const { return workspace_; }
  std::string shm_url() const;
  // The segment file: /dev/shm/shmcp.CHANNEL, or DIR/shmcp.CHANNEL with --shm-dir DIR.
  std::string segment() const;
  std::string http_url() const;
  std::string stderr_text() const { return read_file(log_path_); }
  int exit_status() const { return exit_status_; }

  // The worker processes: children of the executor whose command line is "... worker ...".
  std::vector<pid_t> worker_pids() const;

  // Waits until `n` workers run and none is in `exclude` (e.g. after a respawn).
  std::vector<pid_t> wait_workers(std::size_t n, const std::vector<pid_t>& exclude = {}, int timeout_ms = 10'000) const;

 private:
  bool fail(std::string* why, const std::string& msg);
  int reap(int timeout_ms);

  std::string workspace_, channel_;
  std::string shm_dir_;  // --shm-dir in extra_, or empty (/dev/shm)
  bool tenants_ = false; // --tenants in extra_: no shmcp.CHANNEL; tenants' segments are shmcp.CHANNEL.NAME
  std::vector<std::string> extra_;
  bool http_;
  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_status_ = 0;
};

}  // namespace shmcp::testing
