// Shared helpers of the tools: text conversions that reproduce Node's output, error texts, and the
// file primitives (regular-file read, atomic replace, directory reads) every tool builds on.
#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "channel/text.hpp"
#include "executor/tools_internal.hpp"
#include "sandbox/open_how.hpp"

namespace shmcp::executor::detail {

// ---- text ------------------------------------------------------------------------------------

namespace {

void put_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

std::string utf8_sanitize(std::string&& bytes) {
  if (is_valid_utf8(bytes)) return std::move(bytes);  // no copy for the common, valid case
  return utf8_sanitize(std::string_view(bytes));
}

std::string utf8_sanitize(std::string_view bytes) {
  if (is_valid_utf8(bytes)) return std::string(bytes);
  // WHATWG "UTF-8 decode" with replacement: the byte that breaks a sequence is reprocessed.
  std::string out;
  out.reserve(bytes.size() + 16);
  std::uint32_t cp = 0;
  std::size_t needed = 0, seen = 0;
  unsigned char lower = 0x80, upper = 0xBF;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    if (needed == 0) {
      if (b < 0x80) {
        out.push_back(static_cast<char>(b));
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
        cp = b & 0x1Fu;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
        cp = b & 0xFu;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
        cp = b & 0x7u;
      } else {
        put_utf8(out, 0xFFFD);
      }
      continue;
    }
    if (b < lower || b > upper) {
      cp = 0;
      needed = seen = 0;
      lower = 0x80;
      upper = 0xBF;
      put_utf8(out, 0xFFFD);
      --i;  // reprocess this byte as the start of something new
      continue;
    }
    lower = 0x80;
    upper = 0xBF;
    cp = (cp << 6) | (b & 0x3Fu);
    if (++seen == needed) {
      put_utf8(out, cp);
      cp = 0;
      needed = seen = 0;
    }
  }
  if (needed) put_utf8(out, 0xFFFD);
  return out;
}

std::size_t utf16_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) n += c >= 0xF0 ? 2 : 1;
  }
  return n;
}

std::string base64(std::string_view in) {
  static constexpr char kAlpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16) |
                      (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8) |
                      static_cast<unsigned char>(in[i + 2]);
    out.push_back(kAlpha[(v >> 18) & 63]);
    out.push_back(kAlpha[(v >> 12) & 63]);
    out.push_back(kAlpha[(v >> 6) & 63]);
    out.push_back(kAlpha[v & 63]);
  }
  if (std::size_t rest = in.size() - i; rest > 0) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (rest == 2) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    out.push_back(kAlpha[(v >> 18) & 63]);
    out.push_back(kAlpha[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlpha[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  append_json_escaped(out, s);
  out.push_back('"');
  return out;
}

std::string format_size(std::int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  if (bytes <= 0) return "0 B";
  // Same floating-point unit choice as the reference (Math.floor(Math.log(b) / Math.log(1024))).
  auto i = static_cast<int>(std::floor(std::log(static_cast<double>(bytes)) / std::log(1024.0)));
  if (i <= 0) return std::to_string(bytes) + " B";
  int unit = std::min(i, 4);
  // toFixed(2) on bytes / 1024^unit, which is exact in binary: round half up on the exact value.
  const unsigned shift = 10u * static_cast<unsigned>(unit);
  const auto ub = static_cast<std::uint64_t>(bytes);
  std::uint64_t whole = ub >> shift;
  const std::uint64_t den = std::uint64_t{1} << shift;
  const std::uint64_t scaled = (ub & (den - 1)) * 100u;  // < 2^47: no overflow
  std::uint64_t frac = scaled / den;
  if (2 * (scaled % den) >= den) ++frac;
  if (frac == 100) {
    ++whole;
    frac = 0;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%llu.%02llu %s", static_cast<unsigned long long>(whole),
                static_cast<unsigned long long>(frac), kUnits[unit]);
  return buf;
}

namespace {

// ICU's long names for the zone abbreviations glibc reports; keyed by abbreviation and UTC offset
// because abbreviations are ambiguous (CST, IST).
std::string zone_long_name(const char* abbr, long gmtoff) {
  struct Z {
    const char* abbr;
    long off;  // seconds; LONG_MIN = any
    const char* name;
  };
  static constexpr long kAny = -1'000'000;
  static const Z kZones[] = {
      {"UTC", kAny, "Coordinated Universal Time"},  {"UCT", kAny, "Coordinated Universal Time"},
      {"GMT", kAny, "Greenwich Mean Time"},         {"BST", 3600, "British Summer Time"},
      {"IST", 3600, "Irish Standard Time"},         {"IST", 19800, "India Standard Time"},
      {"IST", 7200, "Israel Standard Time"},        {"IDT", 10800, "Israel Daylight Time"},
      {"CET", kAny, "Central European Standard Time"}, {"CEST", kAny, "Central European Summer Time"},
      {"EET", kAny, "Eastern European Standard Time"}, {"EEST", kAny, "Eastern European Summer Time"},
      {"WET", kAny, "Western European Standard Time"}, {"WEST", kAny, "Western European Summer Time"},
      {"MSK", kAny, "Moscow Standard Time"},        {"EST", kAny, "Eastern Standard Time"},
      {"EDT", kAny, "Eastern Daylight Time"},       {"CST", -21600, "Central Standard Time"},
      {"CDT", kAny, "Central Daylight Time"},       {"CST", 28800, "China Standard Time"},
      {"MST", kAny, "Mountain Standard Time"},      {"MDT", kAny, "Mountain Daylight Time"},
      {"PST", kAny, "Pacific Standard Time"},       {"PDT", kAny, "Pacific Daylight Time"},
      {"AKST", kAny, "Alaska Standard Time"},       {"AKDT", kAny, "Alaska Daylight Time"},
      {"HST", kAny, "Hawaii-Aleutian Standard Time"}, {"JST", kAny, "Japan Standard Time"},
      {"KST", kAny, "Korean Standard Time"},        {"AEST", kAny, "Australian Eastern Standard Time"},
      {"AEDT", kAny, "Australian Eastern Daylight Time"}, {"ACST", kAny, "Australian Central Standard Time"},
      {"AWST", kAny, "Australian Western Standard Time"}, {"NZST", kAny, "New Zealand Standard Time"},
      {"NZDT", kAny, "New Zealand Daylight Time"},  {"HKT", kAny, "Hong Kong Standard Time"},
      {"SAST", kAny, "South Africa Standard Time"}, {"PKT", kAny, "Pakistan Standard Time"},
      {"WIB", kAny, "Western Indonesia Time"},      {"SGT", kAny, "Singapore Standard Time"},
  };
  if (abbr) {
    for (const auto& z : kZones) {
      if (std::strcmp(z.abbr, abbr) == 0 && (z.off == kAny || z.off == gmtoff)) return z.name;
    }
  }
  // ICU's fallback for a zone without a name: "GMT+03:00".
  if (gmtoff == 0) return "GMT";
  long a = gmtoff < 0 ? -gmtoff : gmtoff;
  char buf[32];
  std::snprintf(buf, sizeof buf, "GMT%c%02ld:%02ld", gmtoff < 0 ? '-' : '+', a / 3600, (a % 3600) / 60);
  return buf;
}

}  // namespace

std::string js_date(std::int64_t seconds) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto t = static_cast<time_t>(seconds);
  struct tm tm {};
  if (localtime_r(&t, &tm) == nullptr) return "Invalid Date";
  long off = tm.tm_gmtoff;
  long a = off < 0 ? -off : off;
  char buf[128];
  long long year = static_cast<long long>(tm.tm_year) + 1900;
  std::snprintf(buf, sizeof buf, "%s %s %02d %s%04lld %02d:%02d:%02d GMT%c%02ld%02ld", kDays[tm.tm_wday % 7],
                kMonths[tm.tm_mon % 12], tm.tm_mday, year < 0 ? "-" : "", year < 0 ? -year : year, tm.tm_hour,
                tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', a / 3600, (a % 3600) / 60);
  return std::string(buf) + " (" + zone_long_name(tm.tm_zone, off) + ")";
}

std::string extension_lower(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  // path.extname: the last '.', unless the name consists of dots up to it ("." , "..", ".bashrc").
  // path.extname: from the last '.', unless that dot starts the name (".bashrc") or the name is "..".
  auto dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || base == "..") return "";
  std::string ext(base.substr(dot));
  for (auto& ch : ext) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return ext;
}

std::string file_url(std::string_view abs) {
  std::string out = "file://";
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : abs) {
    bool enc = c < 0x21 || c >= 0x7F || std::strchr("\"#%<>?[\\]^`{|}~", c) != nullptr;
    if (c == 0) enc = true;
    if (enc) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string dirname(std::string_view abs) {
  while (abs.size() > 1 && abs.back() == '/') abs.remove_suffix(1);
  auto slash = abs.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(abs.substr(0, slash));
}

// ---- errors ----------------------------------------------------------------------------------

std::string node_errno_message(int err, std::string_view syscall, std::string_view path) {
  // libuv's uv_strerror texts, which Node puts in its fs error messages.
  const char* text = nullptr;
  switch (err) {
    case ENOENT: text = "no such file or directory"; break;
    case EACCES: text = "permission denied"; break;
    case EEXIST: text = "file already exists"; break;
    case EISDIR: text = "illegal operation on a directory"; break;
    case ENOTDIR: text = "not a directory"; break;
    case ENOTEMPTY: text = "directory not empty"; break;
    case ELOOP: text = "too many symbolic links encountered"; break;
    case ENAMETOOLONG: text = "name too long"; break;
    case EPERM: text = "operation not permitted"; break;
    case EXDEV: text = "cross-device link not permitted"; break;
    case EINVAL: text = "invalid argument"; break;
    case ENOSPC: text = "no space left on device"; break;
    case EROFS: text = "read-only file system"; break;
    case EBUSY: text = "resource busy or locked"; break;
    case EMFILE: text = "too many open files"; break;
    case EFBIG: text = "file too large"; break;
    case EIO: text = "i/o error"; break;
    case EAGAIN: text = "resource temporarily unavailable"; break;
    case ENXIO: text = "no such device or address"; break;
    case ETXTBSY: text = "text file is busy"; break;
    default: text = std::strerror(err); break;
  }
  std::string m(errno_name(err));
  m.append(": ").append(text).append(", ").append(syscall);
  if (!path.empty()) m.append(" '").append(path).append("'");
  return m;
}

std::string ws_error_message(const Error& e, std::string_view syscall, std::string_view display) {
  if (e.code == Errc::access_denied || e.code == Errc::invalid_argument || e.code == Errc::too_large) {
    return e.message;
  }
  int err = e.sys_errno;
  if (err == 0 && e.code == Errc::not_found) err = ENOENT;
  if (err == EXDEV) {
    return "Access denied - symlink target outside allowed directories: " + std::string(display);
  }
  if (err != 0) return node_errno_message(err, syscall, display);
  return e.message;
}

Error fail(std::string message, Errc code) { return make_error(code, std::move(message)); }

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

Result<std::string> atomic_write(const Ctx& c, std::string_view user_path, std::string_view data) {
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
  const int dir = parent->dir.get();
  const std::string& leaf = parent->leaf;
  struct stat st {};
  std::optional<mode_t> keep_mode;
  if (::fstatat(dir, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) return fail(node_errno_message(EISDIR, "open", display));
    if (S_ISREG(st.st_mode)) keep_mode = st.st_mode & 0777;
  } else if (errno != ENOENT) {
    return fail(node_errno_message(errno, "open", display));
  }

  // ".<name>.shmcp-<12 hex>.tmp", kept within NAME_MAX however long the target's name is.
  auto temp_name = [&leaf](int attempt) {
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
    return "." + leaf.substr(0, 200) + ".shmcp-" + std::string(hex, 12) + ".tmp";
  };
  // The page cache survives the death of any process (executor, container), so an acknowledged
  // write is intact after a SIGKILL without fsync. fsync (~10 ms on these disks) only buys
  // durability across a host crash: opt-in with --fsync (ToolOptions::fsync_writes).
  // Returns 0 or the failing call's errno (and its name in `what`).
  auto fill = [&](int fd, const char*& what) -> int {
    what = "write";
    if (!write_all(fd, data)) return errno;
    what = "chmod";
    if (keep_mode && ::fchmod(fd, *keep_mode) != 0) return errno;
    what = "fsync";
    if (c.opts.fsync_writes && ::fsync(fd) != 0) return errno;
    if (c.opts.test_abort_after_fill) std::abort();  // TEST-ONLY (see ToolOptions)
    return 0;
  };
  const char* what = "";

  // First choice: an anonymous inode (O_TMPFILE) in the target's directory, given a name only
  // once its content is complete. A worker killed while writing (deadline, OOM, crash) then
  // leaves nothing behind; the named temp file below exists only between linkat and rename.
  // Naming it (linkat AT_EMPTY_PATH without CAP_DAC_READ_SEARCH) needs Linux >= 6.10; older
  // kernels answer ENOENT, and filesystems without O_TMPFILE EOPNOTSUPP: then a named temp file
  // from the start, as before.
  static std::atomic<bool> no_anonymous_link{false};
  if (!no_anonymous_link.load(std::memory_order_relaxed)) {
    const int raw = ::openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, keep_mode ? 0600 : 0666);
    if (raw >= 0) {
      sandbox::UniqueFd anon(raw);
      if (int err = fill(anon.get(), what); err != 0) return fail(node_errno_message(err, what, display));
      int err = EEXIST;
      std::string tmp;
      for (int attempt = 0; attempt < 16 && err == EEXIST; ++attempt) {
        tmp = temp_name(attempt);
        err = ::linkat(anon.get(), "", dir, tmp.c_str(), AT_EMPTY_PATH) == 0 ? 0 : errno;
      }
      if (err == 0) {
        anon.reset();
        if (::renameat(dir, tmp.c_str(), dir, leaf.c_str()) != 0) {
          const int rerr = errno;
          ::unlinkat(dir, tmp.c_str(), 0);
          return fail(node_errno_message(rerr, "rename", display));
        }
        return display;
      }
      if (err != ENOENT) return fail(node_errno_message(err, "link", display));
      // This kernel cannot name an anonymous inode without a capability: stop trying.
      no_anonymous_link.store(true, std::memory_order_relaxed);
    } else if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
      return fail(node_errno_message(errno, "open", display));
    }
  }

  std::string tmp;
  sandbox::UniqueFd fd;
  for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
    tmp = temp_name(attempt);
    // A single component relative to the parent handle with O_EXCL: nothing to resolve, and an
    // existing entry (including a planted symlink) is refused rather than followed.
    int raw = ::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       keep_mode ? 0600 : 0666);
    if (raw >= 0) {
      fd.reset(raw);
    } else if (errno != EEXIST) {
      return fail(node_errno_message(errno, "open", display));
    }
  }
  if (!fd) return fail(node_errno_message(EEXIST, "open", display));

  auto abandon = [&](int err, const char* syscall) {
    fd.reset();
    ::unlinkat(dir, tmp.c_str(), 0);
    return fail(node_errno_message(err, syscall, display));
  };
  if (int err = fill(fd.get(), what); err != 0) return abandon(err, what);
  if (::close(fd.release()) != 0) return abandon(errno, "close");
  if (::renameat(dir, tmp.c_str(), dir, leaf.c_str()) != 0) return abandon(errno, "rename");
  return display;
}

// ---- directories -----------------------------------------------------------------------------

Result<std::vector<DirEntry>> read_dir(int dirfd, std::uint64_t max_entries, bool* truncated,
                                       std::string_view display) {
  std::vector<DirEntry> out;
  if (truncated) *truncated = false;
  alignas(8) char buf[32768];
  while (true) {
    long n = ::syscall(SYS_getdents64, dirfd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(node_errno_message(errno, "scandir", display));
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      // linux_dirent64: d_ino(8) d_off(8) d_reclen(2) d_type(1) d_name[]
      unsigned short reclen = 0;
      std::memcpy(&reclen, buf + off + 16, sizeof reclen);
      auto type = static_cast<unsigned char>(buf[off + 18]);
      const char* nm = buf + off + 19;
      off += reclen;
      if (std::strcmp(nm, ".") == 0 || std::strcmp(nm, "..") == 0) continue;
      if (out.size() >= max_entries) {
        if (truncated) *truncated = true;
        break;
      }
      DirEntry e;
      e.name = nm;
      e.type = type;
      if (type == DT_UNKNOWN) {
        struct stat st {};
        if (::fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0) {
          e.type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
        }
      }
      out.push_back(std::move(e));
    }
    if (truncated && *truncated) break;
  }
  std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

Result<sandbox::UniqueFd> open_subdir(int dirfd, std::string_view name, std::string_view display) {
  const std::string n(name);
  int fd;
  do {
    fd = sandbox::openat2_sealed(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0,
                                 sandbox::kResolveBeneathNoSymlinks);
  } while (fd == -EAGAIN || fd == -EINTR);
  if (fd < 0) return fail(node_errno_message(-fd, "scandir", display));
  return sandbox::UniqueFd(fd);
}

std::uint64_t monotonic_ms() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u;
}

}  // namespace shmcp::executor::detail
