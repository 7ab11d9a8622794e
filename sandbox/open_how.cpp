// The sealed open_how table (see open_how.hpp for what it is for and what lock_down() builds on it).
#include "sandbox/open_how.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "channel/base/log.hpp"
#include "sandbox/workspace.hpp"

namespace shmcp::sandbox {
namespace {

// 1 MiB: above any vm.mmap_min_addr in use (64 KiB by default), below every mapping the loader,
// brk and mmap make on their own (a non-PIE executable starts at 4 MiB; PIE images, the heap,
// libraries and anonymous mappings far higher). lock_down()'s filter relies on the second part:
// it kills munmap/mremap/madvise and MAP_FIXED mmap with an address below the table's end.
constexpr std::uintptr_t kTableAddress = 0x100000;

std::vector<open_how> wanted_entries() {
  std::vector<open_how> out;
  for (const std::uint64_t nofollow : {std::uint64_t{0}, std::uint64_t{O_NOFOLLOW}}) {
    for (const int f : {O_PATH, O_PATH | O_DIRECTORY, O_RDONLY, O_RDONLY | O_DIRECTORY, O_WRONLY, O_RDWR,
                        O_RDONLY | O_NONBLOCK | O_NOCTTY, O_WRONLY | O_NONBLOCK | O_NOCTTY,
                        O_RDWR | O_NONBLOCK | O_NOCTTY}) {
      open_how h{};
      h.flags = static_cast<std::uint64_t>(static_cast<unsigned>(f | O_CLOEXEC)) | nofollow;
      h.resolve = kResolveBeneath;
      out.push_back(h);
    }
  }
  open_how walk{};
  walk.flags = static_cast<std::uint64_t>(static_cast<unsigned>(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  walk.resolve = kResolveBeneathNoSymlinks;
  out.push_back(walk);
  return out;
}

// Not logged here: the error reaches lock_down's caller, which logs it (errno name included).
Error table_error(const std::string& what, int err) { return sys_error(Errc::internal, "open_how table: " + what, err); }

Result<SealedOpenHowTable> build_table() {
  const std::vector<open_how> entries = wanted_entries();
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::size_t bytes = entries.size() * sizeof(open_how);
  if (page <= 0 || bytes > static_cast<std::size_t>(page))
    return make_error(Errc::internal, "open_how table: does not fit in one page");
  const auto page_size = static_cast<std::size_t>(page);

  const int raw = ::memfd_create("shmcp-open-how", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (raw < 0) return table_error("memfd_create", errno);
  const UniqueFd fd(raw);
  if (::ftruncate(fd.get(), static_cast<off_t>(page_size)) != 0) return table_error("ftruncate", errno);
  const char* src = reinterpret_cast<const char*>(entries.data());
  for (std::size_t done = 0; done < bytes;) {
    const ssize_t n = ::pwrite(fd.get(), src + done, bytes - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return table_error("pwrite", n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
  // F_SEAL_FUTURE_WRITE before mapping: no write(), no writable shared mapping, and the read-only
  // shared mapping below gets no VM_MAYWRITE, so mprotect(PROT_WRITE) on it fails (EACCES).
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE) != 0)
    return table_error("F_ADD_SEALS(SHRINK|GROW|FUTURE_WRITE)", errno);
  void* at = ::mmap(reinterpret_cast<void*>(kTableAddress), page_size, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE,
                    fd.get(), 0);
  if (at == MAP_FAILED) return table_error("mmap at its fixed address", errno);
  if (reinterpret_cast<std::uintptr_t>(at) != kTableAddress) {  // a kernel that took the address as a hint
    ::munmap(at, page_size);
    return table_error("mmap at its fixed address", EEXIST);
  }
  // F_SEAL_WRITE as well where the kernel accepts it with a read-only shared mapping present
  // (Linux >= 6.7; before, EBUSY, and F_SEAL_FUTURE_WRITE already covers every writer).
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE) != 0 && errno != EBUSY) return table_error("F_ADD_SEALS(WRITE)", errno);
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL) != 0) return table_error("F_ADD_SEALS(SEAL)", errno);
  if (std::memcmp(at, entries.data(), bytes) != 0) return make_error(Errc::internal, "open_how table: content differs");
  // fd closes here: the mapping is the only reference left.
  SealedOpenHowTable t;
  t.begin = kTableAddress;
  t.end = kTableAddress + page_size;
  t.entries = static_cast<const open_how*>(at);
  t.count = entries.size();
  return t;
}

const Result<SealedOpenHowTable>& table() {
  static const Result<SealedOpenHowTable> t = build_table();
  return t;
}

std::atomic<bool> g_required{false};

}  // namespace

Result<SealedOpenHowTable> sealed_open_how_table() { return table(); }

const open_how* sealed_open_how(std::uint64_t flags, std::uint64_t resolve) noexcept {
  const auto& t = table();
  if (!t) return nullptr;
  for (std::size_t i = 0; i < t->count; ++i) {
    const open_how& e = t->entries[i];
    if (e.flags == flags && e.resolve == resolve && e.mode == 0) return &e;
  }
  return nullptr;
}

int openat2_sealed(int dirfd, const char* path, std::uint64_t flags, std::uint64_t mode,
                   std::uint64_t resolve) noexcept {
  const open_how* how = mode == 0 ? sealed_open_how(flags, resolve) : nullptr;
  open_how local{};
  if (how == nullptr) {
    if (g_required.load(std::memory_order_relaxed)) {
      // The filter would kill the process for this pointer. Creating goes through openat/mkdirat
      // on a parent handle (Workspace::open_parent), where seccomp checks the mode.
      // Logged here: the caller sees only EACCES.
      component_logger("sandbox")->error("openat2 flags {:#o} mode {:#o} resolve {:#x} are not in the sealed table: refused",
                                         flags, mode, resolve);
      return -EACCES;
    }
    local.flags = flags;
    local.mode = mode;
    local.resolve = resolve;
    how = &local;
  }
  const long fd = ::syscall(SYS_openat2, dirfd, path, how, sizeof(open_how));
  return fd < 0 ? -errno : static_cast<int>(fd);
}

namespace detail {
void require_sealed_open_how() noexcept { g_required.store(true, std::memory_order_relaxed); }
}  // namespace detail

}  // namespace shmcp::sandbox
