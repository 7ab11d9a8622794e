// Directory primitives of the walking tools: reading a directory's entries, descending into a
// subdirectory without following symlinks or leaving the tree, and the walk-limit clock.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "executor/tools/tools_internal.hpp"
#include "sandbox/open_how.hpp"

namespace shmcp::executor::detail {

Result<std::vector<DirEntry>> read_dir(int dirfd, std::uint64_t max_entries, bool* truncated,
                                       std::string_view display, CallDeadline* deadline) {
  std::vector<DirEntry> out;
  if (truncated) *truncated = false;
  alignas(8) char buf[32768];
  while (true) {
    // Once per buffer (up to ~1,000 entries, some with an fstatat each).
    if (deadline != nullptr && deadline->expired()) return fail("deadline passed", Errc::timeout);
    long n = ::syscall(SYS_getdents64, dirfd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(node_errno_message(errno, "scandir", display));
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      // linux_dirent64: d_ino(8) d_off(8) d_reclen(2) d_type(1) d_name[]
      unsigned short reclen = 0;
      std::memcpy(&reclen, buf + off + 16, sizeof reclen);
      auto type = static_cast<unsigned char>(buf[off + 18]);
      const char* nm = buf + off + 19;
      off += reclen;
      if (std::strcmp(nm, ".") == 0 || std::strcmp(nm, "..") == 0) continue;
      if (out.size() >= max_entries) {
        if (truncated) *truncated = true;
        break;
      }
      DirEntry e;
      e.name = nm;
      e.type = type;
      if (type == DT_UNKNOWN) {
        struct stat st {};
        if (::fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0) {
          e.type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
        }
      }
      out.push_back(std::move(e));
    }
    if (truncated && *truncated) break;
  }
  if (deadline != nullptr && deadline->expired()) return fail("deadline passed", Errc::timeout);
  std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

Result<sandbox::UniqueFd> open_subdir(int dirfd, std::string_view name, std::string_view display) {
  const std::string n(name);
  int fd;
  do {
    fd = sandbox::openat2_sealed(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0,
                                 sandbox::kResolveBeneathNoSymlinks);
  } while (fd == -EAGAIN || fd == -EINTR);
  if (fd < 0) return fail(node_errno_message(-fd, "scandir", display));
  return sandbox::UniqueFd(fd);
}

std::uint64_t monotonic_ms() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u;
}

}  // namespace shmcp::executor::detail
