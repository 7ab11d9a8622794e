// write_file / edit_file / create_directory / move_file: output text, atomic replacement (mode
// kept, links replaced not followed, no temp left), edit matching and diff, no-overwrite moves,
// and the read-only switch.
#include <dirent.h>
#include <sys/stat.h>

#include "tests/executor/tools_fixture.hpp"

namespace shmcp::executor::testing {
namespace {

using nlohmann::json;

class WriteTools : public ToolsTest {
 protected:
  std::vector<std::string> names(const std::string& rel) {
    std::vector<std::string> out;
    DIR* d = ::opendir(p(rel).c_str());
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }
  mode_t mode_of(const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(::lstat(p(rel).c_str(), &st), 0);
    return st.st_mode;
  }
};

TEST_F(WriteTools, WriteFileCreatesAndReportsThePathAsGiven) {
  EXPECT_EQ(ok("write_file", {{"path", "new.txt"}, {"content", "h\xC3\xA9llo\n"}}), "Successfully wrote to new.txt");
  EXPECT_EQ(slurp(p("new.txt")), "h\xC3\xA9llo\n");
  EXPECT_EQ(ok("write_file", {{"path", p("new.txt")}, {"content", ""}}), "Successfully wrote to " + p("new.txt"));
  EXPECT_EQ(slurp(p("new.txt")), "");
  EXPECT_EQ(names("."), std::vector<std::string>{"new.txt"});  // no temp file left behind
}

TEST_F(WriteTools, WriteFileKeepsTheModeOfAnExistingFile) {
  file("script.sh", "old", 0750);
  EXPECT_EQ(ok("write_file", {{"path", "script.sh"}, {"content", "new"}}), "Successfully wrote to script.sh");
  EXPECT_EQ(slurp(p("script.sh")), "new");
  EXPECT_EQ(mode_of("script.sh") & 07777, 0750u);
}

TEST_F(WriteTools, WriteFileReplacesASymlinkInsteadOfWritingThroughIt) {
  file("target.txt", "original");
  link("target.txt", "link.txt");
  link(outside_ + "/secret.txt", "out.txt");
  EXPECT_FALSE(call("write_file", {{"path", "link.txt"}, {"content", "new"}}).is_error);
  EXPECT_EQ(slurp(p("target.txt")), "original");
  EXPECT_TRUE(S_ISREG(mode_of("link.txt")));
  EXPECT_EQ(slurp(p("link.txt")), "new");
  EXPECT_FALSE(call("write_file", {{"path", "out.txt"}, {"content", "pwned"}}).is_error);
  EXPECT_TRUE(S_ISREG(mode_of("out.txt")));
  expect_canary_intact();
}

TEST_F(WriteTools, WriteFileReplacesAHardLinkInsteadOfWritingThroughIt) {
  file("a.txt", "shared");
  ASSERT_EQ(::link(p("a.txt").c_str(), p("b.txt").c_str()), 0);
  EXPECT_FALSE(call("write_file", {{"path", "b.txt"}, {"content", "mine"}}).is_error);
  EXPECT_EQ(slurp(p("a.txt")), "shared");
  EXPECT_EQ(slurp(p("b.txt")), "mine");
}

TEST_F(WriteTools, WriteFileRefusesDirectoriesAndMissingParents) {
  dir("sub");
  EXPECT_EQ(err("write_file", {{"path", "sub"}, {"content", "x"}}),
            R("EISDIR: illegal operation on a directory, open '@ROOT@/sub'"));
  EXPECT_EQ(err("write_file", {{"path", "nope/x.txt"}, {"content", "x"}}),
            R("Parent directory does not exist: @ROOT@/nope"));
  EXPECT_EQ(names("."), std::vector<std::string>{"sub"});
  EXPECT_TRUE(names("sub").empty());
}

TEST_F(WriteTools, WriteFileOverTheSizeLimitWritesNothing) {
  ToolOptions o;
  o.max_write_bytes = 4;
  make_tools(o);
  file("f.txt", "keep");
  EXPECT_NE(err("write_file", {{"path", "f.txt"}, {"content", "12345"}}).find("too large"), std::string::npos);
  EXPECT_EQ(slurp(p("f.txt")), "keep");
}

TEST_F(WriteTools, ReadOnlyWorkspaceRefusesEveryWriteTool) {
  ToolOptions o;
  o.read_only = true;
  make_tools(o);
  file("f.txt", "keep");
  const std::string denied = "Access denied - the workspace is read-only";
  EXPECT_EQ(err("write_file", {{"path", "f.txt"}, {"content", "x"}}), denied);
  EXPECT_EQ(err("edit_file", {{"path", "f.txt"}, {"edits", json::array()}}), denied);
  EXPECT_EQ(err("create_directory", {{"path", "d"}}), denied);
  EXPECT_EQ(err("move_file", {{"source", "f.txt"}, {"destination", "g.txt"}}), denied);
  EXPECT_TRUE(tools_->write_file("f.txt", "x").is_error);
  EXPECT_EQ(slurp(p("f.txt")), "keep");
  EXPECT_EQ(ok("read_text_file", {{"path", "f.txt"}}), "keep");
}

class EditTools : public WriteTools {
 protected:
  void SetUp() override {
    WriteTools::SetUp();
    file("edit.txt", "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\ntwelve\nthirteen\n", 0640);
  }
};

TEST_F(EditTools, DiffHasTwoHunksAndGrowsTheFenceAroundBackticks) {
  const std::string before = slurp(p("edit.txt"));
  EXPECT_EQ(ok("edit_file", {{"path", "edit.txt"},
                             {"edits", {{{"oldText", "two"}, {"newText", "TWO"}},
                                        {{"oldText", "twelve\n"}, {"newText", "12\n```\n"}}}},
                             {"dryRun", true}}),
            R("````diff\n"
              "Index: @ROOT@/edit.txt\n"
              "===================================================================\n"
              "--- @ROOT@/edit.txt\toriginal\n"
              "+++ @ROOT@/edit.txt\tmodified\n"
              "@@ -1,6 +1,6 @@\n one\n-two\n+TWO\n three\n four\n five\n six\n"
              "@@ -8,6 +8,7 @@\n eight\n nine\n ten\n eleven\n-twelve\n+12\n+```\n thirteen\n"
              "````\n\n"));
  EXPECT_EQ(slurp(p("edit.txt")), before);  // dryRun writes nothing
}

TEST_F(EditTools, WhitespaceTolerantMatchReindentsLikeTheReference) {
  EXPECT_EQ(ok("edit_file", {{"path", "edit.txt"},
                             {"edits", {{{"oldText", "  thirteen"}, {"newText", "    13\n      14"}}}},
                             {"dryRun", true}}),
            R("```diff\nIndex: @ROOT@/edit.txt\n"
              "===================================================================\n"
              "--- @ROOT@/edit.txt\toriginal\n+++ @ROOT@/edit.txt\tmodified\n"
              "@@ -9,5 +9,6 @@\n nine\n ten\n eleven\n twelve\n-thirteen\n+13\n+      14\n```\n\n"));
  file("indent.txt", "  if (x) {\n    call(1);\n  }\n");
  EXPECT_EQ(ok("edit_file", {{"path", "indent.txt"},
                             {"edits", {{{"oldText", "if (x) {\n  call(1);\n}"},
                                         {"newText", "if (y) {\n    call(2);\n  more();\n}"}}}},
                             {"dryRun", true}}),
            R("```diff\nIndex: @ROOT@/indent.txt\n"
              "===================================================================\n"
              "--- @ROOT@/indent.txt\toriginal\n+++ @ROOT@/indent.txt\tmodified\n"
              "@@ -1,3 +1,4 @@\n-  if (x) {\n-    call(1);\n-  }\n+  if (y) {\n+    call(2);\n+  more();\n+}\n```\n\n"));
}

TEST_F(EditTools, NoEditsGivesHeadersOnlyAndMissingTextIsAnError) {
  EXPECT_EQ(ok("edit_file", {{"path", "edit.txt"}, {"edits", json::array()}, {"dryRun", true}}),
            R("```diff\nIndex: @ROOT@/edit.txt\n"
              "===================================================================\n"
              "--- @ROOT@/edit.txt\toriginal\n+++ @ROOT@/edit.txt\tmodified\n```\n\n"));
  EXPECT_EQ(err("edit_file", {{"path", "edit.txt"}, {"edits", {{{"oldText", "nope"}, {"newText", "x"}}}}}),
            "Could not find exact match for edit:\nnope");
}

TEST_F(EditTools, CrlfIsNormalizedAndMissingFinalNewlineIsMarked) {
  file("crlf.txt", "a\r\nb\r\nc");
  EXPECT_EQ(ok("edit_file", {{"path", "crlf.txt"}, {"edits", {{{"oldText", "c"}, {"newText", "c\n"}}}}}),
            R("```diff\nIndex: @ROOT@/crlf.txt\n"
              "===================================================================\n"
              "--- @ROOT@/crlf.txt\toriginal\n+++ @ROOT@/crlf.txt\tmodified\n"
              "@@ -1,3 +1,3 @@\n a\n b\n-c\n\\ No newline at end of file\n+c\n```\n\n"));
  EXPECT_EQ(slurp(p("crlf.txt")), "a\nb\nc\n");
}

TEST_F(EditTools, EditWritesAtomicallyAndKeepsTheMode) {
  ok("edit_file", {{"path", "edit.txt"}, {"edits", {{{"oldText", "one"}, {"newText", "ONE"}}}}});
  EXPECT_EQ(slurp(p("edit.txt")).substr(0, 8), "ONE\ntwo\n");
  EXPECT_EQ(mode_of("edit.txt") & 07777, 0640u);
  EXPECT_EQ(names("."), std::vector<std::string>{"edit.txt"});
}

TEST_F(WriteTools, CreateDirectoryMakesParentsAndAcceptsExisting) {
  EXPECT_EQ(ok("create_directory", {{"path", "a/b/c"}}), "Successfully created directory a/b/c");
  EXPECT_TRUE(S_ISDIR(mode_of("a/b/c")));
  EXPECT_EQ(ok("create_directory", {{"path", p("a/b")}}), "Successfully created directory " + p("a/b"));
  EXPECT_EQ(ok("create_directory", {{"path", "a/./b/../b/d"}}), "Successfully created directory a/./b/../b/d");
  EXPECT_TRUE(S_ISDIR(mode_of("a/b/d")));
}

TEST_F(WriteTools, CreateDirectoryOverOrUnderAFileFails) {
  file("f.txt", "x");
  EXPECT_EQ(err("create_directory", {{"path", "f.txt"}}), R("EEXIST: file already exists, mkdir '@ROOT@/f.txt'"));
  EXPECT_EQ(err("create_directory", {{"path", "f.txt/x"}}), R("ENOTDIR: not a directory, mkdir '@ROOT@/f.txt/x'"));
}

TEST_F(WriteTools, CreateDirectoryThroughAnEscapingSymlinkIsDenied) {
  link(outside_, "out");
  EXPECT_NE(err("create_directory", {{"path", "out/new.txt"}}).find("Access denied"), std::string::npos);
  expect_canary_intact();
}

TEST_F(WriteTools, MoveFileRenamesAndNeverOverwrites) {
  file("a.txt", "A");
  file("b.txt", "B");
  dir("d");
  EXPECT_EQ(err("move_file", {{"source", "a.txt"}, {"destination", "b.txt"}}),
            R("Destination already exists: @ROOT@/b.txt"));
  EXPECT_EQ(slurp(p("b.txt")), "B");
  EXPECT_EQ(err("move_file", {{"source", "a.txt"}, {"destination", "d"}}), R("Destination already exists: @ROOT@/d"));
  EXPECT_EQ(ok("move_file", {{"source", "a.txt"}, {"destination", "d/c.txt"}}), "Successfully moved a.txt to d/c.txt");
  EXPECT_EQ(slurp(p("d/c.txt")), "A");
  EXPECT_EQ(err("move_file", {{"source", "nonexist"}, {"destination", "q"}}),
            R("ENOENT: no such file or directory, rename '@ROOT@/nonexist' -> '@ROOT@/q'"));
  EXPECT_EQ(err("move_file", {{"source", "b.txt"}, {"destination", "nope/b.txt"}}),
            R("Parent directory does not exist: @ROOT@/nope"));
}

TEST_F(WriteTools, MoveFileMovesASymlinkItselfNotItsTarget) {
  file("target.txt", "T");
  link("target.txt", "link");
  EXPECT_EQ(ok("move_file", {{"source", "link"}, {"destination", "moved"}}), "Successfully moved link to moved");
  EXPECT_TRUE(S_ISLNK(mode_of("moved")));
  EXPECT_EQ(slurp(p("target.txt")), "T");
  link(outside_ + "/secret.txt", "out");
  EXPECT_EQ(ok("move_file", {{"source", "out"}, {"destination", "out2"}}), "Successfully moved out to out2");
  EXPECT_TRUE(S_ISLNK(mode_of("out2")));
  expect_canary_intact();
}

TEST_F(WriteTools, MoveFileCannotLeaveTheWorkspace) {
  file("a.txt", "A");
  link(outside_, "out");
  EXPECT_NE(err("move_file", {{"source", "a.txt"}, {"destination", outside_ + "/new.txt"}}).find("Access denied"),
            std::string::npos);
  EXPECT_NE(err("move_file", {{"source", "a.txt"}, {"destination", "out/new.txt"}}).find("Access denied"),
            std::string::npos);
  EXPECT_EQ(slurp(p("a.txt")), "A");
  expect_canary_intact();
}

}  // namespace
}  // namespace shmcp::executor::testing
