// Process helpers for tests that run the real binaries: where they are, running one to completion,
// a process's children and /proc/<pid>/status fields, and unique channel names.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace shmcp::testing {

std::string executor_binary();  // <build>/executor/shmcp-executor
std::string cli_binary();       // <build>/orchestrator/shmcp
std::string segment_file(const std::string& channel);  // /dev/shm/shmcp.CHANNEL

// A channel name unique to this process and call: "it-<pid>-<tag>-<n>" (tag sanitised).
std::string unique_channel(const std::string& tag);

// For pacing a poll loop or as a test's stimulus (idle time, a late start), never as the way to
// wait for something another process does: use eventually() or a handshake for that.
void sleep_ms(int ms);

// Under scripts/sanitize.sh: the executor's, workers' and CLI's stderr goes to a file these helpers
// unlink, so a sanitizer report printed there would vanish with a passing test. Before unlinking,
// a log holding a report is copied into $SHMCP_SANITIZER_REPORT_DIR, which the script checks.
void keep_sanitizer_report(const std::string& log_path);

// Result of running a program to completion.
struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal (term_signal says which) or not run
  int term_signal = 0;
  std::string out, err;
};

// Runs argv[0] with argv (no shell), stdin from /dev/null, capturing stdout and stderr through
// temporary files. Kills it after timeout_ms (exit_code -1, term_signal SIGKILL).
ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms = 60'000);

// Children of `pid` (every thread's children: respawned workers are forked by the supervisor's
// monitor thread, so /proc/<pid>/task/<pid>/children alone would miss them). Sorted, unique.
std::vector<pid_t> child_pids(pid_t pid);

// The value of a "Key:\tvalue" line of /proc/<pid>/status ("" if absent).
std::string proc_status_field(pid_t pid, const std::string& key);

}  // namespace shmcp::testing

#ifdef GOOGLETEST_INCLUDE_GTEST_GTEST_H_  // the soak driver uses these helpers without gtest
namespace shmcp::testing {
// The current gtest test's name (for unique channel names and logs).
inline std::string test_name() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }
}  // namespace shmcp::testing
#endif
