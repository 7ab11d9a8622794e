// The calling thread's scheduler slice: SCHED_OTHER with sched_attr.sched_runtime (EEVDF custom
// slices, Linux >= 6.12). A short slice lets a thread woken for a call preempt a busy one within
// it rather than after the kernel's default slice of milliseconds. Inherited across fork and exec.
#pragma once

#include <cstdint>

namespace shmcp {

// 0 on success, else the errno of sched_setattr (an older kernel may also accept and ignore it).
int set_thread_slice(std::uint64_t slice_ns) noexcept;

}  // namespace shmcp
