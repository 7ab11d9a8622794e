#include "executor/tools/quota.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "sandbox/open_how.hpp"

namespace shmcp::executor {

namespace {

// Adds `add` to `used` unless that passes `limit` (0: unlimited). Returns the usage it would have
// reached; *granted tells whether it did.
std::uint64_t add_within(std::atomic<std::uint64_t>& used, std::uint64_t add, std::uint64_t limit, bool* granted) noexcept {
  std::uint64_t cur = used.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t next = add > UINT64_MAX - cur ? UINT64_MAX : cur + add;
    if (limit != 0 && next > limit && add != 0) {
      *granted = false;
      return next;
    }
    if (used.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      *granted = true;
      return next;
    }
  }
}

void sub_saturating(std::atomic<std::uint64_t>& used, std::uint64_t sub) noexcept {
  if (sub == 0) return;
  std::uint64_t cur = used.load(std::memory_order_relaxed);
  while (!used.compare_exchange_weak(cur, cur > sub ? cur - sub : 0, std::memory_order_acq_rel, std::memory_order_relaxed)) {
  }
}

}  // namespace

void init_quota_block(QuotaBlock& b, std::uint64_t limit_bytes, std::uint64_t limit_files) noexcept {
  b.magic = kQuotaMagic;
  b.version = kQuotaVersion;
  b.size = sizeof(QuotaBlock);
  b.limit_bytes.store(limit_bytes);
  b.limit_files.store(limit_files);
  b.used_bytes.store(0);
  b.used_files.store(0);
  for (auto& s : b.slots) {
    s.bytes.store(0);
    s.files.store(0);
  }
}

QuotaUsage quota_usage(const QuotaBlock& b) noexcept {
  return {b.used_bytes.load(std::memory_order_relaxed), b.used_files.load(std::memory_order_relaxed),
          b.limit_bytes.load(std::memory_order_relaxed), b.limit_files.load(std::memory_order_relaxed)};
}

QuotaRefusal try_reserve(QuotaBlock& b, std::uint64_t bytes, std::uint64_t files) noexcept {
  bool granted = false;
  const std::uint64_t limit_bytes = b.limit_bytes.load(std::memory_order_relaxed);
  const std::uint64_t would_bytes = add_within(b.used_bytes, bytes, limit_bytes, &granted);
  if (!granted) return {QuotaRefusal::What::bytes, would_bytes, limit_bytes};
  const std::uint64_t limit_files = b.limit_files.load(std::memory_order_relaxed);
  const std::uint64_t would_files = add_within(b.used_files, files, limit_files, &granted);
  if (!granted) {
    // The bytes were briefly reserved: a racing writer may have been refused for them, which is
    // the conservative side of the race (never over the limit).
    sub_saturating(b.used_bytes, bytes);
    return {QuotaRefusal::What::files, would_files, limit_files};
  }
  return {};
}

void release(QuotaBlock& b, std::uint64_t bytes, std::uint64_t files) noexcept {
  sub_saturating(b.used_bytes, bytes);
  sub_saturating(b.used_files, files);
}

void reclaim_slot(QuotaBlock& b, std::uint32_t slot) noexcept {
  if (slot >= channel::kMaxWorkers) return;
  release(b, b.slots[slot].bytes.exchange(0), b.slots[slot].files.exchange(0));
}

// ---- mapping ---------------------------------------------------------------------------------

QuotaMapping::QuotaMapping(QuotaMapping&& o) noexcept
    : block_(std::exchange(o.block_, nullptr)), fd_(std::move(o.fd_)) {}

QuotaMapping& QuotaMapping::operator=(QuotaMapping&& o) noexcept {
  if (this != &o) {
    if (block_ != nullptr) ::munmap(block_, sizeof(QuotaBlock));
    block_ = std::exchange(o.block_, nullptr);
    fd_ = std::move(o.fd_);
  }
  return *this;
}

QuotaMapping::~QuotaMapping() {
  if (block_ != nullptr) ::munmap(block_, sizeof(QuotaBlock));
}

Result<QuotaMapping> create_quota_block(std::uint64_t limit_bytes, std::uint64_t limit_files) {
  UniqueFd fd(::memfd_create("shmcp-quota", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return sys_error(Errc::io, "memfd_create quota block", errno);
  if (::ftruncate(fd.get(), sizeof(QuotaBlock)) != 0) return sys_error(Errc::io, "ftruncate quota block", errno);
  // A worker could otherwise shrink the file under the supervisor's mapping (SIGBUS there).
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return sys_error(Errc::io, "seal quota block", errno);
  void* p = ::mmap(nullptr, sizeof(QuotaBlock), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return sys_error(Errc::io, "mmap quota block", errno);
  QuotaMapping m;
  m.block_ = static_cast<QuotaBlock*>(p);
  m.fd_ = std::move(fd);
  init_quota_block(*m.block_, limit_bytes, limit_files);
  return m;
}

Result<QuotaMapping> map_quota_block(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return sys_error(Errc::io, "fstat quota block", errno);
  if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != sizeof(QuotaBlock))
    return make_error(Errc::invalid_argument, "quota block: fd " + std::to_string(fd) + " has size " +
                                                  std::to_string(st.st_size) + ", want " + std::to_string(sizeof(QuotaBlock)));
  // Only a sealed file can be mapped without risking SIGBUS from someone shrinking it.
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0)
    return make_error(Errc::invalid_argument, "quota block: fd " + std::to_string(fd) + " is not a size-sealed memfd");
  void* p = ::mmap(nullptr, sizeof(QuotaBlock), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return sys_error(Errc::io, "mmap quota block", errno);
  QuotaMapping m;
  m.block_ = static_cast<QuotaBlock*>(p);
  if (m.block_->magic != kQuotaMagic || m.block_->version != kQuotaVersion || m.block_->size != sizeof(QuotaBlock))
    return make_error(Errc::invalid_argument, "quota block: bad magic, version or size (a different build?)");
  return m;
}

// ---- scan ------------------------------------------------------------------------------------

namespace {

struct Walk {
  ScanLimits limits;
  ScanResult r;
  std::uint64_t seen = 0;
};

// Counts the entries of the directory `fd` (owned: fdopendir takes it) and recurses into its
// subdirectories.
void scan_dir(Walk& w, int fd, std::uint32_t depth) {
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    w.r.truncated = true;
    return;
  }
  const int dfd = ::dirfd(d);
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (++w.seen > w.limits.max_entries) {
      w.r.truncated = true;
      break;
    }
    ++w.r.files;
    if (e->d_type != DT_UNKNOWN && e->d_type != DT_REG && e->d_type != DT_DIR) continue;  // symlinks, others: entries only
    struct stat st {};
    if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    if (S_ISREG(st.st_mode)) {
      w.r.bytes += static_cast<std::uint64_t>(st.st_size);
    } else if (S_ISDIR(st.st_mode)) {
      if (depth + 1 > w.limits.max_depth) {
        w.r.truncated = true;
        continue;
      }
      const int sub = sandbox::openat2_sealed(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0,
                                              sandbox::kResolveBeneathNoSymlinks);
      if (sub == -EXDEV) continue;  // another mount: out of the tools' reach as well
      if (sub < 0) {
        w.r.truncated = true;
        continue;
      }
      scan_dir(w, sub, depth + 1);
      if (w.seen > w.limits.max_entries) break;
    }
    errno = 0;
  }
  ::closedir(d);
}

}  // namespace

ScanResult scan_workspace_usage(int root_fd, ScanLimits limits) {
  Walk w{limits, {}, 0};
  const int fd = sandbox::openat2_sealed(root_fd, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0,
                                         sandbox::kResolveBeneathNoSymlinks);
  if (fd < 0) {
    w.r.truncated = true;
    return w.r;
  }
  scan_dir(w, fd, 0);
  return w.r;
}

// ---- the tools' view -------------------------------------------------------------------------

QuotaRefusal WorkspaceQuota::reserve(std::uint64_t bytes, std::uint64_t files) noexcept {
  QuotaRefusal r = try_reserve(b_, bytes, files);
  if (r.what != QuotaRefusal::What::none) return r;
  // Recorded after reserving: a worker killed in between leaves usage too high (refusing more, not
  // less) until a rescan, never lower than what the workspace holds.
  held_bytes_ += bytes;
  held_files_ += files;
  b_.slots[slot_].bytes.store(held_bytes_, std::memory_order_release);
  b_.slots[slot_].files.store(held_files_, std::memory_order_release);
  return r;
}

void WorkspaceQuota::cancel() noexcept {
  b_.slots[slot_].bytes.store(0, std::memory_order_release);
  b_.slots[slot_].files.store(0, std::memory_order_release);
  release(b_, std::exchange(held_bytes_, 0), std::exchange(held_files_, 0));
}

void WorkspaceQuota::commit(std::uint64_t freed_bytes, std::uint64_t freed_files) noexcept {
  b_.slots[slot_].bytes.store(0, std::memory_order_release);
  b_.slots[slot_].files.store(0, std::memory_order_release);
  held_bytes_ = held_files_ = 0;
  release(b_, freed_bytes, freed_files);
}

std::string quota_refusal_message(const QuotaRefusal& r, std::string_view verb, std::string_view display) {
  const bool files = r.what == QuotaRefusal::What::files;
  std::string m = "quota exceeded: ";
  m.append(verb).append(" ").append(display).append(" would use ").append(std::to_string(r.would_use));
  m.append(files ? " files" : " bytes").append(" of the workspace's ").append(std::to_string(r.limit));
  m.append(files ? "-file quota" : "-byte quota");
  return m;
}

}  // namespace shmcp::executor
