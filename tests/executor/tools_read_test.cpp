// read_text_file / read_file / read_media_file / read_multiple_files / get_file_info: exact output
// text, including the reference's head/tail quirks (expected values captured from the reference
// server 2026.8.31).
#include <sys/stat.h>
#include <unistd.h>

#include "tests/executor/tools_fixture.hpp"
#include "tests/support/proc_fds.hpp"

namespace shmcp::executor::testing {
namespace {

using nlohmann::json;
using shmcp::testing::open_handles_on;

class ReadTools : public ToolsTest {
 protected:
  void SetUp() override {
    ToolsTest::SetUp();
    file("lines.txt", "line1\nline2\nline3\nline4\nline5\n");
    file("crlf.txt", "a\r\nb\r\nc");
  }
  std::string head(double n) { return ok("read_text_file", {{"path", "lines.txt"}, {"head", n}}); }
  std::string tail(double n) { return ok("read_text_file", {{"path", "lines.txt"}, {"tail", n}}); }
};

TEST_F(ReadTools, WholeFileIsRawWithCrlfKept) {
  EXPECT_EQ(ok("read_text_file", {{"path", "crlf.txt"}}), "a\r\nb\r\nc");
  EXPECT_EQ(ok("read_file", {{"path", p("lines.txt")}}), "line1\nline2\nline3\nline4\nline5\n");
}

TEST_F(ReadTools, HeadTakesFirstLinesWithoutTrailingNewlineAndRoundsUp) {
  EXPECT_EQ(head(2), "line1\nline2");
  EXPECT_EQ(head(1.5), "line1\nline2");
  EXPECT_EQ(head(-1), "");
  EXPECT_EQ(head(99), "line1\nline2\nline3\nline4\nline5");
  EXPECT_EQ(ok("read_text_file", {{"path", "crlf.txt"}, {"head", 2}}), "a\r\nb\r");
}

TEST_F(ReadTools, TailCountsTheEmptyPieceAfterTheFinalNewline) {
  EXPECT_EQ(tail(1), "");
  EXPECT_EQ(tail(2), "line5\n");
  EXPECT_EQ(tail(1.5), "");  // slice(-1.5) keeps one piece
  EXPECT_EQ(tail(99), "line1\nline2\nline3\nline4\nline5\n");
  EXPECT_EQ(tail(-2), "");
  EXPECT_EQ(ok("read_text_file", {{"path", "crlf.txt"}, {"tail", 2}}), "b\nc");
}

TEST_F(ReadTools, TailBelowOneReturnsTheLastChunkFromItsByteBoundary) {
  std::string content;
  for (int i = 0; i < 200; ++i) content += "line-" + std::to_string(100 + i) + "\n";  // 9 bytes each
  file("long.txt", content);
  EXPECT_EQ(ok("read_text_file", {{"path", "long.txt"}, {"tail", 0.5}}), content.substr(content.size() - 1024));
  EXPECT_EQ(ok("read_text_file", {{"path", "long.txt"}, {"tail", 2}}), "line-299\n");
}

TEST_F(ReadTools, ZeroHeadOrTailMeansNotGiven) {
  EXPECT_EQ(ok("read_text_file", {{"path", "crlf.txt"}, {"head", 0}, {"tail", 0}}), "a\r\nb\r\nc");
  EXPECT_EQ(ok("read_text_file", {{"path", "lines.txt"}, {"head", 0}, {"tail", 1}}), "");
}

TEST_F(ReadTools, HeadAndTailTogetherIsAnError) {
  EXPECT_EQ(err("read_text_file", {{"path", "lines.txt"}, {"head", 1}, {"tail", 1}}),
            "Cannot specify both head and tail parameters simultaneously");
}

TEST_F(ReadTools, InvalidUtf8BecomesReplacementCharacters) {
  file("bad.txt", "abc\xff\xfe\xc3(def\xe2\x82");
  EXPECT_EQ(ok("read_text_file", {{"path", "bad.txt"}}), "abc\uFFFD\uFFFD\uFFFD(def\uFFFD");
}

TEST_F(ReadTools, MissingFileAndDirectoryUseNodeErrorText) {
  EXPECT_EQ(err("read_text_file", {{"path", "missing.txt"}}),
            R("ENOENT: no such file or directory, open '@ROOT@/missing.txt'"));
  dir("sub");
  EXPECT_EQ(err("read_text_file", {{"path", "sub"}}), "EISDIR: illegal operation on a directory, read");
}

TEST_F(ReadTools, AbsoluteSymlinkInsideTheWorkspaceIsFollowed) {
  link(p("lines.txt"), "abs_lines");
  dir("sub");
  file("sub/inner.txt", "inner");
  link(p("sub"), "abs_sub");
  EXPECT_EQ(ok("read_text_file", {{"path", "abs_lines"}}), "line1\nline2\nline3\nline4\nline5\n");
  EXPECT_EQ(ok("read_text_file", {{"path", p("abs_sub/inner.txt")}}), "inner");
  link(outside_ + "/secret.txt", "abs_out");
  link(root_ + "_evil", "abs_sibling");
  EXPECT_NE(err("read_text_file", {{"path", "abs_out"}}).find("symlink target outside allowed directories"),
            std::string::npos);
  EXPECT_NE(err("read_text_file", {{"path", "abs_sibling/x"}}).find("symlink target outside allowed directories"),
            std::string::npos);
  expect_canary_intact();
}

TEST_F(ReadTools, DeferredCloseKeepsEachReadsHandleUntilCloseDeferred) {
  EXPECT_FALSE(tools_->read_text_file("lines.txt", std::nullopt, std::nullopt).is_error);
  EXPECT_EQ(open_handles_on(::getpid(), p("lines.txt")), 0) << "closed at once by default";

  tools_->defer_close(true);
  EXPECT_EQ(tools_->read_text_file("lines.txt", std::nullopt, std::nullopt).content[0].text,
            "line1\nline2\nline3\nline4\nline5\n");
  EXPECT_EQ(tools_->read_text_file("lines.txt", 1.0, std::nullopt).content[0].text, "line1");
  EXPECT_EQ(open_handles_on(::getpid(), p("lines.txt")), 2);
  // A failed read leaves nothing behind.
  EXPECT_TRUE(tools_->read_text_file("missing.txt", std::nullopt, std::nullopt).is_error);
  tools_->close_deferred();
  EXPECT_EQ(open_handles_on(::getpid(), p("lines.txt")), 0);
}

TEST_F(ReadTools, TypedEntryPointMatchesDispatch) {
  auto r = tools_->read_text_file("lines.txt", 2.0, std::nullopt);
  ASSERT_FALSE(r.is_error);
  EXPECT_EQ(r.content[0].text, "line1\nline2");
}

TEST_F(ReadTools, ReadMultipleFilesJoinsResultsAndKeepsPerFileErrors) {
  EXPECT_EQ(ok("read_multiple_files", {{"paths", {"lines.txt", "missing.txt", "crlf.txt"}}}),
            R("lines.txt:\nline1\nline2\nline3\nline4\nline5\n\n"
              "\n---\n"
              "missing.txt: Error - ENOENT: no such file or directory, open '@ROOT@/missing.txt'"
              "\n---\n"
              "crlf.txt:\na\r\nb\r\nc\n"));
}

TEST_F(ReadTools, MediaFileImageAudioAndResourceBlocks) {
  file("pic.PNG", "\x89PNG\r\n");
  file("a b#c%?.mp3", "a b#c%?.mp3");
  file("\xC3\xBCn\xC3\xAF \xF0\x9F\x98\x80 name.txt", "h\xC3\xA9llo w\xC3\xB6rld \xF0\x9F\x98\x80");

  auto img = call("read_media_file", {{"path", "pic.PNG"}});
  ASSERT_FALSE(img.is_error);
  EXPECT_EQ(to_json(img), json::parse(R"({"content":[{"type":"image","data":"iVBORw0K","mimeType":"image/png"}],
      "structuredContent":{"content":[{"type":"image","data":"iVBORw0K","mimeType":"image/png"}]}})"));

  auto audio = call("read_media_file", {{"path", "a b#c%?.mp3"}});
  EXPECT_EQ(to_json(audio)["content"][0],
            json::parse(R"({"type":"audio","data":"YSBiI2MlPy5tcDM=","mimeType":"audio/mpeg"})"));

  auto res = call("read_media_file", {{"path", "\xC3\xBCn\xC3\xAF \xF0\x9F\x98\x80 name.txt"}});
  json expected = {{"type", "resource"},
                   {"resource",
                    {{"uri", "file://" + root_ + "/%C3%BCn%C3%AF%20%F0%9F%98%80%20name.txt"},
                     {"mimeType", "application/octet-stream"},
                     {"blob", "aMOpbGxvIHfDtnJsZCDwn5iA"}}}};
  EXPECT_EQ(to_json(res)["content"][0], expected);
  EXPECT_EQ(to_json(res)["structuredContent"]["content"][0], expected);
}

TEST_F(ReadTools, FileUrlPercentEncodesLikePathToFileURL) {
  file("q\"#%<>?[\\]^`{|}~.bin", "x");
  auto r = call("read_media_file", {{"path", "q\"#%<>?[\\]^`{|}~.bin"}});
  ASSERT_FALSE(r.is_error);
  EXPECT_EQ(r.content[0].uri, "file://" + root_ + "/q%22%23%25%3C%3E%3F%5B%5C%5D%5E%60%7B%7C%7D%7E.bin");
}

TEST_F(ReadTools, GetFileInfoFormatsLikeTheReference) {
  dir("d");
  ::chmod(p("d").c_str(), 0750);
  struct timespec times[2] = {{1700000000, 0}, {1800000000, 0}};  // atime, mtime
  ASSERT_EQ(::utimensat(AT_FDCWD, p("lines.txt").c_str(), times, 0), 0);
  const std::string info = ok("get_file_info", {{"path", "lines.txt"}});
  // created depends on the filesystem's birth time; everything else is fixed.
  auto created_at = info.find("\ncreated: ");
  auto modified_at = info.find("\nmodified: ");
  ASSERT_NE(created_at, std::string::npos);
  ASSERT_NE(modified_at, std::string::npos);
  EXPECT_EQ(info.substr(0, created_at), "size: 30");
  EXPECT_EQ(info.substr(modified_at),
            "\nmodified: Fri Jan 15 2027 08:00:00 GMT+0000 (Coordinated Universal Time)"
            "\naccessed: Tue Nov 14 2023 22:13:20 GMT+0000 (Coordinated Universal Time)"
            "\nisDirectory: false\nisFile: true\npermissions: 644");
  EXPECT_NE(info.find("GMT+0000 (Coordinated Universal Time)\nmodified"), std::string::npos);

  const std::string d = ok("get_file_info", {{"path", "d"}});
  EXPECT_NE(d.find("\nisDirectory: true\nisFile: false\npermissions: 750"), std::string::npos) << d;
}

TEST_F(ReadTools, DatesFollowTheProcessTimeZone) {
  ::setenv("TZ", "Europe/Berlin", 1);
  ::tzset();
  struct timespec times[2] = {{1800000000, 0}, {0, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p("lines.txt").c_str(), times, 0), 0);
  const std::string info = ok("get_file_info", {{"path", "lines.txt"}});
  EXPECT_NE(info.find("modified: Thu Jan 01 1970 01:00:00 GMT+0100 (Central European Standard Time)"),
            std::string::npos)
      << info;
  EXPECT_NE(info.find("accessed: Fri Jan 15 2027 09:00:00 GMT+0100 (Central European Standard Time)"),
            std::string::npos)
      << info;
}

TEST_F(ReadTools, ListAllowedDirectoriesShowsTheRoot) {
  EXPECT_EQ(ok("list_allowed_directories", json::object()), "Allowed directories:\n" + root_);
}

}  // namespace
}  // namespace shmcp::executor::testing
