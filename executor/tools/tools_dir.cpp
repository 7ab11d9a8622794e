// Directory tools: list_directory, list_directory_with_sizes, directory_tree, search_files.
//
// Walks descend only into real directories, each opened relative to its parent's handle with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV), so a symlink swapped in during
// the walk is refused instead of followed. They stop at ToolOptions' depth, entry and time limits;
// only then a final "[truncated: ...]" line is appended (benign output is unchanged).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>

#include "executor/tools/collate.hpp"
#include "executor/tools/glob.hpp"
#include "executor/tools/tools_internal.hpp"

namespace shmcp::executor::detail {
namespace {

std::string join_path(std::string_view base, std::string_view name) {
  std::string out(base);
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

// Bookkeeping shared by the recursive walks. Entries already read are always reported; a limit
// only stops further reading and descending.
struct WalkLimits {
  const ToolOptions& opts;
  std::uint64_t deadline_ms;
  std::uint64_t seen = 0;
  std::string truncated;  // empty unless a limit cut the walk short

  explicit WalkLimits(const ToolOptions& o) : opts(o), deadline_ms(monotonic_ms() + o.max_walk_millis) {}
  std::uint64_t remaining() const { return seen >= opts.max_walk_entries ? 0 : opts.max_walk_entries - seen; }
  void note(std::string why) {
    if (truncated.empty()) truncated = std::move(why);
  }
  // True when no further directory may be read.
  bool stop() {
    if (remaining() == 0) {
      note("entry limit of " + std::to_string(opts.max_walk_entries) + " reached");
      return true;
    }
    if (monotonic_ms() > deadline_ms) {
      note("time limit of " + std::to_string(opts.max_walk_millis) + " ms reached");
      return true;
    }
    return false;
  }
  void depth_hit() { note("depth limit of " + std::to_string(opts.max_walk_depth) + " reached"); }
  std::string notice() const { return truncated.empty() ? "" : "\n[truncated: " + truncated + "]"; }
};

Result<std::vector<DirEntry>> read_limited(const Ctx& c, int fd, WalkLimits& w, std::string_view display) {
  bool cut = false;
  auto entries = read_dir(fd, w.remaining(), &cut, display, c.deadline);
  if (entries) {
    w.seen += entries->size();
    if (cut) w.note("entry limit of " + std::to_string(w.opts.max_walk_entries) + " reached");
  }
  return entries;
}

// ---- directory_tree ----------------------------------------------------------------------------

struct TreeWalk {
  const Ctx& c;
  WalkLimits limits;
  std::vector<std::vector<glob::Pattern>> excludes;  // per pattern: the alternatives that exclude
  std::string out;

  bool excluded(const std::string& rel) const {
    for (const auto& alts : excludes) {
      for (const auto& p : alts) {
        if (p.match(rel, c.deadline)) return true;
      }
    }
    return false;
  }

  static std::string indent(std::size_t level) { return std::string(2 * level, ' '); }

  // Appends JSON.stringify(children, null, 2) of the directory `fd` at nesting `level`.
  Status emit(int fd, const std::string& rel, const std::string& display, std::size_t level, std::uint32_t depth) {
    auto entries = read_limited(c, fd, limits, display);
    if (!entries) return entries.error();
    bool first = true;
    for (const auto& e : *entries) {
      if (c.expired()) return fail("deadline passed", Errc::timeout);
      const std::string name = utf8_sanitize(e.name);
      const std::string child_rel = rel.empty() ? name : rel + "/" + name;
      if (excluded(child_rel)) continue;
      if (c.hit()) return fail("deadline passed", Errc::timeout);
      out.append(first ? "[\n" : ",\n");
      first = false;
      const std::size_t obj = level + 1;
      out.append(indent(obj)).append("{\n");
      out.append(indent(obj + 1)).append("\"name\": ").append(json_quote(name)).append(",\n");
      out.append(indent(obj + 1)).append("\"type\": ");
      if (e.type != DT_DIR) {
        out.append("\"file\"\n");
      } else {
        out.append("\"directory\",\n").append(indent(obj + 1)).append("\"children\": ");
        const std::string child_display = join_path(display, e.name);
        if (depth + 1 > limits.opts.max_walk_depth) {
          limits.depth_hit();
          out.append("[]");
        } else if (limits.stop()) {
          out.append("[]");
        } else {
          auto sub = open_subdir(fd, e.name, child_display);
          if (!sub) return sub.error();
          if (auto st = emit(sub->get(), child_rel, child_display, obj + 1, depth + 1); !st) return st;
        }
        out.append("\n");
      }
      out.append(indent(obj)).append("}");
    }
    out.append(first ? "[]" : "\n" + indent(level) + "]");
    return {};
  }
};

// ---- search_files ------------------------------------------------------------------------------

struct SearchWalk {
  const Ctx& c;
  WalkLimits limits;
  glob::Pattern pattern;
  std::vector<glob::Pattern> excludes;
  std::string root_shown;  // normalized absolute path of the search root
  std::vector<std::string> results;

  void walk(int fd, const std::string& rel, const std::string& raw_display, std::uint32_t depth) {
    auto entries = read_limited(c, fd, limits, raw_display);
    if (!entries) return;  // like the reference: an unreadable subdirectory is skipped
    for (const auto& e : *entries) {
      if (c.expired()) return;  // search_files reports the timeout
      const std::string name = utf8_sanitize(e.name);
      const std::string child_rel = rel.empty() ? name : rel + "/" + name;
      const std::string child_raw = join_path(raw_display, e.name);
      if (e.type == DT_LNK) {
        // The reference skips entries whose real path fails validation: links leaving the
        // workspace and dangling links.
        if (!c.ws.open(child_raw, O_PATH)) continue;
      }
      bool skip = false;
      for (const auto& x : excludes) {
        if (x.match(child_rel, c.deadline)) {
          skip = true;
          break;
        }
      }
      if (c.hit()) return;
      if (skip) continue;
      if (pattern.match(child_rel, c.deadline)) results.push_back(join_path(root_shown, child_rel));
      if (c.hit()) return;
      if (e.type == DT_DIR) {
        if (depth + 1 > limits.opts.max_walk_depth) {
          limits.depth_hit();
          continue;
        }
        if (limits.stop()) continue;
        auto sub = open_subdir(fd, e.name, child_raw);
        if (!sub) continue;
        walk(sub->get(), child_rel, child_raw, depth + 1);
      }
    }
  }
};

std::string pad_end(std::string s, std::size_t width) {
  std::size_t len = utf16_length(s);
  if (len < width) s.append(width - len, ' ');
  return s;
}

std::string pad_start(const std::string& s, std::size_t width) {
  std::size_t len = utf16_length(s);
  return len < width ? std::string(width - len, ' ') + s : s;
}

// The open directory and its entries (up to the walk limit), shared by both listing tools.
struct Listing {
  sandbox::ResolvedName name;
  sandbox::UniqueFd fd;
  std::vector<DirEntry> entries;
  bool cut = false;
};

Result<Listing> open_listing(const Ctx& c, std::string_view path) {
  auto name = c.ws.name(path);
  if (!name) return fail(name.error().message);
  auto fd = c.ws.open(*name, O_RDONLY | O_DIRECTORY);
  if (!fd) return fail(ws_error_message(fd.error(), "scandir", name->display));
  Listing l{std::move(*name), std::move(*fd), {}, false};
  auto entries = read_dir(l.fd.get(), c.opts.max_walk_entries, &l.cut, l.name.display, c.deadline);
  if (!entries) return fail(entries.error().message);
  l.entries = std::move(*entries);
  return l;
}

}  // namespace

CallResult list_directory(const Ctx& c, std::string_view path) {
  auto l = open_listing(c, path);
  if (!l) return CallResult::error(l.error().message);
  const auto& entries = l->entries;
  const bool cut = l->cut;
  std::string out;
  for (const auto& e : entries) {
    if (c.tick(1 + e.name.size() / 16)) return CallResult::error("deadline passed");
    if (!out.empty()) out.push_back('\n');
    out.append(e.type == DT_DIR ? "[DIR] " : "[FILE] ").append(utf8_sanitize(e.name));
  }
  if (cut) out += "\n[truncated: entry limit of " + std::to_string(c.opts.max_walk_entries) + " reached]";
  return CallResult::text(std::move(out));
}

CallResult list_directory_with_sizes(const Ctx& c, std::string_view path, bool by_size) {
  auto l = open_listing(c, path);
  if (!l) return CallResult::error(l.error().message);
  auto& name = l->name;
  auto& fd = l->fd;
  auto& entries = l->entries;
  const bool cut = l->cut;

  struct Row {
    std::string name;
    bool dir;
    std::int64_t size;
  };
  std::vector<Row> rows;
  for (const auto& e : entries) {
    if (c.expired()) return CallResult::error("deadline passed");
    // 0 when the size can't or must not be shown: what the reference prints for an entry it
    // cannot stat. A file with several hard links counts as such (another name may be outside).
    std::int64_t size = 0;
    struct stat st {};
    bool have = false;
    if (e.type == DT_LNK) {
      // The reference stats through the link. We do too, but only via the Workspace, so a link
      // leaving the workspace reports the link itself and a dangling one 0 (as the reference).
      auto target = c.ws.open(join_path(name.display, e.name), O_PATH);
      if (target) {
        have = ::fstat(target->get(), &st) == 0;
      } else if (target.error().code == Errc::access_denied) {
        have = ::fstatat(fd.get(), e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
      }
    } else {
      have = ::fstatat(fd.get(), e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    }
    if (have && hardlink_refusal(c, st.st_mode, st.st_nlink, "").empty()) size = st.st_size;
    rows.push_back(Row{utf8_sanitize(e.name), e.type == DT_DIR, size});
  }
  // Stable sorts over the byte-ordered listing: ties keep readdir order, as Array#sort does.
  if (by_size) {
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.size > b.size; });
  } else {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& a, const Row& b) { return collate_compare(a.name, b.name) < 0; });
  }
  std::string out;
  std::size_t files = 0, dirs = 0;
  std::int64_t total = 0;
  for (const auto& r : rows) {
    out.append(r.dir ? "[DIR]" : "[FILE]").append(" ").append(pad_end(r.name, 30)).append(" ");
    if (!r.dir) out.append(pad_start(format_size(r.size), 10));
    out.push_back('\n');
    if (r.dir) {
      ++dirs;
    } else {
      ++files;
      total += r.size;
    }
  }
  out.append("\nTotal: " + std::to_string(files) + " files, " + std::to_string(dirs) + " directories");
  out.append("\nCombined size: " + format_size(total));
  if (cut) out += "\n[truncated: entry limit of " + std::to_string(c.opts.max_walk_entries) + " reached]";
  return CallResult::text(std::move(out));
}

CallResult directory_tree(const Ctx& c, std::string_view path, const std::vector<std::string>& exclude) {
  auto name = c.ws.name(path);
  if (!name) return CallResult::error(name.error().message);
  auto fd = c.ws.open(*name, O_RDONLY | O_DIRECTORY);
  if (!fd) return CallResult::error(ws_error_message(fd.error(), "scandir", name->display));
  TreeWalk t{c, WalkLimits(c.opts), {}, {}};
  for (const auto& p : exclude) {
    if (c.expired()) return CallResult::error("deadline passed");
    std::vector<glob::Pattern> alts;
    alts.push_back(glob::Pattern::compile(p));
    // The reference's rule: a pattern without '*' also excludes the name at any depth and
    // everything beneath it.
    if (p.find('*') == std::string::npos) {
      alts.push_back(glob::Pattern::compile("**/" + p));
      alts.push_back(glob::Pattern::compile("**/" + p + "/**"));
    }
    t.excludes.push_back(std::move(alts));
  }
  if (auto st = t.emit(fd->get(), "", name->display, 0, 0); !st) return CallResult::error(st.error().message);
  return CallResult::text(t.out + t.limits.notice());
}

CallResult search_files(const Ctx& c, std::string_view path, std::string_view pattern,
                        const std::vector<std::string>& exclude) {
  auto name = c.ws.name(path);
  if (!name) return CallResult::error(name.error().message);
  auto fd = c.ws.open(*name, O_RDONLY | O_DIRECTORY);
  if (!fd) return CallResult::error(ws_error_message(fd.error(), "scandir", name->display));
  SearchWalk s{c, WalkLimits(c.opts), glob::Pattern::compile(pattern), {}, name->display, {}};
  for (const auto& p : exclude) {
    if (c.expired()) return CallResult::error("deadline passed");
    s.excludes.push_back(glob::Pattern::compile(p));
  }
  s.walk(fd->get(), "", name->display, 0);
  std::string out;
  for (const auto& r : s.results) {
    if (!out.empty()) out.push_back('\n');
    out.append(r);
  }
  if (s.results.empty()) out = "No matches found";
  return CallResult::text(out + s.limits.notice());
}

}  // namespace shmcp::executor::detail
