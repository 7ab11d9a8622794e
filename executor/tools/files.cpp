// The file primitives every tool builds on: reading a regular file whole, and replacing a file
// atomically (one function per strategy: an anonymous O_TMPFILE inode named by linkat, or a named
// temp file; replace_with chooses).
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "executor/tools/tools_internal.hpp"

namespace shmcp::executor::detail {

// ---- files -----------------------------------------------------------------------------------

namespace {

std::string too_large(std::string_view display, std::uint64_t size, std::uint64_t limit) {
  return "File too large: " + std::string(display) + " is " + std::to_string(size) + " bytes (limit " +
         std::to_string(limit) + " bytes)";
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), std::min<std::size_t>(data.size(), 1u << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

}  // namespace

std::string hardlink_refusal(const Ctx& c, mode_t mode, std::uint64_t nlink, std::string_view display) {
  if (nlink <= 1 || S_ISDIR(mode) || c.opts.allow_hardlinks) return {};
  return "Access denied - file has " + std::to_string(nlink) + " hard links: " + std::string(display);
}

Result<FileBytes> read_regular(const Ctx& c, std::string_view user_path, std::optional<std::uint64_t> limit_opt) {
  auto name = c.ws.name(user_path);
  if (!name) return fail(name.error().message, name.error().code);
  return read_regular(c, *name, limit_opt);
}

Result<FileBytes> read_regular(const Ctx& c, const sandbox::ResolvedName& name,
                               std::optional<std::uint64_t> limit_opt) {
  const std::uint64_t limit = limit_opt.value_or(c.opts.max_read_bytes);
  FileBytes fb;
  fb.display = name.display;
  // Never opens a FIFO or device sitting in the workspace, and costs one stat + one open for a
  // regular file (Workspace::open_regular). O_NONBLOCK stays set: it is harmless for a regular
  // file and spares the two fcntl calls that clearing it would cost.
  auto fd = c.ws.open_regular(name, O_RDONLY | O_NONBLOCK, &fb.st);
  if (!fd) {
    const Error& e = fd.error();
    if (e.code == Errc::invalid_argument) {
      if (e.sys_errno == EISDIR) return fail("EISDIR: illegal operation on a directory, read");
      return fail("Not a regular file: " + fb.display, Errc::access_denied);
    }
    if (e.code == Errc::busy) return fail("File changed while being opened: " + fb.display);
    return fail(ws_error_message(e, "open", fb.display));
  }
  if (auto refused = hardlink_refusal(c, fb.st.st_mode, fb.st.st_nlink, fb.display); !refused.empty())
    return fail(std::move(refused), Errc::access_denied);
  if (static_cast<std::uint64_t>(fb.st.st_size) > limit) {
    return fail(too_large(fb.display, static_cast<std::uint64_t>(fb.st.st_size), limit), Errc::too_large);
  }
  // One byte more than fstat's size, so that a file of the expected size ends in one short read()
  // that stops exactly at that size: no second read() to see EOF, and no doubling of the buffer
  // (which zero-filled and copied a second copy of the file). Any other short read (FUSE and
  // network filesystems may return them before the end) keeps reading until read() returns 0.
  fb.data.resize(static_cast<std::size_t>(std::min<std::uint64_t>(static_cast<std::uint64_t>(fb.st.st_size), limit) + 1));
  std::size_t got = 0;
  while (true) {
    if (got == fb.data.size()) {
      // The file may have grown since fstat: keep reading, but never past the limit.
      if (got > limit) break;
      fb.data.resize(std::min<std::uint64_t>(std::max<std::size_t>(got * 2, 4096), limit + 1));
      if (got == fb.data.size()) break;
    }
    ssize_t r = ::read(fd->get(), fb.data.data() + got, fb.data.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail(node_errno_message(errno, "read", fb.display));
    }
    if (r == 0) break;
    const bool short_read = static_cast<std::size_t>(r) < fb.data.size() - got;
    got += static_cast<std::size_t>(r);
    if (short_read && got == static_cast<std::uint64_t>(fb.st.st_size)) break;
  }
  if (got > limit) return fail(too_large(fb.display, got, limit), Errc::too_large);
  fb.data.resize(got);
  if (c.closing) c.closing->push_back(std::move(*fd));
  return fb;
}

namespace {

// Where atomic_write puts the data: the parent directory's handle and the leaf name in it.
struct WriteTarget {
  int dir;
  const std::string& leaf;
  const std::string& display;
  std::optional<mode_t> keep_mode;  // permission bits of the regular file being replaced
};

// ".<name>.shmcp-<12 hex>.tmp", kept within NAME_MAX however long the target's name is.
std::string temp_name(const std::string& leaf, int attempt) {
  unsigned char rnd[6] = {};
  if (::getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof rnd)) {
    // Uniqueness, not secrecy, is what matters (O_EXCL / linkat refuse collisions): mix in time and pid.
    struct timespec ts {};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    auto v = static_cast<std::uint64_t>(ts.tv_nsec) ^ (static_cast<std::uint64_t>(::getpid()) << 20) ^
             static_cast<std::uint64_t>(attempt);
    std::memcpy(rnd, &v, sizeof rnd);
  }
  char hex[16];
  for (std::size_t k = 0; k < sizeof rnd; ++k) std::snprintf(hex + 2 * k, 3, "%02x", rnd[k]);
  // Appended piecewise: GCC 12 at -O3 reports a false -Wrestrict on `"." + std::string&&`.
  std::string name;
  const std::string_view kept = std::string_view(leaf).substr(0, 200);
  name.reserve(kept.size() + 24);
  name.push_back('.');
  name.append(kept);
  name.append(".shmcp-");
  name.append(hex, 12);
  name.append(".tmp");
  return name;
}

// Writes the content into the not yet named file `fd`. The page cache survives the death of any
// process (executor, container), so an acknowledged write is intact after a SIGKILL without fsync.
// fsync (milliseconds per call on most disks) only buys durability across a host crash: opt-in with --fsync
// (ToolOptions::fsync_writes). Returns 0 or the failing call's errno (and its name in `what`).
int fill(const Ctx& c, const WriteTarget& t, std::string_view data, int fd, const char*& what) {
  what = "write";
  if (!write_all(fd, data)) return errno;
  what = "chmod";
  if (t.keep_mode && ::fchmod(fd, *t.keep_mode) != 0) return errno;
  what = "fsync";
  if (c.opts.fsync_writes && ::fsync(fd) != 0) return errno;
  if (c.opts.test_abort_after_fill) std::abort();  // TEST-ONLY (see ToolOptions)
  return 0;
}

// An anonymous inode (O_TMPFILE) in the target's directory, given a name only once its content is
// complete. A worker killed while writing (deadline, OOM, crash) then leaves nothing behind; the
// named temp file exists only between linkat and rename. std::nullopt: this strategy is not
// available here, nothing was written; *kernel_cannot is set when it never will be on this kernel
// (naming it, linkat AT_EMPTY_PATH without CAP_DAC_READ_SEARCH, needs Linux >= 6.10; older kernels
// answer ENOENT), left alone when only this filesystem lacks O_TMPFILE (EOPNOTSUPP).
std::optional<Result<std::string>> write_anonymous_inode(const Ctx& c, const WriteTarget& t, std::string_view data,
                                                         bool* kernel_cannot) {
  const int raw = ::openat(t.dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, t.keep_mode ? 0600 : 0666);
  if (raw < 0) {
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return fail(node_errno_message(errno, "open", t.display));
    return std::nullopt;
  }
  sandbox::UniqueFd anon(raw);
  const char* what = "";
  if (int err = fill(c, t, data, anon.get(), what); err != 0) return fail(node_errno_message(err, what, t.display));
  int err = EEXIST;
  std::string tmp;
  for (int attempt = 0; attempt < 16 && err == EEXIST; ++attempt) {
    tmp = temp_name(t.leaf, attempt);
    err = ::linkat(anon.get(), "", t.dir, tmp.c_str(), AT_EMPTY_PATH) == 0 ? 0 : errno;
  }
  if (err == 0) {
    anon.reset();
    if (::renameat(t.dir, tmp.c_str(), t.dir, t.leaf.c_str()) != 0) {
      const int rerr = errno;
      ::unlinkat(t.dir, tmp.c_str(), 0);
      return fail(node_errno_message(rerr, "rename", t.display));
    }
    return Result<std::string>(t.display);
  }
  if (err != ENOENT) return fail(node_errno_message(err, "link", t.display));
  *kernel_cannot = true;
  return std::nullopt;
}

// A named temp file from the start, renamed over the target once complete; removed on failure.
Result<std::string> write_named_temp(const Ctx& c, const WriteTarget& t, std::string_view data) {
  std::string tmp;
  sandbox::UniqueFd fd;
  for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
    tmp = temp_name(t.leaf, attempt);
    // A single component relative to the parent handle with O_EXCL: nothing to resolve, and an
    // existing entry (including a planted symlink) is refused rather than followed.
    int raw = ::openat(t.dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       t.keep_mode ? 0600 : 0666);
    if (raw >= 0) {
      fd.reset(raw);
    } else if (errno != EEXIST) {
      return fail(node_errno_message(errno, "open", t.display));
    }
  }
  if (!fd) return fail(node_errno_message(EEXIST, "open", t.display));

  auto abandon = [&](int err, const char* syscall) {
    fd.reset();
    ::unlinkat(t.dir, tmp.c_str(), 0);
    return fail(node_errno_message(err, syscall, t.display));
  };
  const char* what = "";
  if (int err = fill(c, t, data, fd.get(), what); err != 0) return abandon(err, what);
  if (::close(fd.release()) != 0) return abandon(errno, "close");
  if (::renameat(t.dir, tmp.c_str(), t.dir, t.leaf.c_str()) != 0) return abandon(errno, "rename");
  return t.display;
}

// The strategy: the anonymous inode where it works, else the named temp file.
Result<std::string> replace_with(const Ctx& c, const WriteTarget& t, std::string_view data) {
  static std::atomic<bool> kernel_cannot_link_anonymous{false};
  if (!kernel_cannot_link_anonymous.load(std::memory_order_relaxed)) {
    bool kernel_cannot = false;
    if (auto done = write_anonymous_inode(c, t, data, &kernel_cannot)) return std::move(*done);
    if (kernel_cannot) kernel_cannot_link_anonymous.store(true, std::memory_order_relaxed);
  }
  return write_named_temp(c, t, data);
}

}  // namespace

Result<std::string> atomic_write(const Ctx& c, std::string_view user_path, std::string_view data,
                                 std::string_view verb) {
  auto name = c.ws.name(user_path);
  if (!name) return fail(name.error().message, name.error().code);
  const std::string display = name->display;
  if (data.size() > c.opts.max_write_bytes) {
    return fail(too_large(display, data.size(), c.opts.max_write_bytes), Errc::too_large);
  }
  auto parent = c.ws.open_parent(user_path);
  if (!parent) {
    const Error& e = parent.error();
    if (e.code == Errc::not_found || e.sys_errno == ENOENT) {
      return fail("Parent directory does not exist: " + dirname(display), Errc::not_found);
    }
    if (e.code == Errc::invalid_argument && e.sys_errno == 0) {
      return fail(node_errno_message(EISDIR, "open", display));
    }
    return fail(ws_error_message(e, "open", display));
  }
  struct stat st {};
  std::optional<mode_t> keep_mode;
  // What the write changes in the quota's count: a new name is a file more; a regular file's old
  // bytes go, the new ones come (a symlink or other entry replaced only adds the new bytes).
  std::uint64_t old_bytes = 0, new_files = 0;
  if (::fstatat(parent->dir.get(), parent->leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) return fail(node_errno_message(EISDIR, "open", display));
    if (S_ISREG(st.st_mode)) {
      keep_mode = st.st_mode & 0777;
      old_bytes = static_cast<std::uint64_t>(st.st_size);
    }
  } else if (errno != ENOENT) {
    return fail(node_errno_message(errno, "open", display));
  } else {
    new_files = 1;
  }
  const WriteTarget target{parent->dir.get(), parent->leaf, display, keep_mode};
  if (c.quota == nullptr) return replace_with(c, target, data);
  // Reserved before anything is created (the temp file included): a refusal leaves no trace.
  const std::uint64_t grow = data.size() > old_bytes ? data.size() - old_bytes : 0;
  if (const QuotaRefusal r = c.quota->reserve(grow, new_files); r.what != QuotaRefusal::What::none)
    return fail(quota_refusal_message(r, verb, display), Errc::too_large);
  auto done = replace_with(c, target, data);
  if (done) c.quota->commit(old_bytes - (data.size() - grow));  // frees what shrinking gave back
  else c.quota->cancel();
  return done;
}

}  // namespace shmcp::executor::detail
