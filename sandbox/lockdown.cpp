// One-way process lockdown for executor workers.
//
// Layers, outermost last: fds, rlimits, no_new_privs, capabilities, Landlock, seccomp. Each layer
// assumes the previous ones hold; seccomp goes last because it forbids the syscalls the other
// layers are installed with (prctl, capset, landlock_*).
//
// Seccomp allowlist (default action: kill the whole process). Everything a worker needs to run the
// filesystem tools and the shared-memory channel, nothing that names a path outside an fd-relative
// call that Landlock checks, and nothing that creates processes, sockets or new privileges:
//   I/O on fds      read write pread64 pwrite64 readv writev preadv pwritev lseek close close_range
//                   fsync fdatasync ftruncate fallocate getdents64
//                   fcntl: only F_GETFD F_SETFD F_GETFL F_SETFL F_DUPFD_CLOEXEC F_GETLK F_SETLK
//                   F_SETLKW F_OFD_GETLK F_OFD_SETLK F_OFD_SETLKW (no F_SETOWN/F_SETSIG: that would
//                   let a worker direct signals at other processes)
//                   ioctl: only TCGETS (glibc stdio's isatty probe; answers ENOTTY on files)
//   paths (*at)     openat (mode without setuid/setgid/sticky) newfstatat fstat statx
//                   openat2 only with an open_how from the sealed table (exact address, size 24;
//                   sandbox/open_how.hpp): none creates, so no mode reaches the kernel that
//                   seccomp has not seen
//                   readlinkat mkdirat (mode without setuid/setgid/sticky) unlinkat renameat
//                   renameat2 (flags 0 or RENAME_NOREPLACE only: RENAME_WHITEOUT would create a
//                   character device, RENAME_EXCHANGE no tool uses)
//                   linkat only with flags == AT_EMPTY_PATH: write_file names its anonymous
//                   O_TMPFILE inode in place. Seccomp can't see the path, so this also admits a
//                   link by name (a non-empty old path) and, on Linux >= 6.10, a link to any file
//                   this process opened itself (the kernel no longer asks for CAP_DAC_READ_SEARCH
//                   when the fd's opener is the caller). Landlock bounds both: the new name needs
//                   a make right beneath the workspace and the source must be beneath it too
//                   (REFER; anything else is EXDEV), so the worker can only add names for files
//                   already in the workspace (which the hard-link rule then refuses to read).
//                   fchmod (mode without setuid/setgid/sticky: write_file keeps mode bits on its
//                   temp file; fchmodat/chmod stay denied because they take a path)
//                   Creation modes: every call that creates carries its mode in a register
//                   (openat with O_CREAT/O_TMPFILE, mkdirat) and is checked; mknodat/mknod are denied
//                   outright (no tool creates special files; Landlock grants make-FIFO and
//                   make-symlink only so that move_file can rename existing ones). openat2 keeps its
//                   mode in struct open_how, which seccomp can't read: hence the sealed table, and
//                   the memory rules below that keep its page in place.
//   memory          brk mmap/mprotect (never PROT_EXEC: no new code in a worker)
//                   The sealed open_how page lies below every other mapping and must stay what it
//                   is: munmap, madvise and mremap only from an address at or above its end, mremap
//                   without MREMAP_FIXED/MREMAP_DONTUNMAP, mmap with MAP_FIXED/MAP_FIXED_NOREPLACE
//                   only at or above its end (without them the address is a hint the kernel never
//                   honours over an existing mapping). Its content can't change: the memfd behind
//                   it is sealed against writes and its fd closed, so mprotect(PROT_WRITE) fails
//                   (EACCES); shmat, pkey_mprotect, remap_file_pages, process_vm_writev,
//                   userfaultfd and /proc/self/mem (Landlock) are out of reach.
//   sync/time       futex: FUTEX_WAIT FUTEX_WAKE FUTEX_WAIT_BITSET FUTEX_WAKE_BITSET, each private
//                   or shared (the channel's cross-process wake-ups use the shared FUTEX_WAIT/WAKE;
//                   glibc's uncontended-in-practice locks the private ones, timed waits the BITSET
//                   form, with or without FUTEX_CLOCK_REALTIME); requeue, wake-op and every PI op
//                   are killed. sched_yield clock_gettime clock_getres gettimeofday nanosleep
//                   clock_nanosleep getrandom
//   signals/exit    rt_sigprocmask rt_sigaction rt_sigreturn tgkill (this process only: abort())
//                   getpid gettid getppid exit exit_group restart_syscall
//   identity        getuid geteuid getgid getegid; prlimit64 as getrlimit only (pid 0, no new limit)
// Under LockdownOptions::sanitizer_runtime also: sigaltstack prctl sched_getaffinity readlink pipe2,
// prlimit64 unrestricted, and PROT_EXEC mappings (the open_how page rules hold there too).
// Everything else is killed, notably: execve execveat fork vfork clone clone3 socket connect bind
// ptrace mount umount2 chmod fchmodat fchmodat2 fchown* link linkat(other flags) symlink symlinkat
// mknod mknodat utimensat futex_waitv and the futex2 calls
// io_uring_setup/enter/register kexec_* bpf perf_event_open unshare setns keyctl add_key
// process_vm_readv/writev personality kill shmat shmget pkey_* remap_file_pages mseal userfaultfd
// memfd_create, and the legacy path calls (open stat mkdir rename unlink)
// that std::filesystem would use.
//
// Known limit: Landlock does not mediate stat/readlink/access, so a compromised worker can learn
// metadata (not content) of files outside the workspace through newfstatat/readlinkat with an
// absolute path. Seccomp can't tell: the path is behind a pointer.
#include "sandbox/lockdown.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <seccomp.h>
#include <stdio.h>  // RENAME_NOREPLACE
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "channel/base/log.hpp"
#include "sandbox/open_how.hpp"

namespace shmcp::sandbox {
namespace {

// --- Landlock definitions up to ABI 7. /usr/include/linux/landlock.h (Linux 6.1) stops at ABI 2. ---
struct LlRulesetAttr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;  // ABI >= 4
  std::uint64_t scoped;              // ABI >= 6
};
struct __attribute__((packed)) LlPathBeneathAttr {
  std::uint64_t allowed_access;
  std::int32_t parent_fd;
};
constexpr unsigned kLlCreateRulesetVersion = 1U << 0;
constexpr int kLlRulePathBeneath = 1;

constexpr std::uint64_t kFsExecute = 1ULL << 0;
constexpr std::uint64_t kFsWriteFile = 1ULL << 1;
constexpr std::uint64_t kFsReadFile = 1ULL << 2;
constexpr std::uint64_t kFsReadDir = 1ULL << 3;
constexpr std::uint64_t kFsRemoveDir = 1ULL << 4;
constexpr std::uint64_t kFsRemoveFile = 1ULL << 5;
constexpr std::uint64_t kFsMakeChar = 1ULL << 6;
constexpr std::uint64_t kFsMakeDir = 1ULL << 7;
constexpr std::uint64_t kFsMakeReg = 1ULL << 8;
constexpr std::uint64_t kFsMakeSock = 1ULL << 9;
constexpr std::uint64_t kFsMakeFifo = 1ULL << 10;
constexpr std::uint64_t kFsMakeBlock = 1ULL << 11;
constexpr std::uint64_t kFsMakeSym = 1ULL << 12;
constexpr std::uint64_t kFsRefer = 1ULL << 13;     // ABI 2
constexpr std::uint64_t kFsTruncate = 1ULL << 14;  // ABI 3
constexpr std::uint64_t kFsIoctlDev = 1ULL << 15;  // ABI 5
constexpr std::uint64_t kNetBindTcp = 1ULL << 0;     // ABI 4
constexpr std::uint64_t kNetConnectTcp = 1ULL << 1;  // ABI 4
constexpr std::uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr std::uint64_t kScopeSignal = 1ULL << 1;        // ABI 6

constexpr std::uint64_t kFsAbi1 = kFsExecute | kFsWriteFile | kFsReadFile | kFsReadDir | kFsRemoveDir |
                                  kFsRemoveFile | kFsMakeChar | kFsMakeDir | kFsMakeReg | kFsMakeSock |
                                  kFsMakeFifo | kFsMakeBlock | kFsMakeSym;

std::uint64_t fs_rights_for_abi(int abi) {
  std::uint64_t r = kFsAbi1;
  if (abi >= 2) r |= kFsRefer;
  if (abi >= 3) r |= kFsTruncate;
  if (abi >= 5) r |= kFsIoctlDev;
  return r;
}

// Created before the seccomp filter is installed (lock_down logs before it), so later calls only
// look the logger up.
spdlog::logger& log() {
  static const auto l = component_logger("sandbox");
  return *l;
}

// --- fds ---

Status close_other_fds(const Workspace& ws, const std::vector<int>& keep_in) {
  std::vector<int> keep = keep_in;
  keep.push_back(ws.fd());
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  for (int fd : keep) {
    if (fd < 0 || ::fcntl(fd, F_GETFD) < 0)
      return make_error(Errc::invalid_argument, "lock_down: fd to keep is not open: " + std::to_string(fd),
                        EBADF);
  }
  // 0/1/2 that are not kept are pointed at /dev/null rather than closed: a later open() would
  // otherwise land on fd 2 and a stray diagnostic (abort message, sanitizer report) would be
  // written into a workspace file. So 0..2 always stay open.
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return sys_error(Errc::io, "open(/dev/null)", errno);
  for (int std_fd = 0; std_fd <= 2; ++std_fd) {
    if (std::binary_search(keep.begin(), keep.end(), std_fd) || std_fd == null_fd) continue;
    if (::dup2(null_fd, std_fd) < 0) {
      const int err = errno;
      ::close(null_fd);
      return sys_error(Errc::io, "dup2(/dev/null, " + std::to_string(std_fd) + ")", err);
    }
  }
  // null_fd itself (if above 2) is not kept and goes with the rest below.
  for (int std_fd = 0; std_fd <= 2; ++std_fd)
    if (!std::binary_search(keep.begin(), keep.end(), std_fd))
      keep.insert(std::upper_bound(keep.begin(), keep.end(), std_fd), std_fd);
  unsigned next = 0;
  for (int fd : keep) {
    const auto ufd = static_cast<unsigned>(fd);
    if (ufd > next && ::close_range(next, ufd - 1, 0) != 0)
      return sys_error(Errc::io, "close_range", errno);
    next = ufd + 1;
  }
  if (::close_range(next, ~0U, 0) != 0) return sys_error(Errc::io, "close_range", errno);
  return {};
}

// --- rlimits ---

Status lower_limit(__rlimit_resource_t resource, const char* name, rlim_t value) {
  rlimit cur{};
  if (::getrlimit(resource, &cur) != 0) return sys_error(Errc::io, std::string("getrlimit ") + name, errno);
  // Only ever lower: raising the hard limit needs CAP_SYS_RESOURCE and is not what a cap means.
  const rlim_t v = (cur.rlim_max == RLIM_INFINITY) ? value : std::min(value, cur.rlim_max);
  const rlimit next{v, v};
  if (::setrlimit(resource, &next) != 0) return sys_error(Errc::io, std::string("setrlimit ") + name, errno);
  return {};
}

Status apply_rlimits(const LockdownOptions& o, LockdownReport& report) {
  if (auto s = lower_limit(RLIMIT_CORE, "RLIMIT_CORE", 0); !s) return s;
  if (auto s = lower_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", o.limits.max_file_size); !s) return s;
  if (auto s = lower_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", o.limits.max_open_files); !s) return s;
  if (o.limits.max_address_space != 0) {
    if (o.sanitizer_runtime) {
      // ASan/TSan reserve terabytes of shadow address space up front.
      report.warnings.emplace_back("RLIMIT_AS not applied under a sanitizer runtime");
    } else if (auto s = lower_limit(RLIMIT_AS, "RLIMIT_AS", o.limits.max_address_space); !s) {
      return s;
    }
  }
  // Past RLIMIT_FSIZE the kernel sends SIGXFSZ, whose default action kills the worker. Ignored, the
  // write fails with EFBIG and the tool reports an error instead of the call dying.
  if (::signal(SIGXFSZ, SIG_IGN) == SIG_ERR) return sys_error(Errc::io, "signal(SIGXFSZ)", errno);
  return {};
}

// --- capabilities ---

Status drop_capabilities(LockdownReport& report) {
  bool bounding_incomplete = false;
  for (int cap = 0; cap < 64; ++cap) {
    const int in_set = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in_set < 0) break;  // EINVAL: past the last capability this kernel knows
    if (in_set == 0) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      const int err = errno;
      // Without CAP_SETPCAP (an unprivileged worker) the bounding set can't shrink; it only limits
      // what execve could grant, and execve is denied, so this is reported, not fatal.
      if (err != EPERM) return sys_error(Errc::io, "PR_CAPBSET_DROP " + std::to_string(cap), err);
      bounding_incomplete = true;
    }
  }
  if (bounding_incomplete) {
    report.warnings.emplace_back("capability bounding set not cleared (EPERM: no CAP_SETPCAP)");
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return sys_error(Errc::io, "PR_CAP_AMBIENT_CLEAR_ALL", errno);
  cap_t empty = ::cap_init();
  if (empty == nullptr) return sys_error(Errc::io, "cap_init", errno);
  const int rc = ::cap_set_proc(empty);
  const int err = errno;
  ::cap_free(empty);
  if (rc != 0) return sys_error(Errc::io, "cap_set_proc(empty)", err);
  report.caps_dropped = true;
  return {};
}

// --- threads ---

// Seccomp and Landlock bind only the calling thread; a second thread would run unconfined.
Status require_single_thread() {
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    log().warn("cannot verify thread count: open(/proc/self/status): {}", errno_name(errno));
    return {};
  }
  char buf[4096];
  ssize_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf + total, sizeof buf - 1 - static_cast<std::size_t>(total));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    total += n;
    if (static_cast<std::size_t>(total) >= sizeof buf - 1) break;
  }
  ::close(fd);
  buf[total] = '\0';
  const char* t = std::strstr(buf, "\nThreads:");
  if (t == nullptr) return {};
  const long threads = std::strtol(t + 9, nullptr, 10);
  if (threads != 1)
    return make_error(Errc::internal, "lock_down must run in a single-threaded process (found " +
                                          std::to_string(threads) + " threads)");
  return {};
}

// --- seccomp ---

class SeccompFilter {
 public:
  explicit SeccompFilter(scmp_filter_ctx ctx) : ctx_(ctx) {}
  ~SeccompFilter() {
    if (ctx_ != nullptr) ::seccomp_release(ctx_);
  }
  SeccompFilter(const SeccompFilter&) = delete;
  SeccompFilter& operator=(const SeccompFilter&) = delete;
  scmp_filter_ctx get() const { return ctx_; }

  // Records the first failure; later calls are no-ops so building reads as a flat list.
  void rule(std::uint32_t action, int nr, const char* name, std::vector<scmp_arg_cmp> args = {}) {
    if (rc_ != 0) return;
    const int rc = ::seccomp_rule_add_array(ctx_, action, nr, static_cast<unsigned>(args.size()),
                                            args.empty() ? nullptr : args.data());
    if (rc != 0) {
      rc_ = rc;
      failed_ = name;
    }
  }
  void allow(int nr, const char* name, std::vector<scmp_arg_cmp> args = {}) {
    rule(SCMP_ACT_ALLOW, nr, name, std::move(args));
  }
  int rc() const { return rc_; }
  const std::string& failed() const { return failed_; }

 private:
  scmp_filter_ctx ctx_;
  int rc_ = 0;
  std::string failed_;
};

#define SHMCP_ALLOW(f, name, ...) (f).allow(SCMP_SYS(name), #name __VA_OPT__(, ) __VA_ARGS__)

scmp_arg_cmp arg_eq(unsigned arg, std::uint64_t v) {
  return scmp_arg_cmp{arg, SCMP_CMP_EQ, v, 0};
}
scmp_arg_cmp arg_mask_eq(unsigned arg, std::uint64_t mask, std::uint64_t v) {
  return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, mask, v};
}
scmp_arg_cmp arg_ge(unsigned arg, std::uint64_t v) {
  return scmp_arg_cmp{arg, SCMP_CMP_GE, v, 0};
}

Status install_seccomp(const LockdownOptions& o) {
  auto table = sealed_open_how_table();
  if (!table) return std::move(table).error();
  SeccompFilter f(::seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (f.get() == nullptr) return make_error(Errc::internal, "seccomp_init failed");
  // Syscalls of a foreign ABI (int 0x80, x32) would bypass a filter written for the native one.
  if (int rc = ::seccomp_attr_set(f.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc != 0)
    return sys_error(Errc::internal, "seccomp_attr_set(ACT_BADARCH)", -rc);

  constexpr std::uint64_t kSpecialModeBits = S_ISUID | S_ISGID | S_ISVTX;

  // I/O on fds.
  SHMCP_ALLOW(f, read);
  SHMCP_ALLOW(f, write);
  SHMCP_ALLOW(f, pread64);
  SHMCP_ALLOW(f, pwrite64);
  SHMCP_ALLOW(f, readv);
  SHMCP_ALLOW(f, writev);
  SHMCP_ALLOW(f, preadv);
  SHMCP_ALLOW(f, pwritev);
  SHMCP_ALLOW(f, lseek);
  SHMCP_ALLOW(f, close);
  SHMCP_ALLOW(f, close_range);
  SHMCP_ALLOW(f, fsync);
  SHMCP_ALLOW(f, fdatasync);
  SHMCP_ALLOW(f, ftruncate);
  SHMCP_ALLOW(f, fallocate);
  SHMCP_ALLOW(f, getdents64);
  for (int cmd : {F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC, F_GETLK, F_SETLK, F_SETLKW,
                  F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW})
    SHMCP_ALLOW(f, fcntl, {arg_eq(1, static_cast<std::uint64_t>(cmd))});
  SHMCP_ALLOW(f, ioctl, {arg_eq(1, TCGETS)});

  // Paths, always relative to an fd (Landlock checks what they reach).
  SHMCP_ALLOW(f, openat, {arg_mask_eq(3, kSpecialModeBits, 0)});
  // The kernel copies exactly sizeof(open_how) bytes from a page nobody can change (see memory).
  for (std::size_t i = 0; i < table->count; ++i)
    SHMCP_ALLOW(f, openat2, {arg_eq(2, reinterpret_cast<std::uintptr_t>(&table->entries[i])), arg_eq(3, sizeof(open_how))});
  SHMCP_ALLOW(f, newfstatat);
  SHMCP_ALLOW(f, fstat);
  SHMCP_ALLOW(f, statx);
  SHMCP_ALLOW(f, readlinkat);
  SHMCP_ALLOW(f, mkdirat, {arg_mask_eq(2, kSpecialModeBits, 0)});
  SHMCP_ALLOW(f, unlinkat);
  SHMCP_ALLOW(f, renameat);
  SHMCP_ALLOW(f, renameat2, {arg_eq(4, 0)});
  SHMCP_ALLOW(f, renameat2, {arg_eq(4, RENAME_NOREPLACE)});
  SHMCP_ALLOW(f, linkat, {arg_eq(4, AT_EMPTY_PATH)});
  SHMCP_ALLOW(f, fchmod, {arg_mask_eq(1, kSpecialModeBits, 0)});

  // Memory.
  // Nothing may unmap, move or overlay the sealed open_how page: every address a call acts on
  // starts at or above its end (ranges only go up), except an mmap address that is a mere hint.
  const std::uint64_t table_end = table->end;
  constexpr std::uint64_t kFixed = MAP_FIXED | MAP_FIXED_NOREPLACE;
  SHMCP_ALLOW(f, brk);
  SHMCP_ALLOW(f, munmap, {arg_ge(0, table_end)});
  SHMCP_ALLOW(f, madvise, {arg_ge(0, table_end)});
  SHMCP_ALLOW(f, mremap, (std::vector<scmp_arg_cmp>{arg_ge(0, table_end), arg_mask_eq(3, MREMAP_FIXED | MREMAP_DONTUNMAP, 0)}));
  if (o.sanitizer_runtime) {
    SHMCP_ALLOW(f, mmap, {arg_mask_eq(3, kFixed, 0)});
    SHMCP_ALLOW(f, mmap, {arg_ge(0, table_end)});
    SHMCP_ALLOW(f, mprotect);
  } else {
    SHMCP_ALLOW(f, mmap, (std::vector<scmp_arg_cmp>{arg_mask_eq(2, PROT_EXEC, 0), arg_mask_eq(3, kFixed, 0)}));
    SHMCP_ALLOW(f, mmap, (std::vector<scmp_arg_cmp>{arg_mask_eq(2, PROT_EXEC, 0), arg_ge(0, table_end)}));
    SHMCP_ALLOW(f, mprotect, {arg_mask_eq(2, PROT_EXEC, 0)});
  }

  // Synchronisation and time.
  // The op is an int: only its low 32 bits are compared, as the kernel only reads those.
  constexpr std::uint64_t kFutexCmdMask = 0xffffffffULL & ~static_cast<std::uint64_t>(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
  for (int op : {FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET})
    SHMCP_ALLOW(f, futex, {arg_mask_eq(1, kFutexCmdMask, static_cast<std::uint64_t>(op))});
  SHMCP_ALLOW(f, sched_yield);
  SHMCP_ALLOW(f, clock_gettime);
  SHMCP_ALLOW(f, clock_getres);
  SHMCP_ALLOW(f, gettimeofday);
  SHMCP_ALLOW(f, nanosleep);
  SHMCP_ALLOW(f, clock_nanosleep);
  SHMCP_ALLOW(f, getrandom);

  // Signals, identity, exit. tgkill is pinned to this process: abort() and raise() need it, and
  // this process never forks, so its pid is fixed.
  SHMCP_ALLOW(f, rt_sigprocmask);
  SHMCP_ALLOW(f, rt_sigaction);
  SHMCP_ALLOW(f, rt_sigreturn);
  SHMCP_ALLOW(f, tgkill, {arg_eq(0, static_cast<std::uint64_t>(::getpid()))});
  SHMCP_ALLOW(f, getpid);
  SHMCP_ALLOW(f, gettid);
  SHMCP_ALLOW(f, getppid);
  SHMCP_ALLOW(f, getuid);
  SHMCP_ALLOW(f, geteuid);
  SHMCP_ALLOW(f, getgid);
  SHMCP_ALLOW(f, getegid);
  SHMCP_ALLOW(f, exit);
  SHMCP_ALLOW(f, exit_group);
  SHMCP_ALLOW(f, restart_syscall);

  if (o.sanitizer_runtime) {
    SHMCP_ALLOW(f, prlimit64);
    SHMCP_ALLOW(f, sigaltstack);
    SHMCP_ALLOW(f, prctl);
    SHMCP_ALLOW(f, sched_getaffinity);
    SHMCP_ALLOW(f, readlink);
    SHMCP_ALLOW(f, pipe2);  // ASan's IsAccessibleMemoryRange probes memory by write()ing it to a pipe
  } else {
    SHMCP_ALLOW(f, prlimit64, (std::vector<scmp_arg_cmp>{arg_eq(0, 0), arg_eq(2, 0)}));
  }

  if (f.rc() != 0) return sys_error(Errc::internal, "seccomp_rule_add(" + f.failed() + ")", -f.rc());
  if (int rc = ::seccomp_load(f.get()); rc != 0) return sys_error(Errc::internal, "seccomp_load", -rc);
  return {};
}

#undef SHMCP_ALLOW

}  // namespace

int landlock_abi_version() noexcept {
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, kLlCreateRulesetVersion);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

Result<int> restrict_to_workspace(const Workspace& workspace, bool read_only) {
  const int abi = landlock_abi_version();
  if (abi <= 0) {
    const int err = errno;
    return sys_error(Errc::internal, "Landlock unavailable (landlock_create_ruleset version probe)", err);
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return sys_error(Errc::io, "PR_SET_NO_NEW_PRIVS", errno);

  LlRulesetAttr attr{};
  attr.handled_access_fs = fs_rights_for_abi(abi);
  std::size_t attr_size = sizeof attr.handled_access_fs;
  if (abi >= 4) {
    // Handled with no rule: every TCP bind and connect is denied.
    attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
    attr_size = offsetof(LlRulesetAttr, scoped);
  }
  if (abi >= 6) {
    attr.scoped = kScopeAbstractUnix | kScopeSignal;
    attr_size = sizeof attr;
  }
  const long ruleset = ::syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
  if (ruleset < 0) return sys_error(Errc::internal, "landlock_create_ruleset", errno);
  const UniqueFd ruleset_fd(static_cast<int>(ruleset));

  // Read rights always; write rights unless read-only. Never execute, device or socket creation or
  // device ioctls: nothing a tool does needs them. Make-FIFO and make-symlink are granted because
  // Landlock checks them on a rename's destination (move_file of an existing FIFO or symlink); the
  // calls that would create one (mknodat, symlinkat) are killed by seccomp.
  std::uint64_t grant = kFsReadFile | kFsReadDir;
  if (!read_only)
    grant |= kFsWriteFile | kFsRemoveDir | kFsRemoveFile | kFsMakeDir | kFsMakeReg | kFsMakeFifo | kFsMakeSym |
             kFsRefer | kFsTruncate;
  LlPathBeneathAttr rule{};
  rule.allowed_access = grant & attr.handled_access_fs;
  rule.parent_fd = workspace.fd();
  if (::syscall(SYS_landlock_add_rule, ruleset_fd.get(), kLlRulePathBeneath, &rule, 0) != 0)
    return sys_error(Errc::internal, "landlock_add_rule(workspace)", errno);
  if (::syscall(SYS_landlock_restrict_self, ruleset_fd.get(), 0) != 0)
    return sys_error(Errc::internal, "landlock_restrict_self", errno);
  return abi;
}

Result<LockdownReport> lock_down(const Workspace& workspace, const LockdownOptions& options) {
  LockdownReport report;
  if (workspace.fd() < 0) return make_error(Errc::invalid_argument, "lock_down: workspace is not open");
  if (auto s = require_single_thread(); !s) return std::move(s).error();
  // Built before anything is closed or restricted (memfd_create is not in the filter); a failure
  // surfaces where the filter needs the table.
  (void)sealed_open_how_table();
  if (auto s = close_other_fds(workspace, options.keep_fds); !s) return std::move(s).error();
  if (auto s = apply_rlimits(options, report); !s) return std::move(s).error();
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return sys_error(Errc::io, "PR_SET_NO_NEW_PRIVS", errno);
  report.no_new_privs = true;
  if (auto s = drop_capabilities(report); !s) {
    if (!options.allow_unsandboxed) return std::move(s).error();
    report.warnings.push_back("capabilities not dropped: " + s.error().message);
  }

  auto ll = restrict_to_workspace(workspace, options.read_only);
  if (ll) {
    report.landlock_abi = *ll;
  } else if (options.allow_unsandboxed) {
    report.warnings.push_back("running WITHOUT Landlock (allow_unsandboxed): " + ll.error().message);
  } else {
    return make_error(ll.error().code, "refusing to run without Landlock: " + ll.error().message,
                      ll.error().sys_errno);
  }

  // Last log line before the filter: after it, logging must not need anything outside the list.
  log().debug("installing seccomp filter (landlock ABI {})", report.landlock_abi);
  if (auto s = install_seccomp(options); s) {
    report.seccomp = true;
    detail::require_sealed_open_how();
  } else if (options.allow_unsandboxed) {
    report.warnings.push_back("running WITHOUT seccomp (allow_unsandboxed): " + s.error().message);
  } else {
    return make_error(s.error().code, "refusing to run without seccomp: " + s.error().message,
                      s.error().sys_errno);
  }
  return report;
}

}  // namespace shmcp::sandbox
