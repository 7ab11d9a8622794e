// The text the reference server (Node) produces, reproduced byte for byte: UTF-8 sanitising as
// Buffer#toString does, UTF-16 lengths, base64, JSON.stringify of strings, formatSize, Date#toString,
// path.extname/dirname and pathToFileURL, and Node's errno messages.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "channel/base/text.hpp"
#include "executor/tools/tools_internal.hpp"

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

}  // namespace shmcp::executor::detail
