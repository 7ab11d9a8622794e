// The sandbox as applied to the REAL worker processes of a running `shmcp-executor serve`, seen
// from outside through /proc, and a positive control: every one of the 14 tools completes under
// the filter through the channel (large files, a 2,000-entry directory), with no worker killed.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "orchestrator/client.hpp"
#include "tests/support/executor_process.hpp"

using nlohmann::json;
using namespace shmcp;
using namespace shmcp::testing;

namespace {

std::size_t count_lines_starting(const std::string& text, const std::string& prefix) {
  std::size_t n = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) n += line.rfind(prefix, 0) == 0;
  return n;
}

class SandboxWorkerTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    ASSERT_FALSE(ws_.path().empty());
    ex_.emplace(ws_.path(), unique_channel("sbx-" + test_name()), std::move(extra));
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
    auto c = Client::connect(ex_->shm_url());
    ASSERT_TRUE(c) << c.error().describe();
    c_ = std::move(*c);
  }

  // Calls a tool and expects a successful (non-isError) result.
  json ok(const std::string& tool, const json& args) {
    auto r = c_->call(tool, args, CallOptions{std::chrono::milliseconds(120'000)});
    EXPECT_TRUE(r) << tool << ": " << r.error().describe();
    if (!r) return json();
    EXPECT_FALSE(r->is_error) << tool << ": " << r->text();
    return r->json;
  }
  static std::string text(const json& j) {
    std::string out;
    if (j.contains("content"))
      for (const auto& b : j["content"])
        if (b.value("type", "") == "text") out += b["text"].get<std::string>();
    return out;
  }

  TempDir ws_;
  std::optional<ExecutorProcess> ex_;
  std::unique_ptr<Client> c_;
};

TEST_F(SandboxWorkerTest, RealWorkersRunUnderSeccompWithNoNewPrivsAndNoCapabilities) {
  ASSERT_NO_FATAL_FAILURE(start({"--workers", "3"}));
  auto workers = ex_->wait_workers(3);
  ASSERT_EQ(workers.size(), 3u);
  for (pid_t w : workers) {
    SCOPED_TRACE("worker " + std::to_string(w));
    EXPECT_EQ(proc_status_field(w, "Seccomp"), "\t2");  // SECCOMP_MODE_FILTER
    EXPECT_EQ(proc_status_field(w, "NoNewPrivs"), "\t1");
    EXPECT_EQ(proc_status_field(w, "CapEff"), "\t0000000000000000");
    EXPECT_EQ(proc_status_field(w, "CapPrm"), "\t0000000000000000");
    EXPECT_EQ(proc_status_field(w, "CapInh"), "\t0000000000000000");
    EXPECT_EQ(proc_status_field(w, "CapAmb"), "\t0000000000000000");
    EXPECT_EQ(proc_status_field(w, "Threads"), "\t1");  // single-threaded
  }
  // The supervisor itself is not under the filter (it execs workers and serves HTTP).
  EXPECT_EQ(proc_status_field(ex_->pid(), "Seccomp"), "\t0");
  // The health report agrees.
  auto h = c_->health();
  ASSERT_TRUE(h) << h.error().describe();
  EXPECT_EQ((*h)["workers"]["sandboxed"], 3);
}

// The O_ACCMODE bits of /proc/<pid>/fdinfo/<fd>'s "flags:" line (octal); -1 if unreadable.
int fd_access_mode(pid_t pid, int fd) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd)));
  std::string key;
  while (in >> key) {
    if (key == "flags:") {
      std::string v;
      in >> v;
      return static_cast<int>(std::stol(v, nullptr, 8) & O_ACCMODE);
    }
  }
  return -1;
}

std::string fd_target(pid_t pid, int fd) {
  char buf[4096];
  const std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("?");
}

std::set<int> open_fds(pid_t pid) {
  std::set<int> fds;
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(fd_dir.c_str());
  if (d == nullptr) return fds;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') fds.insert(std::atoi(e->d_name));
  ::closedir(d);
  return fds;
}

// None of the supervisor's writable descriptors reaches a worker: stdio is /dev/null (the
// supervisor's stdout may be the MCP stdio stream, its stderr a log file a worker could
// truncate), and the channel segment is open read-only (a worker cannot resize it).
TEST_F(SandboxWorkerTest, WorkersKeepOnlyDevNullTheWorkspaceAndAReadOnlyChannel) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto workers = ex_->wait_workers(1);
  ASSERT_EQ(workers.size(), 1u);
  const pid_t w = workers[0];
  const std::set<int> fds = open_fds(w);
  std::vector<std::string> targets;
  for (int fd : fds) targets.push_back(std::to_string(fd) + " -> " + fd_target(w, fd));
  // 0-2 /dev/null, 3 the workspace, and one more the channel segment.
  EXPECT_EQ(fds.size(), 5u) << ::testing::PrintToString(targets);
  for (int fd : {0, 1, 2, 3}) EXPECT_TRUE(fds.count(fd)) << fd;
  for (int fd : {0, 1, 2}) EXPECT_EQ(fd_target(w, fd), "/dev/null") << fd;
  char real[PATH_MAX];
  ASSERT_NE(::realpath(ws_.path().c_str(), real), nullptr);
  EXPECT_EQ(fd_target(w, 3), real);
  int segments = 0;
  for (int fd : fds) {
    const std::string t = fd_target(w, fd);
    const bool is_segment = t == segment_file(ex_->channel());
    segments += is_segment;
    EXPECT_TRUE(t == real || is_segment || t == "/dev/null") << "unexpected fd target " << fd << " -> " << t;
    if (is_segment) {
      EXPECT_EQ(fd_access_mode(w, fd), O_RDONLY) << "the worker's segment fd must be read-only";
    }
    if (t != "/dev/null") {
      EXPECT_EQ(fd_access_mode(w, fd), O_RDONLY) << "writable: " << fd << " -> " << t;
    }
  }
  EXPECT_EQ(segments, 1);
  // Positive control: the supervisor itself holds the log file for writing on fd 2 and the
  // segment read-write, and the same probes see both.
  EXPECT_EQ(fd_target(ex_->pid(), 2).rfind("/tmp/shmcp-it-log-", 0), 0u) << fd_target(ex_->pid(), 2);
  EXPECT_EQ(fd_access_mode(ex_->pid(), 2), O_WRONLY);
  bool supervisor_segment_rw = false;
  for (int fd : open_fds(ex_->pid()))
    supervisor_segment_rw |= fd_target(ex_->pid(), fd) == segment_file(ex_->channel()) && fd_access_mode(ex_->pid(), fd) == O_RDWR;
  EXPECT_TRUE(supervisor_segment_rw);
}

// Workers start with an empty environment: secrets in the orchestrator's or executor's
// environment (API keys) never reach the process that runs model-written arguments.
TEST_F(SandboxWorkerTest, WorkersStartWithAnEmptyEnvironment) {
  ASSERT_EQ(::setenv("SHMCP_TEST_SECRET_API_KEY", "sk-must-not-reach-workers", 1), 0);
  ASSERT_NO_FATAL_FAILURE(start({"--workers", "2"}));
  ::unsetenv("SHMCP_TEST_SECRET_API_KEY");
  auto workers = ex_->wait_workers(2);
  ASSERT_EQ(workers.size(), 2u);
  // Positive control: the supervisor has it, and /proc shows it.
  EXPECT_NE(read_file("/proc/" + std::to_string(ex_->pid()) + "/environ").find("SHMCP_TEST_SECRET_API_KEY=sk-must"),
            std::string::npos);
  for (pid_t w : workers) {
    const std::string env = read_file("/proc/" + std::to_string(w) + "/environ");
#ifdef SHMCP_SANITIZER
    // Sanitizer builds pass their runtime's *SAN_OPTIONS on, nothing else.
    std::istringstream in(env);
    std::string kv;
    while (std::getline(in, kv, '\0'))
      EXPECT_NE(kv.substr(0, kv.find('=')).find("SAN_OPTIONS"), std::string::npos) << kv;
#else
    EXPECT_EQ(env, "") << "worker " << w;
#endif
  }
  // A respawned worker too.
  ASSERT_EQ(::kill(workers[0], SIGKILL), 0);
  auto after = ex_->wait_workers(2, {workers[0]});
  ASSERT_EQ(after.size(), 2u);
  for (pid_t w : after) EXPECT_EQ(read_file("/proc/" + std::to_string(w) + "/environ").find("SHMCP_TEST_SECRET"), std::string::npos);
}

TEST_F(SandboxWorkerTest, EveryToolCompletesUnderTheFilter) {
  // Fixtures made from outside: 2,000 entries in one directory, a nested tree, a media file.
  ASSERT_EQ(::mkdir((ws_ / "many").c_str(), 0755), 0);
  for (int i = 0; i < 2000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "many/f%04d.txt", i);
    ASSERT_TRUE(write_file(ws_ / name, std::string(static_cast<std::size_t>(i % 7), 'x')));
  }
  ASSERT_EQ(::mkdir((ws_ / "tree").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((ws_ / "tree/a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((ws_ / "tree/a/b").c_str(), 0755), 0);
  ASSERT_TRUE(write_file(ws_ / "tree/a/b/deep.md", "# deep\n"));
  const std::string png("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
  ASSERT_TRUE(write_file(ws_ / "pixel.png", png));
  ASSERT_NO_FATAL_FAILURE(start());
  const auto before = ex_->wait_workers(1);
  ASSERT_EQ(before.size(), 1u);

  // write_file + read_text_file: 8 MiB through the channel (JSON and typed paths).
  std::string big(8u << 20, 'q');
  for (std::size_t i = 99; i < big.size(); i += 100) big[i] = '\n';
  EXPECT_EQ(text(ok("write_file", {{"path", "big.txt"}, {"content", big}})), "Successfully wrote to big.txt");
  EXPECT_EQ(read_file(ws_ / "big.txt"), big);
  EXPECT_EQ(text(ok("read_text_file", {{"path", "big.txt"}})), big);
  ASSERT_TRUE(c_->write_file("big2.txt", big));
  auto typed = c_->read_text_file("big2.txt");
  ASSERT_TRUE(typed) << typed.error().describe();
  EXPECT_EQ(*typed, big);
  // read_file (deprecated alias) with head.
  EXPECT_EQ(text(ok("read_file", {{"path", "big.txt"}, {"head", 2}})), big.substr(0, 199));
  // read_multiple_files.
  const std::string multi = text(ok("read_multiple_files", {{"paths", {"tree/a/b/deep.md", "absent.txt"}}}));
  EXPECT_EQ(multi.rfind("tree/a/b/deep.md:\n# deep\n", 0), 0u) << multi;
  EXPECT_NE(multi.find("absent.txt: Error - "), std::string::npos) << multi;
  // read_media_file.
  const json media = ok("read_media_file", {{"path", "pixel.png"}});
  ASSERT_EQ(media["content"].size(), 1u);
  EXPECT_EQ(media["content"][0]["type"], "image");
  EXPECT_EQ(media["content"][0]["mimeType"], "image/png");
  EXPECT_EQ(media["content"][0]["data"], "iVBORw0KGgoAAAANSUhEUg==");
  // create_directory, edit_file (dry run and real), move_file.
  EXPECT_EQ(text(ok("create_directory", {{"path", "made/x/y"}})), "Successfully created directory made/x/y");
  ASSERT_TRUE(write_file(ws_ / "made/x/y/e.txt", "alpha\nbeta\ngamma\n"));
  const std::string diff = text(ok("edit_file", {{"path", "made/x/y/e.txt"}, {"edits", {{{"oldText", "beta"}, {"newText", "BETA"}}}}, {"dryRun", true}}));
  EXPECT_NE(diff.find("-beta\n+BETA"), std::string::npos) << diff;
  EXPECT_EQ(read_file(ws_ / "made/x/y/e.txt"), "alpha\nbeta\ngamma\n");
  ok("edit_file", {{"path", "made/x/y/e.txt"}, {"edits", {{{"oldText", "beta"}, {"newText", "BETA"}}}}});
  EXPECT_EQ(read_file(ws_ / "made/x/y/e.txt"), "alpha\nBETA\ngamma\n");
  EXPECT_EQ(text(ok("move_file", {{"source", "made/x/y/e.txt"}, {"destination", "made/moved.txt"}})),
            "Successfully moved made/x/y/e.txt to made/moved.txt");
  EXPECT_FALSE(path_exists(ws_ / "made/x/y/e.txt"));
  EXPECT_EQ(read_file(ws_ / "made/moved.txt"), "alpha\nBETA\ngamma\n");
  // list_directory / list_directory_with_sizes over 2,000 entries.
  const std::string listing = text(ok("list_directory", {{"path", "many"}}));
  EXPECT_EQ(count_lines_starting(listing, "[FILE] f"), 2000u);
  const std::string sized = text(ok("list_directory_with_sizes", {{"path", "many"}, {"sortBy", "size"}}));
  EXPECT_EQ(count_lines_starting(sized, "[FILE] f"), 2000u);
  EXPECT_NE(sized.find("Total: 2000 files, 0 directories"), std::string::npos) << sized.substr(sized.size() - 200);
  // directory_tree and search_files over the same tree.
  const json tree = json::parse(text(ok("directory_tree", {{"path", "."}, {"excludePatterns", {"made"}}})));
  std::size_t many_children = 0;
  bool saw_made = false;
  for (const auto& e : tree) {
    if (e["name"] == "many") many_children = e["children"].size();
    if (e["name"] == "made") saw_made = true;
  }
  EXPECT_EQ(many_children, 2000u);
  EXPECT_FALSE(saw_made);
  const std::string found = text(ok("search_files", {{"path", "."}, {"pattern", "**/f1*.txt"}}));
  EXPECT_EQ(count_lines_starting(found, "/"), 1000u);
  const std::string deep = text(ok("search_files", {{"path", "tree"}, {"pattern", "**/*.md"}}));
  char real[PATH_MAX];
  ASSERT_NE(::realpath(ws_.path().c_str(), real), nullptr);
  EXPECT_EQ(deep, std::string(real) + "/tree/a/b/deep.md");
  // get_file_info and list_allowed_directories.
  const std::string info = text(ok("get_file_info", {{"path", "big.txt"}}));
  EXPECT_NE(info.find("size: " + std::to_string(big.size()) + "\n"), std::string::npos) << info;
  EXPECT_NE(info.find("isFile: true\n"), std::string::npos) << info;
  EXPECT_EQ(text(ok("list_allowed_directories", json::object())), "Allowed directories:\n" + std::string(real));

  // Denials are results, and none of this tripped the filter: same worker, no violations.
  auto denied = c_->call("read_text_file", {{"path", "/etc/passwd"}});
  ASSERT_TRUE(denied);
  EXPECT_TRUE(denied->is_error);
  EXPECT_EQ(ex_->worker_pids(), before);
  EXPECT_EQ(metric(ex_->port(), "shmcp_sandbox_violations_total"), 0);
  EXPECT_EQ(metric(ex_->port(), "shmcp_worker_restarts_total"), 0);
  EXPECT_EQ(ex_->stderr_text().find("SIGSYS"), std::string::npos) << ex_->stderr_text();
}

// move_file renames a FIFO and symlinks (one pointing inside, one outside) as the reference does:
// Landlock grants make-FIFO/make-symlink on the destination, while the worker still can't create
// either (seccomp kills mknodat and symlinkat; see tests/sandbox/lockdown_test.cpp).
TEST_F(SandboxWorkerTest, MoveFileMovesAFifoAndSymlinksInsideTheWorkspace) {
  ASSERT_TRUE(write_file(ws_ / "target.txt", "t\n"));
  ASSERT_EQ(::mkfifo((ws_ / "pipe").c_str(), 0644), 0);
  ASSERT_EQ(::symlink("target.txt", (ws_ / "ln").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/passwd", (ws_ / "out").c_str()), 0);
  ASSERT_EQ(::mkdir((ws_ / "dst").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(start());
  const auto before = ex_->wait_workers(1);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(text(ok("move_file", {{"source", "pipe"}, {"destination", "dst/pipe"}})),
            "Successfully moved pipe to dst/pipe");
  EXPECT_EQ(text(ok("move_file", {{"source", "ln"}, {"destination", "dst/ln2"}})), "Successfully moved ln to dst/ln2");
  EXPECT_EQ(text(ok("move_file", {{"source", "out"}, {"destination", "dst/out"}})), "Successfully moved out to dst/out");
  struct stat st {};
  ASSERT_EQ(::lstat((ws_ / "dst/pipe").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  for (const char* gone : {"pipe", "ln", "out"}) EXPECT_NE(::lstat((ws_ / gone).c_str(), &st), 0) << gone;
  char buf[64] = {};
  ASSERT_EQ(::readlink((ws_ / "dst/ln2").c_str(), buf, sizeof buf - 1), 10);
  EXPECT_STREQ(buf, "target.txt");
  std::memset(buf, 0, sizeof buf);
  ASSERT_EQ(::readlink((ws_ / "dst/out").c_str(), buf, sizeof buf - 1), 11);
  EXPECT_STREQ(buf, "/etc/passwd");
  EXPECT_EQ(read_file(ws_ / "target.txt"), "t\n");
  // No worker was killed doing it.
  EXPECT_EQ(ex_->worker_pids(), before);
  EXPECT_EQ(metric(ex_->port(), "shmcp_sandbox_violations_total"), 0);
}

TEST_F(SandboxWorkerTest, ReadOnlyWorkersRefuseWritesButRead) {
  ASSERT_TRUE(write_file(ws_ / "r.txt", "read me\n"));
  ASSERT_NO_FATAL_FAILURE(start({"--read-only"}));
  EXPECT_EQ(text(ok("read_text_file", {{"path", "r.txt"}})), "read me\n");
  auto w = c_->call("write_file", {{"path", "w.txt"}, {"content", "x"}});
  ASSERT_TRUE(w) << w.error().describe();
  EXPECT_TRUE(w->is_error);
  EXPECT_FALSE(path_exists(ws_ / "w.txt"));
  EXPECT_EQ(metric(ex_->port(), "shmcp_sandbox_violations_total"), 0);
}

}  // namespace
