#include "channel/base/unique_fd.hpp"

#include <unistd.h>

namespace shmcp {

void UniqueFd::reset(int fd) noexcept {
  const int old = std::exchange(fd_, fd);
  // close() is not retried on EINTR: on Linux the fd is released even then, and a retry could close
  // an fd another thread just received.
  if (old >= 0 && old != fd) ::close(old);
}

}  // namespace shmcp
