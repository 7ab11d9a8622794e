// shmcp base: the pause instruction for busy-wait loops.
#pragma once

namespace shmcp {

// One iteration's worth of backing off in a spin loop: tells the core it is spinning (frees
// resources for the sibling hyperthread, saves power, avoids the memory-order mis-speculation
// penalty on exit). Elsewhere it is only a compiler barrier, so the loop still re-reads memory.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  asm volatile("" ::: "memory");
#endif
}

}  // namespace shmcp
