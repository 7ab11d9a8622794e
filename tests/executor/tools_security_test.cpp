// Hostile input against the tools: lexical escapes, symlinks out (file, directory, chains,
// dangling, parent links), the CVE-2025-53110 sibling prefix, special files, size limits and hard
// links. Every case asserts the outcome and that the outside canary is unchanged.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tests/executor/tools_fixture.hpp"

namespace shmcp::executor::testing {
namespace {

using nlohmann::json;

class Hostile : public ToolsTest {
 protected:
  void SetUp() override {
    ToolsTest::SetUp();
    file("in.txt", "inside\n");
    link(outside_ + "/secret.txt", "out_file");
    link(outside_, "out_dir");
    link("out_file", "chain");
    link("..", "parent");
    link("../outside/secret.txt", "rel_out");
    link("missing", "dangling");
  }
  void expect_denied(const std::string& tool, const json& args) {
    auto r = call(tool, args);
    EXPECT_TRUE(r.is_error) << tool << " " << args.dump() << " -> " << r.content[0].text;
    EXPECT_EQ(r.content[0].text.find("top secret"), std::string::npos) << r.content[0].text;
  }
};

TEST_F(Hostile, ReadsThroughEscapingLinksAreDenied) {
  for (const char* path : {"out_file", "chain", "rel_out", "out_dir/secret.txt", "parent/outside/secret.txt"}) {
    expect_denied("read_text_file", {{"path", path}});
    expect_denied("read_media_file", {{"path", path}});
    expect_denied("get_file_info", {{"path", path}});
    expect_denied("edit_file", {{"path", path}, {"edits", json::array()}});
  }
  EXPECT_NE(err("read_text_file", {{"path", "out_file"}}).find("Access denied - symlink target outside allowed directories"),
            std::string::npos);
  const std::string multi = ok("read_multiple_files", {{"paths", {"in.txt", "out_file"}}});
  EXPECT_EQ(multi.find("top secret"), std::string::npos);
  EXPECT_EQ(multi.rfind("in.txt:\ninside\n\n\n---\nout_file: Error - Access denied", 0), 0u) << multi;
  expect_canary_intact();
}

TEST_F(Hostile, LexicalEscapesAreDenied) {
  for (const std::string& path : {outside_ + "/secret.txt", root_ + "/../outside/secret.txt", std::string("../outside/secret.txt"),
                                  root_ + "_evil/x", root_ + " /x", root_ + "'/x", std::string("/etc/passwd"),
                                  std::string("C:\\Windows\\win.ini")}) {
    expect_denied("read_text_file", {{"path", path}});
    expect_denied("list_directory", {{"path", path}});
    expect_denied("write_file", {{"path", path}, {"content", "x"}});
  }
  expect_denied("read_text_file", {{"path", std::string("in.txt\0/x", 9)}});
  expect_denied("read_text_file", {{"path", std::string(5000, 'a')}});
  expect_canary_intact();
}

TEST_F(Hostile, DirectoryToolsThroughEscapingLinksAreDenied) {
  for (const char* path : {"out_dir", "parent", "parent/outside"}) {
    expect_denied("list_directory", {{"path", path}});
    expect_denied("list_directory_with_sizes", {{"path", path}});
    expect_denied("directory_tree", {{"path", path}});
    expect_denied("search_files", {{"path", path}, {"pattern", "**"}});
  }
  expect_canary_intact();
}

TEST_F(Hostile, WritesNeverLandOutside) {
  for (const char* path : {"out_dir/new.txt", "parent/outside/new.txt"}) {
    expect_denied("write_file", {{"path", path}, {"content", "x"}});
    expect_denied("create_directory", {{"path", path}});
    expect_denied("move_file", {{"source", "in.txt"}, {"destination", path}});
  }
  // Writing at an escaping link replaces the link inside the workspace.
  EXPECT_FALSE(call("write_file", {{"path", "out_file"}, {"content", "replaced"}}).is_error);
  EXPECT_EQ(slurp(p("out_file")), "replaced");
  EXPECT_FALSE(call("edit_file", {{"path", "in.txt"}, {"edits", {{{"oldText", "inside"}, {"newText", "x"}}}}}).is_error);
  expect_canary_intact();
}

// An escaping link gets one answer whatever is at its target: missing, a directory, a FIFO, too
// large, hard-linked or an ordinary file. Any other answer (ENOENT, "Not a regular file", "File
// too large", "hard links") would tell the caller something about the outside filesystem.
TEST_F(Hostile, EscapingLinksGetTheSameAnswerWhateverIsAtTheTarget) {
  ToolOptions o;
  o.max_read_bytes = 4;  // secret.txt (11 bytes) would be "too large"
  make_tools(o);
  ASSERT_EQ(::mkfifo((outside_ + "/fifo").c_str(), 0644), 0);
  ASSERT_EQ(::link((outside_ + "/secret.txt").c_str(), (outside_ + "/hard").c_str()), 0);
  link(outside_ + "/no-such-file", "out_missing");
  link(outside_ + "/fifo", "out_fifo");
  link(outside_ + "/hard", "out_hard");
  link("../outside/no-such-file", "rel_missing");
  for (const char* path : {"out_file", "out_dir", "out_missing", "out_fifo", "out_hard", "rel_out", "rel_missing"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(err("read_text_file", {{"path", path}}),
              R(std::string("Access denied - symlink target outside allowed directories: @ROOT@/") + path));
  }
  expect_canary_intact();
}

TEST_F(Hostile, DanglingLinkIsNotFound) {
  EXPECT_EQ(err("read_text_file", {{"path", "dangling"}}), R("ENOENT: no such file or directory, open '@ROOT@/dangling'"));
}

TEST_F(Hostile, FifoReadFailsImmediatelyInsteadOfBlocking) {
  ASSERT_EQ(::mkfifo(p("fifo").c_str(), 0644), 0);
  // If this blocked, the test would hang (ctest's timeout catches it); no writer ever opens it.
  EXPECT_EQ(err("read_text_file", {{"path", "fifo"}}), R("Not a regular file: @ROOT@/fifo"));
  EXPECT_TRUE(call("read_media_file", {{"path", "fifo"}}).is_error);
  EXPECT_TRUE(call("edit_file", {{"path", "fifo"}, {"edits", json::array()}}).is_error);
  EXPECT_NE(ok("read_multiple_files", {{"paths", {"fifo"}}}).find("fifo: Error - Not a regular file"), std::string::npos);
  EXPECT_EQ(ok("list_directory", {{"path", "."}}).find("[DIR] fifo"), std::string::npos);
}

TEST_F(Hostile, DeviceNodesAreNotRead) {
  link("/dev/zero", "zero");  // outside the workspace: denied before any type check
  expect_denied("read_text_file", {{"path", "zero"}});
  // A device inside the workspace (needs CAP_MKNOD; skipped otherwise) is refused by type, never
  // opened for reading: /dev/zero would otherwise never reach end of file.
  if (::mknod(p("zero_dev").c_str(), S_IFCHR | 0644, makedev(1, 5)) != 0) GTEST_SKIP() << "cannot mknod";
  EXPECT_EQ(err("read_text_file", {{"path", "zero_dev"}}), R("Not a regular file: @ROOT@/zero_dev"));
}

TEST_F(Hostile, HardLinkedFilesAreRefusedUnlessAllowed) {
  ASSERT_EQ(::link((outside_ + "/secret.txt").c_str(), p("hard").c_str()), 0);
  EXPECT_NE(err("read_text_file", {{"path", "hard"}}).find("hard links"), std::string::npos);
  EXPECT_EQ(ok("read_multiple_files", {{"paths", {"hard"}}}).find("top secret"), std::string::npos);
  EXPECT_TRUE(call("edit_file", {{"path", "hard"}, {"edits", json::array()}}).is_error);
  ToolOptions o;
  o.allow_hardlinks = true;
  make_tools(o);
  EXPECT_EQ(ok("read_text_file", {{"path", "hard"}}), "top secret\n");
  expect_canary_intact();
}

// A hard link may be a second name of an outside file: its metadata is withheld like its content.
TEST_F(Hostile, HardLinkedFilesYieldNoMetadataUnlessAllowed) {
  ASSERT_EQ(::link((outside_ + "/secret.txt").c_str(), p("hard").c_str()), 0);  // 11 bytes
  link("hard", "to_hard");
  const std::string refusal = R("Access denied - file has 2 hard links: @ROOT@/hard");
  EXPECT_EQ(err("read_text_file", {{"path", "hard"}}), refusal);
  EXPECT_EQ(err("get_file_info", {{"path", "hard"}}), refusal);
  EXPECT_EQ(err("get_file_info", {{"path", "to_hard"}}), R("Access denied - file has 2 hard links: @ROOT@/to_hard"));
  auto combined = [](const std::string& listing) {  // "Combined size: <n> B" (all sizes here are < 1 KB)
    const auto at = listing.find("Combined size: ");
    return at == std::string::npos ? -1 : std::stoi(listing.substr(at + 15));
  };
  auto line = [](const std::string& name, const std::string& size) {
    return "[FILE] " + name + std::string(31 - name.size(), ' ') + std::string(10 - size.size(), ' ') + size + "\n";
  };
  std::string listing = ok("list_directory_with_sizes", {{"path", "."}});
  EXPECT_NE(listing.find(line("hard", "0 B")), std::string::npos) << listing;
  EXPECT_NE(listing.find(line("to_hard", "0 B")), std::string::npos) << listing;
  // Positive control: a single-link file's metadata is shown (in.txt, 7 bytes), and a directory
  // (whose link count counts its subdirectories) too.
  EXPECT_NE(listing.find(line("in.txt", "7 B")), std::string::npos) << listing;
  EXPECT_NE(ok("get_file_info", {{"path", "in.txt"}}).find("size: 7\n"), std::string::npos);
  ASSERT_EQ(::mkdir(p("d").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(p("d/sub").c_str(), 0755), 0);
  EXPECT_NE(ok("get_file_info", {{"path", "d"}}).find("isDirectory: true\n"), std::string::npos);

  const int without = combined(listing);

  ToolOptions o;
  o.allow_hardlinks = true;
  make_tools(o);
  EXPECT_NE(ok("get_file_info", {{"path", "hard"}}).find("size: 11\n"), std::string::npos);
  listing = ok("list_directory_with_sizes", {{"path", "."}});
  EXPECT_EQ(combined(listing), without + 22) << listing;  // hard and to_hard, 11 B each
  EXPECT_NE(listing.find(line("hard", "11 B")), std::string::npos) << listing;
  EXPECT_NE(listing.find(line("to_hard", "11 B")), std::string::npos) << listing;
  expect_canary_intact();
}

TEST_F(Hostile, ReadSizeLimitIsEnforced) {
  ToolOptions o;
  o.max_read_bytes = 4;
  make_tools(o);
  file("big.txt", "12345");
  file("small.txt", "1234");
  EXPECT_EQ(err("read_text_file", {{"path", "big.txt"}}),
            R("File too large: @ROOT@/big.txt is 5 bytes (limit 4 bytes)"));
  EXPECT_EQ(ok("read_text_file", {{"path", "small.txt"}}), "1234");
  // One budget per read_multiple_files call.
  EXPECT_EQ(ok("read_multiple_files", {{"paths", {"small.txt", "small.txt"}}}),
            R("small.txt:\n1234\n\n---\nsmall.txt: Error - File too large: @ROOT@/small.txt is 4 bytes (limit 0 bytes)"));
}

TEST_F(Hostile, ListingsLeakNoDataAboutOutsideFiles) {
  const std::string listing = ok("list_directory_with_sizes", {{"path", "."}});
  EXPECT_EQ(listing.find(" 11 B"), std::string::npos) << listing;  // secret.txt is 11 bytes
  const std::string tree = ok("directory_tree", {{"path", "."}});
  EXPECT_EQ(tree.find("secret"), std::string::npos);
  const std::string found = ok("search_files", {{"path", "."}, {"pattern", "**"}});
  EXPECT_EQ(found.find("secret"), std::string::npos);
  EXPECT_EQ(found.find("out_file"), std::string::npos);  // escaping links are skipped like the reference
}

}  // namespace
}  // namespace shmcp::executor::testing
