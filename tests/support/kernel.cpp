#include "tests/support/kernel.hpp"

#include <sys/utsname.h>

#include <cstdio>

namespace shmcp::testing {

bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

}  // namespace shmcp::testing
