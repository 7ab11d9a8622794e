// list_directory_with_sizes' name order: ICU root collation as Node's localeCompare gives it.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "executor/tools/collate.hpp"

namespace shmcp::executor {
namespace {

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::stable_sort(v.begin(), v.end(), [](const std::string& a, const std::string& b) { return collate_compare(a, b) < 0; });
  return v;
}

TEST(ToolsCollate, ReproducesTheContractExample) {
  std::vector<std::string> in = {"z", "Z", "_x", "-y", ".env", "10", "9", "a_b", "a-b", "a.txt", "A.txt", "ab", "B.txt",
                                 "e", "\xC3\xA9", "f"};
  std::sort(in.begin(), in.end());  // readdir order
  EXPECT_EQ(sorted(in), (std::vector<std::string>{"_x", "-y", ".env", "10", "9", "a_b", "a-b", "a.txt", "A.txt", "ab",
                                                  "B.txt", "e", "\xC3\xA9", "f", "z", "Z"}));
}

TEST(ToolsCollate, ExpansionsAndLevels) {
  // Node: ['ss','ß','st','sr','æ','ae','af','ad'].sort(localeCompare) = ad ae æ af sr ss ß st
  EXPECT_EQ(sorted({"ss", "\xC3\x9F", "st", "sr", "\xC3\xA6", "ae", "af", "ad"}),
            (std::vector<std::string>{"ad", "ae", "\xC3\xA6", "af", "sr", "ss", "\xC3\x9F", "st"}));
  EXPECT_LT(collate_compare("a", "A"), 0);
  EXPECT_LT(collate_compare("A", "b"), 0);
  EXPECT_LT(collate_compare("e", "\xC3\xA9"), 0);
  EXPECT_LT(collate_compare("\xC3\xA9", "f"), 0);
  EXPECT_EQ(collate_compare("a\x01", "a"), 0);  // control characters are ignorable
  EXPECT_LT(collate_compare("z", "\xCE\xB1"), 0);  // Greek after Latin
}

}  // namespace
}  // namespace shmcp::executor
