// Path resolution beneath the workspace handle.
//
// Two layers, and only the second one is trusted:
//  1. name(): a lexical gate that rejects obviously hostile input early with the reference server's
//     wording, then normalises "." and ".." lexically, as path.resolve does in the reference server
//     ("a/../sub" is "sub" even when "a" does not exist). Nothing else is rewritten: no trimming,
//     no decoding. A path whose ".." steps above the root at any point is refused here, and one
//     whose ".." the kernel would resolve above the root (after a symlink to the root, say) is
//     refused by open() before the normalised name is used, both as before normalisation existed.
//  2. openat2() beneath the root fd with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV:
//     the kernel refuses every ".." above the root, every absolute or escaping symlink, every
//     magic link and every mount crossing, atomically with the open. There is no check-then-open:
//     the lexical steps only choose which name beneath the root is asked for.
//  3. Only when that refuses a path (EXDEV or ELOOP), a bounded rewrite: the path is walked beneath
//     the root one component at a time (O_PATH|O_NOFOLLOW, same resolve flags), and every absolute
//     symlink whose target lies inside root() is replaced by the target's workspace-relative form.
//     The rewritten path is then opened with openat2 and the same flags again, so the rewrite only
//     ever chooses *which* in-workspace name to ask for: a link swapped mid-walk can make the open
//     fail or land on another in-workspace file, never leave the workspace.
#include "sandbox/workspace.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "channel/base/log.hpp"
#include "sandbox/open_how.hpp"

namespace shmcp::sandbox {

namespace {

spdlog::logger& log() {
  static const auto l = component_logger("sandbox");
  return *l;
}

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
// above "/" stays at "/", as path.resolve does in the reference server. Runs on every tool call
// (several times for some), so it builds the result in place: no component vector.
std::string normalize_absolute(std::string_view abs) {
  std::string out;
  out.reserve(abs.size());
  std::size_t i = 0;
  while (i < abs.size()) {
    while (i < abs.size() && abs[i] == '/') ++i;
    const std::size_t j = std::min(abs.find('/', i), abs.size());
    const std::string_view comp = abs.substr(i, j - i);
    if (comp.empty() || comp == ".") {
      // nothing
    } else if (comp == "..") {
      // out is "" or "/c1/.../ck": dropping the last component never goes above "/".
      const std::size_t slash = out.rfind('/');
      out.resize(slash == std::string::npos ? 0 : slash);
    } else {
      out += '/';
      out += comp;
    }
    i = j;
  }
  if (out.empty()) out = "/";
  return out;
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

// `rel` (which never climbs above its start) with "." and empty components dropped and each ".."
// cancelling the component before it; "." when nothing is left. A trailing '/' is kept, so the
// kernel still insists on a directory there.
std::string normalize_relative(std::string_view rel) {
  std::string out;
  out.reserve(rel.size());
  std::size_t i = 0;
  while (i < rel.size()) {
    std::size_t j = rel.find('/', i);
    if (j == std::string_view::npos) j = rel.size();
    const std::string_view comp = rel.substr(i, j - i);
    if (comp == "..") {
      const std::size_t slash = out.rfind('/');
      out.resize(slash == std::string::npos ? 0 : slash);
    } else if (!comp.empty() && comp != ".") {
      if (!out.empty()) out += '/';
      out += comp;
    }
    i = j + 1;
  }
  if (out.empty()) out = ".";
  if (!rel.empty() && rel.back() == '/') out += '/';
  return out;
}

// The caller's relative path up to and including its last ".." component; empty without one.
std::string_view through_last_dotdot(std::string_view rel) {
  std::size_t end = 0;
  std::size_t i = 0;
  while (i < rel.size()) {
    std::size_t j = rel.find('/', i);
    if (j == std::string_view::npos) j = rel.size();
    if (rel.substr(i, j - i) == "..") end = j;
    i = j + 1;
  }
  return rel.substr(0, end);
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
// Locked down, only flag sets in the sealed open_how table pass (open_how.hpp): no creation.
int openat2_beneath(int dir_fd, const std::string& rel, int flags, mode_t mode) {
  const auto how_flags = static_cast<std::uint64_t>(static_cast<unsigned>(flags | O_CLOEXEC));
  // openat2 rejects a non-zero mode unless a file may be created.
  const std::uint64_t how_mode = ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) ? (mode & 07777) : 0;
  for (int attempt = 0;; ++attempt) {
    const int fd = openat2_sealed(dir_fd, rel.c_str(), how_flags, how_mode, kResolveBeneath);
    if (fd >= 0) return fd;
    if (fd == -EINTR || (fd == -EAGAIN && attempt < kMaxEagainRetries)) continue;
    return fd;
  }
}

// --- absolute in-workspace symlinks --------------------------------------------------------------

// Symlink expansions one rewrite may perform (the kernel's own limit for a path walk is 40).
constexpr int kMaxLinkExpansions = 40;

std::string join_components(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& c : parts) {
    if (!out.empty()) out += '/';
    out += c;
  }
  return out;
}

// The path to retry with, or -errno: EXDEV when a link (or "..") leaves the workspace, ELOOP past
// kMaxLinkExpansions, ENAMETOOLONG for an over-long link target or rewritten path. `changed` tells
// whether any absolute link was rewritten; if not, the kernel's first answer stands.
struct Rewrite {
  int err = 0;
  bool changed = false;
  std::string path;
};

// Walks `rel` beneath root_fd like the kernel would, expanding symlinks by reading them through an
// O_PATH|O_NOFOLLOW handle. `done` holds the components resolved so far: each was seen as a real
// directory (not a symlink), so ".." after it is its parent and pops it. Any probe failure (ENOENT,
// ENOTDIR, EACCES, a mount) stops the walk: the rest is passed on verbatim and the final openat2
// reports the real error. The walk only computes a name; it never grants access by itself.
Rewrite rewrite_absolute_links(int root_fd, std::string_view root, std::string_view rel, bool follow_last) {
  Rewrite out;
  std::vector<std::string> done;
  std::string pending(rel);
  std::size_t pos = 0;
  int expansions = 0;
  bool need_dir = false;  // the last component was followed by a '/'
  auto finish = [&](std::string rest) {
    std::string p = join_components(done);
    if (!rest.empty()) {
      if (!p.empty()) p += '/';
      p += rest;
    } else if (need_dir && !p.empty()) {
      p += '/';
    }
    out.path = p.empty() ? std::string(".") : std::move(p);
    if (out.path.size() >= PATH_MAX) out.err = ENAMETOOLONG;
    return out;
  };
  for (;;) {
    while (pos < pending.size() && pending[pos] == '/') ++pos;
    if (pos >= pending.size()) return finish({});
    const std::size_t start = pos;
    std::size_t end = pending.find('/', start);
    if (end == std::string::npos) end = pending.size();
    const std::string comp = pending.substr(start, end - start);
    std::size_t next = end;
    while (next < pending.size() && pending[next] == '/') ++next;
    const bool last = next >= pending.size();
    const bool trailing_slash = end < pending.size();
    pos = next;
    if (last) need_dir = trailing_slash;
    if (comp == ".") continue;
    if (comp == "..") {
      if (done.empty()) {
        out.err = EXDEV;
        return out;
      }
      done.pop_back();
      continue;
    }
    std::string candidate = join_components(done);
    if (!candidate.empty()) candidate += '/';
    candidate += comp;
    const int fd = openat2_beneath(root_fd, candidate, O_PATH | O_NOFOLLOW, 0);
    if (fd < 0) return finish(pending.substr(start));
    const UniqueFd probe(fd);
    struct stat st {};
    if (::fstat(probe.get(), &st) != 0) return finish(pending.substr(start));
    if (S_ISLNK(st.st_mode) && (!last || follow_last || trailing_slash)) {
      if (++expansions > kMaxLinkExpansions) {
        out.err = ELOOP;
        return out;
      }
      char buf[PATH_MAX];
      const ssize_t len = ::readlinkat(probe.get(), "", buf, sizeof buf);
      if (len < 0) return finish(pending.substr(start));
      if (len == 0 || static_cast<std::size_t>(len) >= sizeof buf) {
        out.err = len == 0 ? ENOENT : ENAMETOOLONG;
        return out;
      }
      std::string_view target(buf, static_cast<std::size_t>(len));
      std::string rest = end < pending.size() ? pending.substr(end) : std::string();
      if (target.front() == '/') {
        // Byte-exact, on a component boundary of the canonical root: "/ws_evil" is not inside "/ws".
        if (!is_within(target, root)) {
          out.err = EXDEV;
          return out;
        }
        target.remove_prefix(root == "/" ? 0 : root.size());
        done.clear();
        out.changed = true;
      }
      // Relative: the target replaces the link's own name, so it resolves against `done`.
      pending = std::string(target) + rest;
      pos = 0;
      if (pending.size() > kMaxLinkExpansions * (PATH_MAX + kMaxPathBytes)) {
        out.err = ENAMETOOLONG;
        return out;
      }
      continue;
    }
    // A non-directory before the last component: the kernel answers ENOTDIR; let it.
    if (!last && !S_ISDIR(st.st_mode)) return finish(pending.substr(start));
    done.push_back(comp);
  }
}

// openat2 beneath the root; on EXDEV/ELOOP, retried once on the absolute-link rewrite of `rel`.
// Returns the fd or -errno.
int open_beneath_root(int root_fd, std::string_view root, const std::string& rel, int flags, mode_t mode,
                      bool follow_last) {
  const int fd = openat2_beneath(root_fd, rel, flags | (follow_last ? 0 : O_NOFOLLOW), mode);
  if (fd >= 0 || (fd != -EXDEV && fd != -ELOOP)) return fd;
  const Rewrite rw = rewrite_absolute_links(root_fd, root, rel, follow_last);
  if (rw.err != 0) return -rw.err;
  if (!rw.changed) return fd;
  log().debug("absolute in-workspace symlink: retrying {} as {}", rel, rw.path);
  return openat2_beneath(root_fd, rw.path, flags | (follow_last ? 0 : O_NOFOLLOW), mode);
}

Error map_open_errno(int err, const std::string& display, std::string_view what) {
  if (err == EXDEV || err == ELOOP) {
    return symlink_error(display, err);
  }
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
    return sys_error(err == ENOENT ? Errc::not_found : Errc::io, "workspace root '" + root + "'", err);
  }
  std::string canonical(buf);
  // O_NOFOLLOW: realpath gave a symlink-free path; if a symlink appears there now, someone is racing
  // us and we'd rather fail than root the workspace somewhere unexpected.
  const int fd = ::open(canonical.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
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
  out.given = rel.empty() ? std::string(".") : std::string(rel);
  out.relative = normalize_relative(rel);
  return out;
}

int Workspace::open_name(const ResolvedName& n, const std::string& rel, int flags, mode_t mode, bool follow_last) const {
  // ".." is taken lexically (n.relative), but a path whose ".." the kernel resolves above the root
  // (after a symlink to the root or above it) stays refused: resolving the caller's own prefix up
  // to its last ".." tells. Anything else it answers (ENOENT for "missing/..") is not an escape.
  if (const std::string_view climb = through_last_dotdot(n.given); !climb.empty()) {
    const int probe = open_beneath_root(root_fd_.get(), root_, std::string(climb), O_PATH, 0, true);
    if (probe >= 0) ::close(probe);
    if (probe == -EXDEV || probe == -ELOOP) return probe;
  }
  return open_beneath_root(root_fd_.get(), root_, rel, flags, mode, follow_last);
}

Result<UniqueFd> Workspace::open(std::string_view user_path, int flags, mode_t mode,
                                 bool follow_last) const {
  auto n = name(user_path);
  if (!n) return std::move(n).error();
  return open(*n, flags, mode, follow_last);
}

Result<UniqueFd> Workspace::open(const ResolvedName& n, int flags, mode_t mode, bool follow_last) const {
  const int fd = open_name(n, n.relative, flags, mode, follow_last);
  if (fd < 0) return map_open_errno(-fd, n.display, "open");
  return UniqueFd(fd);
}

Result<Workspace::Parent> Workspace::open_parent(std::string_view user_path) const {
  auto n = name(user_path);
  if (!n) return std::move(n).error();
  // The path as given decides whether it names an entry at all ("sub/.." does not, although it
  // normalises to the root); the normalised one which entry.
  std::string_view given = n->given;
  while (given.size() > 1 && given.back() == '/') given.remove_suffix(1);
  if (given == ".")
    return make_error(Errc::invalid_argument, "The workspace root has no parent: " + n->display);
  const std::size_t given_slash = given.rfind('/');
  const std::string_view given_leaf = given_slash == std::string_view::npos ? given : given.substr(given_slash + 1);
  std::string_view rel = n->relative;
  while (rel.size() > 1 && rel.back() == '/') rel.remove_suffix(1);
  if (given_leaf.empty() || given_leaf == "." || given_leaf == ".." || rel == ".")
    return make_error(Errc::invalid_argument, "Path must name a directory entry: " + n->display);
  const std::size_t slash = rel.rfind('/');
  const std::string_view leaf = slash == std::string_view::npos ? rel : rel.substr(slash + 1);
  const std::string parent_rel =
      slash == std::string_view::npos ? std::string(".") : std::string(rel.substr(0, slash + 1));

  const int fd = open_name(*n, parent_rel, O_PATH | O_DIRECTORY, 0, true);
  if (fd < 0) {
    const int err = -fd;
    std::string parent_display = n->display.substr(0, n->display.rfind('/'));
    if (parent_display.empty()) parent_display = "/";
    if (err == ENOENT) {
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

Result<UniqueFd> Workspace::open_regular(std::string_view user_path, int flags, struct stat* st) const {
  auto n = name(user_path);
  if (!n) return std::move(n).error();
  return open_regular(*n, flags, st);
}

Result<UniqueFd> Workspace::open_regular(const ResolvedName& n, int flags, struct stat* st) const {
  const int open_flags = (flags & ~(O_CREAT | O_EXCL | O_TMPFILE)) | O_NONBLOCK | O_NOCTTY;
  struct stat before {};
  UniqueFd fd;
  if (::fstatat(root_fd_.get(), n.relative.c_str(), &before, 0) == 0 && S_ISREG(before.st_mode)) {
    auto opened = open(n, open_flags);
    if (!opened) return std::move(opened).error();
    fd = std::move(opened).value();
  } else {
    auto probe = open(n, O_PATH);
    if (!probe) return std::move(probe).error();
    if (::fstat(probe->get(), &before) != 0) {
      const int err = errno;
      return sys_error(Errc::io, "fstat '" + n.display + "'", err);
    }
    if (!S_ISREG(before.st_mode))
      return make_error(Errc::invalid_argument, "Not a regular file: " + n.display, S_ISDIR(before.st_mode) ? EISDIR : 0);
    auto opened = open(n, open_flags);
    if (!opened) return std::move(opened).error();
    fd = std::move(opened).value();
  }
  struct stat after {};
  if (::fstat(fd.get(), &after) != 0) {
    const int err = errno;
    return sys_error(Errc::io, "fstat '" + n.display + "'", err);
  }
  if (!S_ISREG(after.st_mode) || after.st_dev != before.st_dev || after.st_ino != before.st_ino)
    return make_error(Errc::busy, "File changed while being opened: " + n.display);
  if ((flags & O_NONBLOCK) == 0) {
    const int fl = ::fcntl(fd.get(), F_GETFL);
    if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK) != 0) {
      const int err = errno;
      return sys_error(Errc::io, "fcntl '" + n.display + "'", err);
    }
  }
  if (st) *st = after;
  return fd;
}

}  // namespace shmcp::sandbox
