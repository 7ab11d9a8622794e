// libFuzzer target: edit_file's matcher and diff. Input: '\0'-separated fields: content, then
// (oldText, newText) pairs. apply_edits() on the normalised content, then unified_diff() between
// the old and new text (with a bounded Myers budget, as a slow input would otherwise dominate)
// and fence(). Invariants: a diff of identical texts is only the header; fence() wraps the diff.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "executor/tools/edit_diff.hpp"

using namespace shmcp::executor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> fields;
  for (;;) {
    const auto z = in.find('\0');
    fields.push_back(in.substr(0, z));
    if (z == std::string_view::npos || fields.size() == 9) break;
    in.remove_prefix(z + 1);
  }
  const std::string content = edit::normalize_eol(fields[0]);
  std::vector<edit::Edit> edits;
  for (std::size_t i = 1; i + 1 < fields.size(); i += 2)
    edits.push_back({edit::normalize_eol(fields[i]), edit::normalize_eol(fields[i + 1])});
  auto applied = edit::apply_edits(content, edits);
  const std::string after = applied ? *applied : content;
  const std::string diff = edit::unified_diff("file.txt", content, after, 200'000);
  const std::string fenced = edit::fence(diff);
  if (fenced.find(diff) == std::string::npos) __builtin_trap();
  if (!applied && applied.error().message.rfind("Could not find exact match for edit:", 0) != 0) __builtin_trap();
  return 0;
}
