// shmcp sandbox: kernel-enforced path resolution beneath the workspace.
//
// Threading: Workspace is immutable after open() and safe to share between threads.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "channel/base/result.hpp"
#include "channel/base/unique_fd.hpp"

namespace shmcp::sandbox {

using shmcp::UniqueFd;

// Longest path (in bytes) accepted from a caller; longer is rejected before any syscall.
inline constexpr std::size_t kMaxPathBytes = 4096;

// A path the caller gave, split into what the kernel will resolve beneath the workspace.
struct ResolvedName {
  std::string relative;  // what the kernel resolves beneath the root: lexically normalised like
                         // path.resolve ("a/./b/../c" -> "a/c"; "." for the root itself; a trailing
                         // '/' is kept), symlinks not resolved
  std::string display;   // absolute path under Workspace::root() for messages and output,
                         // lexically normalised ("//a/./b/../c" -> "/a/c"), symlinks not resolved
  std::string given;     // the caller's path relative to the root, as given ("." for the root)
};

// The workspace: an O_PATH handle on the root directory. Every filesystem operation of a tool goes
// through it; nothing is opened by absolute name.
class Workspace {
 public:
  // Opens `root` (must be an existing directory). root() becomes its canonical absolute path.
  static Result<Workspace> open(const std::string& root);
  // Adopts an already-open directory fd (the worker's inherited handle) with its canonical path.
  static Workspace adopt(UniqueFd root_fd, std::string canonical_root);

  int fd() const noexcept { return root_fd_.get(); }
  const std::string& root() const noexcept { return root_; }

  // Lexical validation only (no syscalls): rejects NUL bytes, over-long paths, Windows drive or UNC
  // paths; an absolute path must equal root() or continue it on a component boundary; a relative
  // path is taken relative to root(); a ".." that steps above the root anywhere in the path is
  // refused. "." and ".." are then normalised lexically (ResolvedName::relative), as the reference
  // server does; nothing is trimmed or decoded. Errors are Errc::access_denied
  // with the reference's sentence "Access denied - path outside allowed directories: <p> not in <root>"
  // or Errc::invalid_argument for malformed input.
  Result<ResolvedName> name(std::string_view user_path) const;

  // openat2(root, relative, {flags, mode, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV})
  // retried on EAGAIN. With follow_last == false the final component is not followed (O_NOFOLLOW
  // semantics; use O_PATH to get a handle on a symlink itself). O_CLOEXEC is always added.
  // The normalised name is opened; if the path as given has "..", its prefix up to the last ".." is
  // first resolved by the kernel the same way, and an escape there is refused as before (a ".."
  // after a symlink to the root never reaches a name lexical normalisation would allow).
  // RESOLVE_BENEATH refuses every absolute symlink (EXDEV). Only then (EXDEV or ELOOP) the path is
  // walked beneath the root component by component (O_PATH|O_NOFOLLOW, same resolve flags, at most
  // 40 link expansions): an absolute link whose target is root() or lies beneath it on a component
  // boundary (byte-exact) is rewritten to the workspace-relative form, and the rewritten path is
  // opened with openat2 and the same flags again, so a link swapped mid-walk cannot escape.
  // An escape attempt (EXDEV from RESOLVE_BENEATH, ELOOP from a magic link or a loop, an absolute
  // link outside root()) maps to
  // Errc::access_denied "Access denied - symlink target outside allowed directories: <display>";
  // ENOENT to Errc::not_found; other errnos to Errc::io with the errno name.
  Result<UniqueFd> open(std::string_view user_path, int flags, mode_t mode = 0,
                        bool follow_last = true) const;
  // The same for a name this workspace's name() already produced (callers that need the display
  // name anyway skip a second lexical pass).
  Result<UniqueFd> open(const ResolvedName& name, int flags, mode_t mode = 0, bool follow_last = true) const;

  // Opens the parent directory of user_path beneath the root (following in-workspace symlinks,
  // relative or absolute, as open() does) and
  // returns it with the final component (never empty, ".", ".." or containing '/'). For operations
  // that create, replace or rename an entry by name inside a directory handle (write_file,
  // create_directory, move_file). The root itself has no parent: Errc::invalid_argument.
  struct Parent {
    UniqueFd dir;
    std::string leaf;
    ResolvedName name;
  };
  // The parent handle is O_PATH: usable as the dirfd of *at() calls; reopen "." beneath it for
  // fsync or getdents. The leaf is a single name, but the kernel follows it if it is a symlink:
  // operations on it must not follow (O_NOFOLLOW / O_EXCL / AT_SYMLINK_NOFOLLOW, or rename over it).
  Result<Parent> open_parent(std::string_view user_path) const;

  // Opens a regular file for reading or writing (no O_CREAT) without opening anything else when
  // the name is not being swapped: a stat of the name settles "regular file?" (then one open), and
  // anything else takes the confined path, an O_PATH handle beneath the root, which opens nothing.
  // The stat is not confined to the workspace (an escaping symlink reaches outside), so only its
  // type and identity are used, never reported: the open beneath the root refuses an escape with
  // the usual error. The file is opened with O_NONBLOCK|O_NOCTTY (a FIFO swapped in meanwhile
  // cannot block) and must be the inode that was looked at; O_NONBLOCK is cleared again unless
  // requested. A FIFO, device, socket or directory is Errc::invalid_argument "Not a regular file:
  // <display>" (sys_errno EISDIR for a directory; invalid_argument means only this), a swap caught
  // by the identity check Errc::busy. With `st`, the opened file's stat is stored there.
  // Plain open(path, O_RDONLY) on a FIFO blocks until a writer appears: readers must use this.
  Result<UniqueFd> open_regular(std::string_view user_path, int flags, struct stat* st = nullptr) const;
  Result<UniqueFd> open_regular(const ResolvedName& name, int flags, struct stat* st = nullptr) const;

 private:
  // openat2 of `rel` (n.relative or a prefix of it) beneath the root after the ".." check on
  // n.given described at open(). Returns the fd or -errno.
  int open_name(const ResolvedName& n, const std::string& rel, int flags, mode_t mode, bool follow_last) const;

  UniqueFd root_fd_;
  std::string root_;
};

}  // namespace shmcp::sandbox
