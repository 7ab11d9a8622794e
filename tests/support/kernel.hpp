// The running kernel's version, for tests whose exact expected outcome depends on it.
#pragma once

#include <sys/utsname.h>

#include <cstdio>

namespace shmcp::testing {

// True if the running kernel is at least major.minor (false if uname can't tell).
inline bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

}  // namespace shmcp::testing
