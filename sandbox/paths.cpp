// Path resolution beneath the workspace handle.
//
// Two layers, and only the second one is trusted:
//  1. name(): a lexical gate that rejects obviously hostile input early with the reference server's
//     wording. It never rewrites what will be opened: the string handed to the kernel is the
//     caller's bytes minus the root prefix, untrimmed and undecoded.
//  2. openat2() beneath the root fd with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV:
//     the kernel refuses every ".." above the root, every absolute or escaping symlink, every
//     magic link and every mount crossing, atomically with the open. There is no check-then-open.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "sandbox/sandbox.hpp"

namespace shmcp::sandbox {

void UniqueFd::reset(int fd) noexcept {
  const int old = std::exchange(fd_, fd);
  // close() is not retried on EINTR: on Linux the fd is released even then, and a retry could close
  // an fd another thread just received.
  if (old >= 0 && old != fd) ::close(old);
}

namespace {

constexpr std::uint64_t kResolveFlags = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
// EAGAIN from RESOLVE_BENEATH means a concurrent rename/mount raced a ".." step. Retrying is what
// the kernel asks for; the bound only stops an adversary who renames in a loop from pinning a worker.
constexpr int kMaxEagainRetries = 1024;

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// "C:", "C:\x", "C:/x", "C:x" (drive-relative) and anything starting with a backslash
// ("\\server\share", "\\?\C:\", "\Windows"). On Linux these are odd but legal names; we refuse them
// because a client sending them means something else than the file it would get.
bool is_windows_path(std::string_view p) {
  if (p.size() >= 2 && is_ascii_alpha(p[0]) && p[1] == ':') return true;
  return !p.empty() && p[0] == '\\';
}

// Lexical normalisation of an absolute path ("//a/./b/../c" -> "/a/c"), for display only. ".."
// above "/" stays at "/", as path.resolve does in the reference server.
std::string normalize_absolute(std::string_view abs) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < abs.size()) {
    while (i < abs.size() && abs[i] == '/') ++i;
    std::size_t j = i;
    while (j < abs.size() && abs[j] != '/') ++j;
    const std::string_view comp = abs.substr(i, j - i);
    if (comp.empty() || comp == ".") {
      // nothing
    } else if (comp == "..") {
      if (!parts.empty()) parts.pop_back();
    } else {
      parts.push_back(comp);
    }
    i = j;
  }
  std::string out;
  for (auto c : parts) {
    out += '/';
    out += c;
  }
  return out.empty() ? std::string("/") : out;
}

bool is_within(std::string_view path, std::string_view root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  if (path.size() < root.size() || path.substr(0, root.size()) != root) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

// True if walking `rel` component by component ever steps above its starting directory. The kernel
// would refuse that too (EXDEV); catching it here gives the "outside allowed directories" message.
bool climbs_above_start(std::string_view rel) {
  long depth = 0;
  std::size_t i = 0;
  while (i < rel.size()) {
    std::size_t j = rel.find('/', i);
    if (j == std::string_view::npos) j = rel.size();
    const std::string_view comp = rel.substr(i, j - i);
    if (comp == "..") {
      if (--depth < 0) return true;
    } else if (!comp.empty() && comp != ".") {
      ++depth;
    }
    i = j + 1;
  }
  return false;
}

Error outside_error(std::string_view shown, std::string_view root) {
  std::string msg = "Access denied - path outside allowed directories: ";
  msg += shown;
  msg += " not in ";
  msg += root;
  return make_error(Errc::access_denied, std::move(msg));
}

Error symlink_error(std::string_view display, int err) {
  std::string msg = "Access denied - symlink target outside allowed directories: ";
  msg += display;
  return make_error(Errc::access_denied, std::move(msg), err);
}

// openat2 beneath dir_fd, retried on EAGAIN/EINTR. Returns the fd or -errno.
int openat2_beneath(int dir_fd, const std::string& rel, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(static_cast<unsigned>(flags | O_CLOEXEC));
  // openat2 rejects a non-zero mode unless a file may be created.
  if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) how.mode = mode & 07777;
  how.resolve = kResolveFlags;
  for (int attempt = 0;; ++attempt) {
    const long fd = ::syscall(SYS_openat2, dir_fd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    const int err = errno;
    if (err == EINTR || (err == EAGAIN && attempt < kMaxEagainRetries)) continue;
    return -err;
  }
}

Error map_open_errno(int err, const std::string& display, std::string_view what) {
  if (err == EXDEV || err == ELOOP) {
    spdlog::debug("openat2 beneath workspace refused {}: {}", display, errno_name(err));
    return symlink_error(display, err);
  }
  spdlog::debug("openat2 {} failed: {}", display, errno_name(err));
  std::string msg(what);
  msg += " '";
  msg += display;
  msg += "'";
  return sys_error(err == ENOENT ? Errc::not_found : Errc::io, std::move(msg), err);
}

}  // namespace

Result<Workspace> Workspace::open(const std::string& root) {
  if (root.empty() || root.find('\0') != std::string::npos)
    return make_error(Errc::invalid_argument, "workspace root must be a non-empty path without NUL");
  char buf[PATH_MAX];
  if (::realpath(root.c_str(), buf) == nullptr) {
    const int err = errno;
    spdlog::error("workspace root {}: realpath failed: {}", root, errno_name(err));
    return sys_error(err == ENOENT ? Errc::not_found : Errc::io, "workspace root '" + root + "'", err);
  }
  std::string canonical(buf);
  // O_NOFOLLOW: realpath gave a symlink-free path; if a symlink appears there now, someone is racing
  // us and we'd rather fail than root the workspace somewhere unexpected.
  const int fd = ::open(canonical.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    spdlog::error("workspace root {}: open failed: {}", canonical, errno_name(err));
    const Errc code = err == ENOENT ? Errc::not_found
                      : err == ENOTDIR ? Errc::invalid_argument
                                       : Errc::io;
    return sys_error(code, "workspace root '" + canonical + "'", err);
  }
  return adopt(UniqueFd(fd), std::move(canonical));
}

Workspace Workspace::adopt(UniqueFd root_fd, std::string canonical_root) {
  Workspace ws;
  ws.root_fd_ = std::move(root_fd);
  ws.root_ = std::move(canonical_root);
  return ws;
}

Result<ResolvedName> Workspace::name(std::string_view user_path) const {
  if (user_path.empty()) return make_error(Errc::invalid_argument, "Path must not be empty");
  if (user_path.size() > kMaxPathBytes)
    return make_error(Errc::invalid_argument, "Path too long: " + std::to_string(user_path.size()) +
                                                  " bytes (limit " + std::to_string(kMaxPathBytes) + ")");
  if (user_path.find('\0') != std::string_view::npos)
    return make_error(Errc::invalid_argument, "Path contains a NUL byte");
  if (is_windows_path(user_path))
    return make_error(Errc::invalid_argument,
                      "Windows drive or UNC paths are not supported: " + std::string(user_path));

  const bool absolute = user_path[0] == '/';
  std::string joined;
  if (absolute) {
    joined = user_path;
  } else {
    joined = root_;
    if (joined.back() != '/') joined += '/';
    joined += user_path;
  }
  ResolvedName out;
  out.display = normalize_absolute(joined);
  if (!is_within(out.display, root_)) return outside_error(out.display, root_);

  std::string_view rel = user_path;
  if (absolute) {
    // The component-boundary check runs on the raw bytes: "/ws_evil", "/ws " and "/ws'" all fail
    // here even though nothing about them is normalised away.
    if (!is_within(user_path, root_)) return outside_error(out.display, root_);
    rel.remove_prefix(root_ == "/" ? 0 : root_.size());
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  }
  if (climbs_above_start(rel)) return outside_error(joined, root_);
  out.relative = rel.empty() ? std::string(".") : std::string(rel);
  return out;
}

Result<UniqueFd> Workspace::open(std::string_view user_path, int flags, mode_t mode,
                                 bool follow_last) const {
  auto n = name(user_path);
  if (!n) return std::move(n).error();
  const int fd = openat2_beneath(root_fd_.get(), n->relative, flags | (follow_last ? 0 : O_NOFOLLOW), mode);
  if (fd < 0) return map_open_errno(-fd, n->display, "open");
  return UniqueFd(fd);
}

Result<Workspace::Parent> Workspace::open_parent(std::string_view user_path) const {
  auto n = name(user_path);
  if (!n) return std::move(n).error();
  std::string_view rel = n->relative;
  while (rel.size() > 1 && rel.back() == '/') rel.remove_suffix(1);
  if (rel == ".")
    return make_error(Errc::invalid_argument, "The workspace root has no parent: " + n->display);
  const std::size_t slash = rel.rfind('/');
  const std::string_view leaf = slash == std::string_view::npos ? rel : rel.substr(slash + 1);
  if (leaf.empty() || leaf == "." || leaf == "..")
    return make_error(Errc::invalid_argument, "Path must name a directory entry: " + n->display);
  const std::string parent_rel =
      slash == std::string_view::npos ? std::string(".") : std::string(rel.substr(0, slash + 1));

  const int fd = openat2_beneath(root_fd_.get(), parent_rel, O_PATH | O_DIRECTORY, 0);
  if (fd < 0) {
    const int err = -fd;
    std::string parent_display = n->display.substr(0, n->display.rfind('/'));
    if (parent_display.empty()) parent_display = "/";
    if (err == ENOENT) {
      spdlog::debug("open_parent {}: {}", parent_display, errno_name(err));
      return make_error(Errc::not_found, "Parent directory does not exist: " + parent_display, err);
    }
    return map_open_errno(err, parent_display, "open directory");
  }
  Parent p;
  p.dir = UniqueFd(fd);
  p.leaf = std::string(leaf);
  p.name = std::move(n).value();
  return p;
}

Result<UniqueFd> Workspace::open_regular(std::string_view user_path, int flags) const {
  // Type check on an O_PATH handle first: it opens nothing, so a device or FIFO never sees an
  // open() (which could block or have side effects).
  auto probe = open(user_path, O_PATH);
  if (!probe) return std::move(probe).error();
  struct stat before {};
  if (::fstat(probe->get(), &before) != 0) {
    const int err = errno;
    spdlog::warn("fstat of {} failed: {}", user_path, errno_name(err));
    return sys_error(Errc::io, "fstat '" + std::string(user_path) + "'", err);
  }
  auto n = name(user_path);  // cannot fail: open() above accepted it
  const std::string display = n ? n->display : std::string(user_path);
  if (!S_ISREG(before.st_mode))
    return make_error(Errc::invalid_argument, "Not a regular file: " + display);

  // The entry may be swapped between the two opens; O_NONBLOCK keeps a FIFO swapped in from
  // blocking and the identity check below rejects whatever was swapped in.
  auto fd = open(user_path, (flags & ~(O_CREAT | O_EXCL | O_TMPFILE)) | O_NONBLOCK | O_NOCTTY);
  if (!fd) return std::move(fd).error();
  struct stat after {};
  if (::fstat(fd->get(), &after) != 0) {
    const int err = errno;
    spdlog::warn("fstat of {} failed: {}", display, errno_name(err));
    return sys_error(Errc::io, "fstat '" + display + "'", err);
  }
  if (!S_ISREG(after.st_mode) || after.st_dev != before.st_dev || after.st_ino != before.st_ino)
    return make_error(Errc::busy, "File changed while being opened: " + display);
  if ((flags & O_NONBLOCK) == 0) {
    const int fl = ::fcntl(fd->get(), F_GETFL);
    if (fl < 0 || ::fcntl(fd->get(), F_SETFL, fl & ~O_NONBLOCK) != 0) {
      const int err = errno;
      spdlog::warn("fcntl(F_SETFL) on {} failed: {}", display, errno_name(err));
      return sys_error(Errc::io, "fcntl '" + display + "'", err);
    }
  }
  return std::move(fd).value();
}

}  // namespace shmcp::sandbox
