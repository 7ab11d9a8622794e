#include "executor/tools/edit_diff.hpp"

#include <string.h>  // memmem

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

namespace shmcp::executor::edit {

std::vector<std::string_view> split_lf(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto p = s.find('\n', start);
    if (p == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, p - start));
    start = p + 1;
  }
}

namespace {

// JavaScript's WhiteSpace + LineTerminator set (what String#trim and /\s/ use). Returns the byte
// length of the whitespace character at s[i], or 0.
std::size_t js_space_at(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return 1;
  if (c < 0xC2) return 0;
  auto b = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  if (c == 0xC2 && b(1) == 0xA0) return 2;                                  // U+00A0
  if (c == 0xE1 && b(1) == 0x9A && b(2) == 0x80) return 3;                  // U+1680
  if (c == 0xE2 && b(1) == 0x80 && ((b(2) >= 0x80 && b(2) <= 0x8A) || b(2) == 0xA8 || b(2) == 0xA9 || b(2) == 0xAF))
    return 3;                                                               // U+2000-200A, 2028, 2029, 202F
  if (c == 0xE2 && b(1) == 0x81 && b(2) == 0x9F) return 3;                  // U+205F
  if (c == 0xE3 && b(1) == 0x80 && b(2) == 0x80) return 3;                  // U+3000
  if (c == 0xEF && b(1) == 0xBB && b(2) == 0xBF) return 3;                  // U+FEFF
  return 0;
}

// Byte length of the leading whitespace; `units` gets its length in UTF-16 code units (every JS
// whitespace character is one unit).
std::size_t leading_space(std::string_view s, std::size_t* units = nullptr) {
  std::size_t i = 0, n = 0;
  while (i < s.size()) {
    std::size_t k = js_space_at(s, i);
    if (k == 0) break;
    i += k;
    ++n;
  }
  if (units) *units = n;
  return i;
}

std::string_view trim_start(std::string_view s) { return s.substr(leading_space(s)); }

std::string_view trim(std::string_view s) {
  s = trim_start(s);
  // Trailing: scan forward remembering where the last non-space character ended.
  std::size_t end = 0, i = 0;
  while (i < s.size()) {
    std::size_t k = js_space_at(s, i);
    if (k) {
      i += k;
    } else {
      ++i;
      while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
      end = i;
    }
  }
  return s.substr(0, end);
}


// ---- jsdiff line diff ------------------------------------------------------------------------

// jsdiff's tokenize for lines: each token is a line with its "\n"; the last may lack it; a final
// empty token is dropped.
std::vector<std::string_view> tokenize(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto p = s.find('\n', start);
    if (p == std::string_view::npos) {
      out.push_back(s.substr(start));
      break;
    }
    out.push_back(s.substr(start, p + 1 - start));
    start = p + 1;
  }
  return out;
}

struct Component {
  std::size_t count;
  bool added;
  bool removed;
  std::int64_t prev;  // index into the pool, -1 for none
};

struct Change {
  bool added = false;
  bool removed = false;
  std::vector<std::string_view> lines;
};

// A port of jsdiff's Diff.diffWithOptionsObj (Myers with its diagonal pruning and tie-breaking),
// so the chosen edit script, and therefore the hunks, are the same. nullopt when max_work is hit.
std::optional<std::vector<Change>> myers(const std::vector<std::string_view>& oldT,
                                         const std::vector<std::string_view>& newT, std::size_t max_work,
                                         CallDeadline* dl) {
  struct Path {
    std::int64_t oldPos;
    std::int64_t last;
    bool valid;
  };
  const auto oldLen = static_cast<std::int64_t>(oldT.size());
  const auto newLen = static_cast<std::int64_t>(newT.size());
  // A deque, not a vector: the pool grows to kMaxDiffWork entries (hundreds of MB), and a vector's
  // doubling would copy it all in one step that no deadline check can interrupt.
  std::deque<Component> pool;
  std::vector<Path> pos_diag, neg_diag;  // bestPath[k] for k >= 0 and k < 0 (index -k-1)
  auto slot = [&](std::int64_t k) -> Path& {
    auto& v = k >= 0 ? pos_diag : neg_diag;
    auto idx = static_cast<std::size_t>(k >= 0 ? k : -k - 1);
    if (idx >= v.size()) v.resize(idx + 1, Path{0, -1, false});
    return v[idx];
  };
  auto push = [&](Component c) {
    pool.push_back(c);
    return static_cast<std::int64_t>(pool.size() - 1);
  };
  auto extract_common = [&](Path& base, std::int64_t diagonal) {
    std::int64_t oldPos = base.oldPos, newPos = oldPos - diagonal;
    std::size_t common = 0;
    while (newPos + 1 < newLen && oldPos + 1 < oldLen &&
           oldT[static_cast<std::size_t>(oldPos + 1)] == newT[static_cast<std::size_t>(newPos + 1)]) {
      if (dl != nullptr && dl->tick(1 + oldT[static_cast<std::size_t>(oldPos + 1)].size() / 64)) break;
      ++newPos;
      ++oldPos;
      ++common;
    }
    if (common) base.last = push({common, false, false, base.last});
    base.oldPos = oldPos;
    return newPos;
  };
  auto add_to_path = [&](const Path& p, bool added, bool removed, std::int64_t inc) {
    Path r{p.oldPos + inc, -1, true};
    if (p.last >= 0 && pool[static_cast<std::size_t>(p.last)].added == added &&
        pool[static_cast<std::size_t>(p.last)].removed == removed) {
      const Component& l = pool[static_cast<std::size_t>(p.last)];
      r.last = push({l.count + 1, added, removed, l.prev});
    } else {
      r.last = push({1, added, removed, p.last});
    }
    return r;
  };
  auto build = [&](std::int64_t last) {
    std::vector<std::int64_t> order;
    for (auto c = last; c >= 0; c = pool[static_cast<std::size_t>(c)].prev) order.push_back(c);
    std::reverse(order.begin(), order.end());
    std::vector<Change> out;
    std::size_t np = 0, op = 0;
    for (auto idx : order) {
      const Component& c = pool[static_cast<std::size_t>(idx)];
      Change ch;
      ch.added = c.added;
      ch.removed = c.removed;
      if (!c.removed) {
        ch.lines.assign(newT.begin() + static_cast<std::ptrdiff_t>(np),
                        newT.begin() + static_cast<std::ptrdiff_t>(np + c.count));
        np += c.count;
        if (!c.added) op += c.count;
      } else {
        ch.lines.assign(oldT.begin() + static_cast<std::ptrdiff_t>(op),
                        oldT.begin() + static_cast<std::ptrdiff_t>(op + c.count));
        op += c.count;
      }
      out.push_back(std::move(ch));
    }
    return out;
  };

  std::int64_t editLength = 1;
  const std::int64_t maxEditLength = newLen + oldLen;
  slot(0) = Path{-1, -1, true};
  std::int64_t newPos = extract_common(slot(0), 0);
  if (slot(0).oldPos + 1 >= oldLen && newPos + 1 >= newLen) return build(slot(0).last);
  std::int64_t minDiag = INT64_MIN / 2, maxDiag = INT64_MAX / 2;
  while (editLength <= maxEditLength) {
    for (std::int64_t d = std::max(minDiag, -editLength); d <= std::min(maxDiag, editLength); d += 2) {
      if (pool.size() > max_work) return std::nullopt;
      if (dl != nullptr && dl->tick()) return std::nullopt;
      Path removePath = slot(d - 1), addPath = slot(d + 1);
      if (removePath.valid) slot(d - 1).valid = false;
      bool canAdd = false;
      if (addPath.valid) {
        std::int64_t addNew = addPath.oldPos - d;
        canAdd = 0 <= addNew && addNew < newLen;
      }
      bool canRemove = removePath.valid && removePath.oldPos + 1 < oldLen;
      if (!canAdd && !canRemove) {
        slot(d).valid = false;
        continue;
      }
      Path base = (!canRemove || (canAdd && removePath.oldPos < addPath.oldPos))
                      ? add_to_path(addPath, true, false, 0)
                      : add_to_path(removePath, false, true, 1);
      newPos = extract_common(base, d);
      if (base.oldPos + 1 >= oldLen && newPos + 1 >= newLen) return build(base.last);
      slot(d) = base;
      if (base.oldPos + 1 >= oldLen) maxDiag = std::min(maxDiag, d - 1);
      if (newPos + 1 >= newLen) minDiag = std::max(minDiag, d + 1);
    }
    ++editLength;
  }
  return std::nullopt;
}

}  // namespace

std::string normalize_eol(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out.push_back(text[i]);
  }
  return out;
}

Result<std::string> apply_edits(std::string content, const std::vector<Edit>& edits, CallDeadline* dl) {
  auto timed_out = [] { return make_error(Errc::timeout, "edit_file: the call's deadline passed while matching edits"); };
  for (const auto& e : edits) {
    if (dl != nullptr && dl->expired()) return timed_out();
    const std::string oldN = normalize_eol(e.old_text);
    const std::string newN = normalize_eol(e.new_text);
    // memmem (glibc's two-way search) is linear in both lengths; std::string::find compares the
    // whole needle at every candidate, which a repetitive file and needle make quadratic.
    const void* hit = oldN.empty() ? content.data() : ::memmem(content.data(), content.size(), oldN.data(), oldN.size());
    if (hit != nullptr) {
      content.replace(static_cast<std::size_t>(static_cast<const char*>(hit) - content.data()), oldN.size(), newN);
      continue;
    }
    auto oldLines = split_lf(oldN);
    auto lines = split_lf(content);
    bool found = false;
    if (lines.size() >= oldLines.size()) {
      // Trimmed once, compared many times: the window search is O(lines * oldLines) comparisons.
      std::vector<std::string_view> oldTrim, lineTrim;
      oldTrim.reserve(oldLines.size());
      lineTrim.reserve(lines.size());
      for (auto l : oldLines) oldTrim.push_back(trim(l));
      for (auto l : lines) {
        if (dl != nullptr && dl->tick(1 + l.size() / 64)) return timed_out();
        lineTrim.push_back(trim(l));
      }
      for (std::size_t i = 0; i + oldLines.size() <= lines.size(); ++i) {
        bool ok = true;
        for (std::size_t j = 0; j < oldLines.size() && ok; ++j) {
          if (dl != nullptr && dl->tick(1 + oldTrim[j].size() / 64)) return timed_out();
          ok = oldTrim[j] == lineTrim[i + j];
        }
        if (!ok) continue;
        std::string_view indent = lines[i].substr(0, leading_space(lines[i]));
        std::vector<std::string> repl;
        auto newLines = split_lf(newN);
        for (std::size_t j = 0; j < newLines.size(); ++j) {
          std::string_view line = newLines[j];
          if (j == 0) {
            repl.push_back(std::string(indent) + std::string(trim_start(line)));
            continue;
          }
          std::size_t oldUnits = 0, newUnits = 0;
          std::size_t oldIndentBytes = j < oldLines.size() ? leading_space(oldLines[j], &oldUnits) : 0;
          std::size_t newIndentBytes = leading_space(line, &newUnits);
          if (oldIndentBytes > 0 && newIndentBytes > 0) {
            std::size_t rel = newUnits > oldUnits ? newUnits - oldUnits : 0;
            repl.push_back(std::string(indent) + std::string(rel, ' ') + std::string(trim_start(line)));
          } else {
            repl.emplace_back(line);
          }
        }
        std::string out;
        for (std::size_t k = 0; k < i; ++k) {
          out.append(lines[k]);
          out.push_back('\n');
        }
        for (std::size_t k = 0; k < repl.size(); ++k) {
          out.append(repl[k]);
          if (k + 1 < repl.size() || i + oldLines.size() < lines.size()) out.push_back('\n');
        }
        for (std::size_t k = i + oldLines.size(); k < lines.size(); ++k) {
          out.append(lines[k]);
          if (k + 1 < lines.size()) out.push_back('\n');
        }
        content = std::move(out);
        found = true;
        break;
      }
    }
    if (!found) return make_error(Errc::invalid_argument, "Could not find exact match for edit:\n" + e.old_text);
  }
  return content;
}

std::string unified_diff(std::string_view file_name, std::string_view old_text, std::string_view new_text,
                         std::size_t max_work, CallDeadline* deadline) {
  auto oldT = tokenize(old_text);
  auto newT = tokenize(new_text);
  auto result = myers(oldT, newT, max_work, deadline);
  if (!result && deadline != nullptr && deadline->hit()) return {};  // the caller answers the timeout
  std::vector<Change> diff;
  if (result) {
    diff = std::move(*result);
  } else {
    if (!oldT.empty()) diff.push_back(Change{false, true, oldT});
    if (!newT.empty()) diff.push_back(Change{true, false, newT});
  }
  diff.push_back(Change{});  // jsdiff appends an empty value "to make cleanup easier"

  constexpr std::size_t context = 4;
  struct Hunk {
    std::size_t oldStart, oldLines, newStart, newLines;
    std::vector<std::string> lines;
  };
  std::vector<Hunk> hunks;
  std::size_t oldRangeStart = 0, newRangeStart = 0, oldLine = 1, newLine = 1;
  std::vector<std::string> cur;
  // Built with append rather than `"x" + std::string(l)`: GCC 12 at -O3 reports a false
  // -Wrestrict on that operator+ (GCC bug 105329), which -Werror turns into a build failure.
  auto prefixed = [](char p, std::string_view l) {
    std::string s;
    s.reserve(l.size() + 1);
    s += p;
    s += l;
    return s;
  };
  auto ctx = [&](std::string_view l) { return prefixed(' ', l); };
  for (std::size_t i = 0; i < diff.size(); ++i) {
    const Change& c = diff[i];
    if (c.added || c.removed) {
      if (!oldRangeStart) {
        oldRangeStart = oldLine;
        newRangeStart = newLine;
        if (i > 0) {
          const auto& prev = diff[i - 1].lines;
          std::size_t take = std::min(context, prev.size());
          cur.clear();
          for (std::size_t k = prev.size() - take; k < prev.size(); ++k) cur.push_back(ctx(prev[k]));
          oldRangeStart -= cur.size();
          newRangeStart -= cur.size();
        }
      }
      for (auto l : c.lines) cur.push_back(prefixed(c.added ? '+' : '-', l));
      (c.added ? newLine : oldLine) += c.lines.size();
    } else {
      if (oldRangeStart) {
        if (c.lines.size() <= context * 2 && i + 2 < diff.size()) {
          for (auto l : c.lines) cur.push_back(ctx(l));
        } else {
          std::size_t n = std::min(c.lines.size(), context);
          for (std::size_t k = 0; k < n; ++k) cur.push_back(ctx(c.lines[k]));
          hunks.push_back(Hunk{oldRangeStart, oldLine - oldRangeStart + n, newRangeStart,
                               newLine - newRangeStart + n, std::move(cur)});
          cur = {};
          oldRangeStart = newRangeStart = 0;
        }
      }
      oldLine += c.lines.size();
      newLine += c.lines.size();
    }
  }

  std::string out;
  out.append("Index: ").append(file_name).append("\n");
  out.append("===================================================================\n");
  out.append("--- ").append(file_name).append("\toriginal\n");
  out.append("+++ ").append(file_name).append("\tmodified\n");
  for (auto& h : hunks) {
    std::size_t os = h.oldLines == 0 ? h.oldStart - 1 : h.oldStart;
    std::size_t ns = h.newLines == 0 ? h.newStart - 1 : h.newStart;
    out.append("@@ -" + std::to_string(os) + "," + std::to_string(h.oldLines) + " +" + std::to_string(ns) + "," +
               std::to_string(h.newLines) + " @@\n");
    for (auto& l : h.lines) {
      if (!l.empty() && l.back() == '\n') {
        out.append(l);
      } else {
        out.append(l).append("\n\\ No newline at end of file\n");
      }
    }
  }
  return out;
}

std::string fence(std::string_view diff) {
  // The shortest fence (at least 3) that does not occur in the diff, found in one pass.
  std::size_t longest = 0, run = 0;
  for (char ch : diff) {
    run = ch == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::size_t n = std::max<std::size_t>(3, longest + 1);
  std::string f(n, '`');
  std::string out;
  out.reserve(diff.size() + 2 * n + 8);
  out.append(f).append("diff\n").append(diff).append(f).append("\n\n");
  return out;
}

}  // namespace shmcp::executor::edit
