// The bounded minimatch subset ({dot: true}) used by search_files and directory_tree.
#include <string>

#include <gtest/gtest.h>

#include "executor/tools/glob.hpp"

namespace shmcp::executor::glob {
namespace {

bool m(const std::string& path, const std::string& pattern) { return Pattern::compile(pattern).match(path); }

TEST(ToolsGlob, StarStaysInOneSegmentAndMatchesDotFiles) {
  EXPECT_TRUE(m("a.txt", "*.txt"));
  EXPECT_TRUE(m(".env", "*"));
  EXPECT_TRUE(m(".hidden.txt", "*.txt"));
  EXPECT_FALSE(m("sub/a.txt", "*.txt"));
  EXPECT_TRUE(m("abc", "a*c"));
  EXPECT_TRUE(m("ac", "a*c"));
  EXPECT_FALSE(m("abd", "a*c"));
  EXPECT_TRUE(m("a**b", "a**b"));  // not a whole segment: a plain star
  EXPECT_TRUE(m("axxb", "a**b"));
}

TEST(ToolsGlob, GlobstarSpansSegmentsButNeverEndsEmpty) {
  EXPECT_TRUE(m("a.txt", "**/*.txt"));
  EXPECT_TRUE(m("x/y/a.txt", "**/*.txt"));
  EXPECT_TRUE(m("sub", "**/sub"));
  EXPECT_TRUE(m("a/sub/b", "**/sub/**"));
  EXPECT_FALSE(m("a/sub", "**/sub/**"));  // a trailing ** needs at least one segment
  EXPECT_FALSE(m("sub", "sub/**"));
  EXPECT_TRUE(m("sub/x", "sub/**"));
  EXPECT_TRUE(m("a/b", "a/**/b"));
  EXPECT_TRUE(m("a/x/y/b", "a/**/b"));
  EXPECT_TRUE(m(".git/HEAD", "**"));
  EXPECT_TRUE(m("a/b/c", "a/**/**/c"));
}

TEST(ToolsGlob, QuestionMarkClassesAndEscapes) {
  EXPECT_TRUE(m("A.txt", "?.txt"));
  EXPECT_FALSE(m("AB.txt", "?.txt"));
  EXPECT_TRUE(m("B.txt", "[AB].txt"));
  EXPECT_FALSE(m("C.txt", "[AB].txt"));
  EXPECT_TRUE(m("C.txt", "[!AB].txt"));
  EXPECT_TRUE(m("C.txt", "[^AB].txt"));
  EXPECT_TRUE(m("m", "[a-z]"));
  EXPECT_FALSE(m("M", "[a-z]"));
  EXPECT_TRUE(m("7", "[[:digit:]]"));
  EXPECT_TRUE(m("]", "[]]"));
  EXPECT_TRUE(m("[x", "[x"));  // unclosed class: literal
  EXPECT_TRUE(m("*", "\\*"));
  EXPECT_FALSE(m("a", "\\*"));
  EXPECT_TRUE(m("\xF0\x9F\x98\x80", "??"));  // UTF-16 code units, like minimatch's regexps
}

TEST(ToolsGlob, BracesNegationAndComments) {
  EXPECT_TRUE(m("sub/x", "{sub,lib}/*"));
  EXPECT_TRUE(m("lib/x", "{sub,lib}/*"));
  EXPECT_FALSE(m("src/x", "{sub,lib}/*"));
  EXPECT_TRUE(m("a3", "a{1..3}"));
  EXPECT_FALSE(m("a4", "a{1..3}"));
  EXPECT_TRUE(m("{a}", "{a}"));
  EXPECT_TRUE(m("ab", "a{,b}"));
  EXPECT_TRUE(m("a", "a{,b}"));
  EXPECT_TRUE(m("x.js", "x.{js,{ts,tsx}}"));
  EXPECT_TRUE(m("x.tsx", "x.{js,{ts,tsx}}"));
  EXPECT_TRUE(m("b", "!a"));
  EXPECT_FALSE(m("a", "!a"));
  EXPECT_FALSE(m("#a", "#a"));
  EXPECT_FALSE(m("a", ""));
  EXPECT_EQ(brace_expand("{a,b}{1,2}").size(), 4u);
}

TEST(ToolsGlob, HostilePatternsStayBounded) {
  std::string stars(2000, '*');
  EXPECT_FALSE(m(std::string(3000, 'a') + "b", stars + "c"));
  std::string many;
  for (int i = 0; i < 40; ++i) many += "{a,b}";
  EXPECT_LE(brace_expand(many).size(), kMaxAlternatives);
  std::string deep = "**/";
  for (int i = 0; i < 200; ++i) deep += "**/x/";
  std::string path;
  for (int i = 0; i < 200; ++i) path += "x/";
  EXPECT_FALSE(m(path + "y", deep + "z"));
  EXPECT_FALSE(m("a", std::string(kMaxPatternBytes + 1, 'a')));
  std::string nested(5000, '{');
  EXPECT_FALSE(m("a", nested));
}

}  // namespace
}  // namespace shmcp::executor::glob
