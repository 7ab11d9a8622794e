// Tools that change the workspace: write_file, edit_file, create_directory, move_file.
// All of them act on a name inside a parent directory handle from Workspace::open_parent, so the
// final component is never followed: a symlink there is replaced or moved, not written through.
#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <new>

#include "executor/tools/edit_diff.hpp"
#include "executor/tools/tools_internal.hpp"

namespace shmcp::executor {
namespace detail {

CallResult edit_file(const Ctx& c, std::string_view path, const std::vector<edit::Edit>& edits, bool dry_run) {
  auto file = read_regular(c, path);
  if (!file) return CallResult::error(file.error().message);
  std::string original = edit::normalize_eol(utf8_sanitize(file->data));
  auto modified = edit::apply_edits(original, edits, c.deadline);
  if (!modified) return CallResult::error(modified.error().message);
  std::string text = edit::fence(edit::unified_diff(file->display, original, *modified, edit::kMaxDiffWork, c.deadline));
  // Past the deadline nothing is written: the caller is told the call timed out.
  if (c.hit()) return CallResult::error("deadline passed");
  if (!dry_run) {
    auto written = atomic_write(c, path, *modified, "editing");
    if (!written) return CallResult::error(written.error().message);
  }
  return CallResult::text(std::move(text));
}

CallResult create_directory(const Ctx& c, std::string_view path) {
  auto name = c.ws.name(path);
  if (!name) return CallResult::error(name.error().message);
  const std::string& display = name->display;
  const std::string& rel = name->relative;
  // mkdir -p one component at a time, each through a fresh beneath-the-root parent handle, so a
  // symlink swapped in between steps can at most redirect within the workspace.
  std::string prefix;
  std::size_t i = 0;
  while (i < rel.size()) {
    std::size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    std::string_view comp(rel.data() + i, j - i);
    bool last = rel.find_first_not_of('/', j) == std::string::npos;
    i = j + 1;
    if (comp.empty()) continue;
    if (!prefix.empty()) prefix.push_back('/');
    prefix.append(comp);
    if (comp == "." || comp == "..") continue;
    auto parent = c.ws.open_parent(prefix);
    if (!parent) return CallResult::error(ws_error_message(parent.error(), "mkdir", display));
    if (c.quota != nullptr) {
      // One file per directory this call creates. Refused: fine if it is already there (mkdir -p).
      if (const QuotaRefusal r = c.quota->reserve(0, 1); r.what != QuotaRefusal::What::none) {
        if (c.ws.open(prefix, O_PATH | O_DIRECTORY)) continue;
        return CallResult::error(quota_refusal_message(r, "creating directory", display));
      }
    }
    const int made = ::mkdirat(parent->dir.get(), parent->leaf.c_str(), 0777);
    int err = errno;
    if (c.quota != nullptr) {
      if (made == 0) c.quota->commit();
      else c.quota->cancel();
    }
    if (made == 0) continue;
    if (err != EEXIST) return CallResult::error(node_errno_message(err, "mkdir", display));
    auto existing = c.ws.open(prefix, O_PATH | O_DIRECTORY);
    if (!existing) {
      const Error& e = existing.error();
      if (e.sys_errno == ENOTDIR || e.code == Errc::io) {
        return CallResult::error(node_errno_message(last ? EEXIST : ENOTDIR, "mkdir", display));
      }
      return CallResult::error(ws_error_message(e, "mkdir", display));
    }
  }
  auto check = c.ws.open(path, O_PATH | O_DIRECTORY);
  if (!check) return CallResult::error(ws_error_message(check.error(), "mkdir", display));
  return CallResult::text("Successfully created directory " + std::string(path));
}

CallResult move_file(const Ctx& c, std::string_view source, std::string_view destination) {
  // Each side beneath its own root when the call has several (the same workspace otherwise).
  const sandbox::Workspace& sws = c.ws_for(source);
  const sandbox::Workspace& dws = c.ws_for(destination);
  auto sn = sws.name(source);
  if (!sn) return CallResult::error(sn.error().message);
  auto dn = dws.name(destination);
  if (!dn) return CallResult::error(dn.error().message);
  const std::string rename_desc = "rename '" + sn->display + "' -> '" + dn->display + "'";
  auto sp = sws.open_parent(source);
  if (!sp) {
    const Error& e = sp.error();
    if (e.code == Errc::not_found || e.sys_errno == ENOENT) {
      return CallResult::error(node_errno_message(ENOENT, rename_desc, ""));
    }
    return CallResult::error(ws_error_message(e, "rename", sn->display));
  }
  auto dp = dws.open_parent(destination);
  if (!dp) {
    const Error& e = dp.error();
    if (e.code == Errc::not_found || e.sys_errno == ENOENT) {
      return CallResult::error("Parent directory does not exist: " + dirname(dn->display));
    }
    return CallResult::error(ws_error_message(e, "rename", dn->display));
  }
  // RENAME_NOREPLACE makes "never overwrite" atomic instead of an lstat-then-rename race. It also
  // keeps the quota's usage as it is (no name is replaced, nothing is copied): no reservation.
  if (::renameat2(sp->dir.get(), sp->leaf.c_str(), dp->dir.get(), dp->leaf.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err == EEXIST) return CallResult::error("Destination already exists: " + dn->display);
    return CallResult::error(node_errno_message(err, rename_desc, ""));
  }
  return CallResult::text("Successfully moved " + std::string(source) + " to " + std::string(destination));
}

}  // namespace detail

CallResult Tools::write_file(std::string_view path, std::string_view content) {
  try {
    if (opts_.read_only) return CallResult::error(detail::kReadOnlyMessage);
    const detail::Ctx c{ws_, opts_, nullptr, nullptr, quota_};
    auto written = detail::atomic_write(c, path, content);
    if (!written) return CallResult::error(written.error().message);
    return CallResult::text("Successfully wrote to " + std::string(path));
  } catch (const std::bad_alloc&) {
    return CallResult::error("Internal error: out of memory");
  } catch (const std::exception& e) {
    return CallResult::error(std::string("Internal error: ") + e.what());
  }
}

}  // namespace shmcp::executor
