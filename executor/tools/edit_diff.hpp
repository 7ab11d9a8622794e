// edit_file's text engine: applying {oldText, newText} edits the way the reference server does, and
// rendering the unified diff the `diff` npm package (v8) produces with
// createTwoFilesPatch(path, path, old, new, "original", "modified") and 4 lines of context.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "channel/base/result.hpp"
#include "executor/tools/call_deadline.hpp"

namespace shmcp::executor::edit {

struct Edit {
  std::string old_text;
  std::string new_text;
};

// Splits on '\n' like JavaScript's split("\n"): a trailing newline yields a final empty piece.
// The views point into `s`.
std::vector<std::string_view> split_lf(std::string_view s);

// "\r\n" -> "\n" (a lone "\r" stays).
std::string normalize_eol(std::string_view text);

// Applies edits in order to LF-normalized `content`: the first exact occurrence of oldText, else a
// whitespace-insensitive line-window match that re-indents newText, else
// Errc::invalid_argument "Could not find exact match for edit:\n<oldText>". The exact search is
// linear (two-way); the line-window search polls `deadline` and fails with Errc::timeout once it
// has passed.
Result<std::string> apply_edits(std::string content, const std::vector<Edit>& edits, CallDeadline* deadline = nullptr);

// Upper bound on the Myers search (path nodes created). Past it the diff degrades to one hunk that
// removes every old line and adds every new one: still a correct patch, just not minimal.
inline constexpr std::size_t kMaxDiffWork = 20'000'000;

// createTwoFilesPatch(name, name, old, new, "original", "modified"), context 4. Both texts are
// expected LF-normalized already. The Myers search polls `deadline`; once it has passed the result
// is empty and deadline->hit() is true: callers must check it.
std::string unified_diff(std::string_view file_name, std::string_view old_text, std::string_view new_text,
                         std::size_t max_work = kMaxDiffWork, CallDeadline* deadline = nullptr);

// The diff in a ``` fence (grown to 4, 5, ... backticks while the diff contains the fence),
// followed by "\n\n", as edit_file returns it. Linear: the fence is one backtick longer than the
// longest run in the diff (at least 3).
std::string fence(std::string_view diff);

}  // namespace shmcp::executor::edit
