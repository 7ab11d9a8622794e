// Bounded glob matcher: the subset of minimatch (v10, options {dot: true}) that the reference
// filesystem server relies on for search_files and directory_tree.
//
// Supported: `*`, `?`, `[...]` (ranges, `!`/`^` negation, POSIX [:classes:]), `**` as a whole
// segment (globstar), `{a,b}` and `{1..3}`/`{a..c}` brace expansion, backslash escapes, leading `!`
// negation and `#` comments. Not supported: extglobs such as `@(a|b)` (their characters are taken
// literally). Matching is case-sensitive on UTF-16 code units, like minimatch's regexps.
//
// Cost is bounded: brace expansion stops at kMaxAlternatives, and matching is a dynamic program over
// (pattern segment, path segment) plus a linear-backtracking wildcard match inside a segment, so no
// input can make it recurse deeply or take exponential time. Polynomial is still a lot for 1024
// alternatives of long segments: match() polls the call's deadline in its inner loops.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "executor/tools/call_deadline.hpp"

namespace shmcp::executor::glob {

inline constexpr std::size_t kMaxAlternatives = 1024;
inline constexpr std::size_t kMaxPatternBytes = 4096;

class Pattern {
 public:
  // Never fails: a malformed construct (an unclosed `[` or `{`) is taken literally, as minimatch
  // does. Patterns longer than kMaxPatternBytes match nothing.
  static Pattern compile(std::string_view pattern);

  // `path` is a relative path with '/' separators (what path.relative gives). With a deadline,
  // the matcher polls it inside its loops and, once it has passed, returns false early: callers
  // must then check deadline->hit() before trusting a false.
  bool match(std::string_view path, CallDeadline* deadline = nullptr) const;

  Pattern();
  ~Pattern();
  Pattern(Pattern&&) noexcept;
  Pattern& operator=(Pattern&&) noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Brace expansion as minimatch applies it before matching (exposed for tests).
std::vector<std::string> brace_expand(std::string_view pattern, std::size_t limit = kMaxAlternatives);

}  // namespace shmcp::executor::glob
