// Helpers shared by the tool implementations (tools_*.cpp). Not part of the public interface.
//
// Convention: helpers return Result<T> whose Error::message is already the user-facing text of the
// isError result, so a tool only forwards it.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "channel/base/result.hpp"
#include "executor/tools/edit_diff.hpp"
#include "executor/tools/quota.hpp"
#include "executor/tools/tools.hpp"
#include "sandbox/workspace.hpp"

namespace shmcp::executor::detail {

struct Ctx {
  const sandbox::Workspace& ws;
  const ToolOptions& opts;
  // Where read_regular leaves the file's handle instead of closing it, if set (Tools::defer_close).
  std::vector<sandbox::UniqueFd>* closing = nullptr;
  // The call's deadline (null: none). Loops whose work grows with the input poll it through
  // expired() (per syscall-sized step) or tick() (per cheap step) and return timed_out().
  CallDeadline* deadline = nullptr;
  // The workspace's storage quota (null: none). Write tools reserve what a change adds before
  // making it (see quota.hpp).
  WorkspaceQuota* quota = nullptr;
  // A call narrowed to several roots (Tools::set_roots): the tools that take more than one path
  // (read_multiple_files, move_file) resolve each path beneath the root that holds it (ws_for);
  // `ws` is then the root of the call's primary path.
  const std::vector<const sandbox::Workspace*>* roots = nullptr;

  // The root an absolute path lies in (lexically, on a component boundary); `ws` for a relative
  // path, one in no root (resolving it beneath `ws` then refuses it), or without roots.
  const sandbox::Workspace& ws_for(std::string_view path) const {
    if (roots == nullptr || path.empty() || path.front() != '/') return ws;
    for (const auto* r : *roots)
      if (r != nullptr && r->name(path)) return *r;
    return ws;
  }
  // This context with `w` as its workspace.
  Ctx with(const sandbox::Workspace& w) const { return Ctx{w, opts, closing, deadline, quota, roots}; }

  bool expired() const { return deadline != nullptr && deadline->expired(); }
  bool tick(std::uint64_t work = 1) const { return deadline != nullptr && deadline->tick(work); }
  bool hit() const { return deadline != nullptr && deadline->hit(); }
};

// ---- text (format.cpp) ------------------------------------------------------------------------

// WHATWG UTF-8 decode then encode: every maximal invalid subsequence becomes U+FFFD, as Node's
// Buffer#toString("utf-8") does. The result is always valid UTF-8 (required by the JSON encoder).
std::string utf8_sanitize(std::string_view bytes);
std::string utf8_sanitize(std::string&& bytes);  // moves valid input through without a copy
// Length in UTF-16 code units (what String#length and padEnd count).
std::size_t utf16_length(std::string_view utf8);
std::string base64(std::string_view bytes);
// JSON.stringify of a string.
std::string json_quote(std::string_view utf8);
// formatSize of the reference: "0 B", "<n> B", "<x.yz> KB|MB|GB|TB".
std::string format_size(std::int64_t bytes);
// Date#toString in the process time zone: "Wed Nov 25 2026 18:23:59 GMT+0000 (Coordinated Universal Time)".
std::string js_date(std::int64_t seconds);
// path.extname(basename) lower-cased.
std::string extension_lower(std::string_view path);
// pathToFileURL(p).href.
std::string file_url(std::string_view abs);
std::string dirname(std::string_view abs);

// ---- errors (format.cpp) ----------------------------------------------------------------------

// Node's form: "ENOENT: no such file or directory, open '<path>'".
std::string node_errno_message(int err, std::string_view syscall, std::string_view path);
// A Workspace error as the user sees it: the Workspace's own sentence for access denial and
// malformed input, Node's errno form otherwise.
std::string ws_error_message(const Error& e, std::string_view syscall, std::string_view display);
Error fail(std::string message, Errc code = Errc::tool_error);

// ---- files (files.cpp) -----------------------------------------------------------------------

struct FileBytes {
  std::string data;
  struct stat st {};
  std::string display;
};

// The refusal for an inode that may have names outside the workspace: a non-directory with more
// than one hard link, unless opts.allow_hardlinks. Empty when it may be shown. Its content and its
// metadata (size, times, mode) are withheld alike; a directory's link count only counts its
// subdirectories.
std::string hardlink_refusal(const Ctx& c, mode_t mode, std::uint64_t nlink, std::string_view display);

// Opens a regular file beneath the workspace and reads it whole (up to `limit` bytes, default
// opts.max_read_bytes). Refuses non-regular files without blocking (a FIFO or device is checked
// with an O_PATH handle before anything opens it for reading), and files with more than one hard
// link unless opts.allow_hardlinks.
Result<FileBytes> read_regular(const Ctx& c, std::string_view user_path,
                               std::optional<std::uint64_t> limit = std::nullopt);
Result<FileBytes> read_regular(const Ctx& c, const sandbox::ResolvedName& name,
                               std::optional<std::uint64_t> limit = std::nullopt);

// Atomically replaces (or creates) the file at user_path with `data`: temp file in the same
// directory, fsync, keep the permission bits of an existing regular file, rename over the name.
// A symlink or hard link at the name is replaced, never written through. On failure the temp file
// is gone and the original untouched. With a quota, what the write adds (the size difference to
// an existing regular file, a new file) is reserved first; a refusal ("quota exceeded: <verb> ...")
// changes nothing. Returns the display path.
Result<std::string> atomic_write(const Ctx& c, std::string_view user_path, std::string_view data,
                                 std::string_view verb = "writing");

// ---- directories (dirs.cpp) ------------------------------------------------------------------

struct DirEntry {
  std::string name;  // raw bytes as the kernel returned them
  unsigned char type = 0;  // DT_* (DT_UNKNOWN resolved with fstatat)
};

// Reads every entry of an open directory fd (excluding "." and ".."), sorted by byte order.
// Stops after max_entries; `truncated` tells. Errc::timeout once `deadline` (if any) has passed.
Result<std::vector<DirEntry>> read_dir(int dirfd, std::uint64_t max_entries, bool* truncated,
                                       std::string_view display, CallDeadline* deadline);
// Opens an entry known to be a real directory below `dirfd`, not following symlinks and not
// leaving dirfd or crossing a mount (openat2 RESOLVE_BENEATH | NO_SYMLINKS | NO_XDEV).
Result<sandbox::UniqueFd> open_subdir(int dirfd, std::string_view name, std::string_view display);

std::uint64_t monotonic_ms();

// Typed tools not exposed in tools.hpp.
CallResult read_media_file(const Ctx& c, std::string_view path);
CallResult read_multiple_files(const Ctx& c, const std::vector<std::string>& paths);
CallResult get_file_info(const Ctx& c, std::string_view path);
CallResult edit_file(const Ctx& c, std::string_view path, const std::vector<edit::Edit>& edits, bool dry_run);
CallResult create_directory(const Ctx& c, std::string_view path);
CallResult move_file(const Ctx& c, std::string_view source, std::string_view destination);
CallResult list_directory(const Ctx& c, std::string_view path);
CallResult list_directory_with_sizes(const Ctx& c, std::string_view path, bool by_size);
CallResult directory_tree(const Ctx& c, std::string_view path, const std::vector<std::string>& exclude);
CallResult search_files(const Ctx& c, std::string_view path, std::string_view pattern,
                        const std::vector<std::string>& exclude);

inline constexpr const char* kReadOnlyMessage = "Access denied - the workspace is read-only";

}  // namespace shmcp::executor::detail
