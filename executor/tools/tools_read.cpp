// Read-only file tools: read_text_file (head/tail), read_media_file, read_multiple_files,
// get_file_info.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <exception>
#include <new>

#include "executor/tools/edit_diff.hpp"
#include "executor/tools/tools_internal.hpp"

namespace shmcp::executor {
namespace detail {
namespace {

using edit::split_lf;

std::string join_lf(const std::vector<std::string_view>& parts, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) out.push_back('\n');
    out.append(parts[i]);
  }
  return out;
}

// headFile of the reference: the first ceil(n) lines joined by "\n"; a final newline does not
// start another line; "\r" is kept.
std::string head_lines(std::string_view raw, double n) {
  if (!(n > 0)) return "";
  std::string text = utf8_sanitize(raw);
  auto lines = split_lf(text);
  if (lines.back().empty()) lines.pop_back();
  double want = std::ceil(n);
  std::size_t take = want >= static_cast<double>(lines.size()) ? lines.size() : static_cast<std::size_t>(want);
  return join_lf(lines, 0, take);
}

// tailFile of the reference, including its chunking: it reads 1 KiB chunks backwards from the end
// until it has seen n newlines, decodes only that suffix (CRLF -> LF), splits on "\n" and keeps
// Array#slice(-n) of the pieces. Reproducing the chunk walk keeps fractional n (slice truncates
// toward zero) and a chunk boundary inside a UTF-8 sequence byte-identical.
std::string tail_lines(std::string_view raw, double n) {
  if (raw.empty()) return "";
  std::size_t position = raw.size();
  double newlines = 0;
  while (position > 0 && newlines < n) {
    std::size_t size = std::min<std::size_t>(1024, position);
    position -= size;
    newlines += static_cast<double>(std::count(raw.begin() + static_cast<std::ptrdiff_t>(position),
                                               raw.begin() + static_cast<std::ptrdiff_t>(position + size), '\n'));
  }
  std::string text = edit::normalize_eol(utf8_sanitize(raw.substr(position)));
  auto pieces = split_lf(text);
  const double len = static_cast<double>(pieces.size());
  double k = std::trunc(-n);  // ToIntegerOrInfinity(-n)
  double start = k < 0 ? std::max(len + k, 0.0) : std::min(k, len);
  return join_lf(pieces, static_cast<std::size_t>(start), pieces.size());
}

const char* mime_for(const std::string& ext) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".png", "image/png"},   {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
      {".webp", "image/webp"}, {".bmp", "image/bmp"},  {".svg", "image/svg+xml"}, {".mp3", "audio/mpeg"},
      {".wav", "audio/wav"},   {".ogg", "audio/ogg"},  {".flac", "audio/flac"},
  };
  for (const auto& [e, m] : kTypes) {
    if (ext == e) return m;
  }
  return "application/octet-stream";
}

}  // namespace

CallResult read_media_file(const Ctx& c, std::string_view path) {
  auto file = read_regular(c, path);
  if (!file) return CallResult::error(file.error().message);
  // The reference takes the extension and URI from the symlink-resolved path; we use the path as
  // given (normalized), since resolving link chains by name would reintroduce check-then-use.
  const std::string shown = file->display;
  const char* mime = mime_for(extension_lower(shown));
  ContentBlock b;
  b.text = base64(file->data);
  b.mime_type = mime;
  std::string_view m(mime);
  if (m.substr(0, 6) == "image/") {
    b.kind = ContentBlock::Kind::image;
  } else if (m.substr(0, 6) == "audio/") {
    b.kind = ContentBlock::Kind::audio;
  } else {
    b.kind = ContentBlock::Kind::resource;
    b.uri = file_url(shown);
  }
  CallResult r;
  r.media = true;
  r.content.push_back(std::move(b));
  return r;
}

CallResult read_multiple_files(const Ctx& c, const std::vector<std::string>& paths) {
  // One budget for the whole call, so repeating a large file cannot multiply memory use.
  std::uint64_t budget = c.opts.max_read_bytes;
  std::string out;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (c.expired()) return CallResult::error("deadline passed");
    if (i > 0) out.append("\n---\n");
    auto file = read_regular(c.with(c.ws_for(paths[i])), paths[i], budget);
    if (!file) {
      out.append(paths[i]).append(": Error - ").append(file.error().message);
      continue;
    }
    budget -= file->data.size();
    out.append(paths[i]).append(":\n").append(utf8_sanitize(file->data)).append("\n");
  }
  return CallResult::text(std::move(out));
}

CallResult get_file_info(const Ctx& c, std::string_view path) {
  auto name = c.ws.name(path);
  if (!name) return CallResult::error(name.error().message);
  // Following the final symlink is safe: the Workspace refuses any resolution leaving the root, so
  // an escaping link is denied rather than reported.
  auto fd = c.ws.open(*name, O_PATH);
  if (!fd) return CallResult::error(ws_error_message(fd.error(), "stat", name->display));
  struct statx sx {};
  std::int64_t size = 0, btime = 0, mtime = 0, atime = 0;
  unsigned mode = 0;
  std::uint64_t nlink = 1;
  if (::statx(fd->get(), "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &sx) == 0) {
    size = static_cast<std::int64_t>(sx.stx_size);
    // Like libuv: a filesystem without birth times reports the epoch.
    btime = (sx.stx_mask & STATX_BTIME) ? sx.stx_btime.tv_sec : 0;
    mtime = sx.stx_mtime.tv_sec;
    atime = sx.stx_atime.tv_sec;
    mode = sx.stx_mode;
    nlink = sx.stx_nlink;
  } else {
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return CallResult::error(node_errno_message(errno, "stat", name->display));
    size = st.st_size;
    mtime = st.st_mtim.tv_sec;
    atime = st.st_atim.tv_sec;
    mode = st.st_mode;
    nlink = st.st_nlink;
  }
  if (auto refused = hardlink_refusal(c, static_cast<mode_t>(mode), nlink, name->display); !refused.empty())
    return CallResult::error(std::move(refused));
  char perm[32];
  std::snprintf(perm, sizeof perm, "%o", mode);
  std::string p(perm);
  std::string text;
  text += "size: " + std::to_string(size) + "\n";
  text += "created: " + js_date(btime) + "\n";
  text += "modified: " + js_date(mtime) + "\n";
  text += "accessed: " + js_date(atime) + "\n";
  text += std::string("isDirectory: ") + (S_ISDIR(mode) ? "true" : "false") + "\n";
  text += std::string("isFile: ") + (S_ISREG(mode) ? "true" : "false") + "\n";
  text += "permissions: " + (p.size() > 3 ? p.substr(p.size() - 3) : p);
  return CallResult::text(std::move(text));
}

}  // namespace detail

CallResult Tools::read_text_file(std::string_view path, std::optional<double> head, std::optional<double> tail) {
  try {
    auto name = ws_.name(path);
    if (!name) return CallResult::error(name.error().message);
    // 0 counts as "not given", as in the reference's truthiness test.
    const bool use_head = head && *head != 0;
    const bool use_tail = tail && *tail != 0;
    if (use_head && use_tail) return CallResult::error("Cannot specify both head and tail parameters simultaneously");
    const detail::Ctx c{ws_, opts_, defer_close_ ? &closing_ : nullptr};
    auto file = detail::read_regular(c, *name);
    if (!file) return CallResult::error(file.error().message);
    if (use_tail) return CallResult::text(detail::tail_lines(file->data, *tail));
    if (use_head) return CallResult::text(detail::head_lines(file->data, *head));
    return CallResult::text(detail::utf8_sanitize(std::move(file->data)));
  } catch (const std::bad_alloc&) {
    return CallResult::error("Internal error: out of memory");
  } catch (const std::exception& e) {
    return CallResult::error(std::string("Internal error: ") + e.what());
  }
}

}  // namespace shmcp::executor
