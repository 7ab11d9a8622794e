// Workspace path resolution against hostile input. Every test runs in a fresh temp tree:
//   <base>/ws        the workspace
//   <base>/outside   canary directory (plus siblings ws_evil, "ws ", "ws'" that share ws's prefix)
// and TearDown asserts that nothing outside <base>/ws changed (content, mode, type, link target).
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sandbox/workspace.hpp"
#include "tests/support/sandbox_dirs.hpp"

namespace fs = std::filesystem;
using shmcp::Errc;
using shmcp::sandbox::kMaxPathBytes;
using shmcp::sandbox::UniqueFd;
using shmcp::sandbox::Workspace;

namespace {

void write_file(const std::string& path, const std::string& content) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(std::fwrite(content.data(), 1, content.size(), f), content.size());
  ASSERT_EQ(std::fclose(f), 0);
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

class PathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dirs_.emplace("paths");
    ASSERT_TRUE(dirs_->ok()) << dirs_->base();
    base_ = dirs_->base();
    root_ = dirs_->ws();
    outside_ = dirs_->outside();
    for (const char* d : {"/ws/sub", "/ws/sub/deeper", "/outside/dir", "/ws_evil", "/ws ", "/ws'"})
      ASSERT_EQ(::mkdir((base_ + d).c_str(), 0755), 0) << d;
    write_file(root_ + "/sub/file.txt", "inside");
    write_file(root_ + "/top.txt", "top");
    write_file(outside_ + "/secret.txt", "SECRET");
    write_file(outside_ + "/dir/nested.txt", "NESTED");
    write_file(base_ + "/ws_evil/secret.txt", "EVIL");
    write_file(base_ + "/ws /secret.txt", "SPACE");
    write_file(base_ + "/ws'/secret.txt", "QUOTE");
    canary_ = snapshot();
    auto w = Workspace::open(root_);
    ASSERT_TRUE(w.ok()) << w.error().describe();
    ws_.emplace(std::move(w).value());
  }

  void TearDown() override {
    if (!mounted_.empty()) ::umount2(mounted_.c_str(), MNT_DETACH);
    EXPECT_EQ(snapshot(), canary_) << "something outside the workspace changed";
    ws_.reset();
    dirs_.reset();
  }

  // Everything under base_ except the workspace itself.
  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(base_, ec); it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const std::string rel = fs::relative(it->path(), base_).string();
      if (rel == "ws" || rel.rfind("ws/", 0) == 0) {
        if (rel == "ws") it.disable_recursion_pending();
        continue;
      }
      struct stat st {};
      ::lstat(it->path().c_str(), &st);
      std::string d = "mode=" + std::to_string(st.st_mode) + " size=" + std::to_string(st.st_size) +
                      " nlink=" + std::to_string(st.st_nlink);
      if (S_ISLNK(st.st_mode)) d += " -> " + fs::read_symlink(it->path()).string();
      if (S_ISREG(st.st_mode)) {
        const int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
        d += " content=" + read_all(fd);
        ::close(fd);
      }
      out[rel] = d;
    }
    return out;
  }

  const Workspace& ws() const { return *ws_; }

  static void expect_error(const shmcp::Error& e, Errc code, const std::string& contains) {
    EXPECT_EQ(e.code, code) << e.describe();
    EXPECT_NE(e.message.find(contains), std::string::npos) << e.message << " should contain " << contains;
  }
  template <class T>
  static void expect_fails(const shmcp::Result<T>& r, Errc code, const std::string& contains) {
    ASSERT_FALSE(r.ok()) << "expected " << shmcp::errc_name(code);
    expect_error(r.error(), code, contains);
  }

  std::string outside_msg(const std::string& p) const {
    return "Access denied - path outside allowed directories: " + p + " not in " + root_;
  }
  std::string symlink_msg(const std::string& display) const {
    return "Access denied - symlink target outside allowed directories: " + display;
  }

  std::optional<shmcp::testing::SandboxDirs> dirs_;
  std::string base_, root_, outside_, mounted_;
  std::map<std::string, std::string> canary_;
  std::optional<Workspace> ws_;
};

// --- opening the workspace ---

TEST_F(PathsTest, OpenCanonicalisesRootThroughSymlink) {
  ASSERT_EQ(::symlink("ws", (base_ + "/ws-link").c_str()), 0);
  auto w = Workspace::open(base_ + "/ws-link/sub/..");
  ASSERT_TRUE(w.ok()) << w.error().describe();
  EXPECT_EQ(w->root(), root_);
  ::unlink((base_ + "/ws-link").c_str());
}

TEST_F(PathsTest, OpenRejectsMissingRootAndFileRoot) {
  expect_fails(Workspace::open(base_ + "/nope"), Errc::not_found, "ENOENT");
  expect_fails(Workspace::open(root_ + "/top.txt"), Errc::invalid_argument, "ENOTDIR");
}

// --- lexical gate ---

TEST_F(PathsTest, RejectsNulByte) {
  const std::string p("sub/file.txt\0../../outside/secret.txt", 37);
  expect_fails(ws().name(p), Errc::invalid_argument, "NUL");
  expect_fails(ws().open(p, O_RDONLY), Errc::invalid_argument, "NUL");
}

TEST_F(PathsTest, RejectsOverLongPathButAcceptsTheLimit) {
  expect_fails(ws().name(std::string(kMaxPathBytes + 1, 'a')), Errc::invalid_argument, "too long");
  std::string at_limit;
  while (at_limit.size() + 2 <= kMaxPathBytes) at_limit += "a/";
  at_limit.resize(kMaxPathBytes, 'a');
  auto n = ws().name(at_limit);
  ASSERT_TRUE(n.ok()) << n.error().describe();
  EXPECT_EQ(n->relative, at_limit);
  expect_fails(ws().name(""), Errc::invalid_argument, "empty");
}

TEST_F(PathsTest, RejectsWindowsDriveAndUncPaths) {
  for (const char* p : {"C:\\Windows\\win.ini", "C:/x", "c:", "z:rel", "\\\\server\\share\\x",
                        "\\\\?\\C:\\x", "\\Windows"}) {
    SCOPED_TRACE(p);
    expect_fails(ws().name(p), Errc::invalid_argument, "Windows");
    expect_fails(ws().open(p, O_RDONLY), Errc::invalid_argument, "Windows");
  }
}

TEST_F(PathsTest, RejectsDotDotEscapesWithReferenceMessage) {
  expect_fails(ws().open("../outside/secret.txt", O_RDONLY), Errc::access_denied,
               outside_msg(outside_ + "/secret.txt"));
  expect_fails(ws().open(root_ + "/../outside/secret.txt", O_RDONLY), Errc::access_denied,
               outside_msg(outside_ + "/secret.txt"));
  expect_fails(ws().open("./../outside", O_RDONLY), Errc::access_denied, "path outside allowed");
  expect_fails(ws().open("sub/../../outside/secret.txt", O_RDONLY), Errc::access_denied, "path outside allowed");
  // Lands back inside lexically, but steps above the root on the way: still refused.
  expect_fails(ws().open("sub/../../ws/top.txt", O_RDONLY), Errc::access_denied, "path outside allowed");
  expect_fails(ws().open(root_ + "/..", O_RDONLY), Errc::access_denied, outside_msg(base_));
  expect_fails(ws().open("/etc/passwd", O_RDONLY), Errc::access_denied, outside_msg("/etc/passwd"));
}

// CVE-2025-53110: a string-prefix check let a sibling sharing the root's prefix through.
TEST_F(PathsTest, SiblingWithSharedPrefixIsDenied) {
  expect_fails(ws().open(root_ + "_evil/secret.txt", O_RDONLY), Errc::access_denied,
               outside_msg(base_ + "/ws_evil/secret.txt"));
  expect_fails(ws().open(root_ + "_evil", O_RDONLY | O_DIRECTORY), Errc::access_denied, "path outside");
  expect_fails(ws().open(root_ + "_evil/new.txt", O_WRONLY | O_CREAT, 0644), Errc::access_denied, "path outside");
}

// The reference validates a trimmed string and opens the untrimmed one: "/ws " and "/ws'" escape
// there. Here they are denied as absolute paths and stay inside as relative ones.
TEST_F(PathsTest, TrailingSpaceAndQuoteNeverEscape) {
  for (const std::string suffix : {" ", "'", " /secret.txt", "'/secret.txt", " /new.txt"}) {
    SCOPED_TRACE(suffix);
    expect_fails(ws().open(root_ + suffix, O_RDONLY), Errc::access_denied, "path outside allowed");
    expect_fails(ws().open(root_ + suffix, O_WRONLY | O_CREAT, 0644), Errc::access_denied, "path outside");
  }
  // Relative: a literal name inside the workspace, untrimmed.
  auto n = ws().name(" sub/file.txt ");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->relative, " sub/file.txt ");
  EXPECT_EQ(n->display, root_ + "/ sub/file.txt ");
  expect_fails(ws().open("ws /secret.txt", O_RDONLY), Errc::not_found, "ENOENT");
  auto created = ws().open("ws ", O_WRONLY | O_CREAT | O_EXCL, 0644);
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_TRUE(fs::is_regular_file(root_ + "/ws "));
}

TEST_F(PathsTest, AbsoluteAndRelativeFormsResolveInside) {
  for (const std::string& p : std::vector<std::string>{root_ + "/sub/file.txt", root_ + "//sub//file.txt",
                                                    "sub/file.txt", "./sub/./file.txt", "sub/deeper/../file.txt"}) {
    SCOPED_TRACE(p);
    auto fd = ws().open(p, O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.error().describe();
    EXPECT_EQ(read_all(fd->get()), "inside");
  }
  for (const std::string& p : std::vector<std::string>{root_, root_ + "/", ".", "./"}) {
    auto n = ws().name(p);
    ASSERT_TRUE(n.ok()) << p;
    EXPECT_EQ(n->relative, p == "./" ? "./" : ".");
    EXPECT_EQ(n->display, root_);
    EXPECT_TRUE(ws().open(p, O_RDONLY | O_DIRECTORY).ok()) << p;
  }
  auto n = ws().name("sub/./deeper/../file.txt");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->relative, "sub/file.txt");  // what the kernel gets: normalised like path.resolve
  EXPECT_EQ(n->given, "sub/./deeper/../file.txt");
  EXPECT_EQ(n->display, root_ + "/sub/file.txt");
  expect_fails(ws().open("sub/missing.txt", O_RDONLY), Errc::not_found, root_ + "/sub/missing.txt");
}

// ".." cancels the component before it lexically, as path.resolve does in the reference server:
// that component need not exist, or be what the kernel would find there.
TEST_F(PathsTest, DotDotIsNormalisedLexicallyBeforeTheKernelResolves) {
  for (const std::string& p : std::vector<std::string>{"missing/../sub/file.txt", "sub/missing/../file.txt",
                                                    root_ + "/a/../sub/file.txt", "top.txt/../sub/file.txt",
                                                    "sub/deeper/x/y/../../../file.txt"}) {
    SCOPED_TRACE(p);
    auto fd = ws().open(p, O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.error().describe();
    EXPECT_EQ(read_all(fd->get()), "inside");
    auto reg = ws().open_regular(p, O_RDONLY);
    ASSERT_TRUE(reg.ok()) << reg.error().describe();
  }
  auto dir = ws().open(root_ + "/a/../sub", O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir.ok()) << dir.error().describe();
  // A link to another directory: the kernel would take ".." from the link's target (sub), the
  // reference (and we) from the name: "jump/.." is the root.
  ASSERT_EQ(::symlink("sub/deeper", (root_ + "/jump").c_str()), 0);
  auto up = ws().open("jump/../top.txt", O_RDONLY);
  ASSERT_TRUE(up.ok()) << up.error().describe();
  EXPECT_EQ(read_all(up->get()), "top");
  // Errors name the normalised path, whose last component is the one missing.
  expect_fails(ws().open("a/../nosub", O_RDONLY | O_DIRECTORY), Errc::not_found, "'" + root_ + "/nosub'");
  expect_fails(ws().open("sub/a/../missing.txt", O_RDONLY), Errc::not_found, "'" + root_ + "/sub/missing.txt'");
  // Creating through a normalised parent lands where the name says.
  auto parent = ws().open_parent("missing/../sub/deeper/../new.txt");
  ASSERT_TRUE(parent.ok()) << parent.error().describe();
  EXPECT_EQ(parent->leaf, "new.txt");
  const int nfd = ::openat(parent->dir.get(), parent->leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  ASSERT_GE(nfd, 0);
  ::close(nfd);
  EXPECT_TRUE(fs::is_regular_file(root_ + "/sub/new.txt"));
  expect_fails(ws().open_parent("missing/../nodir/x.txt"), Errc::not_found,
               "Parent directory does not exist: " + root_ + "/nodir");
  // Still refused: a ".." above the root, lexically or through a link to the root.
  expect_fails(ws().open("missing/../../outside/secret.txt", O_RDONLY), Errc::access_denied, "path outside allowed");
  ASSERT_EQ(::symlink("..", (root_ + "/sub/up").c_str()), 0);
  expect_fails(ws().open("sub/deeper/../up/../outside/secret.txt", O_RDONLY), Errc::access_denied,
               "symlink target outside");
  expect_fails(ws().open_parent("sub/up/../outside/new.txt"), Errc::access_denied, "symlink target outside");
}

// Tools resolve a name once and open by it (read_text_file, list_directory): the same rules and
// errors as opening by the path, including the escape checks the kernel applies.
TEST_F(PathsTest, OpeningAResolvedNameBehavesLikeOpeningThePath) {
  for (const std::string& p : std::vector<std::string>{"sub/file.txt", root_ + "/sub/./file.txt", "sub/deeper/../file.txt"}) {
    SCOPED_TRACE(p);
    auto n = ws().name(p);
    ASSERT_TRUE(n.ok()) << n.error().describe();
    auto fd = ws().open(*n, O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.error().describe();
    EXPECT_EQ(read_all(fd->get()), "inside");
  }
  auto missing = ws().name("sub//missing.txt");
  ASSERT_TRUE(missing.ok());
  expect_fails(ws().open(*missing, O_RDONLY), Errc::not_found, root_ + "/sub/missing.txt");
  ASSERT_EQ(::symlink((outside_ + "/secret.txt").c_str(), (root_ + "/out-link").c_str()), 0);
  auto escape = ws().name("out-link");
  ASSERT_TRUE(escape.ok());  // lexically fine: only the kernel's resolution sees the escape
  expect_fails(ws().open(*escape, O_RDONLY), Errc::access_denied, symlink_msg(root_ + "/out-link"));
}

// --- symlinks ---

TEST_F(PathsTest, SymlinkToOutsideFileIsDenied) {
  ASSERT_EQ(::symlink("../outside/secret.txt", (root_ + "/rel-link").c_str()), 0);
  ASSERT_EQ(::symlink((outside_ + "/secret.txt").c_str(), (root_ + "/abs-link").c_str()), 0);
  for (const char* p : {"rel-link", "abs-link"}) {
    SCOPED_TRACE(p);
    expect_fails(ws().open(p, O_RDONLY), Errc::access_denied, symlink_msg(root_ + "/" + p));
    expect_fails(ws().open(p, O_WRONLY | O_TRUNC), Errc::access_denied, "symlink target outside");
    expect_fails(ws().open(p, O_WRONLY | O_APPEND | O_CREAT, 0644), Errc::access_denied, "symlink target outside");
    expect_fails(ws().open_regular(p, O_RDONLY), Errc::access_denied, "symlink target outside");
  }
}

TEST_F(PathsTest, SymlinkToOutsideDirectoryIsDenied) {
  ASSERT_EQ(::symlink("../../outside", (root_ + "/sub/out").c_str()), 0);
  expect_fails(ws().open("sub/out", O_RDONLY | O_DIRECTORY), Errc::access_denied, "symlink target outside");
  expect_fails(ws().open("sub/out/secret.txt", O_RDONLY), Errc::access_denied,
               symlink_msg(root_ + "/sub/out/secret.txt"));
  expect_fails(ws().open("sub/out/dir/nested.txt", O_RDONLY), Errc::access_denied, "symlink target outside");
  expect_fails(ws().open("sub/out/planted.txt", O_WRONLY | O_CREAT | O_EXCL, 0644), Errc::access_denied,
               "symlink target outside");
  expect_fails(ws().open_parent("sub/out/planted.txt"), Errc::access_denied, "symlink target outside");
  expect_fails(ws().open_parent("sub/out/dir/x"), Errc::access_denied, "symlink target outside");
}

TEST_F(PathsTest, SymlinkChainsAreFollowedOnlyWhileInside) {
  ASSERT_EQ(::symlink("b", (root_ + "/a").c_str()), 0);
  ASSERT_EQ(::symlink("sub/c", (root_ + "/b").c_str()), 0);
  ASSERT_EQ(::symlink("file.txt", (root_ + "/sub/c").c_str()), 0);
  auto fd = ws().open("a", O_RDONLY);
  ASSERT_TRUE(fd.ok()) << fd.error().describe();
  EXPECT_EQ(read_all(fd->get()), "inside");

  ASSERT_EQ(::symlink("y", (root_ + "/x").c_str()), 0);
  ASSERT_EQ(::symlink("sub/z", (root_ + "/y").c_str()), 0);
  ASSERT_EQ(::symlink("../../outside/secret.txt", (root_ + "/sub/z").c_str()), 0);
  expect_fails(ws().open("x", O_RDONLY), Errc::access_denied, symlink_msg(root_ + "/x"));

  ASSERT_EQ(::symlink("loop2", (root_ + "/loop1").c_str()), 0);
  ASSERT_EQ(::symlink("loop1", (root_ + "/loop2").c_str()), 0);
  auto loop = ws().open("loop1", O_RDONLY);
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().code, Errc::access_denied);
}

TEST_F(PathsTest, DanglingSymlinkOutIsNeverCreatedThrough) {
  ASSERT_EQ(::symlink("../outside/planted.txt", (root_ + "/dangling").c_str()), 0);
  ASSERT_EQ(::symlink((outside_ + "/planted2.txt").c_str(), (root_ + "/dangling-abs").c_str()), 0);
  for (const char* p : {"dangling", "dangling-abs"}) {
    SCOPED_TRACE(p);
    expect_fails(ws().open(p, O_WRONLY | O_CREAT, 0644), Errc::access_denied, "symlink target outside");
    expect_fails(ws().open(p, O_RDONLY), Errc::access_denied, "symlink target outside");
  }
  // Dangling but inside: creation through it lands inside.
  ASSERT_EQ(::symlink("sub/made.txt", (root_ + "/dangling-in").c_str()), 0);
  auto fd = ws().open("dangling-in", O_WRONLY | O_CREAT, 0644);
  ASSERT_TRUE(fd.ok()) << fd.error().describe();
  EXPECT_TRUE(fs::is_regular_file(root_ + "/sub/made.txt"));
}

TEST_F(PathsTest, ParentDirectorySymlinksCannotClimbOut) {
  ASSERT_EQ(::symlink("..", (root_ + "/sub/up").c_str()), 0);        // to the root: fine
  ASSERT_EQ(::symlink("../..", (root_ + "/sub/up2").c_str()), 0);    // above the root
  ASSERT_EQ(::symlink("deeper/../../..", (root_ + "/sub/up3").c_str()), 0);
  auto fd = ws().open("sub/up/top.txt", O_RDONLY);
  ASSERT_TRUE(fd.ok()) << fd.error().describe();
  EXPECT_EQ(read_all(fd->get()), "top");
  expect_fails(ws().open("sub/up2/outside/secret.txt", O_RDONLY), Errc::access_denied, "symlink target outside");
  // Lexically harmless (never climbs), but the links take it above the root.
  expect_fails(ws().open("sub/up/sub/up/../../outside/secret.txt", O_RDONLY), Errc::access_denied,
               "symlink target outside");
  expect_fails(ws().open("sub/up3/outside/secret.txt", O_RDONLY), Errc::access_denied, "symlink target outside");
  expect_fails(ws().open("sub/up2", O_RDONLY | O_DIRECTORY), Errc::access_denied, "symlink target outside");
  // ".." after a symlinked directory is resolved by the kernel against the link's target, not
  // lexically: "sub/up/.." would be the root's parent.
  expect_fails(ws().open("sub/up/../outside/secret.txt", O_RDONLY), Errc::access_denied, "outside allowed");
}

// --- absolute symlinks (RESOLVE_BENEATH refuses them; the rewrite follows those that stay inside) ---

TEST_F(PathsTest, AbsoluteSymlinkToInsideFileIsFollowed) {
  ASSERT_EQ(::symlink((root_ + "/sub/file.txt").c_str(), (root_ + "/abs-in").c_str()), 0);
  for (const std::string& p : std::vector<std::string>{"abs-in", "./abs-in", root_ + "/abs-in"}) {
    SCOPED_TRACE(p);
    auto fd = ws().open(p, O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.error().describe();
    EXPECT_EQ(read_all(fd->get()), "inside");
    auto reg = ws().open_regular(p, O_RDONLY);
    ASSERT_TRUE(reg.ok()) << reg.error().describe();
    EXPECT_EQ(read_all(reg->get()), "inside");
  }
  // A trailing slash on a link to a file is ENOTDIR, as the kernel answers for relative links.
  expect_fails(ws().open("abs-in/", O_RDONLY), Errc::io, "ENOTDIR");
  // Writing through it lands on the inside file.
  auto w = ws().open("abs-in", O_WRONLY | O_TRUNC);
  ASSERT_TRUE(w.ok()) << w.error().describe();
  ASSERT_EQ(::write(w->get(), "new", 3), 3);
  auto r = ws().open("sub/file.txt", O_RDONLY);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(read_all(r->get()), "new");
}

TEST_F(PathsTest, AbsoluteSymlinkToInsideDirectoryWorksAsIntermediateComponent) {
  ASSERT_EQ(::symlink((root_ + "/sub").c_str(), (root_ + "/adir").c_str()), 0);
  for (const char* p : {"adir/file.txt", "adir/deeper/../file.txt", "adir//./file.txt"}) {
    SCOPED_TRACE(p);
    auto fd = ws().open(p, O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.error().describe();
    EXPECT_EQ(read_all(fd->get()), "inside");
  }
  // ".." after the link is the target's parent (the root), as the kernel resolves it.
  auto up = ws().open("adir/../top.txt", O_RDONLY);
  ASSERT_TRUE(up.ok()) << up.error().describe();
  EXPECT_EQ(read_all(up->get()), "top");
  EXPECT_TRUE(ws().open("adir/", O_RDONLY | O_DIRECTORY).ok());
  expect_fails(ws().open("adir/../../outside/secret.txt", O_RDONLY), Errc::access_denied, "outside allowed");
  expect_fails(ws().open("adir/missing.txt", O_RDONLY), Errc::not_found, root_ + "/adir/missing.txt");

  auto created = ws().open("adir/made.txt", O_WRONLY | O_CREAT | O_EXCL, 0644);
  ASSERT_TRUE(created.ok()) << created.error().describe();
  EXPECT_TRUE(fs::is_regular_file(root_ + "/sub/made.txt"));

  auto parent = ws().open_parent("adir/deeper/new.txt");
  ASSERT_TRUE(parent.ok()) << parent.error().describe();
  EXPECT_EQ(parent->leaf, "new.txt");
  const int nfd = ::openat(parent->dir.get(), parent->leaf.c_str(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  ASSERT_GE(nfd, 0);
  ::close(nfd);
  EXPECT_TRUE(fs::is_regular_file(root_ + "/sub/deeper/new.txt"));
  auto via_abs = ws().open_parent(root_ + "/adir/x");
  ASSERT_TRUE(via_abs.ok()) << via_abs.error().describe();
}

TEST_F(PathsTest, AbsoluteRelativeAbsoluteChainStaysInside) {
  ASSERT_EQ(::symlink((root_ + "/sub/r1").c_str(), (root_ + "/a1").c_str()), 0);
  ASSERT_EQ(::symlink("deeper/a2", (root_ + "/sub/r1").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/top.txt").c_str(), (root_ + "/sub/deeper/a2").c_str()), 0);
  auto fd = ws().open("a1", O_RDONLY);
  ASSERT_TRUE(fd.ok()) << fd.error().describe();
  EXPECT_EQ(read_all(fd->get()), "top");

  // The same shape whose last hop leaves: denied.
  ASSERT_EQ(::symlink((root_ + "/sub/r2").c_str(), (root_ + "/b1").c_str()), 0);
  ASSERT_EQ(::symlink("deeper/b2", (root_ + "/sub/r2").c_str()), 0);
  ASSERT_EQ(::symlink("../../../outside/secret.txt", (root_ + "/sub/deeper/b2").c_str()), 0);
  expect_fails(ws().open("b1", O_RDONLY), Errc::access_denied, symlink_msg(root_ + "/b1"));
  ASSERT_EQ(::symlink((outside_ + "/secret.txt").c_str(), (root_ + "/sub/deeper/b3").c_str()), 0);
  ASSERT_EQ(::symlink("deeper/b3", (root_ + "/sub/r3").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/sub/r3").c_str(), (root_ + "/c1").c_str()), 0);
  expect_fails(ws().open("c1", O_RDONLY), Errc::access_denied, symlink_msg(root_ + "/c1"));
}

TEST_F(PathsTest, AbsoluteSymlinkToRootItselfIsFollowed) {
  ASSERT_EQ(::symlink(root_.c_str(), (root_ + "/sub/home").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/").c_str(), (root_ + "/sub/home2").c_str()), 0);
  struct stat root_st {};
  ASSERT_EQ(::stat(root_.c_str(), &root_st), 0);
  for (const char* link : {"sub/home", "sub/home2"}) {
    SCOPED_TRACE(link);
    auto d = ws().open(link, O_RDONLY | O_DIRECTORY);
    ASSERT_TRUE(d.ok()) << d.error().describe();
    struct stat st {};
    ASSERT_EQ(::fstat(d->get(), &st), 0);
    EXPECT_EQ(st.st_ino, root_st.st_ino);
    auto fd = ws().open(std::string(link) + "/top.txt", O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.error().describe();
    EXPECT_EQ(read_all(fd->get()), "top");
    expect_fails(ws().open(std::string(link) + "/../outside/secret.txt", O_RDONLY), Errc::access_denied,
                 "outside allowed");
  }
  auto again = ws().open("sub/home/sub/home/sub/file.txt", O_RDONLY);
  ASSERT_TRUE(again.ok()) << again.error().describe();
  EXPECT_EQ(read_all(again->get()), "inside");
}

// CVE-2025-53110 in symlink form: the target shares the root's prefix but not its component.
TEST_F(PathsTest, AbsoluteSymlinkToSharedPrefixSiblingIsDenied) {
  ASSERT_EQ(::symlink((root_ + "_evil/secret.txt").c_str(), (root_ + "/evil").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "_evil").c_str(), (root_ + "/evil-dir").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + " /secret.txt").c_str(), (root_ + "/space").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "'").c_str(), (root_ + "/quote-dir").c_str()), 0);
  // Inside lexically by prefix, but climbs out on the way.
  ASSERT_EQ(::symlink((root_ + "/../outside/secret.txt").c_str(), (root_ + "/climb").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/sub/../../ws_evil").c_str(), (root_ + "/climb-dir").c_str()), 0);
  for (const char* p : {"evil", "space", "climb"}) {
    SCOPED_TRACE(p);
    expect_fails(ws().open(p, O_RDONLY), Errc::access_denied, symlink_msg(root_ + "/" + p));
    expect_fails(ws().open_regular(p, O_RDONLY), Errc::access_denied, "symlink target outside");
    expect_fails(ws().open(p, O_WRONLY | O_CREAT, 0644), Errc::access_denied, "symlink target outside");
  }
  for (const char* d : {"evil-dir", "quote-dir", "climb-dir"}) {
    SCOPED_TRACE(d);
    expect_fails(ws().open(std::string(d) + "/secret.txt", O_RDONLY), Errc::access_denied,
                 symlink_msg(root_ + "/" + d + "/secret.txt"));
    expect_fails(ws().open(std::string(d) + "/new.txt", O_WRONLY | O_CREAT | O_EXCL, 0644), Errc::access_denied,
                 "symlink target outside");
    expect_fails(ws().open_parent(std::string(d) + "/new.txt"), Errc::access_denied, "symlink target outside");
  }
}

TEST_F(PathsTest, AbsoluteSymlinkOutsideIsDenied) {
  ASSERT_EQ(::symlink(outside_.c_str(), (root_ + "/sub/abs-out").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/sub/abs-out").c_str(), (root_ + "/via-in").c_str()), 0);  // inside, then out
  ASSERT_EQ(::symlink("/", (root_ + "/slash").c_str()), 0);
  for (const std::string& p : std::vector<std::string>{"sub/abs-out/secret.txt", "via-in/secret.txt",
                                                    "via-in/dir/nested.txt", "slash" + outside_ + "/secret.txt"}) {
    SCOPED_TRACE(p);
    expect_fails(ws().open(p, O_RDONLY), Errc::access_denied, symlink_msg(root_ + "/" + p));
    expect_fails(ws().open(p, O_WRONLY | O_TRUNC), Errc::access_denied, "symlink target outside");
  }
  expect_fails(ws().open("via-in", O_RDONLY | O_DIRECTORY), Errc::access_denied, "symlink target outside");
  expect_fails(ws().open("via-in/planted.txt", O_WRONLY | O_CREAT | O_EXCL, 0644), Errc::access_denied,
               "symlink target outside");
  expect_fails(ws().open_parent("via-in/planted.txt"), Errc::access_denied, "symlink target outside");
  expect_fails(ws().open_parent("sub/abs-out/dir/x"), Errc::access_denied, "symlink target outside");
}

TEST_F(PathsTest, AbsoluteSymlinkLoopFailsWithoutHanging) {
  ASSERT_EQ(::symlink((root_ + "/l2").c_str(), (root_ + "/l1").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/l1").c_str(), (root_ + "/l2").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/self").c_str(), (root_ + "/self").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/m2").c_str(), (root_ + "/m1").c_str()), 0);
  ASSERT_EQ(::symlink("m1", (root_ + "/m2").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/d1/x").c_str(), (root_ + "/d1").c_str()), 0);  // grows on each hop
  // A chain of 45 absolute links is past the 40-expansion bound; a chain of 30 is not.
  for (int i = 0; i < 45; ++i) {
    const std::string target = i == 44 ? root_ + "/top.txt" : root_ + "/c" + std::to_string(i + 1);
    ASSERT_EQ(::symlink(target.c_str(), (root_ + "/c" + std::to_string(i)).c_str()), 0);
  }
  auto fut = std::async(std::launch::async, [&] {
    std::vector<shmcp::Result<UniqueFd>> out;
    for (const char* p : {"l1", "self", "m1", "l1/x", "d1", "c0"}) out.push_back(ws().open(p, O_RDONLY));
    out.push_back(ws().open("c14", O_RDONLY));
    auto parent = ws().open_parent("l1/x");
    if (parent.ok()) out.push_back(std::move(parent->dir));
    else out.push_back(std::move(parent).error());
    return out;
  });
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "link loop hung";
  auto results = fut.get();
  ASSERT_EQ(results.size(), 8u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    SCOPED_TRACE(i);
    if (i == 6) {
      ASSERT_TRUE(results[i].ok()) << results[i].error().describe();
      EXPECT_EQ(read_all(results[i]->get()), "top");
      continue;
    }
    ASSERT_FALSE(results[i].ok());
    EXPECT_EQ(results[i].error().code, Errc::access_denied) << results[i].error().describe();
  }
}

TEST_F(PathsTest, NoFollowLastComponentBehindAbsoluteLinkGivesTheLinkItself) {
  ASSERT_EQ(::symlink((root_ + "/sub").c_str(), (root_ + "/adir").c_str()), 0);
  ASSERT_EQ(::symlink((root_ + "/top.txt").c_str(), (root_ + "/sub/leaf").c_str()), 0);
  ASSERT_EQ(::symlink((outside_ + "/secret.txt").c_str(), (root_ + "/sub/leaf-out").c_str()), 0);
  for (const char* p : {"adir/leaf", "adir/leaf-out"}) {
    SCOPED_TRACE(p);
    auto fd = ws().open(p, O_PATH, 0, /*follow_last=*/false);
    ASSERT_TRUE(fd.ok()) << fd.error().describe();
    struct stat st {};
    ASSERT_EQ(::fstatat(fd->get(), "", &st, AT_EMPTY_PATH), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    struct stat expect {};
    ASSERT_EQ(::lstat((root_ + "/sub/" + fs::path(p).filename().string()).c_str(), &expect), 0);
    EXPECT_EQ(st.st_ino, expect.st_ino);
    // Without O_PATH, not following the last link is a refusal, not an open of the target.
    EXPECT_FALSE(ws().open(p, O_RDONLY, 0, false).ok());
  }
  auto followed = ws().open("adir/leaf", O_RDONLY);
  ASSERT_TRUE(followed.ok()) << followed.error().describe();
  EXPECT_EQ(read_all(followed->get()), "top");
  // An absolute link as the last component, not followed: the link itself, even with no rewrite.
  auto self = ws().open("adir", O_PATH, 0, false);
  ASSERT_TRUE(self.ok()) << self.error().describe();
  struct stat st {};
  ASSERT_EQ(::fstatat(self->get(), "", &st, AT_EMPTY_PATH), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  // Intermediate links are always followed, and one that leaves is denied even with follow_last off.
  ASSERT_EQ(::symlink(outside_.c_str(), (root_ + "/odir").c_str()), 0);
  expect_fails(ws().open("odir/secret.txt", O_PATH, 0, false), Errc::access_denied, "symlink target outside");
}

TEST_F(PathsTest, MagicLinksAreDenied) {
  ASSERT_EQ(::symlink("/proc/self/root/etc/passwd", (root_ + "/magic").c_str()), 0);
  expect_fails(ws().open("magic", O_RDONLY), Errc::access_denied, "symlink target outside");
  ASSERT_EQ(::symlink("/proc/self/cwd", (root_ + "/magic-dir").c_str()), 0);
  expect_fails(ws().open("magic-dir/x", O_RDONLY), Errc::access_denied, "symlink target outside");
}

TEST_F(PathsTest, NoFollowGivesTheLinkItself) {
  ASSERT_EQ(::symlink("../outside/secret.txt", (root_ + "/rel-link").c_str()), 0);
  auto fd = ws().open("rel-link", O_PATH, 0, /*follow_last=*/false);
  ASSERT_TRUE(fd.ok()) << fd.error().describe();
  struct stat st {};
  ASSERT_EQ(::fstatat(fd->get(), "", &st, AT_EMPTY_PATH), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  char target[256] = {};
  ASSERT_GT(::readlinkat(fd->get(), "", target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "../outside/secret.txt");
  // Without O_PATH, not following the last link is a refusal, not an open of the target.
  EXPECT_FALSE(ws().open("rel-link", O_RDONLY, 0, false).ok());
}

// --- open_parent ---

TEST_F(PathsTest, OpenParentSplitsAtTheLastComponent) {
  auto p = ws().open_parent("sub/new.txt");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(p->leaf, "new.txt");
  EXPECT_EQ(p->name.display, root_ + "/sub/new.txt");
  const int fd = ::openat(p->dir.get(), p->leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ::close(fd);
  EXPECT_TRUE(fs::is_regular_file(root_ + "/sub/new.txt"));

  auto top = ws().open_parent(root_ + "/newdir/");
  ASSERT_TRUE(top.ok()) << top.error().describe();
  EXPECT_EQ(top->leaf, "newdir");

  expect_fails(ws().open_parent(root_), Errc::invalid_argument, "no parent");
  expect_fails(ws().open_parent("."), Errc::invalid_argument, "no parent");
  expect_fails(ws().open_parent("sub/.."), Errc::invalid_argument, "directory entry");
  expect_fails(ws().open_parent("sub/."), Errc::invalid_argument, "directory entry");
  expect_fails(ws().open_parent("missing/x.txt"), Errc::not_found, "Parent directory does not exist: " + root_ + "/missing");
  expect_fails(ws().open_parent("../outside/x"), Errc::access_denied, "path outside allowed");
}

TEST_F(PathsTest, OpenParentLeafSymlinkIsNotFollowedByCallersUsingNoFollow) {
  ASSERT_EQ(::symlink("../outside/secret.txt", (root_ + "/leaf-link").c_str()), 0);
  auto p = ws().open_parent("leaf-link");
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(p->leaf, "leaf-link");
  const int fd = ::openat(p->dir.get(), p->leaf.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, ELOOP);
}

// --- special files ---

TEST_F(PathsTest, FifoIsRejectedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((root_ + "/fifo").c_str(), 0644), 0);
  auto fut = std::async(std::launch::async, [&] { return ws().open_regular("fifo", O_RDONLY); });
  if (fut.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // Unblock the reader so the test can fail instead of hanging.
    const int w = ::open((root_ + "/fifo").c_str(), O_WRONLY | O_NONBLOCK);
    fut.wait();
    if (w >= 0) ::close(w);
    FAIL() << "open_regular blocked on a FIFO";
  }
  expect_fails(fut.get(), Errc::invalid_argument, "Not a regular file: " + root_ + "/fifo");
  // The documented pattern for callers that must open the node itself: O_NONBLOCK.
  auto raw = ws().open("fifo", O_RDONLY | O_NONBLOCK);
  ASSERT_TRUE(raw.ok()) << raw.error().describe();
  struct stat st {};
  ASSERT_EQ(::fstat(raw->get(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(PathsTest, DevicesAndDirectoriesAreNotRegularFiles) {
  expect_fails(ws().open_regular("sub", O_RDONLY), Errc::invalid_argument, "Not a regular file");
  if (::mknod((root_ + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0) {
    expect_fails(ws().open_regular("null", O_RDONLY), Errc::invalid_argument, "Not a regular file");
  } else {
    std::printf("mknod of a char device not permitted here (%d); device case skipped\n", errno);
  }
  auto fd = ws().open_regular("sub/file.txt", O_RDONLY);
  ASSERT_TRUE(fd.ok()) << fd.error().describe();
  EXPECT_EQ(::fcntl(fd->get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(read_all(fd->get()), "inside");
  expect_fails(ws().open_regular("sub/none.txt", O_RDONLY), Errc::not_found, "ENOENT");
}

// --- mounts ---

TEST_F(PathsTest, MountInsideWorkspaceIsNotCrossed) {
  // A private mount namespace keeps the tmpfs invisible to everyone else and gone with the process.
  if (::unshare(CLONE_NEWNS) != 0) GTEST_SKIP() << "unshare(CLONE_NEWNS) not permitted: errno " << errno;
  ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << errno;
  ASSERT_EQ(::mkdir((root_ + "/mnt").c_str(), 0755), 0);
  if (::mount("tmpfs", (root_ + "/mnt").c_str(), "tmpfs", 0, "size=1m") != 0)
    GTEST_SKIP() << "mount tmpfs not permitted: errno " << errno;
  mounted_ = root_ + "/mnt";
  write_file(root_ + "/mnt/x.txt", "on tmpfs");
  // The fixture's handle was opened in the old namespace, where the tmpfs does not exist: reopen.
  auto reopened = Workspace::open(root_);
  ASSERT_TRUE(reopened.ok()) << reopened.error().describe();
  ws_.emplace(std::move(reopened).value());
  expect_fails(ws().open("mnt/x.txt", O_RDONLY), Errc::access_denied, "outside allowed");
  expect_fails(ws().open("mnt", O_RDONLY | O_DIRECTORY), Errc::access_denied, "outside allowed");
  expect_fails(ws().open("mnt/y.txt", O_WRONLY | O_CREAT, 0644), Errc::access_denied, "outside allowed");
  EXPECT_FALSE(fs::exists(root_ + "/mnt/y.txt"));
}

// --- races ---

// --- races: one thread keeps exchanging two entries of the root while the test opens through them ---

// Exchanges entries `a` and `b` of the directory `dir_fd` (RENAME_EXCHANGE) as fast as it can until
// stopped or destroyed.
class Swapper {
 public:
  Swapper(int dir_fd, std::string a, std::string b)
      : a_(std::move(a)), b_(std::move(b)), thread_([this, dir_fd] {
          while (!stop_.load(std::memory_order_relaxed))
            if (::renameat2(dir_fd, a_.c_str(), dir_fd, b_.c_str(), RENAME_EXCHANGE) == 0) swaps_.fetch_add(1);
        }) {}
  ~Swapper() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long swaps() const { return swaps_.load(); }

 private:
  std::string a_, b_;
  std::atomic<bool> stop_{false};
  std::atomic<long> swaps_{0};
  std::thread thread_;  // last: starts once everything it uses exists
};

// What the opening side of a race saw. A race test proves something only if it saw both states:
// the inside one (opens succeed) and the outside one (opens denied).
struct RaceTally {
  long inside = 0, denied = 0, other = 0, escapes = 0;
  void refused(const shmcp::Error& e) {
    if (e.code == Errc::access_denied) ++denied;
    else ++other;  // ENOENT mid-exchange, EAGAIN exhaustion: not escapes
  }
  bool saw_both(long iteration) const { return iteration >= 6000 && inside > 0 && denied > 0; }
  void expect(const char* label, long swaps, const char* inside_state, const char* outside_state) const {
    std::printf("%s: %ld inside, %ld denied, %ld other, %ld swaps\n", label, inside, denied, other, swaps);
    EXPECT_EQ(escapes, 0);
    EXPECT_GT(inside, 0) << "the race never saw the " << inside_state << ": the test proved nothing";
    EXPECT_GT(denied, 0) << "the race never saw the " << outside_state << ": the test proved nothing";
    EXPECT_GT(swaps, 0);
  }
};

bool same_file(const struct stat& a, const struct stat& b) { return a.st_ino == b.st_ino && a.st_dev == b.st_dev; }

// One thread keeps exchanging "d" (a directory inside) with "alt" (a symlink to the outside
// directory) while this thread opens (and creates) files beneath that name. The kernel resolves
// each open atomically beneath the root, so every successful open must be the inside file, and
// nothing may appear outside.
TEST_F(PathsTest, RaceSwappingDirectoryForSymlinkNeverEscapes) {
  ASSERT_EQ(::mkdir((root_ + "/d").c_str(), 0755), 0);
  write_file(root_ + "/d/f", "inside");
  write_file(outside_ + "/f", "SECRET");
  ASSERT_EQ(::symlink("../outside", (root_ + "/alt").c_str()), 0);
  canary_ = snapshot();
  struct stat outside_f {};
  ASSERT_EQ(::stat((outside_ + "/f").c_str(), &outside_f), 0);

  Swapper swapper(ws().fd(), "d", "alt");
  RaceTally t;
  const char* paths[] = {"d/f", "d/../d/f", "./d/f"};
  for (long i = 0; i < 400000 && !t.saw_both(i); ++i) {
    const bool create = i % 4 == 3;
    const std::string p = create ? "d/c" + std::to_string(i) : paths[i % 3];
    auto fd = create ? ws().open(p, O_WRONLY | O_CREAT | O_EXCL, 0644) : ws().open(p, O_RDONLY);
    if (!fd.ok()) {
      t.refused(fd.error());
      continue;
    }
    struct stat st {};
    ASSERT_EQ(::fstat(fd->get(), &st), 0);
    if (same_file(st, outside_f)) ++t.escapes;
    if (!create && read_all(fd->get()) != "inside") ++t.escapes;
    ++t.inside;
  }
  swapper.stop();
  // The tree is left as SetUp's canary expects (alt is inside the workspace, so either order is fine).
  t.expect("race", swapper.swaps(), "directory", "symlink");
}

// One thread keeps exchanging two absolute symlinks: "l" (to a directory inside) and "alt" (to the
// outside directory). Every open through "l" is rewritten from whichever link the walk saw, and the
// final openat2 is beneath the root again, so a swap between readlink and open cannot escape.
TEST_F(PathsTest, RaceSwappingAbsoluteInsideLinkForAbsoluteOutsideLinkNeverEscapes) {
  ASSERT_EQ(::mkdir((root_ + "/d").c_str(), 0755), 0);
  write_file(root_ + "/d/f", "inside");
  write_file(outside_ + "/f", "SECRET");
  ASSERT_EQ(::symlink((root_ + "/d").c_str(), (root_ + "/l").c_str()), 0);
  ASSERT_EQ(::symlink(outside_.c_str(), (root_ + "/alt").c_str()), 0);
  canary_ = snapshot();
  struct stat outside_f {}, outside_dir {};
  ASSERT_EQ(::stat((outside_ + "/f").c_str(), &outside_f), 0);
  ASSERT_EQ(::stat(outside_.c_str(), &outside_dir), 0);

  Swapper swapper(ws().fd(), "l", "alt");
  RaceTally t;
  const char* paths[] = {"l/f", "l/../l/f", "./l/f"};
  for (long i = 0; i < 400000 && !t.saw_both(i); ++i) {
    const int kind = static_cast<int>(i % 5);
    if (kind == 4) {
      auto parent = ws().open_parent("l/p" + std::to_string(i));
      if (!parent.ok()) {
        t.refused(parent.error());
        continue;
      }
      struct stat st {};
      ASSERT_EQ(::fstat(parent->dir.get(), &st), 0);
      if (same_file(st, outside_dir)) ++t.escapes;
      ++t.inside;
      continue;
    }
    const bool create = kind == 3;
    auto fd = create ? ws().open("l/c" + std::to_string(i), O_WRONLY | O_CREAT | O_EXCL, 0644)
                     : ws().open(paths[kind], O_RDONLY);
    if (!fd.ok()) {
      t.refused(fd.error());
      continue;
    }
    struct stat st {};
    ASSERT_EQ(::fstat(fd->get(), &st), 0);
    if (same_file(st, outside_f)) ++t.escapes;
    if (!create && read_all(fd->get()) != "inside") ++t.escapes;
    ++t.inside;
  }
  swapper.stop();
  t.expect("abs race", swapper.swaps(), "inside link", "outside link");
}

}  // namespace
