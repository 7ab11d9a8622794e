// libFuzzer target: the path resolver. Workspace::name() (lexical) and Workspace::open() /
// open_parent() (openat2 beneath the root) on a fixture workspace with in-workspace and escaping
// symlinks. Beyond memory safety it checks the security invariant: whatever opens, the handle's
// real path is the root or beneath it on a component boundary.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sandbox/workspace.hpp"

using namespace shmcp;

namespace {

std::string g_root;
sandbox::Workspace* g_ws = nullptr;

std::string fd_path(int fd) {
  char buf[4096];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

bool beneath_root(const std::string& p) {
  return p == g_root || (p.size() > g_root.size() && p.compare(0, g_root.size(), g_root) == 0 && p[g_root.size()] == '/');
}

void make_fixture() {
  char tmpl[] = "/tmp/shmcp-fuzz-ws-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) std::abort();
  const std::string r = tmpl;
  auto run = [](const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) std::abort();
  };
  run("mkdir -p '" + r + "/ws/dir/sub' '" + r + "/outside' && echo hi > '" + r + "/ws/a.txt' && echo x > '" + r +
      "/ws/dir/sub/b.txt' && echo secret > '" + r + "/outside/secret' && ln -s a.txt '" + r + "/ws/link_in' && ln -s ../outside '" +
      r + "/ws/link_out' && ln -s /etc/passwd '" + r + "/ws/link_abs' && ln -s dir/sub '" + r + "/ws/dir_link' && ln -s loop '" + r +
      "/ws/loop' && mkdir '" + r + "/ws_evil'");
  auto ws = sandbox::Workspace::open(r + "/ws");
  if (!ws) std::abort();
  g_root = ws->root();
  g_ws = new sandbox::Workspace(std::move(*ws));
  static std::string fixture = r;
  std::atexit([] { (void)std::system(("rm -rf '" + fixture + "'").c_str()); });
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  make_fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view path(reinterpret_cast<const char*>(data), size);
  auto name = g_ws->name(path);
  if (name) {
    if (name->relative.empty() || name->relative.front() == '/') std::abort();
    if (name->display.compare(0, g_root.size(), g_root) != 0) std::abort();
  }
  // O_PATH: never blocks on a FIFO, never reads; the kernel still resolves the whole path.
  for (bool follow : {true, false}) {
    if (auto fd = g_ws->open(path, O_PATH, 0, follow)) {
      const std::string real = fd_path(fd->get());
      if (!beneath_root(real)) {
        std::fprintf(stderr, "ESCAPE: '%.*s' opened %s\n", static_cast<int>(size), path.data(), real.c_str());
        std::abort();
      }
    } else if (name && fd.error().code == Errc::internal) {
      std::abort();  // resolution failures are access_denied / not_found / io, never internal
    }
  }
  if (auto parent = g_ws->open_parent(path)) {
    const std::string real = fd_path(parent->dir.get());
    if (!beneath_root(real)) std::abort();
    const std::string& leaf = parent->leaf;
    if (leaf.empty() || leaf == "." || leaf == ".." || leaf.find('/') != std::string::npos) std::abort();
  }
  return 0;
}
