#include "channel/base/sched_slice.hpp"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace shmcp {

int set_thread_slice(std::uint64_t slice_ns) noexcept {
  // struct sched_attr, SCHED_ATTR_SIZE_VER0 (glibc 2.36 has neither the struct nor a wrapper).
  struct {
    std::uint32_t size, sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime, sched_deadline, sched_period;
  } attr{};
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_OTHER;
  attr.sched_runtime = slice_ns;
  return syscall(SYS_sched_setattr, 0, &attr, 0) == 0 ? 0 : errno;
}

}  // namespace shmcp
