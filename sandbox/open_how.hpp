// openat2 through a sealed, read-only table of struct open_how.
//
// Seccomp sees openat2's pointer to struct open_how, never the flags and mode behind it, so a
// filter that allowed openat2 as such would let a compromised worker create files with any mode
// (setuid, setgid, sticky). Instead every open_how this process hands to openat2 comes from one
// page that is filled once, sealed (memfd: write, future-write, shrink, grow, seal), mapped shared
// and read-only at a fixed low address, and whose fd is closed at once. lock_down() allows openat2
// only with one of the entries' exact addresses and usize == sizeof(open_how), and kills every
// call that could unmap, move or overlay that page (munmap, mremap and madvise starting below its
// end, MAP_FIXED mmap below its end, MREMAP_FIXED, MREMAP_DONTUNMAP, shmat, pkey_*, ...): the kernel
// then reads exactly what was sealed. No entry has O_CREAT or O_TMPFILE: files and directories are
// created with openat/mkdirat on a parent handle, where seccomp checks the mode.
//
// The page sits below every other mapping (the loader, the heap and mmap place nothing under
// 4 MiB), so no legitimate munmap/mremap/madvise/MAP_FIXED address is below its end.
//
// Threading: every function here is thread-safe; the table is created once, on first use.
#pragma once

#include <linux/openat2.h>

#include <cstddef>
#include <cstdint>

#include "channel/base/result.hpp"

namespace shmcp::sandbox {

// The resolve flags of every path the workspace opens, and of directory walks (no symlinks at all).
inline constexpr std::uint64_t kResolveBeneath = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
inline constexpr std::uint64_t kResolveBeneathNoSymlinks = kResolveBeneath | RESOLVE_NO_SYMLINKS;

// Where the sealed table lives. begin/end are page bounds; entries[0..count) are its open_hows.
struct SealedOpenHowTable {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  const open_how* entries = nullptr;
  std::size_t count = 0;
};

// The table, created on first use at its fixed address. An error (memfd, seal or mmap failed, or
// the address is taken) is remembered: lock_down() then refuses its seccomp layer, and
// openat2_sealed() uses structs on the stack as long as no filter requires the table.
Result<SealedOpenHowTable> sealed_open_how_table();

// The entry with exactly these flags (O_CLOEXEC included) and resolve flags and mode 0, or nullptr.
// The table holds, with O_CLOEXEC and optionally O_NOFOLLOW, under kResolveBeneath:
//   O_PATH [| O_DIRECTORY];  O_RDONLY [| O_DIRECTORY];  O_RDONLY, O_WRONLY, O_RDWR [| O_NONBLOCK | O_NOCTTY]
// and under kResolveBeneathNoSymlinks O_RDONLY | O_DIRECTORY | O_NOFOLLOW.
const open_how* sealed_open_how(std::uint64_t flags, std::uint64_t resolve) noexcept;

// One openat2(dirfd, path, how, sizeof how) attempt with the table's entry for (flags, resolve).
// Without an entry (any O_CREAT, O_TMPFILE, O_TRUNC, ... or a non-zero mode) a struct on the stack
// is used, unless this process's seccomp filter requires table entries (after lock_down()): then
// the call is not made and -EACCES returned, as the sandbox refuses what it does not grant.
// Returns the fd or -errno.
int openat2_sealed(int dirfd, const char* path, std::uint64_t flags, std::uint64_t mode,
                   std::uint64_t resolve) noexcept;

namespace detail {
// lock_down() calls this once its filter only lets table entries through.
void require_sealed_open_how() noexcept;
}  // namespace detail

}  // namespace shmcp::sandbox
