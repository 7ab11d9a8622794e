#include "channel/control.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <new>

namespace shmcp::channel {

namespace {
constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

ControlBlock* map_block(int fd) {
  void* p = mmap(nullptr, sizeof(ControlBlock), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<ControlBlock*>(p);
}
}  // namespace

Result<std::shared_ptr<ControlRegion>> ControlRegion::create() {
  std::shared_ptr<ControlRegion> r(new ControlRegion());
  const int fd = memfd_create("shmcp-control", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return sys_error(Errc::io, "memfd_create (control region)", errno);
  // Above the low numbers a child dup2s onto (the supervisor's workers get fds 3 and 4).
  r->fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  const int dup_err = errno;
  close(fd);
  if (r->fd_ < 0) return sys_error(Errc::io, "dup (control region)", dup_err);
  if (ftruncate(r->fd_, sizeof(ControlBlock)) != 0) return sys_error(Errc::io, "ftruncate (control region)", errno);
  if (fcntl(r->fd_, F_ADD_SEALS, kSeals) != 0) return sys_error(Errc::io, "F_ADD_SEALS (control region)", errno);
  r->block_ = map_block(r->fd_);
  if (r->block_ == nullptr) return sys_error(Errc::io, "mmap (control region)", errno);
  // A fresh memfd is zero-filled: every counter and state starts at its idle value.
  r->block_->header.magic = kControlMagic;
  r->block_->header.version = kControlVersion;
  r->block_->header.header_size = sizeof(ControlHeader);
  r->block_->header.total_size = sizeof(ControlBlock);
  return r;
}

Result<std::shared_ptr<ControlRegion>> ControlRegion::adopt(int fd) {
  std::shared_ptr<ControlRegion> r(new ControlRegion());
  struct stat st {};
  const bool sized = fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) == sizeof(ControlBlock);
  // Only a sealed block is safe to touch: an unsealed one could shrink under us (SIGBUS).
  const int seals = fcntl(fd, F_GET_SEALS);
  const bool sealed = seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) == (F_SEAL_SHRINK | F_SEAL_GROW);
  if (sized && sealed) r->block_ = map_block(fd);
  const int err = errno;
  close(fd);
  if (!sized) return make_error(Errc::corrupt, "control region fd has the wrong size (not from this build's supervisor?)");
  if (!sealed) return make_error(Errc::corrupt, "control region fd is not sealed against resizing");
  if (r->block_ == nullptr) return sys_error(Errc::io, "mmap (control region)", err);
  const ControlHeader& h = r->block_->header;
  if (h.magic != kControlMagic || h.version != kControlVersion || h.header_size != sizeof(ControlHeader) ||
      h.total_size != sizeof(ControlBlock))
    return make_error(Errc::version_mismatch, "control region made by a different build (magic/version/size)");
  return r;
}

std::shared_ptr<ControlRegion> ControlRegion::local() {
  std::shared_ptr<ControlRegion> r(new ControlRegion());
  void* p = mmap(nullptr, sizeof(ControlBlock), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  r->block_ = static_cast<ControlBlock*>(p);
  return r;
}

ControlRegion::~ControlRegion() {
  if (block_ != nullptr) munmap(block_, sizeof(ControlBlock));
  if (fd_ >= 0) close(fd_);
}

}  // namespace shmcp::channel
