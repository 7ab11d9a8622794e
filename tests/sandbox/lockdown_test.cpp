// lock_down() checked from outside: each case forks a child that opens the workspace, locks itself
// down exactly as a worker does, then tries one thing. The parent asserts the exact outcome:
// SIGSYS for seccomp kills, a specific errno (as the exit code) for Landlock refusals, 0 for the
// positive controls. Children never return into GoogleTest; they _exit.
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "sandbox/lockdown.hpp"
#include "sandbox/open_how.hpp"
#include "sandbox/workspace.hpp"
#include "tests/support/kernel.hpp"
#include "tests/support/sandbox_dirs.hpp"

namespace fs = std::filesystem;
using shmcp::sandbox::kResolveBeneath;
using shmcp::sandbox::LockdownOptions;
using shmcp::sandbox::SealedOpenHowTable;
using shmcp::sandbox::UniqueFd;
using shmcp::sandbox::Workspace;

namespace {

#ifdef SHMCP_SANITIZER
constexpr bool kSanitizer = true;
#else
constexpr bool kSanitizer = false;
#endif

// TSan starts a background thread in every fork()ed (not exec'd) child, and lock_down rightly
// refuses a multi-threaded process. Executor workers are exec'd, so they do lock down under TSan
// (executor_* tests); the ASan build runs these tests in full.
#if defined(__SANITIZE_THREAD__)
#define SKIP_FORKED_LOCKDOWN_UNDER_TSAN() \
  GTEST_SKIP() << "TSan runs a background thread in fork()ed children; lock_down refuses multi-threaded processes"
#else
#define SKIP_FORKED_LOCKDOWN_UNDER_TSAN() static_cast<void>(0)
#endif

// Child exit codes above any errno value.
constexpr int kSetupFailed = 200;
constexpr int kUnexpectedSuccess = 201;

struct Outcome {
  bool exited = false;
  int code = -1;
  bool signaled = false;
  int sig = 0;
};

const char* errname(int e) {
  const char* n = strerrorname_np(e);
  return n != nullptr ? n : "?";
}

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  if (o.exited) return os << "exited " << o.code << " (" << (o.code < 200 ? errname(o.code) : "status") << ")";
  if (o.signaled) return os << "killed by signal " << o.sig << " (" << sigabbrev_np(o.sig) << ")";
  return os << "unknown";
}

Outcome wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  Outcome o;
  if (WIFEXITED(status)) {
    o.exited = true;
    o.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    o.signaled = true;
    o.sig = WTERMSIG(status);
  }
  return o;
}

// Forks; the child runs body() and _exits with its result. alarm() turns a hang into SIGALRM.
pid_t spawn(const std::function<int()>& body) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(120);
    ::_exit(body());
  }
  return pid;
}
Outcome run_child(const std::function<int()>& body) { return wait_child(spawn(body)); }

class LockdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dirs_.emplace("lockdown");
    ASSERT_TRUE(dirs_->ok()) << dirs_->base();
    base_ = dirs_->base();
    root_ = dirs_->ws();
    outside_ = dirs_->outside();
    ASSERT_EQ(::mkdir((root_ + "/sub").c_str(), 0755), 0);
    std::ofstream(root_ + "/data.txt") << "data";
    std::ofstream(outside_ + "/secret.txt") << "SECRET";
    ASSERT_EQ(::symlink("data.txt", (root_ + "/link").c_str()), 0);
    canary_ = snapshot();
  }
  void TearDown() override {
    EXPECT_EQ(snapshot(), canary_) << "the outside directory changed";
    dirs_.reset();
  }
  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(outside_)) {
      std::string d = std::to_string(static_cast<int>(e.symlink_status().type()));
      if (e.is_regular_file()) {
        std::ifstream in(e.path());
        d += std::string(std::istreambuf_iterator<char>(in), {});
      }
      out[e.path().string()] = d;
    }
    return out;
  }

  LockdownOptions options(bool read_only = false) const {
    LockdownOptions o;
    o.read_only = read_only;
    o.keep_fds = {2};  // stderr, so a failing child can say why
    o.sanitizer_runtime = kSanitizer;
    return o;
  }

  // In the child: open the workspace, lock down, run op. Any setup failure is kSetupFailed.
  int locked(const LockdownOptions& o, const std::function<int(const Workspace&)>& op) const {
    ::tzset();  // as workers do: localtime_r (spdlog) must not need /etc/localtime after lockdown
    auto ws = Workspace::open(root_);
    if (!ws) {
      std::fprintf(stderr, "child: %s\n", ws.error().describe().c_str());
      return kSetupFailed;
    }
    auto report = shmcp::sandbox::lock_down(*ws, o);
    if (!report) {
      std::fprintf(stderr, "child: lock_down: %s\n", report.error().describe().c_str());
      return kSetupFailed;
    }
    if (report->landlock_abi < 1 || !report->seccomp || !report->no_new_privs || !report->caps_dropped) {
      std::fprintf(stderr, "child: incomplete lockdown (abi %d)\n", report->landlock_abi);
      return kSetupFailed;
    }
    return op(*ws);
  }
  int locked(const std::function<int(const Workspace&)>& op) const { return locked(options(), op); }

  // Landlock only (no seccomp in front), to see Landlock's own answers.
  int landlocked(bool read_only, const std::function<int(const Workspace&)>& op) const {
    auto ws = Workspace::open(root_);
    if (!ws) return kSetupFailed;
    auto abi = shmcp::sandbox::restrict_to_workspace(*ws, read_only);
    if (!abi) {
      std::fprintf(stderr, "child: %s\n", abi.error().describe().c_str());
      return kSetupFailed;
    }
    return op(*ws);
  }

  std::optional<shmcp::testing::SandboxDirs> dirs_;
  std::string base_, root_, outside_;
  std::map<std::string, std::string> canary_;
};

// errno of a failed call as the exit code; kUnexpectedSuccess if it worked.
int errno_or_success(long rc) { return rc < 0 ? errno : kUnexpectedSuccess; }

// Creates a file the way the tools do: O_CREAT|O_EXCL on the parent's handle with openat, whose
// mode seccomp sees (openat2 never creates in a locked-down process). Returns the fd or -1 (errno).
int create_beneath(const Workspace& ws, const std::string& path, mode_t mode, int flags = O_WRONLY) {
  auto parent = ws.open_parent(path);
  if (!parent) {
    errno = parent.error().sys_errno != 0 ? parent.error().sys_errno : EINVAL;
    return -1;
  }
  return ::openat(parent->dir.get(), parent->leaf.c_str(), flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
}

// The sealed open_how table of this process (created on first use, inherited by fork).
SealedOpenHowTable the_table() {
  auto t = shmcp::sandbox::sealed_open_how_table();
  if (!t) {
    std::fprintf(stderr, "open_how table: %s\n", t.error().describe().c_str());
    std::abort();
  }
  return *t;
}
std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }
void* table_page() { return reinterpret_cast<void*>(the_table().begin); }
const open_how* read_only_entry() {
  return shmcp::sandbox::sealed_open_how(O_RDONLY | O_CLOEXEC, kResolveBeneath);
}
// An anonymous mapping wherever the kernel puts it (far above the table).
void* anon_pages(std::size_t n) {
  void* p = ::mmap(nullptr, n * page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void expect_sigsys(const Outcome& o) {
  EXPECT_TRUE(o.signaled && o.sig == SIGSYS) << o;
}
void expect_exit(const Outcome& o, int code) {
  EXPECT_TRUE(o.exited && o.code == code) << o << ", expected exit " << code;
}

// --- seccomp: denied syscalls kill the process ---

// One futex call with `op` on a private word holding 0 (no waiter, no owner).
int futex_op(int op) {
  static std::uint32_t word = 0;
  const timespec zero{0, 0};
  return errno_or_success(::syscall(SYS_futex, &word, op, 1, &zero, &word, 0));
}

// Every entry beneath `dir` with its type, mode bits and size, as seen from outside.
std::map<std::string, std::string> tree(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0) continue;
    out[e.path().string()] = std::to_string(st.st_mode) + ":" + std::to_string(S_ISDIR(st.st_mode) ? 0 : st.st_size);
  }
  return out;
}

struct Forbidden {
  const char* name;
  bool strict_only;  // also allowed under a sanitizer runtime
  std::function<int(const Workspace&, const std::string& root, const std::string& outside)> attempt;
};

std::vector<Forbidden> forbidden_calls() {
  using R = const std::string&;
  return {
      {"execve", false, [](const Workspace&, R, R) {
         char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
         return errno_or_success(::execve("/bin/true", argv, environ));
       }},
      {"execveat", false, [](const Workspace&, R, R) {
         char* argv[] = {const_cast<char*>("true"), nullptr};
         return errno_or_success(::syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, environ, 0));
       }},
      {"socket_inet", false, [](const Workspace&, R, R) { return errno_or_success(::socket(AF_INET, SOCK_STREAM, 0)); }},
      {"socket_unix", false, [](const Workspace&, R, R) { return errno_or_success(::socket(AF_UNIX, SOCK_STREAM, 0)); }},
      {"connect", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_connect, 0, nullptr, 0)); }},
      {"bind", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_bind, 0, nullptr, 0)); }},
      {"ptrace", false, [](const Workspace&, R, R) { return errno_or_success(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr)); }},
      {"mount", false, [](const Workspace&, R root, R) {
         return errno_or_success(::mount("tmpfs", (root + "/sub").c_str(), "tmpfs", 0, nullptr));
       }},
      {"umount2", false, [](const Workspace&, R root, R) { return errno_or_success(::umount2(root.c_str(), MNT_DETACH)); }},
      {"chmod", false, [](const Workspace&, R root, R) { return errno_or_success(::chmod((root + "/data.txt").c_str(), 0777)); }},
      {"fchmodat", false, [](const Workspace& ws, R, R) { return errno_or_success(::fchmodat(ws.fd(), "data.txt", 0777, 0)); }},
      {"fchmod_setuid", false, [](const Workspace& ws, R, R) {
         auto fd = ws.open("data.txt", O_RDONLY);
         if (!fd) return kSetupFailed;
         return errno_or_success(::fchmod(fd->get(), 04755));
       }},
      {"openat_create_setuid", false, [](const Workspace& ws, R, R) {
         return errno_or_success(::openat(ws.fd(), "suid", O_WRONLY | O_CREAT | O_EXCL, 04755));
       }},
      {"fchown", false, [](const Workspace& ws, R, R) {
         auto fd = ws.open("data.txt", O_RDONLY);
         if (!fd) return kSetupFailed;
         return errno_or_success(::fchown(fd->get(), 0, 0));
       }},
      {"utimensat", false, [](const Workspace& ws, R, R) { return errno_or_success(::utimensat(ws.fd(), "data.txt", nullptr, 0)); }},
      {"link", false, [](const Workspace&, R root, R) {
         return errno_or_success(::link((root + "/data.txt").c_str(), (root + "/hard").c_str()));
       }},
      {"linkat", false, [](const Workspace& ws, R, R) { return errno_or_success(::linkat(ws.fd(), "data.txt", ws.fd(), "hard", 0)); }},
      {"linkat_follow", false, [](const Workspace& ws, R, R) {
         return errno_or_success(::linkat(ws.fd(), "data.txt", ws.fd(), "hard", AT_SYMLINK_FOLLOW));
       }},
      {"symlinkat", false, [](const Workspace& ws, R, R) { return errno_or_success(::symlinkat("/etc/passwd", ws.fd(), "sym")); }},
      {"symlink", false, [](const Workspace&, R root, R) { return errno_or_success(::symlink("/etc", (root + "/sym").c_str())); }},
      {"io_uring_setup", false, [](const Workspace&, R, R) {
         alignas(8) unsigned char params[120] = {};
         return errno_or_success(::syscall(SYS_io_uring_setup, 1, params));
       }},
      {"io_uring_enter", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_io_uring_enter, 0, 0, 0, 0, nullptr, 0)); }},
      {"io_uring_register", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_io_uring_register, 0, 0, nullptr, 0)); }},
      {"fork", false, [](const Workspace&, R, R) {
         const pid_t p = ::fork();
         if (p == 0) ::_exit(0);
         return errno_or_success(p);
       }},
      {"clone3", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_clone3, nullptr, 0)); }},
      {"vfork", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_vfork)); }},
      {"thread", false, [](const Workspace&, R, R) {
         std::thread t([] {});
         t.join();
         return kUnexpectedSuccess;
       }},
      {"unshare", false, [](const Workspace&, R, R) { return errno_or_success(::unshare(CLONE_NEWUSER)); }},
      {"setns", false, [](const Workspace&, R, R) { return errno_or_success(::setns(0, 0)); }},
      {"bpf", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_bpf, 0, nullptr, 0)); }},
      {"perf_event_open", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0)); }},
      {"keyctl", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_keyctl, 0, 0, 0, 0, 0)); }},
      {"add_key", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_add_key, "user", "k", "v", 1, 0)); }},
      {"process_vm_readv", false, [](const Workspace&, R, R) {
         return errno_or_success(::syscall(SYS_process_vm_readv, ::getppid(), nullptr, 0, nullptr, 0, 0));
       }},
      {"personality", false, [](const Workspace&, R, R) { return errno_or_success(::personality(0xffffffff)); }},
      {"kexec_load", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_kexec_load, 0, 0, nullptr, 0)); }},
      {"kill_parent", false, [](const Workspace&, R, R) { return errno_or_success(::kill(::getppid(), 0)); }},
      {"tgkill_parent", false, [](const Workspace&, R, R) {
         return errno_or_success(::syscall(SYS_tgkill, ::getppid(), ::getppid(), 0));
       }},
      {"legacy_open", false, [](const Workspace&, R root, R) {
         return errno_or_success(::syscall(SYS_open, (root + "/data.txt").c_str(), O_RDONLY));
       }},
      {"legacy_mkdir", false, [](const Workspace&, R root, R) { return errno_or_success(::syscall(SYS_mkdir, (root + "/m").c_str(), 0755)); }},
      {"legacy_rename", false, [](const Workspace&, R root, R) {
         return errno_or_success(::syscall(SYS_rename, (root + "/data.txt").c_str(), (root + "/r").c_str()));
       }},
      {"sendfile", false, [](const Workspace& ws, R, R) {
         auto fd = ws.open("data.txt", O_RDONLY);
         if (!fd) return kSetupFailed;
         return errno_or_success(::sendfile(2, fd->get(), nullptr, 1));
       }},
      {"ioctl_fionread", false, [](const Workspace&, R, R) {
         int n = 0;
         return errno_or_success(::ioctl(0, FIONREAD, &n));
       }},
      {"fcntl_setown", false, [](const Workspace& ws, R, R) {
         auto fd = ws.open("data.txt", O_RDONLY);
         if (!fd) return kSetupFailed;
         return errno_or_success(::fcntl(fd->get(), F_SETOWN, ::getppid()));
       }},
      // Creation modes: setuid, setgid and sticky are refused wherever the mode is in a register.
      {"openat_create_setgid", false, [](const Workspace& ws, R, R) {
         return errno_or_success(::openat(ws.fd(), "sgid", O_WRONLY | O_CREAT | O_EXCL, 02755));
       }},
      {"openat_create_sticky", false, [](const Workspace& ws, R, R) {
         return errno_or_success(::openat(ws.fd(), "sticky", O_WRONLY | O_CREAT | O_EXCL, 01644));
       }},
      {"openat_tmpfile_setuid", false, [](const Workspace& ws, R, R) {
         return errno_or_success(::openat(ws.fd(), ".", O_TMPFILE | O_WRONLY, 04755));
       }},
      {"mkdirat_setuid", false, [](const Workspace& ws, R, R) { return errno_or_success(::mkdirat(ws.fd(), "d_suid", 04755)); }},
      {"mkdirat_setgid", false, [](const Workspace& ws, R, R) { return errno_or_success(::mkdirat(ws.fd(), "d_sgid", 02755)); }},
      {"mkdirat_sticky", false, [](const Workspace& ws, R, R) { return errno_or_success(::mkdirat(ws.fd(), "d_sticky", 01777)); }},
      {"fchmodat2", false, [](const Workspace& ws, R, R) {
         return errno_or_success(::syscall(452 /* fchmodat2, Linux >= 6.6 */, ws.fd(), "data.txt", 0644, 0));
       }},
      // No tool creates special files; Landlock's make-FIFO right exists only for move_file.
      {"mknodat_fifo", false, [](const Workspace& ws, R, R) { return errno_or_success(::mkfifoat(ws.fd(), "fifo", 0644)); }},
      {"mknodat_regular_setuid", false, [](const Workspace& ws, R, R) {
         return errno_or_success(::mknodat(ws.fd(), "suid", S_IFREG | 04755, 0));
       }},
      {"mknod", false, [](const Workspace&, R root, R) {
         return errno_or_success(::syscall(SYS_mknod, (root + "/fifo").c_str(), S_IFIFO | 0644, 0));
       }},
      // renameat2 with anything but RENAME_NOREPLACE: a whiteout is a character device 0/0.
      {"renameat2_whiteout", false, [](const Workspace& ws, R, R) {
         return errno_or_success(::renameat2(ws.fd(), "data.txt", ws.fd(), "r", RENAME_WHITEOUT));
       }},
      {"renameat2_noreplace_whiteout", false, [](const Workspace& ws, R, R) {
         return errno_or_success(::renameat2(ws.fd(), "data.txt", ws.fd(), "r", RENAME_NOREPLACE | RENAME_WHITEOUT));
       }},
      {"renameat2_exchange", false, [](const Workspace& ws, R, R) {
         return errno_or_success(::renameat2(ws.fd(), "data.txt", ws.fd(), "sub", RENAME_EXCHANGE));
       }},
      // futex: only wait/wake (plain and bitset); requeue, wake-op and the PI family are fatal.
      {"futex_lock_pi", false, [](const Workspace&, R, R) { return futex_op(FUTEX_LOCK_PI); }},
      {"futex_lock_pi_private", false, [](const Workspace&, R, R) { return futex_op(FUTEX_LOCK_PI_PRIVATE); }},
      {"futex_lock_pi2", false, [](const Workspace&, R, R) { return futex_op(FUTEX_LOCK_PI2); }},
      {"futex_trylock_pi", false, [](const Workspace&, R, R) { return futex_op(FUTEX_TRYLOCK_PI); }},
      {"futex_unlock_pi", false, [](const Workspace&, R, R) { return futex_op(FUTEX_UNLOCK_PI); }},
      {"futex_requeue", false, [](const Workspace&, R, R) { return futex_op(FUTEX_REQUEUE); }},
      {"futex_cmp_requeue_private", false, [](const Workspace&, R, R) { return futex_op(FUTEX_CMP_REQUEUE_PRIVATE); }},
      {"futex_wake_op", false, [](const Workspace&, R, R) { return futex_op(FUTEX_WAKE_OP); }},
      {"futex_wait_requeue_pi", false, [](const Workspace&, R, R) { return futex_op(FUTEX_WAIT_REQUEUE_PI); }},
      {"futex_cmp_requeue_pi", false, [](const Workspace&, R, R) { return futex_op(FUTEX_CMP_REQUEUE_PI); }},
      {"futex_fd", false, [](const Workspace&, R, R) { return futex_op(2 /* FUTEX_FD, removed in 2.6.26 */); }},
      {"futex_waitv", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, 0)); }},
      {"mmap_exec", true, [](const Workspace&, R, R) {
         void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
         return p == MAP_FAILED ? errno : kUnexpectedSuccess;
       }},
      {"mprotect_exec", true, [](const Workspace&, R, R) {
         void* p = ::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
         if (p == MAP_FAILED) return kSetupFailed;
         return errno_or_success(::mprotect(p, 4096, PROT_READ | PROT_EXEC));
       }},
      {"prctl", true, [](const Workspace&, R, R) { return errno_or_success(::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)); }},
      {"setrlimit", true, [](const Workspace&, R, R) {
         const rlimit r{0, 0};
         return errno_or_success(::setrlimit(RLIMIT_NOFILE, &r));
       }},
      // openat2 only with an open_how of the sealed table, by its exact address and size: the
      // worker's own struct is fatal whatever it holds, so no mode seccomp has not seen reaches
      // the kernel.
      {"openat2_own_how_create_setuid", false, [](const Workspace& ws, R, R) {
         open_how how{};
         how.flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC;
         how.mode = 06755;
         how.resolve = RESOLVE_BENEATH;
         return errno_or_success(::syscall(SYS_openat2, ws.fd(), "suid", &how, sizeof how));
       }},
      {"openat2_own_copy_of_a_table_entry", false, [](const Workspace& ws, R, R) {
         const open_how* e = read_only_entry();
         if (e == nullptr) return kSetupFailed;
         const open_how how = *e;
         return errno_or_success(::syscall(SYS_openat2, ws.fd(), "data.txt", &how, sizeof how));
       }},
      {"openat2_table_entry_with_a_larger_size", false, [](const Workspace& ws, R, R) {
         const open_how* e = read_only_entry();
         if (e == nullptr) return kSetupFailed;
         return errno_or_success(::syscall(SYS_openat2, ws.fd(), "data.txt", e, sizeof(open_how) + 8));
       }},
      {"openat2_pointer_into_the_middle_of_the_table", false, [](const Workspace& ws, R, R) {
         const open_how* e = read_only_entry();
         if (e == nullptr) return kSetupFailed;
         return errno_or_success(
             ::syscall(SYS_openat2, ws.fd(), "data.txt", reinterpret_cast<const char*>(e) + 8, sizeof(open_how)));
       }},
      // The table's page stays where it is and what it is.
      {"mmap_fixed_over_the_table", false, [](const Workspace&, R, R) {
         void* p = ::mmap(table_page(), page_size(), PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
         return p == MAP_FAILED ? errno : kUnexpectedSuccess;
       }},
      {"mmap_fixed_from_below_across_the_table", false, [](const Workspace&, R, R) {
         char* below = static_cast<char*>(table_page()) - 16 * page_size();
         void* p = ::mmap(below, 17 * page_size(), PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
         return p == MAP_FAILED ? errno : kUnexpectedSuccess;
       }},
      {"mmap_fixed_noreplace_below_the_table", false, [](const Workspace&, R, R) {
         char* below = static_cast<char*>(table_page()) - page_size();
         void* p = ::mmap(below, page_size(), PROT_READ, MAP_FIXED_NOREPLACE | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
         return p == MAP_FAILED ? errno : kUnexpectedSuccess;
       }},
      {"munmap_the_table", false, [](const Workspace&, R, R) { return errno_or_success(::munmap(table_page(), page_size())); }},
      {"munmap_from_below_across_the_table", false, [](const Workspace&, R, R) {
         return errno_or_success(::munmap(static_cast<char*>(table_page()) - page_size(), 2 * page_size()));
       }},
      {"madvise_the_table", false, [](const Workspace&, R, R) {
         return errno_or_success(::madvise(table_page(), page_size(), MADV_DONTNEED));
       }},
      {"mremap_the_table_away", false, [](const Workspace&, R, R) {
         void* p = ::mremap(table_page(), page_size(), 2 * page_size(), MREMAP_MAYMOVE);
         return p == MAP_FAILED ? errno : kUnexpectedSuccess;
       }},
      {"mremap_fixed_onto_the_table", false, [](const Workspace&, R, R) {
         void* a = anon_pages(1);
         if (a == nullptr) return kSetupFailed;
         void* p = ::mremap(a, page_size(), page_size(), MREMAP_MAYMOVE | MREMAP_FIXED, table_page());
         return p == MAP_FAILED ? errno : kUnexpectedSuccess;
       }},
      {"mremap_dontunmap", false, [](const Workspace&, R, R) {
         void* a = anon_pages(1);
         if (a == nullptr) return kSetupFailed;
         void* p = ::mremap(a, page_size(), page_size(), MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
         return p == MAP_FAILED ? errno : kUnexpectedSuccess;
       }},
      {"shmget", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_shmget, IPC_PRIVATE, 4096, IPC_CREAT | 0600)); }},
      {"shmat_over_the_table", false, [](const Workspace&, R, R) {
         return errno_or_success(::syscall(SYS_shmat, 0, table_page(), 040000 /* SHM_REMAP */));
       }},
      {"process_vm_writev_self", false, [](const Workspace&, R, R) {
         char byte = 'x';
         iovec local{&byte, 1};
         iovec remote{table_page(), 1};
         return errno_or_success(::syscall(SYS_process_vm_writev, ::getpid(), &local, 1, &remote, 1, 0));
       }},
      {"pkey_alloc", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_pkey_alloc, 0, 0)); }},
      {"pkey_mprotect", false, [](const Workspace&, R, R) {
         return errno_or_success(::syscall(SYS_pkey_mprotect, table_page(), page_size(), PROT_READ | PROT_WRITE, -1));
       }},
      {"remap_file_pages", false, [](const Workspace&, R, R) {
         return errno_or_success(::syscall(SYS_remap_file_pages, table_page(), page_size(), 0, 0, 0));
       }},
      {"mseal", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(462 /* mseal, Linux >= 6.10 */, table_page(), page_size(), 0)); }},
      {"userfaultfd", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_userfaultfd, 0)); }},
      {"memfd_create", false, [](const Workspace&, R, R) { return errno_or_success(::syscall(SYS_memfd_create, "x", 0)); }},
  };
}

class ForbiddenSyscallTest : public LockdownTest, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(ForbiddenSyscallTest, KillsTheProcessWithSigsys) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  const Forbidden f = forbidden_calls()[GetParam()];
  if (f.strict_only && kSanitizer) GTEST_SKIP() << f.name << " is allowed under a sanitizer runtime";
  const auto before = tree(root_);
  const Outcome o = run_child([&] { return locked([&](const Workspace& ws) { return f.attempt(ws, root_, outside_); }); });
  expect_sigsys(o);
  EXPECT_EQ(tree(root_), before) << "the workspace changed";
  EXPECT_FALSE(fs::exists(root_ + "/hard") || fs::exists(root_ + "/sym") || fs::exists(root_ + "/suid") ||
               fs::exists(root_ + "/m") || fs::exists(root_ + "/r"));
  EXPECT_EQ(fs::status(root_ + "/data.txt").permissions(),
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
}

INSTANTIATE_TEST_SUITE_P(Seccomp, ForbiddenSyscallTest, ::testing::Range<std::size_t>(0, forbidden_calls().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& param_info) {
                           return std::string(forbidden_calls()[param_info.param].name);
                         });

// --- Landlock answers (full lockdown: seccomp lets these syscalls through, Landlock refuses) ---

TEST_F(LockdownTest, OpeningOutsideByAbsolutePathIsEacces) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  const std::string secret = outside_ + "/secret.txt";
  expect_exit(run_child([&] { return locked([&](const Workspace&) { return errno_or_success(::open(secret.c_str(), O_RDONLY)); }); }),
              EACCES);
  expect_exit(run_child([&] { return locked([&](const Workspace&) { return errno_or_success(::open("/etc/passwd", O_RDONLY)); }); }),
              EACCES);
  // openat relative to the workspace fd climbs out with ".." (no RESOLVE_BENEATH): Landlock stops it.
  expect_exit(run_child([&] {
                return locked([&](const Workspace& ws) {
                  return errno_or_success(::openat(ws.fd(), "../outside/new.txt", O_WRONLY | O_CREAT, 0644));
                });
              }),
              EACCES);
}

// write_file's one use of linkat: naming its anonymous O_TMPFILE inode (flags == AT_EMPTY_PATH,
// Linux >= 6.10 without capabilities). That form must not become a way to link a file from
// outside the workspace in by name: Landlock refuses the cross-hierarchy link (EXDEV).
TEST_F(LockdownTest, AnAnonymousFileCanBeNamedButNothingOutsideCanBeLinkedIn) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  const bool flink = shmcp::testing::kernel_at_least(6, 10);
  expect_exit(run_child([&] {
                return locked([](const Workspace& ws) {
                  const int fd = ::openat(ws.fd(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
                  if (fd < 0) return kSetupFailed;
                  if (::write(fd, "anon", 4) != 4) return kSetupFailed;
                  return ::linkat(fd, "", ws.fd(), "named", AT_EMPTY_PATH) == 0 ? 0 : errno;
                });
              }),
              flink ? 0 : ENOENT);
  if (flink) {
    std::ifstream in(root_ + "/named");
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "anon");
  }
  const std::string secret = outside_ + "/secret.txt";
  expect_exit(run_child([&] {
                return locked([&](const Workspace& ws) {
                  return errno_or_success(::linkat(AT_FDCWD, secret.c_str(), ws.fd(), "stolen", AT_EMPTY_PATH));
                });
              }),
              EXDEV);
  // The fd form: Landlock does not check O_PATH opens, and since 6.10 the kernel lets the fd's
  // opener link it without a capability; Landlock still refuses the outside source.
  expect_exit(run_child([&] {
                return locked([&](const Workspace& ws) {
                  const int fd = ::openat(AT_FDCWD, secret.c_str(), O_PATH | O_CLOEXEC);
                  if (fd < 0) return kSetupFailed;
                  return errno_or_success(::linkat(fd, "", ws.fd(), "stolen", AT_EMPTY_PATH));
                });
              }),
              flink ? EXDEV : ENOENT);
  EXPECT_FALSE(fs::exists(root_ + "/stolen"));
}

// move_file's rename of an existing FIFO or symlink needs Landlock's make-FIFO / make-symlink right
// on the destination; creating one stays fatal (mknodat_fifo, symlinkat above).
TEST_F(LockdownTest, AnExistingFifoAndSymlinkCanBeMoved) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  ASSERT_EQ(::mkfifo((root_ + "/fifo").c_str(), 0644), 0);
  expect_exit(run_child([&] {
                return locked([](const Workspace& ws) {
                  if (::renameat2(ws.fd(), "fifo", ws.fd(), "sub/fifo", RENAME_NOREPLACE) != 0) return errno;
                  if (::renameat2(ws.fd(), "link", ws.fd(), "sub/link", RENAME_NOREPLACE) != 0) return errno;
                  return 0;
                });
              }),
              0);
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(root_ + "/sub/fifo")));
  EXPECT_TRUE(fs::is_symlink(root_ + "/sub/link"));
  EXPECT_EQ(fs::read_symlink(root_ + "/sub/link"), "data.txt");
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ + "/fifo")) || fs::exists(fs::symlink_status(root_ + "/link")));
}

// Seen from outside: what the worker creates through the calls whose mode seccomp checks carries
// exactly the requested permission bits (the forbidden cases above show special bits are fatal).
TEST_F(LockdownTest, CreatedFilesAndDirectoriesGetTheirPlainModes) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  expect_exit(run_child([&] {
                ::umask(0);
                return locked([](const Workspace& ws) {
                  const int fd = ::openat(ws.fd(), "plain", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                  if (fd < 0) return errno;
                  ::close(fd);
                  if (::mkdirat(ws.fd(), "pdir", 0755) != 0) return errno;
                  return 0;
                });
              }),
              0);
  struct stat st {};
  ASSERT_EQ(::lstat((root_ + "/plain").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 0644);
  ASSERT_EQ(::lstat((root_ + "/pdir").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFDIR | 0755);
}

// The positive side of the openat2 rules (the fatal attempts are in forbidden_calls): an open_how
// of the sealed table works, Workspace opens go through it, creating through Workspace::open is
// refused without a syscall (EACCES), creating with openat on a parent handle works, the table's
// page can't be made writable (EACCES), and memory calls above it still work.
TEST_F(LockdownTest, OpenAt2WorksThroughTheSealedTableOnly) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  const SealedOpenHowTable table = the_table();
  const std::vector<open_how> sealed(table.entries, table.entries + table.count);
  expect_exit(run_child([&] {
                ::umask(0);
                return locked([&](const Workspace& ws) {
                  const open_how* e = read_only_entry();
                  if (e == nullptr) return 1;
                  const long fd = ::syscall(SYS_openat2, ws.fd(), "data.txt", e, sizeof(open_how));
                  char buf[8] = {};
                  if (fd < 0 || ::read(static_cast<int>(fd), buf, sizeof buf) != 4 || std::memcmp(buf, "data", 4) != 0)
                    return 1;
                  ::close(static_cast<int>(fd));
                  auto reg = ws.open_regular("link", O_RDONLY);
                  auto dir = ws.open("sub", O_RDONLY | O_DIRECTORY);
                  auto rw = ws.open("data.txt", O_RDWR);
                  if (!reg || !dir || !rw) return 2;
                  auto created = ws.open("new.txt", O_WRONLY | O_CREAT | O_EXCL, 0644);
                  if (created || created.error().sys_errno != EACCES) return 3;
                  const int made = create_beneath(ws, "sub/made.txt", 0640);
                  if (made < 0) return 4;
                  ::close(made);
                  if (::mprotect(table_page(), page_size(), PROT_READ | PROT_WRITE) != -1 || errno != EACCES) return 5;
                  if (std::memcmp(table.entries, sealed.data(), sealed.size() * sizeof(open_how)) != 0) return 6;
                  char* a = static_cast<char*>(anon_pages(4));
                  if (a == nullptr) return 7;
                  if (::mmap(a, page_size(), PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != a) return 7;
                  if (::madvise(a, 4 * page_size(), MADV_DONTNEED) != 0) return 8;
                  // The MAP_FIXED page above is a mapping of its own now; mremap takes one mapping.
                  void* moved = ::mremap(a + page_size(), 3 * page_size(), 64 * page_size(), MREMAP_MAYMOVE);
                  if (moved == MAP_FAILED || ::munmap(moved, 64 * page_size()) != 0 || ::munmap(a, page_size()) != 0)
                    return 9;
                  return 0;
                });
              }),
              0);
  EXPECT_FALSE(fs::exists(root_ + "/new.txt"));
  struct stat st {};
  ASSERT_EQ(::lstat((root_ + "/sub/made.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 0640);
}

// The table itself, without any lockdown: at its fixed address, below every other mapping (so no
// legitimate munmap, madvise, mremap or MAP_FIXED address is under it), shared and read-only, not
// writable by any means the process has, and without an entry that creates.
TEST(SealedOpenHowTable, IsTheLowestMappingSealedAndNeverCreates) {
  const SealedOpenHowTable t = the_table();
  ASSERT_GT(t.count, 0u);
  EXPECT_EQ(t.end - t.begin, page_size());
  std::ifstream maps("/proc/self/maps");
  std::string first;
  ASSERT_TRUE(std::getline(maps, first));
  char expect[64];
  std::snprintf(expect, sizeof expect, "%08lx-%08lx r--s ", static_cast<unsigned long>(t.begin),
                static_cast<unsigned long>(t.end));
  EXPECT_EQ(first.rfind(expect, 0), 0u) << first;
  EXPECT_NE(first.find("/memfd:shmcp-open-how"), std::string::npos) << first;
  for (std::size_t i = 0; i < t.count; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(t.entries[i].flags & (O_CREAT | O_TRUNC), 0u);
    EXPECT_NE(t.entries[i].flags & O_TMPFILE, static_cast<std::uint64_t>(O_TMPFILE));
    EXPECT_EQ(t.entries[i].mode, 0u);
    EXPECT_NE(t.entries[i].resolve & RESOLVE_BENEATH, 0u);
  }
  errno = 0;
  EXPECT_EQ(::mprotect(table_page(), page_size(), PROT_READ | PROT_WRITE), -1);
  EXPECT_EQ(errno, EACCES);
  const int mem = ::open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  ASSERT_GE(mem, 0);
  errno = 0;
  EXPECT_EQ(::pwrite(mem, "x", 1, static_cast<off_t>(t.begin)), -1);
  EXPECT_EQ(errno, EIO);
  ::close(mem);
  // Positive control: the same /proc/self/mem write lands on an ordinary read-only private page.
  void* priv = ::mmap(nullptr, page_size(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(priv, MAP_FAILED);
  const int mem2 = ::open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  ASSERT_GE(mem2, 0);
  EXPECT_EQ(::pwrite(mem2, "x", 1, static_cast<off_t>(reinterpret_cast<std::uintptr_t>(priv))), 1);
  ::close(mem2);
  EXPECT_EQ(*static_cast<const char*>(priv), 'x');
  ::munmap(priv, page_size());
  // Without a lockdown, flag sets outside the table still work (tests and the unsandboxed side).
  EXPECT_EQ(shmcp::sandbox::sealed_open_how(O_WRONLY | O_CREAT | O_CLOEXEC, kResolveBeneath), nullptr);
  EXPECT_NE(read_only_entry(), nullptr);
}

TEST_F(LockdownTest, ReadOnlyRefusesEveryWriteWithEacces) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  const auto ro = options(/*read_only=*/true);
  const std::vector<std::pair<const char*, std::function<int(const Workspace&)>>> writes = {
      {"open O_WRONLY", [](const Workspace& ws) { return errno_or_success(::openat(ws.fd(), "data.txt", O_WRONLY)); }},
      {"open O_TRUNC", [](const Workspace& ws) { return errno_or_success(::openat(ws.fd(), "data.txt", O_RDONLY | O_TRUNC)); }},
      {"create", [](const Workspace& ws) { return errno_or_success(::openat(ws.fd(), "new.txt", O_WRONLY | O_CREAT, 0644)); }},
      {"mkdirat", [](const Workspace& ws) { return errno_or_success(::mkdirat(ws.fd(), "newdir", 0755)); }},
      {"unlinkat", [](const Workspace& ws) { return errno_or_success(::unlinkat(ws.fd(), "data.txt", 0)); }},
      {"rmdir", [](const Workspace& ws) { return errno_or_success(::unlinkat(ws.fd(), "sub", AT_REMOVEDIR)); }},
      {"renameat", [](const Workspace& ws) { return errno_or_success(::renameat(ws.fd(), "data.txt", ws.fd(), "moved.txt")); }},
      // Refused before any syscall (openat2 never creates in a locked-down process), with EACCES.
      {"via Workspace::open", [](const Workspace& ws) {
         auto fd = ws.open("new.txt", O_WRONLY | O_CREAT, 0644);
         return fd ? kUnexpectedSuccess : fd.error().sys_errno;
       }},
  };
  for (const auto& [what, op] : writes) {
    SCOPED_TRACE(what);
    expect_exit(run_child([&] { return locked(ro, op); }), EACCES);
  }
  // Reading still works.
  expect_exit(run_child([&] {
                return locked(ro, [](const Workspace& ws) {
                  auto fd = ws.open_regular("data.txt", O_RDONLY);
                  char buf[8] = {};
                  if (!fd || ::read(fd->get(), buf, sizeof buf) != 4) return 1;
                  return std::memcmp(buf, "data", 4) == 0 ? 0 : 2;
                });
              }),
              0);
  EXPECT_TRUE(fs::exists(root_ + "/data.txt"));
  EXPECT_TRUE(fs::is_directory(root_ + "/sub"));
  EXPECT_FALSE(fs::exists(root_ + "/new.txt"));
  EXPECT_FALSE(fs::exists(root_ + "/newdir"));
}

// --- Landlock alone (no seccomp): the rules themselves ---

TEST_F(LockdownTest, LandlockAloneDeniesDevicesSocketsExecAndOutside) {
  if (shmcp::sandbox::landlock_abi_version() < 1) GTEST_SKIP() << "no Landlock on this kernel";
  // An executable inside the workspace: execute is never granted.
  fs::copy_file("/bin/true", root_ + "/true");
  fs::permissions(root_ + "/true", fs::perms::owner_all);
  canary_ = snapshot();
  const std::string exe = root_ + "/true";
  const std::string secret = outside_ + "/secret.txt";
  using Op = std::function<int(const Workspace&)>;
  const std::vector<std::pair<const char*, Op>> denied = {
      {"mknodat sock", [](const Workspace& ws) { return errno_or_success(::mknodat(ws.fd(), "sock", S_IFSOCK | 0644, 0)); }},
      {"mknodat chr", [](const Workspace& ws) { return errno_or_success(::mknodat(ws.fd(), "null", S_IFCHR | 0644, makedev(1, 3))); }},
      {"mknodat blk", [](const Workspace& ws) { return errno_or_success(::mknodat(ws.fd(), "blk", S_IFBLK | 0644, makedev(7, 0))); }},
      {"execve inside", [&](const Workspace&) {
         char* argv[] = {const_cast<char*>("true"), nullptr};
         return errno_or_success(::execve(exe.c_str(), argv, environ));
       }},
      {"open outside", [&](const Workspace&) { return errno_or_success(::open(secret.c_str(), O_RDONLY)); }},
      {"write outside", [&](const Workspace&) { return errno_or_success(::open(secret.c_str(), O_WRONLY | O_TRUNC)); }},
  };
  for (const auto& [what, op] : denied) {
    SCOPED_TRACE(what);
    expect_exit(run_child([&] { return landlocked(false, op); }), EACCES);
  }
  EXPECT_FALSE(fs::exists(root_ + "/sock") || fs::exists(root_ + "/null") || fs::exists(root_ + "/blk"));
  // Make-FIFO and make-symlink are granted, for move_file's renames; seccomp is the layer that
  // keeps a worker from creating either (mknodat_fifo, symlinkat above).
  expect_exit(run_child([&] {
                return landlocked(false, [](const Workspace& ws) {
                  if (::mkfifoat(ws.fd(), "fifo", 0644) != 0) return errno;
                  if (::symlinkat("data.txt", ws.fd(), "sym") != 0) return errno;
                  return 0;
                });
              }),
              0);
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(root_ + "/fifo")));
  EXPECT_TRUE(fs::is_symlink(root_ + "/sym"));
  // The same process may still create, rename and remove regular files and directories.
  expect_exit(run_child([&] {
                return landlocked(false, [](const Workspace& ws) {
                  const int fd = ::openat(ws.fd(), "sub/f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                  if (fd < 0) return errno;
                  ::close(fd);
                  if (::mkdirat(ws.fd(), "d2", 0755) != 0) return errno;
                  if (::renameat(ws.fd(), "sub/f", ws.fd(), "d2/f") != 0) return errno;  // needs REFER
                  if (::unlinkat(ws.fd(), "d2/f", 0) != 0) return errno;
                  if (::unlinkat(ws.fd(), "d2", AT_REMOVEDIR) != 0) return errno;
                  return 0;
                });
              }),
              0);
}

TEST_F(LockdownTest, LandlockAloneDeniesTcpBindAndConnect) {
  if (shmcp::sandbox::landlock_abi_version() < 4) GTEST_SKIP() << "Landlock ABI < 4: no network rules";
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  expect_exit(run_child([&] {
                return landlocked(false, [&](const Workspace&) {
                  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
                  if (s < 0) return kSetupFailed;
                  return errno_or_success(::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr));
                });
              }),
              EACCES);
  expect_exit(run_child([&] {
                return landlocked(false, [&](const Workspace&) {
                  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
                  if (s < 0) return kSetupFailed;
                  sockaddr_in any{};
                  any.sin_family = AF_INET;
                  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                  any.sin_port = htons(1);  // a fixed port: port 0 is not checked by Landlock
                  return errno_or_success(::bind(s, reinterpret_cast<const sockaddr*>(&any), sizeof any));
                });
              }),
              EACCES);
  ::close(listener);
}

// --- positive controls ---

// Everything the filesystem tools and the channel do, under the full filter.
TEST_F(LockdownTest, AllowedOperationsWorkUnderTheFilter) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  char canonical[PATH_MAX];
  ASSERT_NE(::realpath(root_.c_str(), canonical), nullptr);
  ASSERT_EQ(::symlink((std::string(canonical) + "/data.txt").c_str(), (root_ + "/abs-link").c_str()), 0);
  ASSERT_EQ(::symlink((outside_ + "/secret.txt").c_str(), (root_ + "/abs-out").c_str()), 0);
  const Outcome o = run_child([&] {
    return locked([](const Workspace& ws) {
      int step = 1;
      auto fail = [&](int s) { std::fprintf(stderr, "child: step %d failed: %s\n", s, errname(errno)); return s; };
      // mkdir via the parent handle
      auto parent = ws.open_parent("newdir");
      if (!parent || ::mkdirat(parent->dir.get(), parent->leaf.c_str(), 0755) != 0) return fail(step);
      ++step;  // 2: create, write, fsync, fchmod a temp file, then rename it into place
      UniqueFd tmp(create_beneath(ws, "newdir/.tmp", 0600));
      if (!tmp) return fail(step);
      const char hello[] = "hello";
      if (::write(tmp.get(), hello, 5) != 5 || ::fsync(tmp.get()) != 0 || ::fdatasync(tmp.get()) != 0 ||
          ::fchmod(tmp.get(), 0644) != 0 || ::ftruncate(tmp.get(), 5) != 0)
        return fail(step);
      tmp.reset();
      ++step;  // 3
      auto dir = ws.open_parent("newdir/b.txt");
      if (!dir || ::renameat2(dir->dir.get(), ".tmp", dir->dir.get(), "b.txt", RENAME_NOREPLACE) != 0) return fail(step);
      ++step;  // 4: read back as a regular file, pread, stat
      auto rd = ws.open_regular("newdir/b.txt", O_RDONLY);
      char buf[16] = {};
      struct stat st {};
      if (!rd || ::pread(rd->get(), buf, sizeof buf, 0) != 5 || std::memcmp(buf, "hello", 5) != 0 ||
          ::fstat(rd->get(), &st) != 0 || (st.st_mode & 07777) != 0644)
        return fail(step);
      struct statx stx {};
      if (::statx(ws.fd(), "newdir/b.txt", AT_SYMLINK_NOFOLLOW, STATX_SIZE, &stx) != 0 || stx.stx_size != 5)
        return fail(step);
      if (::fstatat(ws.fd(), "link", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(st.st_mode)) return fail(step);
      ++step;  // 5: getdents via opendir
      auto dfd = ws.open("newdir", O_RDONLY | O_DIRECTORY);
      if (!dfd) return fail(step);
      DIR* d = ::fdopendir(dfd->release());
      if (d == nullptr) return fail(step);
      bool seen = false;
      while (dirent* e = ::readdir(d)) seen = seen || std::strcmp(e->d_name, "b.txt") == 0;
      ::closedir(d);
      if (!seen) return fail(step);
      ++step;  // 6: readlinkat
      char target[64] = {};
      if (::readlinkat(ws.fd(), "link", target, sizeof target) != 8 || std::strcmp(target, "data.txt") != 0)
        return fail(step);
      // Absolute links: the in-workspace one is rewritten (O_PATH walk, fstat, readlinkat on the
      // handle) and followed; the outside one is denied. Neither may trip the filter.
      auto abs_in = ws.open_regular("abs-link", O_RDONLY);
      char abuf[8] = {};
      if (!abs_in || ::read(abs_in->get(), abuf, sizeof abuf) != 4 || std::memcmp(abuf, "data", 4) != 0)
        return fail(step);
      auto abs_out = ws.open("abs-out", O_RDONLY);
      if (abs_out || abs_out.error().code != shmcp::Errc::access_denied) return fail(step);
      ++step;  // 7: 64 MiB written, then read into a growing std::string (mremap of large buffers)
      {
        UniqueFd big(create_beneath(ws, "big.bin", 0644));
        if (!big) return fail(step);
        std::vector<char> chunk(1 << 20);
        for (int i = 0; i < 64; ++i) {
          std::memset(chunk.data(), 'a' + i % 26, chunk.size());
          if (::write(big.get(), chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) return fail(step);
        }
      }
      {
        auto big = ws.open_regular("big.bin", O_RDONLY);
        if (!big) return fail(step);
        std::string all;
        char rbuf[65536];
        for (;;) {
          const ssize_t n = ::read(big->get(), rbuf, sizeof rbuf);
          if (n < 0) return fail(step);
          if (n == 0) break;
          all.append(rbuf, static_cast<std::size_t>(n));
        }
        if (all.size() != (64u << 20) || all[0] != 'a' || all.back() != 'a' + 63 % 26) return fail(step);
        std::vector<char> v;
        v.resize(32u << 20);
        v.resize(96u << 20);  // grows through mremap
        v.clear();
        v.shrink_to_fit();
      }
      ++step;  // 8: OFD locks (the channel's liveness leases)
      {
        auto f = ws.open("newdir/b.txt", O_RDWR);
        if (!f) return fail(step);
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (::fcntl(f->get(), F_OFD_SETLK, &fl) != 0) return fail(step);
        struct flock q {};
        q.l_type = F_WRLCK;
        q.l_whence = SEEK_SET;
        if (::fcntl(f->get(), F_OFD_GETLK, &q) != 0 || q.l_type != F_UNLCK) return fail(step);
        const int fl_flags = ::fcntl(f->get(), F_GETFL);
        if (fl_flags < 0 || ::fcntl(f->get(), F_SETFL, fl_flags | O_NONBLOCK) != 0) return fail(step);
      }
      ++step;  // 9: time, randomness, yielding, limits
      timespec ts{};
      if (::clock_gettime(CLOCK_MONOTONIC, &ts) != 0 || ::clock_gettime(CLOCK_REALTIME, &ts) != 0) return fail(step);
      const timespec nap{0, 1000};
      if (::nanosleep(&nap, nullptr) != 0 || ::clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, nullptr) != 0) return fail(step);
      unsigned char rnd[16];
      if (::getrandom(rnd, sizeof rnd, 0) != static_cast<ssize_t>(sizeof rnd) || ::sched_yield() != 0) return fail(step);
      rlimit core{}, fsize{};
      if (::getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0) return fail(step);
      if (::getrlimit(RLIMIT_FSIZE, &fsize) != 0 || fsize.rlim_cur != (1ull << 30)) return fail(step);
      ++step;  // 10: logging through spdlog and stdio after the filter
      spdlog::info("worker says hello from inside the sandbox");
      std::printf("stdout works\n");
      std::fflush(stdout);
      std::fprintf(stderr, "child: stderr works\n");
      ++step;  // 11: unlink and rmdir
      if (::unlinkat(ws.fd(), "newdir/b.txt", 0) != 0 || ::unlinkat(ws.fd(), "newdir", AT_REMOVEDIR) != 0 ||
          ::unlinkat(ws.fd(), "big.bin", 0) != 0)
        return fail(step);
      ++step;  // 12: renameat2 without flags (and back)
      if (::renameat2(ws.fd(), "data.txt", ws.fd(), "data.moved", 0) != 0 ||
          ::renameat2(ws.fd(), "data.moved", ws.fd(), "data.txt", 0) != 0)
        return fail(step);
      return 0;
    });
  });
  expect_exit(o, 0);
  EXPECT_FALSE(fs::exists(root_ + "/newdir"));
}

TEST_F(LockdownTest, CrossProcessFutexWakeupsWork) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  auto* words = static_cast<std::atomic<std::uint32_t>*>(
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(static_cast<void*>(words), MAP_FAILED);
  new (&words[0]) std::atomic<std::uint32_t>(0);
  new (&words[1]) std::atomic<std::uint32_t>(0);
  auto futex = [](std::atomic<std::uint32_t>* w, int op, std::uint32_t v, const timespec* t) {
    return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(w), op, v, t, nullptr, 0);
  };
  const pid_t pid = spawn([&] {
    return locked([&](const Workspace&) {
      words[0].store(1);
      if (futex(&words[0], FUTEX_WAKE, 1, nullptr) < 0) return 1;  // non-private wake
      const timespec limit{60, 0};
      while (words[1].load() == 0) {
        const long rc = futex(&words[1], FUTEX_WAIT, 0, &limit);  // non-private wait
        if (rc < 0 && errno == ETIMEDOUT) return 2;                  // the parent's wake never arrived
        if (rc < 0 && errno != EAGAIN && errno != EINTR) return 3;
      }
      // The private variants are allowed too (threads of one process).
      if (futex(&words[2], FUTEX_WAKE_PRIVATE, 1, nullptr) < 0) return 4;
      // glibc's timed waits: FUTEX_WAIT_BITSET with an absolute timeout, either clock. The word
      // holds 0, so waiting for 1 returns EAGAIN at once.
      timespec now{};
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      for (int op : {FUTEX_WAIT_BITSET_PRIVATE, FUTEX_WAIT_BITSET, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME}) {
        if (::syscall(SYS_futex, &words[2], op, 1, &now, nullptr, FUTEX_BITSET_MATCH_ANY) == 0 || errno != EAGAIN)
          return 5;
      }
      if (::syscall(SYS_futex, &words[2], FUTEX_WAKE_BITSET_PRIVATE, 1, nullptr, nullptr, FUTEX_BITSET_MATCH_ANY) < 0)
        return 6;
      return 0;
    });
  });
  // Bounded: a child that dies before waking us (e.g. lock_down failed) must fail the test, not hang it.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const timespec tick{0, 100'000'000};
  while (words[0].load() == 0 && std::chrono::steady_clock::now() < give_up) futex(&words[0], FUTEX_WAIT, 0, &tick);
  words[1].store(1);
  futex(&words[1], FUTEX_WAKE, 1, nullptr);
  expect_exit(wait_child(pid), 0);
  ::munmap(words, 4096);
}

TEST_F(LockdownTest, AbortIsSigabrtNotSigsys) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  const Outcome o = run_child([&] { return locked([](const Workspace&) -> int { std::abort(); }); });
  EXPECT_TRUE(o.signaled && o.sig == SIGABRT) << o;
}

TEST_F(LockdownTest, FileSizeLimitIsEfbigNotSigxfsz) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  auto o = options();
  o.limits.max_file_size = 1 << 20;
  expect_exit(run_child([&] {
                return locked(o, [](const Workspace& ws) {
                  const UniqueFd fd(create_beneath(ws, "big.bin", 0644));
                  if (!fd) return kSetupFailed;
                  std::vector<char> chunk(1 << 18, 'x');
                  for (int i = 0; i < 8; ++i)
                    if (::write(fd.get(), chunk.data(), chunk.size()) < 0) return errno;
                  return kUnexpectedSuccess;
                });
              }),
              EFBIG);
  EXPECT_EQ(fs::file_size(root_ + "/big.bin"), 1u << 20);
}

TEST_F(LockdownTest, ClosesEveryFdButTheKeptOnes) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  const int stray = ::open("/dev/null", O_RDONLY);  // inherited, not kept
  int kept[2];
  ASSERT_EQ(::pipe(kept), 0);
  auto o = options();
  o.keep_fds.push_back(kept[1]);
  expect_exit(run_child([&] {
                return locked(o, [&](const Workspace& ws) {
                  if (::fcntl(stray, F_GETFD) != -1 || errno != EBADF) return 1;
                  if (::fcntl(kept[0], F_GETFD) != -1) return 2;
                  if (::fcntl(kept[1], F_GETFD) < 0 || ::fcntl(ws.fd(), F_GETFD) < 0) return 3;
                  struct stat st {};
                  // Unkept stdin/stdout point at /dev/null, so a new fd never lands on 0..2.
                  if (::fstat(0, &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) return 4;
                  if (::fstat(1, &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) return 5;
                  auto f = ws.open("data.txt", O_RDONLY);
                  if (!f || f->get() <= 2) return 6;
                  return ::write(kept[1], "x", 1) == 1 ? 0 : 7;
                });
              }),
              0);
  ::close(stray);
  ::close(kept[0]);
  ::close(kept[1]);
}

TEST_F(LockdownTest, RefusesToLockDownAMultiThreadedProcess) {
  expect_exit(run_child([&] {
                auto ws = Workspace::open(root_);
                if (!ws) return kSetupFailed;
                int gate[2];
                if (::pipe(gate) != 0) return kSetupFailed;
                std::thread t([&] {
                  char c;
                  (void)!::read(gate[0], &c, 1);
                });
                auto r = shmcp::sandbox::lock_down(*ws, options());
                (void)!::write(gate[1], "x", 1);
                t.join();
                if (r.ok()) return kUnexpectedSuccess;
                return r.error().message.find("single-threaded") != std::string::npos ? 0 : 1;
              }),
              0);
}

TEST_F(LockdownTest, ReportMatchesTheKernel) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  const int abi = shmcp::sandbox::landlock_abi_version();
  if (abi < 1) GTEST_SKIP() << "no Landlock on this kernel";
  expect_exit(run_child([&] {
                auto ws = Workspace::open(root_);
                if (!ws) return kSetupFailed;
                auto r = shmcp::sandbox::lock_down(*ws, options());
                if (!r) return kSetupFailed;
                if (r->landlock_abi != abi) return 1;
                if (!r->seccomp || !r->no_new_privs || !r->caps_dropped) return 2;
                if (!kSanitizer && !r->warnings.empty()) return 3;
                return 0;
              }),
              0);
}

// The supervisor's view: /proc/<worker>/status of a locked-down child waiting on a pipe.
TEST_F(LockdownTest, ProcStatusShowsSeccompNoNewPrivsAndNoCapabilities) {
  SKIP_FORKED_LOCKDOWN_UNDER_TSAN();
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  auto o = options();
  o.keep_fds.push_back(ready[1]);
  o.keep_fds.push_back(release[0]);
  const pid_t pid = spawn([&] {
    return locked(o, [&](const Workspace&) {
      if (::write(ready[1], "r", 1) != 1) return 1;
      char c;
      return ::read(release[0], &c, 1) == 1 ? 0 : 2;
    });
  });
  ::close(ready[1]);
  ::close(release[0]);
  pollfd pfd{ready[0], POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 60000), 1);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "child did not get ready";

  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::map<std::string, std::string> fields;
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon != std::string::npos) fields[line.substr(0, colon)] = line.substr(colon + 1);
  }
  EXPECT_EQ(fields["Seccomp"], "\t2");
  EXPECT_EQ(fields["NoNewPrivs"], "\t1");
  EXPECT_EQ(fields["CapEff"], "\t0000000000000000");
  EXPECT_EQ(fields["CapPrm"], "\t0000000000000000");
  EXPECT_EQ(fields["CapInh"], "\t0000000000000000");
  EXPECT_EQ(fields["CapAmb"], "\t0000000000000000");
  if (::geteuid() == 0) {  // dropping the bounding set needs CAP_SETPCAP
    EXPECT_EQ(fields["CapBnd"], "\t0000000000000000");
  }
  EXPECT_EQ(fields["Threads"], "\t1");

  ASSERT_EQ(::write(release[1], "g", 1), 1);
  expect_exit(wait_child(pid), 0);
  ::close(ready[0]);
  ::close(release[1]);
}

}  // namespace
