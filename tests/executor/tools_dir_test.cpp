// list_directory / list_directory_with_sizes / directory_tree / search_files: exact output
// (expected values captured from the reference server 2026.8.31), symlink handling and walk limits.
#include <algorithm>

#include "tests/executor/tools_fixture.hpp"

namespace shmcp::executor::testing {
namespace {

using nlohmann::json;

class DirTools : public ToolsTest {
 protected:
  void SetUp() override {
    ToolsTest::SetUp();
    // Names chosen to show byte order vs collation; sizes i * 137 bytes.
    int i = 0;
    for (const char* n : {".env", "A.txt", "B.txt", "Z", "_x", "a.txt", "a_b", "a-b", "ab", "e", "\xC3\xA9", "f",
                          "z", "10", "9", "-y"}) {
      ++i;
      file(n, std::string(static_cast<std::size_t>(i) * 137, 'x'));
    }
    dir("sub");
    dir("sub/deep");
    dir("node_modules");
    dir("node_modules/x");
    dir(".git");
    file("sub/deep/x.txt", "hi\n");
    file("sub/y.txt", "y\n");
    file("node_modules/x/m.js", "m\n");
    file(".git/HEAD", "g\n");
  }
};

TEST_F(DirTools, ListDirectoryIsInByteOrder) {
  EXPECT_EQ(ok("list_directory", {{"path", root_}}),
            "[FILE] -y\n[FILE] .env\n[DIR] .git\n[FILE] 10\n[FILE] 9\n[FILE] A.txt\n[FILE] B.txt\n[FILE] Z\n"
            "[FILE] _x\n[FILE] a-b\n[FILE] a.txt\n[FILE] a_b\n[FILE] ab\n[FILE] e\n[FILE] f\n[DIR] node_modules\n"
            "[DIR] sub\n[FILE] z\n[FILE] \xC3\xA9");
}

TEST_F(DirTools, ListDirectoryOnAFileIsEnotdir) {
  EXPECT_EQ(err("list_directory", {{"path", "sub/y.txt"}}), R("ENOTDIR: not a directory, scandir '@ROOT@/sub/y.txt'"));
}

TEST_F(DirTools, ListWithSizesSortsByCollatedNameAndPads) {
  EXPECT_EQ(ok("list_directory_with_sizes", {{"path", root_}}),
            "[FILE] _x                                  685 B\n"
            "[FILE] -y                                2.14 KB\n"
            "[FILE] .env                                137 B\n"
            "[DIR] .git                           \n"
            "[FILE] 10                                1.87 KB\n"
            "[FILE] 9                                 2.01 KB\n"
            "[FILE] a_b                                 959 B\n"
            "[FILE] a-b                               1.07 KB\n"
            "[FILE] a.txt                               822 B\n"
            "[FILE] A.txt                               274 B\n"
            "[FILE] ab                                1.20 KB\n"
            "[FILE] B.txt                               411 B\n"
            "[FILE] e                                 1.34 KB\n"
            "[FILE] \xC3\xA9                                 1.47 KB\n"
            "[FILE] f                                 1.61 KB\n"
            "[DIR] node_modules                   \n"
            "[DIR] sub                            \n"
            "[FILE] z                                 1.74 KB\n"
            "[FILE] Z                                   548 B\n"
            "\n"
            "Total: 16 files, 3 directories\n"
            "Combined size: 18.20 KB");
}

TEST_F(DirTools, ListWithSizesBySizeIsDescendingAndStable) {
  const std::string text = ok("list_directory_with_sizes", {{"path", "sub"}, {"sortBy", "size"}});
  EXPECT_EQ(text,
            "[DIR] deep                           \n"
            "[FILE] y.txt                                 2 B\n"
            "\n"
            "Total: 1 files, 1 directories\n"
            "Combined size: 2 B");
}

TEST_F(DirTools, DotDotThroughAMissingDirectoryIsNormalisedLexicallyAsTheReferenceDoes) {
  // `a` does not exist: the reference normalises <root>/a/../sub to <root>/sub and lists it.
  const std::string expected = ok("list_directory_with_sizes", {{"path", "sub"}, {"sortBy", "size"}});
  EXPECT_EQ(ok("list_directory_with_sizes", {{"path", "a/../sub"}, {"sortBy", "size"}}), expected);
  EXPECT_EQ(ok("list_directory_with_sizes", {{"path", root_ + "/a/../sub"}, {"sortBy", "size"}}), expected);
}

TEST_F(DirTools, ListWithSizesFormatsSizesLikeFormatSize) {
  dir("s");
  file("s/a", "");
  file("s/b", std::string(1023, 'x'));
  file("s/c", std::string(1024, 'x'));
  file("s/d", std::string(1152, 'x'));  // 1.125 KB: toFixed rounds half up
  file("s/e", std::string(1048576 + 5243, 'x'));
  EXPECT_EQ(ok("list_directory_with_sizes", {{"path", "s"}}),
            "[FILE] a                                     0 B\n"
            "[FILE] b                                  1023 B\n"
            "[FILE] c                                 1.00 KB\n"
            "[FILE] d                                 1.13 KB\n"
            "[FILE] e                                 1.01 MB\n"
            "\nTotal: 5 files, 0 directories\nCombined size: 1.01 MB");
}

TEST_F(DirTools, ListWithSizesPadsByUtf16Length) {
  dir("u");
  file("u/\xF0\x9F\x98\x80.txt", "12345");  // the emoji is two UTF-16 units
  EXPECT_EQ(ok("list_directory_with_sizes", {{"path", "u"}}),
            "[FILE] \xF0\x9F\x98\x80.txt                                5 B\n"
            "\nTotal: 1 files, 0 directories\nCombined size: 5 B");
}

TEST_F(DirTools, ListWithSizesNeverStatsOutsideTheWorkspace) {
  dir("l");
  file("l/t.txt", "in\n");
  link("t.txt", "l/in");
  link(outside_ + "/secret.txt", "l/out");  // 11-byte target file; the link text is longer
  link("nowhere", "l/dangling");
  const std::string text = ok("list_directory_with_sizes", {{"path", "l"}});
  const std::string link_len = std::to_string((outside_ + "/secret.txt").size());
  EXPECT_NE(text.find("[FILE] in                                    3 B\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[FILE] dangling                              0 B\n"), std::string::npos) << text;
  // "[FILE] " + name padded to 30 + " " + size padded to 10: the link's own size (its target text).
  EXPECT_NE(text.find("[FILE] out" + std::string(27, ' ') + " " + std::string(8 - link_len.size(), ' ') + link_len +
                      " B\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(" 11 B"), std::string::npos) << text;
}

TEST_F(DirTools, DirectoryTreeIsTwoSpaceJson) {
  EXPECT_EQ(ok("directory_tree", {{"path", "sub"}}),
            "[\n"
            "  {\n"
            "    \"name\": \"deep\",\n"
            "    \"type\": \"directory\",\n"
            "    \"children\": [\n"
            "      {\n"
            "        \"name\": \"x.txt\",\n"
            "        \"type\": \"file\"\n"
            "      }\n"
            "    ]\n"
            "  },\n"
            "  {\n"
            "    \"name\": \"y.txt\",\n"
            "    \"type\": \"file\"\n"
            "  }\n"
            "]");
  dir("empty");
  EXPECT_EQ(ok("directory_tree", {{"path", "empty"}}), "[]");
  dir("one");
  dir("one/e");
  EXPECT_EQ(ok("directory_tree", {{"path", "one"}}),
            "[\n  {\n    \"name\": \"e\",\n    \"type\": \"directory\",\n    \"children\": []\n  }\n]");
}

TEST_F(DirTools, DirectoryTreeExcludePatternsFollowTheReferenceRule) {
  json excl = {"node_modules", "*.txt", ".git", "[a-f]*", "_x", "-y", "1*", "9", "A*", "B*", "Z", "z", "\xC3\xA9", "a*"};
  EXPECT_EQ(ok("directory_tree", {{"path", root_}, {"excludePatterns", excl}}),
            "[\n  {\n    \"name\": \".env\",\n    \"type\": \"file\"\n  },\n"
            "  {\n    \"name\": \"sub\",\n    \"type\": \"directory\",\n    \"children\": [\n"
            "      {\n        \"name\": \"deep\",\n        \"type\": \"directory\",\n        \"children\": [\n"
            "          {\n            \"name\": \"x.txt\",\n            \"type\": \"file\"\n          }\n"
            "        ]\n      },\n"
            "      {\n        \"name\": \"y.txt\",\n        \"type\": \"file\"\n      }\n"
            "    ]\n  }\n]");
}

TEST_F(DirTools, DirectoryTreeShowsSymlinksAsFilesAndEscapesNames) {
  dir("t");
  dir("t/d");
  link("d", "t/link_dir");
  link(outside_, "t/link_out");
  file("t/q\"\\\n", "x");
  EXPECT_EQ(ok("directory_tree", {{"path", "t"}}),
            "[\n  {\n    \"name\": \"d\",\n    \"type\": \"directory\",\n    \"children\": []\n  },\n"
            "  {\n    \"name\": \"link_dir\",\n    \"type\": \"file\"\n  },\n"
            "  {\n    \"name\": \"link_out\",\n    \"type\": \"file\"\n  },\n"
            "  {\n    \"name\": \"q\\\"\\\\\\n\",\n    \"type\": \"file\"\n  }\n]");
}

TEST_F(DirTools, SearchFilesUsesGlobsOnRelativePathsAndReportsAbsolutePaths) {
  EXPECT_EQ(ok("search_files", {{"path", root_}, {"pattern", "*.txt"}}),
            R("@ROOT@/A.txt\n@ROOT@/B.txt\n@ROOT@/a.txt"));
  EXPECT_EQ(ok("search_files", {{"path", root_}, {"pattern", "**/*.txt"}, {"excludePatterns", {"node_modules"}}}),
            R("@ROOT@/A.txt\n@ROOT@/B.txt\n@ROOT@/a.txt\n@ROOT@/sub/deep/x.txt\n@ROOT@/sub/y.txt"));
  EXPECT_EQ(ok("search_files", {{"path", root_}, {"pattern", "sub"}}), R("@ROOT@/sub"));
  EXPECT_EQ(ok("search_files", {{"path", root_}, {"pattern", "nomatch"}}), "No matches found");
  EXPECT_EQ(ok("search_files", {{"path", root_}, {"pattern", "sub/**"}}),
            R("@ROOT@/sub/deep\n@ROOT@/sub/deep/x.txt\n@ROOT@/sub/y.txt"));
  EXPECT_EQ(ok("search_files", {{"path", root_}, {"pattern", "{sub,node_modules}/*"}}),
            R("@ROOT@/node_modules/x\n@ROOT@/sub/deep\n@ROOT@/sub/y.txt"));
  EXPECT_EQ(ok("search_files", {{"path", root_}, {"pattern", "**/deep/**"}}), R("@ROOT@/sub/deep/x.txt"));
  EXPECT_EQ(ok("search_files", {{"path", root_}, {"pattern", "?.txt"}}), R("@ROOT@/A.txt\n@ROOT@/B.txt\n@ROOT@/a.txt"));
  EXPECT_EQ(ok("search_files", {{"path", "sub/../sub/"}, {"pattern", "*"}}), R("@ROOT@/sub/deep\n@ROOT@/sub/y.txt"));
}

TEST_F(DirTools, SearchFilesExcludesAndSkipsExcludedDirectories) {
  EXPECT_EQ(ok("search_files", {{"path", root_}, {"pattern", "*"}, {"excludePatterns", {"[!a-z]*", "*.txt"}}}),
            R("@ROOT@/a-b\n@ROOT@/a_b\n@ROOT@/ab\n@ROOT@/e\n@ROOT@/f\n@ROOT@/node_modules\n@ROOT@/sub\n@ROOT@/z"));
  EXPECT_EQ(ok("search_files", {{"path", root_}, {"pattern", "**/*.js"}, {"excludePatterns", {"node_modules"}}}),
            "No matches found");
}

TEST_F(DirTools, SearchFilesSkipsEscapingAndDanglingLinksAndDoesNotDescendLinkedDirs) {
  dir("s");
  dir("s/d");
  file("s/d/t.txt", "x");
  link("d", "s/link_dir");
  link(outside_, "s/link_outdir");
  link(outside_ + "/secret.txt", "s/link_out");
  link("nowhere", "s/dangling");
  EXPECT_EQ(ok("search_files", {{"path", "s"}, {"pattern", "**"}}),
            R("@ROOT@/s/d\n@ROOT@/s/d/t.txt\n@ROOT@/s/link_dir"));
  expect_canary_intact();
}

TEST_F(DirTools, WalksStopAtTheDepthLimitAndSayTheyWereTruncated) {
  ToolOptions o;
  o.max_walk_depth = 0;  // read the given directory only
  make_tools(o);
  const std::string tree = ok("directory_tree", {{"path", "sub"}});
  EXPECT_EQ(tree,
            "[\n  {\n    \"name\": \"deep\",\n    \"type\": \"directory\",\n    \"children\": []\n  },\n"
            "  {\n    \"name\": \"y.txt\",\n    \"type\": \"file\"\n  }\n]"
            "\n[truncated: depth limit of 0 reached]");
  EXPECT_EQ(ok("search_files", {{"path", "sub"}, {"pattern", "**"}}),
            R("@ROOT@/sub/deep\n@ROOT@/sub/y.txt\n[truncated: depth limit of 0 reached]"));
}

TEST_F(DirTools, WalksStopAtTheEntryLimit) {
  ToolOptions o;
  o.max_walk_entries = 3;
  make_tools(o);
  const std::string found = ok("search_files", {{"path", root_}, {"pattern", "**"}});
  // Which 3 entries were read first is up to the filesystem; that the output says so is not.
  const std::string notice = "\n[truncated: entry limit of 3 reached]";
  ASSERT_GE(found.size(), notice.size());
  EXPECT_EQ(found.substr(found.size() - notice.size()), notice);
  EXPECT_EQ(std::count(found.begin(), found.end(), '\n'), 3) << found;
  EXPECT_EQ(found.rfind(root_ + "/", 0), 0u) << found;
  const std::string listed = ok("list_directory", {{"path", "sub"}});
  EXPECT_EQ(listed, "[DIR] deep\n[FILE] y.txt");  // under the limit: unchanged
}

}  // namespace
}  // namespace shmcp::executor::testing
