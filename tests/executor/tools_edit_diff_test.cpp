// edit_file's engine on its own: edit application and jsdiff-compatible unified diffs (expected
// texts produced by diff@8 createTwoFilesPatch).
#include <gtest/gtest.h>

#include "executor/tools/edit_diff.hpp"

namespace shmcp::executor::edit {
namespace {

TEST(ToolsEditDiff, ExactMatchReplacesOnlyTheFirstOccurrenceLiterally) {
  auto r = apply_edits("a $& a", {{"a", "$&$1"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "$&$1 $& a");
}

TEST(ToolsEditDiff, EditsApplyInOrderAndFailWithTheReferenceMessage) {
  auto r = apply_edits("one\ntwo\n", {{"one", "1"}, {"1\ntwo", "x"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "x\n");
  auto bad = apply_edits("one\n", {{"zzz\r\n", "x"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "Could not find exact match for edit:\nzzz\r\n");
}

TEST(ToolsEditDiff, NormalizeEolOnlyFoldsCrlf) { EXPECT_EQ(normalize_eol("a\r\nb\rc\r\n"), "a\nb\rc\n"); }

TEST(ToolsEditDiff, DiffOfAppendAtEndWithoutNewline) {
  EXPECT_EQ(unified_diff("f", "a\nb", "a\nb\nc\n"),
            "Index: f\n===================================================================\n--- f\toriginal\n+++ f\tmodified\n"
            "@@ -1,2 +1,3 @@\n a\n-b\n\\ No newline at end of file\n+b\n+c\n");
}

TEST(ToolsEditDiff, DiffFromAndToEmpty) {
  EXPECT_EQ(unified_diff("f", "", "x\n"),
            "Index: f\n===================================================================\n--- f\toriginal\n+++ f\tmodified\n"
            "@@ -0,0 +1,1 @@\n+x\n");
  EXPECT_EQ(unified_diff("f", "x\n", ""),
            "Index: f\n===================================================================\n--- f\toriginal\n+++ f\tmodified\n"
            "@@ -1,1 +0,0 @@\n-x\n");
}

TEST(ToolsEditDiff, NearbyChangesShareAHunkWithinEightLines) {
  std::string a, b;
  for (int i = 1; i <= 20; ++i) {
    a += std::to_string(i) + "\n";
    b += (i == 3 || i == 11 ? "X" : std::to_string(i)) + "\n";
  }
  EXPECT_EQ(unified_diff("f", a, b),
            "Index: f\n===================================================================\n--- f\toriginal\n+++ f\tmodified\n"
            "@@ -1,15 +1,15 @@\n 1\n 2\n-3\n+X\n 4\n 5\n 6\n 7\n 8\n 9\n 10\n-11\n+X\n 12\n 13\n 14\n 15\n");
}

TEST(ToolsEditDiff, WorkLimitFallsBackToAWholeFileHunk) {
  EXPECT_EQ(unified_diff("f", "a\nb\n", "c\nd\n", 0),
            "Index: f\n===================================================================\n--- f\toriginal\n+++ f\tmodified\n"
            "@@ -1,2 +1,2 @@\n-a\n-b\n+c\n+d\n");
}

TEST(ToolsEditDiff, FenceGrowsPastBackticksInTheDiff) {
  EXPECT_EQ(fence("x\n"), "```diff\nx\n```\n\n");
  EXPECT_EQ(fence("````\n"), "`````diff\n````\n`````\n\n");
}

}  // namespace
}  // namespace shmcp::executor::edit
