#include "executor/tools/glob.hpp"

#include <cstdint>
#include <optional>
#include <utility>

namespace shmcp::executor::glob {
namespace {

// UTF-8 to UTF-16 code units; invalid bytes become U+FFFD (names were already sanitized by the
// caller, patterns come from JSON, so this only has to be total, not exact).
std::u16string to_u16(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0xFFFD;
    std::size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c >> 5) == 0x6 && i + 1 < s.size()) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      len = 2;
    } else if ((c >> 4) == 0xE && i + 2 < s.size()) {
      cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
      len = 3;
    } else if ((c >> 3) == 0x1E && i + 3 < s.size()) {
      cp = ((c & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
           ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
      len = 4;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
    i += len;
  }
  return out;
}

// ---- brace expansion --------------------------------------------------------------------------

// Index of the `}` closing the `{` at `open`, honouring nesting and backslash escapes.
std::optional<std::size_t> closing_brace(std::string_view s, std::size_t open) {
  int depth = 0;
  for (std::size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::nullopt;
}

// Top-level comma split of a brace body; empty result when the body has no top-level comma.
std::vector<std::string_view> comma_parts(std::string_view body) {
  std::vector<std::string_view> parts;
  int depth = 0;
  std::size_t start = 0;
  bool any = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\\') {
      ++i;
      continue;
    }
    if (body[i] == '{') ++depth;
    if (body[i] == '}') --depth;
    if (body[i] == ',' && depth == 0) {
      parts.push_back(body.substr(start, i - start));
      start = i + 1;
      any = true;
    }
  }
  if (!any) return {};
  parts.push_back(body.substr(start));
  return parts;
}

bool parse_int(std::string_view s, long long& v) {
  if (s.empty() || s.size() > 12) return false;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  long long r = 0;
  for (std::size_t k = i; k < s.size(); ++k) {
    if (s[k] < '0' || s[k] > '9') return false;
    r = r * 10 + (s[k] - '0');
  }
  v = s[0] == '-' ? -r : r;
  return true;
}

// `{x..y}` or `{x..y..step}`: numeric (zero padded when an end has a leading zero) or single
// characters. Empty when the body is not a sequence.
std::vector<std::string> sequence(std::string_view body, std::size_t limit) {
  std::vector<std::string_view> f;
  std::size_t pos = 0;
  while (true) {
    auto d = body.find("..", pos);
    if (d == std::string_view::npos) {
      f.push_back(body.substr(pos));
      break;
    }
    f.push_back(body.substr(pos, d - pos));
    pos = d + 2;
  }
  if (f.size() != 2 && f.size() != 3) return {};
  long long step = 1;
  if (f.size() == 3 && (!parse_int(f[2], step))) return {};
  if (step == 0) step = 1;
  if (step < 0) step = -step;
  std::vector<std::string> out;
  long long a = 0, b = 0;
  if (parse_int(f[0], a) && parse_int(f[1], b)) {
    auto padded = [](std::string_view s) {
      std::size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
      return s.size() > i + 1 && s[i] == '0';
    };
    std::size_t width = (padded(f[0]) || padded(f[1])) ? std::max(f[0].size(), f[1].size()) : 0;
    for (long long v = a; (a <= b ? v <= b : v >= b) && out.size() < limit; v += (a <= b ? step : -step)) {
      std::string s = std::to_string(v < 0 ? -v : v);
      std::size_t w = width > 0 && v < 0 ? width - 1 : width;
      if (s.size() < w) s.insert(0, w - s.size(), '0');
      if (v < 0) s.insert(0, 1, '-');
      out.push_back(std::move(s));
    }
    return out;
  }
  if (f[0].size() == 1 && f[1].size() == 1) {
    int x = static_cast<unsigned char>(f[0][0]), y = static_cast<unsigned char>(f[1][0]);
    for (int v = x; (x <= y ? v <= y : v >= y) && out.size() < limit;
         v += static_cast<int>(x <= y ? step : -step)) {
      char c = static_cast<char>(v);
      out.emplace_back(1, c);
      // Like brace-expansion: a backslash produced by a range is escaped so it stays literal.
      if (c == '\\') out.back() = "\\\\";
    }
    return out;
  }
  return {};
}

void expand_into(std::string_view s, std::vector<std::string>& out, std::size_t limit, int depth) {
  if (out.size() >= limit) return;
  // Find the first `{` that starts a real set (comma list or sequence); others stay literal.
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] != '{') continue;
    auto close = closing_brace(s, i);
    if (!close) return out.push_back(std::string(s));  // unbalanced: everything literal
    std::string_view body = s.substr(i + 1, *close - i - 1);
    std::string_view pre = s.substr(0, i), post = s.substr(*close + 1);
    std::vector<std::string> alts;
    auto parts = comma_parts(body);
    if (!parts.empty()) {
      for (auto p : parts) {
        if (depth > 32) {
          alts.emplace_back(p);
        } else {
          expand_into(p, alts, limit, depth + 1);
        }
        if (alts.size() >= limit) break;
      }
    } else {
      alts = sequence(body, limit);
      if (alts.empty()) continue;  // `{a}` and `{}` are literal; look for a later set
    }
    std::vector<std::string> tails;
    if (depth > 32) {
      tails.emplace_back(post);
    } else {
      expand_into(post, tails, limit, depth + 1);
    }
    for (const auto& a : alts) {
      for (const auto& t : tails) {
        if (out.size() >= limit) return;
        out.push_back(std::string(pre) + a + t);
      }
    }
    return;
  }
  out.push_back(std::string(s));
}

// ---- segment matching --------------------------------------------------------------------------

struct CharClass {
  bool negate = false;
  std::vector<std::pair<char16_t, char16_t>> ranges;
  std::vector<int (*)(int)> posix;  // ASCII classification functions
  bool matches(char16_t c) const {
    bool hit = false;
    for (auto [lo, hi] : ranges) {
      if (c >= lo && c <= hi) {
        hit = true;
        break;
      }
    }
    if (!hit && c < 0x80) {
      for (auto f : posix) {
        if (f(c) != 0) {
          hit = true;
          break;
        }
      }
    }
    return hit != negate;
  }
};

int is_alnum(int c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
int is_ascii(int c) { return c < 0x80; }
int is_blank(int c) { return c == ' ' || c == '\t'; }
int is_cntrl(int c) { return c < 0x20 || c == 0x7F; }
int is_digit(int c) { return c >= '0' && c <= '9'; }
int is_graph(int c) { return c > 0x20 && c < 0x7F; }
int is_lower(int c) { return c >= 'a' && c <= 'z'; }
int is_print(int c) { return c >= 0x20 && c < 0x7F; }
int is_punct(int c) { return is_graph(c) && !is_alnum(c); }
int is_space(int c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
int is_upper(int c) { return c >= 'A' && c <= 'Z'; }
int is_word(int c) { return is_alnum(c) || c == '_'; }
int is_xdigit(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

struct Token {
  enum Kind : std::uint8_t { literal, any_one, star, klass } kind = literal;
  char16_t ch = 0;
  std::uint32_t cls = 0;
};

struct Segment {
  bool globstar = false;
  bool has_magic = false;
  std::u16string literal;  // when !has_magic: the unescaped text
  std::vector<Token> tokens;
};

// Parses `[...]` starting at s[i] == '['. Returns the index after `]`, or nullopt when unclosed
// (then `[` is a literal character).
std::optional<std::size_t> parse_class(const std::u16string& s, std::size_t i, CharClass& cc) {
  std::size_t j = i + 1;
  if (j < s.size() && (s[j] == u'!' || s[j] == u'^')) {
    cc.negate = true;
    ++j;
  }
  bool first = true;
  while (j < s.size()) {
    char16_t c = s[j];
    if (c == u']' && !first) return j + 1;
    first = false;
    if (c == u'[' && j + 1 < s.size() && s[j + 1] == u':') {
      auto end = s.find(u":]", j + 2);
      if (end != std::u16string::npos) {
        std::u16string name = s.substr(j + 2, end - j - 2);
        static const std::pair<const char16_t*, int (*)(int)> kClasses[] = {
            {u"alnum", is_alnum}, {u"alpha", is_alpha}, {u"ascii", is_ascii}, {u"blank", is_blank},
            {u"cntrl", is_cntrl}, {u"digit", is_digit}, {u"graph", is_graph}, {u"lower", is_lower},
            {u"print", is_print}, {u"punct", is_punct}, {u"space", is_space}, {u"upper", is_upper},
            {u"word", is_word},   {u"xdigit", is_xdigit}};
        bool known = false;
        for (auto& [n, f] : kClasses) {
          if (name == n) {
            cc.posix.push_back(f);
            known = true;
          }
        }
        if (known) {
          j = end + 2;
          continue;
        }
      }
    }
    if (c == u'\\' && j + 1 < s.size()) c = s[++j];
    char16_t lo = c, hi = c;
    if (j + 2 < s.size() && s[j + 1] == u'-' && s[j + 2] != u']') {
      j += 2;
      hi = s[j];
      if (hi == u'\\' && j + 1 < s.size()) hi = s[++j];
      if (hi < lo) return std::nullopt;  // an invalid range makes the class literal, like a bad regexp
    }
    cc.ranges.emplace_back(lo, hi);
    ++j;
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> brace_expand(std::string_view pattern, std::size_t limit) {
  std::vector<std::string> out;
  // minimatch skips expansion when there is no `{...}` at all; brace-expansion keeps a leading
  // `{}` literal.
  if (pattern.find('{') == std::string_view::npos) {
    out.emplace_back(pattern);
    return out;
  }
  if (pattern.substr(0, 2) == "{}") {
    expand_into(pattern.substr(2), out, limit, 0);
    for (auto& s : out) s.insert(0, "{}");
    return out;
  }
  expand_into(pattern, out, limit, 0);
  return out;
}

struct Pattern::Impl {
  bool comment = false;
  bool empty = false;
  bool negate = false;
  bool invalid = false;
  std::vector<std::vector<Segment>> alternatives;
  std::vector<CharClass> classes;

  Segment parse_segment(std::string_view text) {
    Segment seg;
    if (text == "**") {
      seg.globstar = true;
      seg.has_magic = true;
      return seg;
    }
    std::u16string s = to_u16(text);
    for (std::size_t i = 0; i < s.size(); ++i) {
      char16_t c = s[i];
      if (c == u'\\' && i + 1 < s.size()) {
        seg.tokens.push_back({Token::literal, s[++i], 0});
      } else if (c == u'*') {
        if (seg.tokens.empty() || seg.tokens.back().kind != Token::star) {
          seg.tokens.push_back({Token::star, 0, 0});
        }
        seg.has_magic = true;
      } else if (c == u'?') {
        seg.tokens.push_back({Token::any_one, 0, 0});
        seg.has_magic = true;
      } else if (c == u'[') {
        CharClass cc;
        if (auto end = parse_class(s, i, cc)) {
          classes.push_back(std::move(cc));
          seg.tokens.push_back({Token::klass, 0, static_cast<std::uint32_t>(classes.size() - 1)});
          seg.has_magic = true;
          i = *end - 1;
        } else {
          seg.tokens.push_back({Token::literal, c, 0});
        }
      } else {
        seg.tokens.push_back({Token::literal, c, 0});
      }
    }
    if (!seg.has_magic) {
      for (const auto& t : seg.tokens) seg.literal.push_back(t.ch);
      seg.tokens.clear();
    }
    return seg;
  }

  bool token_matches(const Token& t, char16_t c) const {
    switch (t.kind) {
      case Token::literal: return t.ch == c;
      case Token::any_one: return true;
      case Token::klass: return classes[t.cls].matches(c);
      case Token::star: return false;
    }
    return false;
  }

  // Classic single-star backtracking: O(|tokens| * |name|) worst case, no recursion. A passed
  // deadline makes it answer false (see match()).
  bool segment_matches(const Segment& seg, const std::u16string& name, CallDeadline* dl) const {
    if (!seg.has_magic) return seg.literal == name;
    // With {dot: true} a wildcard segment still never matches "." or "..", and never an empty name.
    if (name.empty() || name == u"." || name == u"..") return false;
    const auto& t = seg.tokens;
    std::size_t ti = 0, ni = 0;
    std::size_t star_t = SIZE_MAX, star_n = 0;
    while (ni < name.size()) {
      if (dl != nullptr && dl->tick()) return false;
      if (ti < t.size() && t[ti].kind == Token::star) {
        star_t = ti++;
        star_n = ni;
      } else if (ti < t.size() && token_matches(t[ti], name[ni])) {
        ++ti;
        ++ni;
      } else if (star_t != SIZE_MAX) {
        ti = star_t + 1;
        ni = ++star_n;
      } else {
        return false;
      }
    }
    while (ti < t.size() && t[ti].kind == Token::star) ++ti;
    return ti == t.size();
  }

  // minimatch 10 semantics for one alternative: a globstar matches zero or more segments (never
  // "." or ".."), except that a globstar ending the pattern must match at least one segment.
  // Bottom-up table over (pattern index, path index): O(P * N) segment tests at most.
  bool match_alternative(const std::vector<Segment>& pat, const std::vector<std::u16string>& file, CallDeadline* dl) const {
    const std::size_t P = pat.size(), N = file.size();
    std::vector<std::uint8_t> dp((P + 1) * (N + 1), 0);
    auto at = [&](std::size_t p, std::size_t f) -> std::uint8_t& { return dp[p * (N + 1) + f]; };
    auto dotty = [](const std::u16string& s) { return s == u"." || s == u".."; };
    at(P, N) = 1;
    for (std::size_t pi = P; pi-- > 0;) {
      for (std::size_t fi = N + 1; fi-- > 0;) {
        if (dl != nullptr && dl->tick()) return false;
        bool v = false;
        if (pat[pi].globstar) {
          if (pi + 1 == P) {
            v = fi < N && !dotty(file[fi]) && (fi + 1 == N || at(pi, fi + 1) != 0);
          } else {
            v = at(pi + 1, fi) != 0 || (fi < N && !dotty(file[fi]) && at(pi, fi + 1) != 0);
          }
        } else {
          v = fi < N && at(pi + 1, fi + 1) != 0 && segment_matches(pat[pi], file[fi], dl);
        }
        at(pi, fi) = v ? 1 : 0;
      }
    }
    return at(0, 0) != 0;
  }
};

Pattern::Pattern() : impl_(std::make_unique<Impl>()) {}
Pattern::~Pattern() = default;
Pattern::Pattern(Pattern&&) noexcept = default;
Pattern& Pattern::operator=(Pattern&&) noexcept = default;

namespace {
std::vector<std::string_view> split_slashes(std::string_view s) {
  // Runs of '/' count as one separator, as in minimatch's slashSplit.
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '/') {
      parts.push_back(s.substr(start, i - start));
      while (i + 1 < s.size() && s[i + 1] == '/') ++i;
      start = i + 1;
    }
  }
  return parts;
}
}  // namespace

Pattern Pattern::compile(std::string_view pattern) {
  Pattern p;
  Impl& im = *p.impl_;
  if (pattern.size() > kMaxPatternBytes) {
    im.invalid = true;
    return p;
  }
  if (!pattern.empty() && pattern[0] == '#') {
    im.comment = true;
    return p;
  }
  if (pattern.empty()) {
    im.empty = true;
    return p;
  }
  std::size_t bangs = 0;
  while (bangs < pattern.size() && pattern[bangs] == '!') ++bangs;
  im.negate = bangs % 2 == 1;
  pattern.remove_prefix(bangs);
  for (const auto& alt : brace_expand(pattern)) {
    std::vector<Segment> segs;
    for (auto part : split_slashes(alt)) {
      // levelOneOptimize: adjacent globstars collapse; `x/..` cancels.
      if (part == "**" && !segs.empty() && segs.back().globstar) continue;
      if (part == ".." && !segs.empty() && !segs.back().globstar && segs.back().has_magic == false &&
          segs.back().literal != u".." && segs.back().literal != u".") {
        segs.pop_back();
        continue;
      }
      if (part == ".." && !segs.empty() && !segs.back().globstar && segs.back().has_magic) {
        segs.pop_back();
        continue;
      }
      segs.push_back(im.parse_segment(part));
    }
    if (segs.empty()) segs.push_back(im.parse_segment(""));
    im.alternatives.push_back(std::move(segs));
  }
  return p;
}

bool Pattern::match(std::string_view path, CallDeadline* deadline) const {
  const Impl& im = *impl_;
  if (im.invalid || im.comment) return false;
  if (im.empty) return path.empty();
  std::vector<std::u16string> file;
  for (auto part : split_slashes(path)) file.push_back(to_u16(part));
  for (const auto& alt : im.alternatives) {
    if (im.match_alternative(alt, file, deadline)) return !im.negate;
    if (deadline != nullptr && deadline->hit()) return false;
  }
  return im.negate;
}

}  // namespace shmcp::executor::glob
